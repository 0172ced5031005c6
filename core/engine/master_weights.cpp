#include "core/engine/master_weights.h"

namespace ps {
namespace {

bool is_half(const torch::Tensor& t) {
    return t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kFloat16;
}

}  // namespace

MasterWeights::MasterWeights(std::vector<torch::Tensor> params) : model_(std::move(params)) {
    torch::NoGradGuard no_grad;
    for (const auto& p : model_) {
        if (!is_half(p)) {
            master_.push_back(p);
            continue;
        }
        master_.push_back(p.detach().to(torch::kFloat32).clone().requires_grad_(true));
        ++copies_;
    }
}

void MasterWeights::gradients_to_master() {
    for (size_t i = 0; i < model_.size(); ++i) {
        if (!is_half(model_[i])) continue;
        auto& g = model_[i].mutable_grad();
        if (!g.defined()) continue;
        // Added, so micro-batches accumulate in float32 when this runs after each backward.
        auto& mg = master_[i].mutable_grad();
        if (mg.defined())
            mg.add_(g.detach().to(torch::kFloat32));
        else
            mg = g.detach().to(torch::kFloat32);
        g = torch::Tensor();
    }
}

void MasterWeights::master_to_model() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < model_.size(); ++i)
        if (is_half(model_[i])) model_[i].copy_(master_[i]);
}

}  // namespace ps
