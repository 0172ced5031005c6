// core/common/torch_compat, what differs between the two libtorch builds. Fused attention
// (at::scaled_dot_product_attention, in the torch wheel's build) against our eager attention, on the CPU in float32: logits and gradients of whole sequences (training, with and
// without activation checkpointing) and the logits of KV-cache generation with left padding, for
// grouped-query, multi-head, Qwen3's q/k norm and Mistral's sliding window. The eager kernel is
// itself checked against a naive float64 reference in test_model and test_generation; here the
// two kernels must agree within 1e-5 (issue #22). In Debian's libtorch 1.13 build there is no
// fused kernel: the test checks that the eager one is used and says so. Also bfloat16 autocast
// (on the CPU in both builds) and the CUDA memory statistics (none without a GPU).
#include <QtTest>
#include <torch/torch.h>

#include <cmath>

#include "core/common/errors.h"
#include "core/common/torch_compat.h"
#include "core/engine/runtime_info.h"
#include "core/model/causal_lm.h"

namespace {

ps::ModelShape shape_for(const QString& variant) {
    ps::ModelShape s;
    s.vocab_size = 97;
    s.hidden_size = 64;
    s.intermediate_size = 96;
    s.num_layers = 2;
    s.num_heads = 4;
    s.num_kv_heads = 2;  // grouped-query: two query heads per key/value head
    s.head_dim = 16;
    if (variant == "mha") s.num_kv_heads = 4;
    if (variant == "mqa") s.num_kv_heads = 1;
    if (variant == "qk_norm") s.qk_norm = true;
    if (variant == "bias") s.attention_bias = true;
    if (variant == "window") s.sliding_window = 5;
    if (variant == "gemma3") {
        // A sliding-window layer (own rope theta) and a global one, with Gemma 3's norms, GeGLU,
        // scaled embeddings, query_pre_attn_scalar and soft-capped logits.
        s.qk_norm = s.norm_plus_one = s.sandwich_norms = s.scale_embeddings = true;
        s.mlp_activation = "gelu_tanh";
        s.query_pre_attn_scalar = 24;
        s.final_logit_softcapping = 8;
        s.sliding_window = 5;
        s.layer_sliding = {true, false};
        s.local_rope_theta = 100.0;
    }
    return s;
}

// Hugging Face's initialisation (std 0.02) leaves the attention scores near zero, so every query
// spreads evenly over its keys and a kernel that masked the wrong keys would still give nearly the
// same averages. Weights of std 1/sqrt(fan_in) (embeddings 0.5) make the scores of order 1-10:
// each query looks at a few keys, and the logits are of order 1, so 1e-5 is a relative bound too.
ps::CausalLM peaked_model(const ps::ModelShape& s, uint64_t seed) {
    torch::manual_seed(seed);
    ps::CausalLM m(s);
    torch::NoGradGuard no_grad;
    for (auto& p : m->named_parameters()) {
        auto& t = p.value();
        if (p.key().find("norm") != std::string::npos) continue;
        if (p.key().find("embed_tokens") != std::string::npos)
            t.normal_(0.0, 0.5);
        else if (t.dim() == 2)
            t.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(t.size(1))));
        else
            t.normal_(0.0, 0.1);  // biases
    }
    return m;
}

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// A macro, not a function: QSKIP returns from the test function it is written in.
#define SKIP_WITHOUT_FUSED()                                                                                  \
    if (!ps::torch_compat::has_fused_attention())                                                            \
    QSKIP(qPrintable("libtorch " + QString::fromStdString(ps::torch_compat::libtorch_version()) +            \
                     " has no scaled_dot_product_attention: the eager attention is the only one"))

constexpr double kTol = 1e-5;  // issue #22: the fused kernel equals the eager one within 1e-5

}  // namespace

class TestTorchCompat : public QObject {
    Q_OBJECT

private slots:
    void kernelThisBuildUses() {
        ps::CausalLM m(shape_for("gqa"));
        const auto version = QString::fromStdString(ps::torch_compat::libtorch_version());
        if (ps::torch_compat::has_fused_attention()) {
            QCOMPARE(m->attention_kernel(), ps::AttentionKernel::Fused);
            QVERIFY(version.section('.', 0, 0).toInt() >= 2);
            qInfo("libtorch %s: attention through scaled_dot_product_attention (fused)", qPrintable(version));
        } else {
            // Debian's 1.13: eager only, and asking for the fused kernel says why it cannot be had.
            QCOMPARE(m->attention_kernel(), ps::AttentionKernel::Eager);
            QVERIFY_THROWS_EXCEPTION(ps::ModelError, m->set_attention_kernel(ps::AttentionKernel::Fused));
            QCOMPARE(m->attention_kernel(), ps::AttentionKernel::Eager);
            qInfo("libtorch %s: no scaled_dot_product_attention, the eager attention is used "
                  "(the fused-vs-eager comparisons skip)", qPrintable(version));
        }
        m->set_attention_kernel(ps::AttentionKernel::Eager);
        QCOMPARE(m->attention_kernel(), ps::AttentionKernel::Eager);
        // The reference model is a clone: it keeps the policy's kernel.
        QCOMPARE(ps::clone_frozen(m)->attention_kernel(), ps::AttentionKernel::Eager);
    }

    void wholeSequencesMatchEager_data() {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<bool>("checkpointing");
        for (const char* v : {"gqa", "mha", "mqa", "qk_norm", "bias", "window", "gemma3"})
            QTest::newRow(v) << QString(v) << false;
        QTest::newRow("gqa, checkpointing") << QString("gqa") << true;
    }

    // Training: logits, and the gradient of every parameter through a log-prob loss.
    void wholeSequencesMatchEager() {
        SKIP_WITHOUT_FUSED();
        QFETCH(QString, variant);
        QFETCH(bool, checkpointing);
        const auto s = shape_for(variant);
        for (uint64_t seed : {1u, 2u, 3u}) {
            auto m = peaked_model(s, seed);
            m->train();
            m->set_gradient_checkpointing(checkpointing);
            torch::manual_seed(100 + seed);
            const int64_t B = 3, T = 16;
            auto ids = torch::randint(s.vocab_size, {B, T}, torch::kLong);
            auto targets = torch::randint(s.vocab_size, {B, T}, torch::kLong);
            auto run = [&](ps::AttentionKernel k) {
                m->set_attention_kernel(k);
                m->zero_grad();
                auto logits = m->forward(ids);
                auto logp = torch::log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
                (-logp.mean()).backward();
                std::vector<torch::Tensor> grads;
                for (const auto& p : m->parameters()) grads.push_back(p.grad().clone());
                return std::make_pair(logits.detach(), grads);
            };
            auto [eager_logits, eager_grads] = run(ps::AttentionKernel::Eager);
            auto [fused_logits, fused_grads] = run(ps::AttentionKernel::Fused);
            QVERIFY2(max_abs(eager_logits) > 0.5, "logits of order 1, so that 1e-5 is a tight bound");
            const double dl = max_abs(fused_logits - eager_logits);
            QVERIFY2(dl <= kTol, qPrintable(QString("seed %1: logits differ by %2").arg(seed).arg(dl)));
            for (size_t i = 0; i < eager_grads.size(); ++i) {
                // Relative to the largest gradient entry of the parameter (they span orders of magnitude).
                const double scale = std::max(max_abs(eager_grads[i]), 1e-3);
                const double dg = max_abs(fused_grads[i] - eager_grads[i]) / scale;
                QVERIFY2(dg <= kTol, qPrintable(QString("seed %1, parameter %2: gradient differs by %3 (relative)")
                                                    .arg(seed).arg(i).arg(dg)));
            }
        }
    }

    // torch.autocast's rules: inside the region a matmul of float32 tensors runs in bfloat16
    // (its result is bfloat16 and equals the product of the bfloat16-rounded inputs), a reduction
    // stays float32; regions nest and leaving one restores the state before it.
    void autocastBfloat16OnCpu() {
        torch::manual_seed(3);
        auto a = torch::randn({8, 16}), b = torch::randn({16, 4});
        const auto exact = torch::mm(a, b);  // float32, outside any autocast region
        {
            ps::torch_compat::AutocastGuard outer(torch::kCPU, torch::kBFloat16);
            auto y = torch::mm(a, b);
            QCOMPARE(y.scalar_type(), torch::kBFloat16);
            auto a16 = a.to(torch::kBFloat16).to(torch::kFloat32), b16 = b.to(torch::kBFloat16).to(torch::kFloat32);
            auto expected = torch::mm(a16, b16);
            // bfloat16 keeps 8 significant bits: the output rounding and, should a kernel accumulate
            // in bfloat16, each of the 16 additions add at most 2^-8 of sum |a_i b_i| each.
            const double bound = 17 * std::pow(2.0, -8) * max_abs(torch::mm(a16.abs(), b16.abs()));
            QVERIFY(max_abs(y.to(torch::kFloat32) - expected) <= bound);
            QVERIFY(max_abs(y.to(torch::kFloat32) - exact) > 0);  // it did round
            QCOMPARE(a.sum().scalar_type(), torch::kFloat32);
            {
                ps::torch_compat::AutocastGuard inner(torch::kCPU, torch::kBFloat16);
                QCOMPARE(torch::mm(a, b).scalar_type(), torch::kBFloat16);
            }
            QCOMPARE(torch::mm(a, b).scalar_type(), torch::kBFloat16);  // still inside outer
        }
        QCOMPARE(torch::mm(a, b).scalar_type(), torch::kFloat32);
        // The model's forward under autocast: the output head is a matmul, so bfloat16 logits.
        ps::CausalLM m(shape_for("gqa"));
        torch::NoGradGuard no_grad;
        auto ids = torch::randint(97, {1, 6}, torch::kLong);
        ps::torch_compat::AutocastGuard guard(torch::kCPU, torch::kBFloat16);
        QCOMPARE(m->forward(ids).scalar_type(), torch::kBFloat16);
    }

    // Statistics exist only where a CUDA libtorch sees a GPU; no GPU, no numbers (never zeros).
    void cudaMemoryStatistics() {
        const auto info = ps::runtime_info();
        QCOMPARE(ps::torch_compat::cuda_built(), info.cuda_built);
        QCOMPARE(static_cast<int>(info.cuda_memory.size()), info.cuda_devices);
        QVERIFY(!ps::torch_compat::cuda_memory_stats(info.cuda_devices).has_value());  // past the last GPU
        QVERIFY(!ps::torch_compat::cuda_memory_stats(-1).has_value());
        if (info.cuda_devices == 0) {
            QCOMPARE(ps::device_available_bytes("cuda:0"), int64_t(0));
            qInfo("libtorch %s, CUDA %s, no GPU visible: no CUDA memory statistics", info.libtorch_version.c_str(),
                  info.cuda_built ? "built in" : "not built");
            return;
        }
        // A GPU (the lent machine): a 64 MiB tensor shows in the allocated bytes and their peak.
        const auto before = *ps::torch_compat::cuda_memory_stats(0);
        auto t = torch::empty({16 * 1024 * 1024}, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA, 0));
        const auto during = *ps::torch_compat::cuda_memory_stats(0);
        QCOMPARE(during.allocated - before.allocated, int64_t(64) * 1024 * 1024);
        QVERIFY(during.peak_allocated >= during.allocated);
        QVERIFY(during.reserved >= during.allocated);
        QVERIFY(during.total > 0 && during.free > 0 && during.free <= during.total);
        QVERIFY(ps::device_available_bytes("cuda:0") > 0);
        QVERIFY(QString::fromStdString(ps::runtime_summary(ps::runtime_info())).contains("cuda:0"));
    }

    void cachedGenerationMatchesEager_data() {
        QTest::addColumn<QString>("variant");
        for (const char* v : {"gqa", "mha", "qk_norm", "window", "gemma3"}) QTest::newRow(v) << QString(v);
    }

    // KV-cache generation: a left-padded prompt batch, then single-token steps, as
    // core/model/generation.cpp drives forward_cached.
    void cachedGenerationMatchesEager() {
        SKIP_WITHOUT_FUSED();
        QFETCH(QString, variant);
        const auto s = shape_for(variant);
        auto m = peaked_model(s, 7);
        m->eval();
        torch::NoGradGuard no_grad;
        const int64_t B = 2, P = 9, steps = 4;
        const std::vector<int64_t> prompt_len = {9, 4};  // row 1 has 5 padding slots
        torch::manual_seed(11);
        auto ids = torch::randint(s.vocab_size, {B, P}, torch::kLong);
        auto pos = torch::zeros({B, P}, torch::kLong);
        auto valid = torch::zeros({B, P}, torch::kBool);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t pad = P - prompt_len[b];
            pos[b].narrow(0, pad, prompt_len[b]).copy_(torch::arange(prompt_len[b]));
            valid[b].narrow(0, pad, prompt_len[b]).fill_(true);
        }
        auto next_tokens = torch::randint(s.vocab_size, {steps, B, 1}, torch::kLong);
        auto run = [&](ps::AttentionKernel k) {
            m->set_attention_kernel(k);
            auto cache = m->make_cache(B, P + steps);
            std::vector<torch::Tensor> out;
            // Only the real tokens' logits are read (a padding slot's output is unused).
            auto prefill = m->forward_cached(ids, pos, valid, cache);
            for (int64_t b = 0; b < B; ++b) out.push_back(prefill[b].narrow(0, P - prompt_len[b], prompt_len[b]));
            auto key_valid = valid;
            for (int64_t t = 0; t < steps; ++t) {
                key_valid = torch::cat({key_valid, torch::ones({B, 1}, torch::kBool)}, 1);
                auto step_pos = (torch::tensor(prompt_len, torch::kLong) + t).view({B, 1});
                out.push_back(m->forward_cached(next_tokens[t], step_pos, key_valid, cache));
            }
            return out;
        };
        auto eager = run(ps::AttentionKernel::Eager);
        auto fused = run(ps::AttentionKernel::Fused);
        QCOMPARE(fused.size(), eager.size());
        for (size_t i = 0; i < eager.size(); ++i) {
            QVERIFY2(max_abs(eager[i]) > 0.5, "logits of order 1");
            const double d = max_abs(fused[i] - eager[i]);
            QVERIFY2(d <= kTol, qPrintable(QString("output %1: logits differ by %2").arg(i).arg(d)));
        }
    }
};

QTEST_GUILESS_MAIN(TestTorchCompat)
#include "test_torch_compat.moc"
