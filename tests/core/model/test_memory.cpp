// The memory estimate's items for builtin:tiny against byte counts derived by hand from the
// forward's saved tensors, the estimate against the measured peak of live tensor bytes while
// the real trainer runs (tests/common/training_memory.h), and
// an out-of-memory failure inside a run ending it cleanly with advice.
#include <QtTest>

#include <cmath>
#include <new>
#include <vector>

#include <torch/torch.h>

#include "tests/common/training_memory.h"
#include "core/data/make_data.h"
#include "core/engine/run_thread.h"
#include "core/model/memory_estimate.h"
#include "core/store/run_store.h"
#include "tests/common/tiny_config.h"

namespace {

// Allocates far more than any machine has at the first preference step's metrics: the
// allocation fails inside the running pipeline, as a real one would.
struct AbsurdAllocationSink : ps::RunSink {
    bool use_new = false;  // operator new (std::bad_alloc) instead of a tensor
    ps::RunStatus status = ps::RunStatus::Created;
    std::string error;
    size_t kept = 0;
    void on_metrics(const ps::StepMetrics& m) override {
        if (m.step != 1 || std::isnan(m.get("loss"))) return;
        if (use_new) {
            std::vector<double> huge(size_t(1) << 58);  // 2 EiB: operator new throws std::bad_alloc
            kept = huge.size();
        } else {
            auto t = torch::empty({int64_t(1) << 48}, torch::kFloat32);  // 1 PiB
            (void)t;
        }
    }
    void on_finish(ps::RunStatus s, const nlohmann::json&, const std::string& e) override {
        status = s;
        error = e;
    }
};

}  // namespace

class TestMemory : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    ps::RunConfig run_config() {
        ps::ArithDataOptions o;
        o.count = 24;
        o.max_operand = 10;
        const std::string data = dir_.filePath("pairs.jsonl").toStdString();
        ps::write_preference_jsonl(ps::make_arith_pairs(o), data);
        // Memory does not depend on the learning rate: the shared tiny config, smaller batches.
        ps::RunConfig c = ps::test::tiny_run_config(data, 3);
        c.train.batch_size = 4;
        c.train.eval_every = 0;
        c.train.track_pairs = 0;
        c.validate();
        return c;
    }

private slots:
    void tinyItemsMatchHandCounts() {
        // builtin:tiny: H 64, 4 heads of 16 (2 KV heads), MLP 176, vocab 259, 2 layers, tied.
        ps::RunConfig c;
        c.train.batch_size = 2;
        c.data.max_length = 32;
        c.data.max_prompt_length = 12;
        const auto e = ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Eager);
        // 109,056 parameters (see test_experiment_form) x 4 B; same for gradients; AdamW 8 B.
        QCOMPARE(e.parameters, int64_t(109056));
        QCOMPARE(e.item_bytes("weights"), int64_t(436224));
        QCOMPARE(e.item_bytes("gradients"), int64_t(436224));
        QCOMPARE(e.item_bytes("optimizer"), int64_t(872448));
        QCOMPARE(e.item_bytes("master_weights"), int64_t(0));
        QCOMPARE(e.item_bytes("reference"), int64_t(0));  // cached DPO drops the copy before training
        // Per token and block, float32: two norms x (input 256 + normalised 256 + output 256)
        // = 1536; q 256, k and v 2 x 128 (2 KV heads of 16, not repeated), context 256 = 768;
        // probabilities 4 heads x 32 keys x 4 = 512; MLP gate, SiLU, up, product 4 x 704 =
        // 2816: 5632. Two blocks + final norm 768 = 12032 B per token; 2 x 2 x 32 = 128 tokens.
        QCOMPARE(e.tokens_per_step, int64_t(128));
        QCOMPARE(e.item_bytes("activations"), int64_t(12032) * 128);
        // Logits only where a completion token is predicted: 4 rows x (32 - 12 prompt) = 80.
        QCOMPARE(e.item_bytes("logits"), int64_t(259 * 4) * 80);
        // Backward: the log-softmax's two float32 logit-sized gradient buffers (the attention's
        // two [4, 32] score gradients, 1024 B, are less than what the head frees before them).
        QCOMPARE(e.item_bytes("backward"), int64_t(2 * 259 * 4) * 80);

        // bfloat16: 2-byte weights; float32 master weights, their float32 gradients (kept
        // between steps; the bfloat16 ones come and go inside the backward pass) and AdamW state.
        c.model.dtype = ps::ModelDType::BFloat16;
        const auto b = ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Eager);
        QCOMPARE(b.item_bytes("weights"), int64_t(109056 * 2));
        QCOMPARE(b.item_bytes("master_weights"), int64_t(109056 * 4));
        QCOMPARE(b.item_bytes("gradients"), int64_t(109056 * 4));
        QCOMPARE(b.item_bytes("optimizer"), int64_t(109056 * 8));

        // LoRA rank 8 on all seven projections: per layer 8 x (64+64 + 64+32 + 64+32 + 64+64 +
        // 3 x (64+176)) = 8 x 1168 = 9344; 2 layers: 18688 trainable parameters.
        c.model.dtype = ps::ModelDType::Float32;
        c.model.lora = ps::LoraConfig{};
        const auto l = ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Eager);
        QCOMPARE(l.trainable_parameters, int64_t(18688));
        QCOMPARE(l.item_bytes("weights"), int64_t((109056 + 18688) * 4));
        QCOMPARE(l.item_bytes("gradients"), int64_t(18688 * 4));
        QCOMPARE(l.item_bytes("optimizer"), int64_t(18688 * 8));
        QCOMPARE(l.item_bytes("reference"), int64_t(0));  // the base with adapters off

        // LoRA over a bfloat16 base: the adapters stay float32 (lora.h) and are their own
        // master weights; their gradients are float32.
        c.model.dtype = ps::ModelDType::BFloat16;
        const auto lb = ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Eager);
        QCOMPARE(lb.item_bytes("weights"), int64_t(109056 * 2 + 18688 * 4));
        QCOMPARE(lb.item_bytes("master_weights"), int64_t(0));
        QCOMPARE(lb.item_bytes("gradients"), int64_t(18688 * 4));
        QCOMPARE(lb.item_bytes("optimizer"), int64_t(18688 * 8));
        c.model.dtype = ps::ModelDType::Float32;

        // Checkpointing keeps 2 block inputs (256 B each) + one block + final norm per token.
        c.model.lora.reset();
        c.train.gradient_checkpointing = true;
        const auto k = ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Eager);
        QCOMPARE(k.item_bytes("activations"), int64_t(2 * 256 + 5632 + 768) * 128);

        // Fused attention (the torch wheel's build) keeps no probabilities: per block 5632 - 512
        // + the output kept by flash attention (256) + its float32 log-sum-exp (4 heads x 4 =
        // 16) = 5392; two blocks + final norm = 11552 B per token. Its backward holds the
        // gradients of q, k, v (256 + 2 x 128 = 512 B per token), less than the head frees.
        c.train.gradient_checkpointing = false;
        const auto f = ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Fused);
        QCOMPARE(f.attention, std::string("fused"));
        QCOMPARE(f.item_bytes("activations"), int64_t(11552) * 128);
        QCOMPARE(f.item_bytes("backward"), int64_t(2 * 259 * 4) * 80);

        // KTO keeps the reference copy during training.
        c.train.gradient_checkpointing = false;
        c.objective.algorithm = "kto";
        QCOMPARE(ps::estimate_training_memory(ps::builtin_shape("tiny"), c, ps::AttentionKernel::Eager).item_bytes("reference"), int64_t(436224));
    }

    // The real pipeline (ps::run_training) on full-length pairs, builtin:tiny, 4 pairs x 64
    // tokens: the estimate's step peak and overall peak within 20% of the measured ones.
    void estimateWithin20PercentOfTheRealTrainer_data() {
        QTest::addColumn<QString>("variant");
        for (const char* v : {"float32", "lora", "checkpointing", "bfloat16", "kto"}) QTest::newRow(v) << QString(v);
    }

    void estimateWithin20PercentOfTheRealTrainer() {
        QFETCH(QString, variant);
        ps::RunConfig c;
        c.model.source = "builtin:tiny";
        c.train.batch_size = 4;
        c.data.max_length = 64;
        c.data.max_prompt_length = 32;  // as the measured rows: prompt in the first half
        c.train.threads = 1;
        if (variant == "lora") c.model.lora = ps::LoraConfig{};
        if (variant == "checkpointing") c.train.gradient_checkpointing = true;
        if (variant == "bfloat16") c.model.dtype = ps::ModelDType::BFloat16;
        if (variant == "kto") c.objective.algorithm = "kto";
        const auto e = ps::estimate_training_memory(c);
        const auto m = ps::test::measure_training_memory(c, dir_.filePath("measure-" + variant).toStdString());
        QVERIFY2(m.completed, m.error.c_str());
        // Every row was cut to exactly max_length: no padding, every pair truncated.
        QCOMPARE(m.padding_fraction, 0.0);
        QCOMPARE(m.truncated_completions, m.pairs);
        QCOMPARE(m.pairs, int64_t(8));
        const double step = double(e.step_peak_bytes) / double(m.step_peak);
        // No evaluation pass in the measured run: its peak is the step's or the reference pass's.
        const int64_t est_run = std::max(e.step_peak_bytes, e.reference_pass_bytes);
        const double total = double(est_run) / double(m.peak);
        qInfo("%s: estimate %lld / measured %lld (step), %lld / %lld (peak)", qPrintable(variant),
              (long long)e.step_peak_bytes, (long long)m.step_peak, (long long)est_run, (long long)m.peak);
        QVERIFY2(std::fabs(step - 1.0) <= 0.2, qPrintable(QString::number(step)));
        QVERIFY2(std::fabs(total - 1.0) <= 0.2, qPrintable(QString::number(total)));
        // The weights as built are the estimate's weights item plus the rotary inverse
        // frequencies (head_dim / 2 = 8 float64: 64 B).
        QCOMPARE(m.weights, e.item_bytes("weights") + 64);
    }

    void outOfMemoryFailsTheRunWithAdvice_data() {
        QTest::addColumn<bool>("useNew");
        QTest::newRow("tensor allocation") << false;
        QTest::newRow("operator new") << true;
    }

    void outOfMemoryFailsTheRunWithAdvice() {
        QFETCH(bool, useNew);
        auto store = std::make_shared<ps::RunStore>(dir_.filePath(useNew ? "new.db" : "tensor.db").toStdString());
        ps::StoreSink store_sink(store);
        AbsurdAllocationSink absurd;
        absurd.use_new = useNew;
        ps::RunControl control;
        const auto c = run_config();
        const auto status = ps::run_training(c, c.to_json(), {&store_sink, &absurd}, control);
        QCOMPARE(status, ps::RunStatus::Failed);
        // Step 1 completed; the allocation failed while its metrics were handed on.
        QVERIFY2(absurd.error.find("Out of memory in preference step 2 on cpu") == 0, absurd.error.c_str());
        for (const char* advice : {"train.batch_size", "data.max_length", "model.lora", "train.gradient_checkpointing"})
            QVERIFY2(absurd.error.find(advice) != std::string::npos, absurd.error.c_str());
        const auto run = store->find_run(store_sink.run_id());
        QVERIFY(run.has_value());
        QCOMPARE(run->status, ps::RunStatus::Failed);
        QCOMPARE(run->error, absurd.error);

        // The process goes on: the next run in it trains to the end.
        ps::StoreSink next_sink(store);
        ps::RunControl next_control;
        QCOMPARE(ps::run_training(c, c.to_json(), {&next_sink}, next_control), ps::RunStatus::Completed);
    }
};

QTEST_GUILESS_MAIN(TestMemory)
#include "test_memory.moc"
