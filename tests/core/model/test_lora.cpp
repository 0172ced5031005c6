// LoRA (PEFT semantics and file format), activation checkpointing and mixed precision, checked
// against hand formulas, finite differences, hand-counted parameters and the runs without them.
#include <QtTest>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>
#include <filesystem>
#include <map>
#include <set>

#include "tests/common/collect_sink.h"
#include "tests/common/reference_check.h"
#include "core/common/errors.h"
#include "core/engine/save_dir.h"
#include "core/data/make_data.h"
#include "core/engine/master_weights.h"
#include "core/engine/run_thread.h"
#include "core/engine/trainer.h"
#include "core/model/causal_lm.h"
#include "core/model/lora.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"
#include "core/model/safetensors.h"
#include "core/objectives/logprobs.h"
#include "tests/common/tiny_config.h"

namespace {

using ps::test::CollectSink;

ps::ModelShape small_shape() {
    ps::ModelShape s;
    s.vocab_size = 13;
    s.hidden_size = 8;
    s.intermediate_size = 12;
    s.num_layers = 2;
    s.num_heads = 4;
    s.num_kv_heads = 2;
    s.head_dim = 4;
    return s;
}

torch::Tensor ids_of(int64_t vocab, int64_t B, int64_t T) {
    return torch::randint(vocab, {B, T}, torch::kLong);
}

// Random non-zero adapters, so both A and B carry gradient and change the output.
void randomise_adapters(ps::CausalLM& m) {
    torch::NoGradGuard no_grad;
    for (auto& p : m->named_parameters())
        if (p.key().find(".lora_") != std::string::npos) p.value().normal_(0.0, 0.3);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

class TestLora : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string data_;

    ps::RunConfig lora_config(int steps) {
        ps::RunConfig c = ps::test::tiny_run_config(data_, steps, "lora");
        c.data.eval_fraction = 0.2;
        c.train.batch_size = 16;
        c.train.eval_every = 10;
        ps::LoraConfig l;
        l.rank = 8;
        l.alpha = 16;
        l.dropout = 0.1;
        c.model.lora = l;
        c.validate();
        return c;
    }

    CollectSink run(const ps::RunConfig& c) {
        CollectSink sink;
        ps::RunControl control;
        const auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        if (status != ps::RunStatus::Completed) qWarning("run failed: %s", sink.error.c_str());
        sink.status = status;
        return sink;
    }

private slots:
    void initTestCase() {
        ps::ArithDataOptions o;
        o.count = 20;
        o.max_operand = 10;
        data_ = dir_.filePath("pairs.jsonl").toStdString();
        ps::write_preference_jsonl(ps::make_arith_pairs(o), data_);
    }

    void adaptersAtInitGiveTheBaseLogits() {
        torch::manual_seed(1);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        auto ids = ids_of(259, 2, 9);
        auto before = m->forward(ids).detach();
        ps::LoraConfig l;
        l.rank = 4;
        QCOMPARE(ps::add_lora(m, l), int64_t(14));  // 7 target layers x 2 blocks
        auto after = m->forward(ids).detach();
        QVERIFY(torch::equal(before, after));  // B = 0: exactly the base
        // A is kaiming-uniform with a = sqrt(5): |A| <= 1 / sqrt(in), and it spans that range.
        auto a = m->named_parameters()["model.layers.0.mlp.down_proj.lora_A.weight"];
        QCOMPARE(a.sizes().vec(), (std::vector<int64_t>{4, 176}));
        const double bound = 1.0 / std::sqrt(176.0);
        QVERIFY(a.abs().max().item<double>() <= bound);
        QVERIFY(a.abs().max().item<double>() > 0.9 * bound);
        QCOMPARE(m->named_parameters()["model.layers.0.mlp.down_proj.lora_B.weight"].abs().sum().item<double>(), 0.0);
    }

    void oneLayerFollowsTheHandFormula() {
        // y = W x + b + (alpha / r) B A x, written out element by element.
        const int64_t in = 5, out = 3, r = 2;
        const double alpha = 6.0;
        ps::Dense d(in, out, /*bias=*/true, /*init=*/true, torch::kFloat64);
        d->to(torch::kFloat64);
        auto on = std::make_shared<ps::LoraSwitch>();
        d->attach_lora(r, alpha, 0.0, on, torch::kFloat64);
        torch::NoGradGuard no_grad;
        d->lora_A->weight.copy_(torch::arange(r * in, torch::kFloat64).view({r, in}) * 0.1 - 0.3);
        d->lora_B->weight.copy_(torch::arange(out * r, torch::kFloat64).view({out, r}) * -0.2 + 0.5);
        auto x = torch::randn({in}, torch::kFloat64);
        auto y = d->forward(x.view({1, in})).view({out});
        auto W = d->weight, b = d->bias, A = d->lora_A->weight, Bm = d->lora_B->weight;
        for (int64_t o = 0; o < out; ++o) {
            double expect = b[o].item<double>();
            for (int64_t i = 0; i < in; ++i) expect += W[o][i].item<double>() * x[i].item<double>();
            for (int64_t k = 0; k < r; ++k) {
                double ax = 0;
                for (int64_t i = 0; i < in; ++i) ax += A[k][i].item<double>() * x[i].item<double>();
                expect += alpha / r * Bm[o][k].item<double>() * ax;
            }
            QVERIFY2(std::fabs(y[o].item<double>() - expect) < 1e-12, qPrintable(QString::number(o)));
        }
        on->enabled = false;  // adapters off: the base layer alone
        auto base = d->forward(x.view({1, in})).view({out});
        for (int64_t o = 0; o < out; ++o) {
            double expect = b[o].item<double>();
            for (int64_t i = 0; i < in; ++i) expect += W[o][i].item<double>() * x[i].item<double>();
            QVERIFY(std::fabs(base[o].item<double>() - expect) < 1e-12);
        }
    }

    void gradientsMatchFiniteDifferences() {
        torch::manual_seed(2);
        ps::CausalLM m(small_shape(), true, torch::kFloat64);
        ps::LoraConfig l;
        l.rank = 2;
        l.alpha = 3;
        ps::add_lora(m, l, torch::kFloat64);
        randomise_adapters(m);
        m->eval();
        auto ids = ids_of(13, 2, 6);
        auto weights = torch::randn({2, 6, 13}, torch::kFloat64);
        auto loss_of = [&] { return (m->forward(ids) * weights).sum(); };
        m->zero_grad();
        loss_of().backward();
        auto P = m->named_parameters();
        // Frozen base weights get no gradient at all.
        for (const auto& p : P)
            if (p.key().find(".lora_") == std::string::npos) {
                QVERIFY2(!p.value().requires_grad(), p.key().c_str());
                QVERIFY2(!p.value().grad().defined(), p.key().c_str());
            }
        const double h = 1e-6;
        int checked = 0;
        for (const char* name : {"model.layers.0.self_attn.q_proj.lora_A.weight", "model.layers.0.self_attn.q_proj.lora_B.weight",
                                 "model.layers.1.mlp.down_proj.lora_A.weight", "model.layers.1.mlp.gate_proj.lora_B.weight",
                                 "model.layers.1.self_attn.v_proj.lora_B.weight"}) {
            auto p = P[name];
            auto g = p.grad().clone();
            auto flat = p.view({-1});
            for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 5)) {
                double plus, minus;
                {
                    torch::NoGradGuard no_grad;
                    const double v = flat[i].item<double>();
                    flat[i] = v + h;
                    plus = loss_of().item<double>();
                    flat[i] = v - h;
                    minus = loss_of().item<double>();
                    flat[i] = v;
                }
                const double fd = (plus - minus) / (2 * h);
                const double ad = g.view({-1})[i].item<double>();
                QVERIFY2(std::fabs(fd - ad) <= 1e-6 * std::max(1.0, std::fabs(fd)),
                         qPrintable(QString("%1[%2]: autograd %3, finite difference %4").arg(name).arg(i).arg(ad).arg(fd)));
                ++checked;
            }
        }
        QVERIFY(checked >= 15);
    }

    void trainableParametersAreTheAdaptersByHandCount() {
        // builtin:tiny: hidden 64, 4 heads and 2 kv heads of 16, MLP 176, 2 layers. Per layer,
        // r (in + out) for q (64+64), k (64+32), v (64+32), o (64+64), gate and up (64+176),
        // down (176+64): r * 1168, so r = 8 gives 2 * 8 * 1168 = 18688.
        torch::manual_seed(3);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        ps::LoraConfig l;
        ps::add_lora(m, l);
        int64_t n = 0;
        for (const auto& p : ps::trainable_parameters(m)) n += p.numel();
        QCOMPARE(n, int64_t(18688));
        // The trainer's optimizer gets exactly these (it reports their count).
        auto c = lora_config(1);
        c.model.lora->dropout = 0.0;
        auto sink = run(c);
        QCOMPARE(sink.status, ps::RunStatus::Completed);
        auto data = sink.event_data("trainable_parameters");
        QVERIFY(!data.is_null());
        QCOMPARE(data["trainable_parameters"].get<int64_t>(), int64_t(18688));
        // A target that names no layer is an error, not a silent no-op.
        ps::CausalLM other(ps::builtin_shape("tiny"));
        ps::LoraConfig bad;
        bad.target_modules = {"q_proj", "c_attn"};
        QVERIFY_THROWS_EXCEPTION(ps::ModelError, ps::add_lora(other, bad));
        QVERIFY(!ps::has_lora(other));
    }

    void disabledAdaptersAreTheBaseAfterTraining() {
        torch::manual_seed(4);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        auto base = ps::clone_frozen(m);
        ps::LoraConfig l;
        l.dropout = 0.1;
        ps::add_lora(m, l);
        torch::optim::AdamW opt(ps::trainable_parameters(m), torch::optim::AdamWOptions(1e-2));
        auto ids = ids_of(259, 4, 10);
        auto mask = torch::ones({4, 10}, torch::kLong);
        for (int s = 0; s < 3; ++s) {
            opt.zero_grad();
            (-ps::completion_logps(m->forward(ids), ids, mask).sum.sum()).backward();
            opt.step();
        }
        torch::NoGradGuard no_grad;
        m->eval();
        auto trained = ps::completion_logps(m->forward(ids), ids, mask).sum;
        auto want = ps::completion_logps(base->forward(ids), ids, mask).sum;
        torch::Tensor off;
        {
            ps::AdaptersDisabled disabled(m);
            off = ps::completion_logps(m->forward(ids), ids, mask).sum;
        }
        QVERIFY(torch::equal(off, want));           // the same weights, the same arithmetic
        QVERIFY(max_abs_diff(trained, want) > 1e-3);  // while the adapters did change the policy
        auto back = ps::completion_logps(m->forward(ids), ids, mask).sum;
        QVERIFY(torch::equal(back, trained));  // the switch is scoped
    }

    void dpoWithLoraTrainsAndIsDeterministic() {
        auto c = lora_config(20);
        auto a = run(c);
        QCOMPARE(a.status, ps::RunStatus::Completed);
        auto loss = a.series("loss");
        QCOMPARE(loss.size(), size_t(20));
        QVERIFY(std::fabs(loss[0] - std::log(2.0)) < 1e-5);  // the policy starts as its reference
        double first5 = 0, last5 = 0;
        for (size_t i = 0; i < 5; ++i) first5 += loss[i] / 5;
        for (size_t i = 15; i < 20; ++i) last5 += loss[i] / 5;
        QVERIFY2(last5 < first5 - 0.05, qPrintable(QString("loss %1 -> %2").arg(first5).arg(last5)));
        auto margins = a.series("rewards/margins");
        QVERIFY(margins.back() > margins.front() + 0.05);
        // Same config and seed, dropout included: the same curve, bit for bit.
        auto b = run(c);
        QCOMPARE(b.series("loss"), loss);
        // The reference computed on the fly through the disabled adapters, after every step
        // (when the adapters have trained), equals the reference log-probs cached from the base
        // before training. Compared as reference values, not rewards: see reference_check.h.
        c.train.reference_logps = ps::ReferenceMode::OnTheFly;
        auto fly = run(c);
        const ps::ModelShape shape = ps::builtin_shape("tiny");
        const int64_t widest = std::max({shape.vocab_size, shape.hidden_size, shape.intermediate_size});
        const std::string mismatch = ps::test::compare_references(a, fly, c.objective.beta, c.train.batch_size, widest, 20);
        QVERIFY2(mismatch.empty(), mismatch.c_str());
    }

    void ktoWithLoraUsesTheBaseAsReference() {
        // KTO's reference log-probs and its KL term both go through the disabled adapters: at
        // step 1 the policy equals its reference, so every reward and the KL estimate are 0.
        auto c = lora_config(3);
        c.objective.algorithm = "kto";
        c.train.reference_logps = ps::ReferenceMode::OnTheFly;
        auto a = run(c);
        QCOMPARE(a.status, ps::RunStatus::Completed);
        QVERIFY(std::fabs(a.series("rewards/chosen")[0]) < 1e-6);
        QVERIFY(std::fabs(a.series("rewards/rejected")[0]) < 1e-6);
        QVERIFY(std::fabs(a.series("kl")[0]) < 1e-6);
        QVERIFY(std::fabs(a.series("rewards/chosen").back()) > 1e-4);  // and then it trains
    }

    void sftWarmupIsMergedAndBecomesTheReference() {
        auto c = lora_config(5);
        c.sft.steps = 5;
        c.sft.learning_rate = 1e-2;
        c.train.save_dir = dir_.filePath("sft-lora").toStdString();
        auto a = run(c);
        QCOMPARE(a.status, ps::RunStatus::Completed);
        auto sft = a.series("sft/loss");
        QCOMPARE(sft.size(), size_t(5));
        QVERIFY(sft.back() < sft.front());
        // Fresh adapters over the merged warm-up: DPO starts at log 2 against the warmed-up model.
        QVERIFY(std::fabs(a.series("loss")[0] - std::log(2.0)) < 1e-5);
        // The adapter's base is the warmed-up model saved beside it.
        std::ifstream in(*c.train.save_dir + "/adapter_config.json");
        auto cfg = nlohmann::json::parse(in);
        QVERIFY(QFile::exists(QString::fromStdString(*c.train.save_dir + "/model.safetensors")));
        QCOMPARE(cfg["base_model_name_or_path"].get<std::string>(),
                 std::filesystem::absolute(*c.train.save_dir).lexically_normal().string());
        // The run marked the folder as its own (train.save_dir safety, core/engine/save_dir.h) ...
        QVERIFY(QFile::exists(QString::fromStdString(*c.train.save_dir + "/" + ps::kSaveMarkerFile)));
        // ... so the same run may write it again, while a folder it did not write is refused before
        // anything is trained, its files untouched.
        auto again = lora_config(1);
        again.train.save_dir = c.train.save_dir;
        QCOMPARE(run(again).status, ps::RunStatus::Completed);
        const QString foreign = dir_.filePath("foreign");
        QVERIFY(QDir().mkpath(foreign));
        QFile keep(foreign + "/model.safetensors");
        QVERIFY(keep.open(QIODevice::WriteOnly));
        keep.write("someone else's weights");
        keep.close();
        auto refused = lora_config(1);
        refused.train.save_dir = foreign.toStdString();
        CollectSink r = run(refused);
        QCOMPARE(r.status, ps::RunStatus::Failed);
        QVERIFY2(r.error.find("train.save_dir") != std::string::npos && r.error.find("overwrite_save_dir") != std::string::npos,
                 r.error.c_str());
        QVERIFY(r.series("loss").empty());
        QVERIFY(keep.open(QIODevice::ReadOnly));
        QCOMPARE(keep.readAll(), QByteArray("someone else's weights"));
    }

    void peftFilesHaveTheirNamesShapesAndFields() {
        auto c = lora_config(3);
        c.model.lora->target_modules = {"q_proj", "v_proj", "down_proj"};
        c.train.save_dir = dir_.filePath("adapter").toStdString();
        auto a = run(c);
        QCOMPARE(a.status, ps::RunStatus::Completed);
        const std::string d = *c.train.save_dir;
        QVERIFY(!QFile::exists(QString::fromStdString(d + "/model.safetensors")));  // adapters only
        std::ifstream in(d + "/adapter_config.json");
        auto cfg = nlohmann::json::parse(in);
        QCOMPARE(cfg["peft_type"].get<std::string>(), std::string("LORA"));
        QCOMPARE(cfg["task_type"].get<std::string>(), std::string("CAUSAL_LM"));
        QCOMPARE(cfg["r"].get<int>(), 8);
        QVERIFY(cfg["lora_alpha"].is_number_integer());
        QCOMPARE(cfg["lora_alpha"].get<int>(), 16);
        QCOMPARE(cfg["lora_dropout"].get<double>(), 0.1);
        QCOMPARE(cfg["target_modules"].get<std::vector<std::string>>(), (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
        QCOMPARE(cfg["bias"].get<std::string>(), std::string("none"));
        QCOMPARE(cfg["fan_in_fan_out"].get<bool>(), false);
        QCOMPARE(cfg["inference_mode"].get<bool>(), true);
        QCOMPARE(cfg["base_model_name_or_path"].get<std::string>(), std::string("builtin:tiny"));
        auto file = ps::SafetensorsFile::open(d + "/adapter_model.safetensors");
        std::map<std::string, std::vector<int64_t>> got;
        for (const auto& e : file.header.tensors) {
            got[e.name] = e.shape;
            QCOMPARE(e.dtype, std::string("F32"));
        }
        std::map<std::string, std::vector<int64_t>> want;
        for (int layer = 0; layer < 2; ++layer) {
            const std::string p = "base_model.model.model.layers." + std::to_string(layer) + ".";
            want[p + "self_attn.q_proj.lora_A.weight"] = {8, 64};
            want[p + "self_attn.q_proj.lora_B.weight"] = {64, 8};
            want[p + "self_attn.v_proj.lora_A.weight"] = {8, 64};
            want[p + "self_attn.v_proj.lora_B.weight"] = {32, 8};
            want[p + "mlp.down_proj.lora_A.weight"] = {8, 176};
            want[p + "mlp.down_proj.lora_B.weight"] = {64, 8};
        }
        QCOMPARE(got, want);
        QCOMPARE(file.header.metadata["format"], std::string("pt"));

        // The adapter directory as a model source is base + adapter (merged): evaluated from
        // scratch, it gives the trained policy's final eval log-probs (float32 merge rounding).
        auto again = c;
        again.model.source = d;
        again.model.lora.reset();
        again.train.save_dir.reset();
        const auto initial = ps::evaluate_initial_model(again);
        const double trained = a.series("eval/logps/chosen").back();
        const double reloaded = initial["logps/chosen"].get<double>();
        QVERIFY2(std::fabs(trained - reloaded) < 1e-4 * std::max(1.0, std::fabs(trained)),
                 qPrintable(QString("trained %1, reloaded %2").arg(trained).arg(reloaded)));
        auto base_only = again;
        base_only.model.source = "builtin:tiny";
        const double base = ps::evaluate_initial_model(base_only)["logps/chosen"].get<double>();
        qInfo("eval logps/chosen: base %.6f, trained %.6f, reloaded adapter %.6f", base, trained, reloaded);
        QVERIFY(std::fabs(base - trained) > 100 * std::fabs(trained - reloaded));  // the adapter matters
    }

    void savedAdapterRoundTripsAndMerges() {
        torch::manual_seed(5);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        auto base = ps::clone_frozen(m);
        ps::LoraConfig l;
        l.rank = 4;
        l.alpha = 12;
        l.target_modules = {"k_proj", "o_proj", "up_proj"};
        ps::add_lora(m, l);
        randomise_adapters(m);
        m->eval();
        auto ids = ids_of(259, 2, 12);
        auto want = m->forward(ids).detach();
        const std::string d = dir_.filePath("roundtrip").toStdString();
        ps::save_lora_adapter(m, l, d, "builtin:tiny");

        // A fresh base with the same weights, plus the adapter from disk: identical logits.
        ps::CausalLM fresh(ps::builtin_shape("tiny"), false);
        {
            torch::NoGradGuard no_grad;
            auto src = base->named_parameters();
            for (auto& p : fresh->named_parameters()) p.value().copy_(src[p.key()]);
        }
        auto loaded = ps::load_lora_adapter(fresh, d);
        QCOMPARE(loaded.rank, 4);
        QCOMPARE(loaded.alpha, 12.0);
        QCOMPARE(loaded.target_modules, l.target_modules);
        fresh->eval();
        QVERIFY(torch::equal(fresh->forward(ids).detach(), want));

        // Merged into the base: the same function up to float32 rounding, and no adapters left.
        ps::merge_lora(fresh);
        QVERIFY(!ps::has_lora(fresh));
        QCOMPARE(fresh->named_parameters().size(), base->named_parameters().size());
        const double diff = max_abs_diff(fresh->forward(ids).detach(), want);
        QVERIFY2(diff < 1e-4, qPrintable(QString::number(diff)));
        QVERIFY(max_abs_diff(base->forward(ids).detach(), want) > 1e-2);

        // A file that does not fit the model is refused, naming a tensor.
        ps::CausalLM small(ps::builtin_shape("small"));
        try {
            ps::load_lora_adapter(small, d);
            QFAIL("a tiny adapter loaded into builtin:small");
        } catch (const ps::ModelError& e) {
            QVERIFY2(std::string(e.what()).find("lora_A.weight") != std::string::npos, e.what());
        }
        QVERIFY(!ps::has_lora(small));
    }

    void checkpointingGivesTheSameGradients_data() {
        QTest::addColumn<bool>("lora");
        QTest::addColumn<double>("dropout");
        QTest::newRow("full fine-tuning") << false << 0.0;
        QTest::newRow("lora") << true << 0.0;
        QTest::newRow("lora with dropout") << true << 0.3;
    }
    void checkpointingGivesTheSameGradients() {
        QFETCH(bool, lora);
        QFETCH(double, dropout);
        torch::manual_seed(6);
        ps::CausalLM m(small_shape(), true, torch::kFloat64);
        if (lora) {
            ps::LoraConfig l;
            l.rank = 3;
            l.dropout = dropout;
            ps::add_lora(m, l, torch::kFloat64);
            randomise_adapters(m);
        }
        m->train();
        auto ids = ids_of(13, 3, 7);
        auto weights = torch::randn({3, 7, 13}, torch::kFloat64);
        auto grads = [&](bool checkpoint) {
            m->set_gradient_checkpointing(checkpoint);
            m->zero_grad();
            torch::manual_seed(77);
            // Two backward passes accumulate, as micro-batches do.
            (m->forward(ids) * weights).sum().backward();
            (m->forward(ids) * weights * 0.5).sum().backward();
            std::map<std::string, torch::Tensor> out;
            for (const auto& p : m->named_parameters())
                if (p.value().requires_grad()) out[p.key()] = p.value().grad().clone();
            out["~next random"] = torch::rand({1}, torch::kFloat64);  // the stream goes on alike
            return out;
        };
        auto plain = grads(false);
        auto ckpt = grads(true);
        QCOMPARE(ckpt.size(), plain.size());
        QVERIFY(plain.size() > 1);
        for (const auto& [name, g] : plain) {
            QVERIFY2(ckpt[name].defined() && g.defined(), name.c_str());
            const double scale = std::max(1e-12, g.abs().max().item<double>());
            const double rel = max_abs_diff(ckpt[name], g) / scale;
            QVERIFY2(rel < 1e-10, qPrintable(QString("%1: relative %2").arg(name.c_str()).arg(rel)));
        }
        // Nothing is kept in the forward: without gradients the flag changes nothing at all.
        torch::NoGradGuard no_grad;
        m->eval();
        QVERIFY(torch::equal(m->forward(ids), m->forward(ids)));
    }

    void checkpointedRunFollowsThePlainRun() {
        auto c = lora_config(6);
        auto plain = run(c);
        c.train.gradient_checkpointing = true;
        auto ckpt = run(c);
        QCOMPARE(ckpt.status, ps::RunStatus::Completed);
        auto a = plain.series("loss"), b = ckpt.series("loss");
        QCOMPARE(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) QVERIFY2(std::fabs(a[i] - b[i]) < 1e-6, qPrintable(QString::number(i)));
    }

    void masterWeightsKeepUpdatesBelowBfloat16Resolution() {
        // 100 SGD steps of +1e-4 on a bfloat16 weight of 1.0: each is below half the bfloat16
        // spacing at 1.0 (2^-7 / 2 = 0.0039), so a bfloat16 weight never moves, while the
        // float32 master reaches 1.01 and the model holds its nearest bfloat16, 1 + 2^-7.
        auto w = torch::ones({4}, torch::kBFloat16).requires_grad_(true);
        auto pure = torch::ones({4}, torch::kBFloat16).requires_grad_(true);
        ps::MasterWeights master({w});
        QVERIFY(master.has_copies());
        torch::optim::SGD opt(master.optimized(), torch::optim::SGDOptions(1e-4));
        torch::optim::SGD opt_pure({pure}, torch::optim::SGDOptions(1e-4));
        for (int i = 0; i < 100; ++i) {
            opt.zero_grad();
            opt_pure.zero_grad();
            (-w.to(torch::kFloat32).sum()).backward();
            (-pure.to(torch::kFloat32).sum()).backward();
            master.gradients_to_master();
            QVERIFY(!w.grad().defined());  // the half-precision gradient is released
            opt.step();
            opt_pure.step();
            master.master_to_model();
        }
        QVERIFY(std::fabs(master.optimized()[0][0].item<double>() - 1.01) < 1e-5);
        QCOMPARE(w[0].item<double>(), 1.0078125);
        QCOMPARE(pure[0].item<double>(), 1.0);
        // Micro-batches accumulate in float32: 256 + 1 + 1 is 258 there, while bfloat16 (8
        // significant bits) would round 256 + 1 back to 256 each time.
        auto big = torch::zeros({1}, torch::kBFloat16).requires_grad_(true);
        ps::MasterWeights acc({big});
        for (double g : {256.0, 1.0, 1.0}) {
            (big.to(torch::kFloat32) * g).sum().backward();
            acc.gradients_to_master();
        }
        QCOMPARE(acc.optimized()[0].grad()[0].item<double>(), 258.0);
        // float32 parameters (LoRA adapters over a bfloat16 base) are their own master.
        auto f = torch::zeros({2}).requires_grad_(true);
        ps::MasterWeights own({f});
        QVERIFY(!own.has_copies());
        QVERIFY(own.optimized()[0].is_same(f));
    }

    void bfloat16RunFollowsTheFloat32Run_data() {
        QTest::addColumn<bool>("lora");
        QTest::newRow("full fine-tuning") << false;
        QTest::newRow("lora") << true;
    }
    void bfloat16RunFollowsTheFloat32Run() {
        QFETCH(bool, lora);
        auto c = lora_config(8);
        if (!lora) c.model.lora.reset();
        c.model.lora ? c.model.lora->dropout = 0.0 : 0.0;
        auto f32 = run(c);
        c.model.dtype = ps::ModelDType::BFloat16;
        auto b16 = run(c);
        QCOMPARE(b16.status, ps::RunStatus::Completed);
        auto a = f32.series("loss"), b = b16.series("loss");
        QCOMPARE(a.size(), b.size());
        double worst = 0, mean = 0;
        for (size_t i = 0; i < a.size(); ++i) {
            worst = std::max(worst, std::fabs(a[i] - b[i]));
            mean += std::fabs(a[i] - b[i]) / static_cast<double>(a.size());
        }
        qInfo("bfloat16 vs float32 DPO loss over %zu steps: max |difference| %.5f, mean %.5f (%s)", a.size(), worst,
              mean, lora ? "LoRA" : "full");
        if (qEnvironmentVariableIsSet("LORA_DEBUG"))
            for (size_t i = 0; i < a.size(); ++i) qInfo("%zu %.6f %.6f", i, a[i], b[i]);
        QVERIFY(std::fabs(b[0] - std::log(2.0)) < 1e-6);  // policy == reference in bfloat16 too
        // Tolerance: bfloat16 keeps 8 significant bits, so every matmul of the forward and backward
        // rounds at ~2^-9 relative. With LoRA the trained adapters are float32 over a frozen
        // base: the curves agree to a few 1e-3 (measured 1.8e-3 at most over 8 steps). Full
        // fine-tuning moves every weight by about the learning rate in AdamW's sign-like first
        // steps, and bfloat16 rounding flips the sign of the smallest gradients, so the curves
        // wander by ~1e-3 a step with an occasional larger step and come back (measured 0.027
        // max, 0.004 mean; after the attention and head rewrite of issue #6, which changes
        // only rounding, steps 1-5 agree to 1.5e-3 and step 6 jumps by 0.077, back to 0.021
        // at step 7: 0.0125 mean): within 0.1 per step and 0.02 on average, against a loss
        // that falls by 0.25 over these 8 steps.
        const double max_tol = lora ? 0.01 : 0.1, mean_tol = lora ? 0.003 : 0.02;
        QVERIFY2(worst < max_tol && mean < mean_tol, qPrintable(QString("max %1, mean %2").arg(worst).arg(mean)));
        QVERIFY(b.back() < b.front() - (lora ? 0.05 : 0.15));  // and the bfloat16 run does train
    }
};

QTEST_GUILESS_MAIN(TestLora)
#include "test_lora.moc"
