#include "objectives/logprobs.h"

namespace ps {

SequenceLogps completion_logps(const torch::Tensor& logits, const torch::Tensor& input_ids,
                               const torch::Tensor& completion_mask) {
    const int64_t T = logits.size(1);
    auto pred = logits.narrow(1, 0, T - 1).to(torch::kFloat32);         // predicts tokens 1..T-1
    auto target = input_ids.narrow(1, 1, T - 1).unsqueeze(-1);           // [N, T-1, 1]
    auto mask = completion_mask.narrow(1, 1, T - 1).to(torch::kFloat32);  // [N, T-1]
    // log softmax at the target only: gathered logit minus logsumexp; avoids a [N, T, V] log_softmax.
    auto token_logp = pred.gather(-1, target).squeeze(-1) - pred.logsumexp(-1);
    SequenceLogps out;
    out.sum = (token_logp * mask).sum(-1);
    out.tokens = mask.sum(-1);
    {
        torch::NoGradGuard no_grad;
        auto per_pos = pred.mean(-1);  // mean over the vocabulary
        out.logits_mean = (per_pos * mask).sum(-1) / out.tokens.clamp_min(1.0);
    }
    return out;
}

}  // namespace ps
