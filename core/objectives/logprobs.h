// Per-sequence log-probabilities of completion tokens, from a causal LM's logits.
#pragma once
#include <torch/torch.h>

namespace ps {

struct SequenceLogps {
    torch::Tensor sum;          // [N] sum of log p(token | prefix) over completion tokens (carries grad)
    torch::Tensor tokens;       // [N] number of completion tokens, float
    torch::Tensor logits_mean;  // [N] mean logit over completion positions and vocabulary (detached)
};

// logits [N, T, V] at positions 0..T-1 predict tokens 1..T; completion_mask [N, T] marks the
// scored tokens of input_ids. Reductions run in float32 whatever the logits' dtype.
SequenceLogps completion_logps(const torch::Tensor& logits, const torch::Tensor& input_ids,
                               const torch::Tensor& completion_mask);

}  // namespace ps
