#include "core/objectives/logprobs.h"

namespace ps {

SequenceLogps completion_logps(const torch::Tensor& logits, const torch::Tensor& input_ids,
                               const torch::Tensor& completion_mask) {
    const int64_t T = logits.size(1);
    auto full = logits.to(torch::kFloat32);
    auto pred = full.narrow(1, 0, T - 1);                                 // predicts tokens 1..T-1
    auto target = input_ids.narrow(1, 1, T - 1).unsqueeze(-1);           // [N, T-1, 1]
    auto mask = completion_mask.narrow(1, 1, T - 1).to(torch::kFloat32);  // [N, T-1]
    SequenceLogps out;
    out.tokens = mask.sum(-1);
    {
        torch::NoGradGuard no_grad;
        auto per_pos = pred.mean(-1);  // mean over the vocabulary
        out.logits_sum = (per_pos * mask).sum(-1);
    }
    if (!torch::GradMode::is_enabled()) {
        // No backward: the gathered logit minus logsumexp never writes a [N, T, V] result.
        auto token_logp = pred.gather(-1, target).squeeze(-1) - pred.logsumexp(-1);
        out.sum = (token_logp * mask).sum(-1);
        return out;
    }
    // Training: the fused log_softmax keeps one [N, T, V] tensor for the backward (its output;
    // the logits themselves are freed) and its backward is one fused pass, where logsumexp's
    // takes a subtraction, an exponential and a product, plus the sum with the gather's. It
    // runs over all T positions (the last one gathers a dummy token and is masked out): a
    // narrowed [N, T-1, V] view would cost the backward a zero-filled [N, T, V] copy.
    auto next = torch::cat({input_ids.narrow(1, 1, T - 1), torch::zeros_like(input_ids.narrow(1, 0, 1))}, 1);
    auto token_logp = torch::log_softmax(full, -1).gather(-1, next.unsqueeze(-1)).squeeze(-1).narrow(1, 0, T - 1);
    out.sum = (token_logp * mask).sum(-1);
    return out;
}

SequenceLogps completion_logps_from_hidden(const torch::Tensor& hidden,
                                           const std::function<torch::Tensor(const torch::Tensor&)>& head,
                                           const torch::Tensor& input_ids, const torch::Tensor& completion_mask) {
    const int64_t N = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
    auto mask = completion_mask.narrow(1, 1, T - 1).to(torch::kFloat32);  // [N, T-1]: weight of token t+1
    SequenceLogps out;
    out.tokens = mask.sum(-1);
    // Positions p = row * (T-1) + t of the [N, T-1] grid whose next token is scored, and the
    // same positions in the [N, T] grid of the hidden states: row * T + t = p + row.
    auto weights_all = mask.reshape({-1});
    auto picked = weights_all.nonzero().reshape({-1});
    auto rows = picked.div(T - 1, "floor");
    auto targets = input_ids.narrow(1, 1, T - 1).reshape({-1}).index_select(0, picked);
    auto weights = weights_all.index_select(0, picked);
    auto h = hidden.reshape({N * T, H}).index_select(0, picked + rows);
    auto logits = head(h).to(torch::kFloat32);  // [M, V]
    auto per_row = [&](const torch::Tensor& per_position) {
        return torch::zeros({N}, per_position.options()).index_add(0, rows, per_position * weights);
    };
    {
        torch::NoGradGuard no_grad;
        out.logits_sum = per_row(logits.mean(-1));
    }
    if (!torch::GradMode::is_enabled()) {
        out.sum = per_row(logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1));
        return out;
    }
    // Training: the fused log_softmax keeps one [M, V] tensor for the backward (see above).
    out.sum = per_row(torch::log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1));
    return out;
}

SideLogits side_mean_logits(const torch::Tensor& logits_sum, const torch::Tensor& tokens,
                            const torch::Tensor& desirable) {
    torch::NoGradGuard no_grad;
    const auto sums = logits_sum.detach().to(torch::kFloat64);
    const auto n = tokens.detach().to(torch::kFloat64);
    const auto d = desirable.to(torch::kBool);
    auto side = [&](const torch::Tensor& m) -> std::optional<double> {
        const double count = n.masked_select(m).sum().item<double>();
        if (count <= 0) return std::nullopt;
        return sums.masked_select(m).sum().item<double>() / count;
    };
    return {side(d), side(~d)};
}

}  // namespace ps
