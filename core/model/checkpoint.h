// Activation checkpointing for libtorch C++, which has no torch.utils.checkpoint: a block runs
// without keeping its activations, and the backward pass runs it again with gradients on.
#pragma once
#include <functional>
#include <vector>

#include <torch/torch.h>

namespace ps {

// Returns block(x), computed without an autograd graph; only `x` is kept. In the backward pass
// the block runs again on x, with the random generators (CPU, and x's CUDA device) set back to
// the state they had in the forward so dropout draws the same masks, and the gradients of x and
// of `params` (the trainable tensors the block uses; they must be leaves) flow out through the
// autograd engine, so accumulation over micro-batches works as without checkpointing. Tensors
// the block reads besides x and params (rotary angles, the mask) must need no gradient.
torch::Tensor checkpoint_block(std::function<torch::Tensor(const torch::Tensor&)> block, const torch::Tensor& x,
                               const std::vector<torch::Tensor>& params);

}  // namespace ps
