// Per-sequence log-probabilities of completion tokens, from a causal LM's logits.
#pragma once
#include <functional>

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

// The same from the last hidden states [N, T, H]: `head` maps hidden rows [M, H] to logits
// [M, V] and is applied only to the M positions that predict a completion token (the other
// logits are never needed), so the head's matmul and the log-softmax skip prompt and padding.
SequenceLogps completion_logps_from_hidden(const torch::Tensor& hidden,
                                           const std::function<torch::Tensor(const torch::Tensor&)>& head,
                                           const torch::Tensor& input_ids, const torch::Tensor& completion_mask);

}  // namespace ps
