// Mixed precision with float32 master weights: the model computes in bfloat16/float16, the
// optimizer updates float32 copies of its trainable parameters and the model gets them back
// rounded, so updates smaller than half a bfloat16 step are not lost (at 1.0 that step is
// 2^-7: a learning rate of 1e-5 would otherwise never move a weight).
#pragma once
#include <vector>

#include <torch/torch.h>

namespace ps {

class MasterWeights {
public:
    // Parameters already in float32 or float64 (LoRA adapters over a half-precision base) are
    // their own master: no copy.
    explicit MasterWeights(std::vector<torch::Tensor> params);
    // What the optimizer and the gradient clipping work on.
    const std::vector<torch::Tensor>& optimized() const { return master_; }
    // After each backward pass: the model's gradients are added to the masters' in float32 (so
    // micro-batches accumulate in float32) and the model's half-precision ones are released.
    void gradients_to_master();
    // After the optimizer step: the model's parameters take the master values, rounded once.
    void master_to_model();
    bool has_copies() const { return copies_ > 0; }

private:
    std::vector<torch::Tensor> model_, master_;
    size_t copies_ = 0;
};

}  // namespace ps
