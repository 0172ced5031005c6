#include "core/model/generation.h"

#include <algorithm>
#include <limits>
#include <random>

#include "core/common/errors.h"

namespace ps {

void GenerationOptions::validate() const {
    if (max_new_tokens < 0) throw ModelError("generation: max_new_tokens must be 0 or positive");
    if (!(temperature >= 0.0)) throw ModelError("generation: temperature must be 0 (greedy) or positive");
    if (top_k < 0) throw ModelError("generation: top_k must be 0 (off) or positive");
    if (!(top_p > 0.0 && top_p <= 1.0)) throw ModelError("generation: top_p must be in (0, 1]");
}

torch::Tensor filter_logits(const torch::Tensor& logits, double temperature, int top_k, double top_p) {
    const float neg_inf = -std::numeric_limits<float>::infinity();
    auto x = logits.to(torch::kFloat32);
    if (temperature > 0.0 && temperature != 1.0) x = x / temperature;
    const int64_t V = x.size(-1);
    if (top_k > 0 && top_k < V) {
        // Ties with the k-th value survive, as in transformers' TopKLogitsWarper.
        auto kth = std::get<0>(x.topk(top_k, -1)).narrow(-1, top_k - 1, 1);
        x = x.masked_fill(x < kth, neg_inf);
    }
    if (top_p < 1.0) {
        // Keep a token when the probability of the more likely tokens before it is still
        // below top_p: the smallest set reaching top_p (the most likely token always stays).
        auto sorted = x.sort(-1, /*descending=*/true);
        auto values = std::get<0>(sorted);
        auto probs = values.softmax(-1);
        auto before = probs.cumsum(-1) - probs;
        values = values.masked_fill(before >= top_p, neg_inf);
        x = torch::empty_like(x).scatter(-1, std::get<1>(sorted), values);  // back to vocabulary order
    }
    return x;
}

namespace {

struct ModeGuard {
    CausalLM& m;
    bool was_training;
    explicit ModeGuard(CausalLM& model) : m(model), was_training(model->is_training()) { m->eval(); }
    ~ModeGuard() { m->train(was_training); }
};

int64_t sample_row(const double* probs, int64_t V, std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    double total = 0;
    for (int64_t i = 0; i < V; ++i) total += probs[i];
    double cum = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < V; ++i) {
        if (probs[i] <= 0) continue;
        last = i;
        cum += probs[i];
        if (cum > u * total) return i;
    }
    return last;  // rounding left u*total just above the sum
}

}  // namespace

std::vector<GeneratedSequence> generate_tokens(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                               const GenerationOptions& o) {
    o.validate();
    const int64_t B = static_cast<int64_t>(prompts.size());
    std::vector<GeneratedSequence> out(static_cast<size_t>(B));
    if (B == 0) return out;
    const int64_t V = model->shape().vocab_size;
    int64_t P = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        if (prompts[i].empty()) throw ModelError("generation: prompt " + std::to_string(i) + " has no tokens");
        for (int64_t id : prompts[i])
            if (id < 0 || id >= V)
                throw ModelError("generation: prompt " + std::to_string(i) + " has token id " + std::to_string(id) +
                                 " outside the model's vocabulary of " + std::to_string(V));
        P = std::max<int64_t>(P, static_cast<int64_t>(prompts[i].size()));
    }
    for (auto& g : out) g.finish_reason = "length";
    if (o.max_new_tokens == 0) return out;

    torch::NoGradGuard no_grad;
    ModeGuard mode(model);
    const auto device = model->parameters().front().device();
    // Left padding: row i's prompt fills the last n_i slots, positions count from 0 there.
    std::vector<int64_t> ids(static_cast<size_t>(B * P), 0), pos(static_cast<size_t>(B * P), 0), next_pos(B);
    std::vector<uint8_t> valid(static_cast<size_t>(B * P), 0);
    for (int64_t b = 0; b < B; ++b) {
        const auto& p = prompts[static_cast<size_t>(b)];
        const int64_t n = static_cast<int64_t>(p.size()), pad = P - n;
        for (int64_t t = 0; t < n; ++t) {
            ids[b * P + pad + t] = p[t];
            pos[b * P + pad + t] = t;
            valid[b * P + pad + t] = 1;
        }
        next_pos[b] = n;
    }
    auto long_opts = torch::TensorOptions().dtype(torch::kLong);
    auto key_valid = torch::from_blob(valid.data(), {B, P}, torch::kUInt8).to(torch::kBool).to(device);
    KVCache cache = model->make_cache(B, P + o.max_new_tokens);
    auto logits = model->forward_cached(torch::from_blob(ids.data(), {B, P}, long_opts).to(device),
                                        torch::from_blob(pos.data(), {B, P}, long_opts).to(device), key_valid, cache)
                      .select(1, P - 1);

    std::vector<std::mt19937_64> rngs;
    for (int64_t b = 0; b < B; ++b) {
        std::seed_seq seq{static_cast<uint32_t>(o.seed), static_cast<uint32_t>(o.seed >> 32), static_cast<uint32_t>(b)};
        rngs.emplace_back(seq);
    }
    std::vector<bool> done(static_cast<size_t>(B), false);
    int64_t remaining = B;
    for (int step = 0; step < o.max_new_tokens; ++step) {
        if (o.cancel && o.cancel->load()) {
            for (int64_t b = 0; b < B; ++b)
                if (!done[b]) out[static_cast<size_t>(b)].finish_reason = "cancelled";
            break;
        }
        std::vector<int64_t> next(static_cast<size_t>(B), 0);
        if (o.temperature == 0.0) {
            auto am = logits.argmax(-1).to(torch::kCPU).contiguous();
            for (int64_t b = 0; b < B; ++b) next[b] = am.data_ptr<int64_t>()[b];
        } else {
            auto probs = filter_logits(logits, o.temperature, o.top_k, o.top_p)
                             .to(torch::kFloat64)
                             .softmax(-1)
                             .to(torch::kCPU)
                             .contiguous();
            for (int64_t b = 0; b < B; ++b)
                if (!done[b]) next[b] = sample_row(probs.data_ptr<double>() + b * V, V, rngs[b]);
        }
        std::vector<uint8_t> step_valid(static_cast<size_t>(B), 0);
        for (int64_t b = 0; b < B; ++b) {
            if (done[b]) {
                next[b] = 0;
                continue;
            }
            auto& g = out[static_cast<size_t>(b)];
            if (std::find(o.stop_ids.begin(), o.stop_ids.end(), next[b]) != o.stop_ids.end()) {
                g.finish_reason = "stop";
                done[b] = true;
                --remaining;
                continue;
            }
            g.tokens.push_back(next[b]);
            if (static_cast<int>(g.tokens.size()) == o.max_new_tokens) {
                done[b] = true;
                --remaining;
            }
            step_valid[b] = 1;
        }
        if (remaining == 0) break;
        std::vector<int64_t> step_pos(static_cast<size_t>(B));
        for (int64_t b = 0; b < B; ++b) step_pos[b] = next_pos[b]++;
        key_valid = torch::cat({key_valid, torch::from_blob(step_valid.data(), {B, 1}, torch::kUInt8).to(torch::kBool).to(device)}, 1);
        logits = model->forward_cached(torch::from_blob(next.data(), {B, 1}, long_opts).to(device),
                                       torch::from_blob(step_pos.data(), {B, 1}, long_opts).to(device), key_valid, cache)
                     .select(1, 0);
    }
    return out;
}

}  // namespace ps
