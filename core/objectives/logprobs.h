// Per-sequence log-probabilities of completion tokens, from a causal LM's logits.
#pragma once
#include <functional>
#include <optional>

#include <torch/torch.h>

namespace ps {

struct SequenceLogps {
    torch::Tensor sum;          // [N] sum of log p(token | prefix) over completion tokens (carries grad)
    torch::Tensor tokens;       // [N] number of completion tokens, float
    torch::Tensor logits_sum;   // [N] sum over completion positions of the mean logit over the vocabulary (detached)
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

// logits/chosen and logits/rejected as TRL's DPOTrainer and KTOTrainer log them: ONE mean over
// every completion position of the batch's desirable (undesirable) rows, i.e. the rows' summed
// logits over their summed token counts, not a mean per row then over rows (a long completion
// weighs more). `desirable` [N] bool; a side without rows (or without tokens) is empty.
struct SideLogits {
    std::optional<double> chosen, rejected;
};
SideLogits side_mean_logits(const torch::Tensor& logits_sum, const torch::Tensor& tokens,
                            const torch::Tensor& desirable);

}  // namespace ps
