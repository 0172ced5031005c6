// The built-in causal LM: shapes, parameter names, causal masking, and one decoder layer
// checked against a naive float64 re-computation written from the Qwen2/Llama equations.
#include <QtTest>
#include <torch/torch.h>

#include <cmath>

#include "core/model/causal_lm.h"

namespace {

ps::ModelShape one_layer_shape() {
    ps::ModelShape s;
    s.vocab_size = 11;
    s.hidden_size = 8;
    s.intermediate_size = 12;
    s.num_layers = 1;
    s.num_heads = 4;
    s.num_kv_heads = 2;
    s.head_dim = 4;
    s.rope_theta = 10000.0;
    s.rms_norm_eps = 1e-6;
    return s;
}

// Naive forward: loops over heads and positions, double precision, no broadcasting tricks.
torch::Tensor naive_logits(ps::CausalLM& m, const std::vector<int64_t>& ids) {
    const auto& s = m->shape();
    auto P = m->named_parameters();
    auto W = [&](const std::string& n) { return P[n].detach().to(torch::kFloat64); };
    const int64_t T = static_cast<int64_t>(ids.size()), H = s.hidden_size, d = s.head_dim;
    auto rms = [&](torch::Tensor x, torch::Tensor w) {
        return w * x / std::sqrt((x * x).mean().item<double>() + s.rms_norm_eps);
    };
    auto rope = [&](torch::Tensor v, int64_t pos) {  // v [d]; pairs (i, i + d/2)
        auto out = v.clone();
        for (int64_t i = 0; i < d / 2; ++i) {
            const double theta = pos / std::pow(s.rope_theta, 2.0 * i / d);
            const double a = v[i].item<double>(), b = v[i + d / 2].item<double>();
            out[i] = a * std::cos(theta) - b * std::sin(theta);
            out[i + d / 2] = b * std::cos(theta) + a * std::sin(theta);
        }
        return out;
    };
    std::vector<torch::Tensor> x(T);
    for (int64_t t = 0; t < T; ++t) x[t] = W("model.embed_tokens.weight")[ids[t]];
    const std::string L = "model.layers.0.";
    std::vector<torch::Tensor> q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
        auto h = rms(x[t], W(L + "input_layernorm.weight"));
        q[t] = torch::mv(W(L + "self_attn.q_proj.weight"), h);
        k[t] = torch::mv(W(L + "self_attn.k_proj.weight"), h);
        v[t] = torch::mv(W(L + "self_attn.v_proj.weight"), h);
    }
    const int64_t group = s.num_heads / s.num_kv_heads;
    std::vector<torch::Tensor> y(T);
    for (int64_t t = 0; t < T; ++t) {
        auto attn = torch::zeros({s.num_heads * d}, torch::kFloat64);
        for (int64_t head = 0; head < s.num_heads; ++head) {
            const int64_t kv = head / group;  // query heads 0,1 use kv head 0; 2,3 use kv head 1
            auto qh = rope(q[t].narrow(0, head * d, d), t);
            std::vector<double> scores;
            double mx = -1e300;
            for (int64_t u = 0; u <= t; ++u) {  // causal: only positions up to t
                auto kh = rope(k[u].narrow(0, kv * d, d), u);
                scores.push_back((qh * kh).sum().item<double>() / std::sqrt(double(d)));
                mx = std::max(mx, scores.back());
            }
            double z = 0;
            for (double& sc : scores) z += (sc = std::exp(sc - mx));
            auto out = torch::zeros({d}, torch::kFloat64);
            for (int64_t u = 0; u <= t; ++u) out += scores[u] / z * v[u].narrow(0, kv * d, d);
            attn.narrow(0, head * d, d).copy_(out);
        }
        auto h = x[t] + torch::mv(W(L + "self_attn.o_proj.weight"), attn);
        auto n = rms(h, W(L + "post_attention_layernorm.weight"));
        auto g = torch::mv(W(L + "mlp.gate_proj.weight"), n);
        auto up = torch::mv(W(L + "mlp.up_proj.weight"), n);
        h = h + torch::mv(W(L + "mlp.down_proj.weight"), g / (1 + torch::exp(-g)) * up);
        y[t] = torch::mv(W("model.embed_tokens.weight"), rms(h, W("model.norm.weight")));  // tied head
    }
    return torch::stack(y);
}

}  // namespace

class TestModel : public QObject {
    Q_OBJECT
private slots:
    void forwardShapeAndNames() {
        torch::manual_seed(0);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        auto ids = torch::randint(0, 259, {3, 7}, torch::kInt64);
        auto logits = m->forward(ids);
        QCOMPARE(logits.sizes().vec(), (std::vector<int64_t>{3, 7, 259}));
        auto P = m->named_parameters();
        for (const char* n : {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                              "model.layers.1.self_attn.k_proj.weight", "model.layers.1.mlp.gate_proj.weight",
                              "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
                              "model.norm.weight"})
            QVERIFY2(P.contains(n), n);
        QVERIFY(!P.contains("lm_head.weight"));  // tied output
        // GQA: k_proj maps hidden 64 to 2 kv heads x 16.
        QCOMPARE(P["model.layers.0.self_attn.k_proj.weight"].sizes().vec(), (std::vector<int64_t>{32, 64}));
        int64_t total = 0;
        for (const auto& p : m->parameters()) total += p.numel();
        QCOMPARE(total, m->shape().parameter_count());
    }

    void untiedHeadHasItsOwnWeights() {
        auto s = ps::builtin_shape("tiny");
        s.tie_word_embeddings = false;
        ps::CausalLM m(s);
        QVERIFY(m->named_parameters().contains("lm_head.weight"));
        int64_t total = 0;
        for (const auto& p : m->parameters()) total += p.numel();
        QCOMPARE(total, s.parameter_count());
    }

    void futureTokensDoNotChangeEarlierLogits() {
        torch::manual_seed(1);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        torch::NoGradGuard ng;
        auto a = torch::randint(0, 259, {1, 12}, torch::kInt64);
        auto b = a.clone();
        b[0][8] = (a[0][8].item<int64_t>() + 1) % 259;
        auto la = m->forward(a), lb = m->forward(b);
        QVERIFY(torch::allclose(la.narrow(1, 0, 8), lb.narrow(1, 0, 8), 0.0, 1e-6));
        QVERIFY((la.narrow(1, 8, 4) - lb.narrow(1, 8, 4)).abs().max().item<double>() > 1e-4);
    }

    void matchesNaiveReference() {
        torch::manual_seed(2);
        ps::CausalLM m(one_layer_shape());
        {
            // Non-trivial norm weights, so a wrong norm placement cannot hide.
            torch::NoGradGuard ng;
            for (auto& p : m->named_parameters())
                if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
                else p.value().normal_(0.0, 0.5);
        }
        m->to(torch::kFloat64);
        std::vector<int64_t> ids{3, 1, 4, 1, 5, 9};
        torch::NoGradGuard ng;
        auto ours = m->forward(torch::tensor(ids).unsqueeze(0))[0];
        auto ref = naive_logits(m, ids);
        const double err = (ours - ref).abs().max().item<double>();
        QVERIFY2(err < 1e-10, qPrintable(QString("max abs error %1").arg(err)));
    }

    void frozenCloneHasSameOutputsAndNoGrad() {
        torch::manual_seed(3);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        auto ref = ps::clone_frozen(m);
        auto ids = torch::randint(0, 259, {2, 5}, torch::kInt64);
        torch::NoGradGuard ng;
        QVERIFY(torch::equal(m->forward(ids), ref->forward(ids)));
        for (const auto& p : ref->parameters()) QVERIFY(!p.requires_grad());
        // Changing the policy leaves the reference alone.
        for (auto& p : m->parameters()) p.add_(0.1);
        QVERIFY(!torch::equal(m->forward(ids), ref->forward(ids)));
    }
};

QTEST_GUILESS_MAIN(TestModel)
#include "test_model.moc"
