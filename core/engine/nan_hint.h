// What to change when the loss becomes non-finite, derived from the values at hand instead of
// always the same words. Torch-free, so it is tested on its own.
#pragma once
#include <optional>
#include <string>

namespace ps {

// Past this |beta x log-ratio| (sqrt of float32's largest value, ~1.8e19) the reward's square
// (gradient norms, variances) overflows float32, and beta itself past float32's range is inf,
// whose product with a zero log-ratio (every row at step 1) is NaN.
constexpr double kRewardOverflow = 1.8446744e19;
// A policy this far from its reference (nats per row) has been pushed by too large steps.
constexpr double kRunawayLogRatio = 100.0;
// Learning rates from here on are large for fine-tuning with AdamW (each step moves a weight by
// about the learning rate).
constexpr double kLargeLearningRate = 1e-3;

// The hint after "the loss became nan at step N; ": "lower objective.beta ...", "lower
// train.learning_rate ..." or both, with the values that point there. `last_abs_reward` is the
// largest |rewards/*| (beta x log-ratio) of the last finite step, when one was logged.
std::string nan_hint(double beta, double learning_rate, std::optional<double> last_abs_reward);

}  // namespace ps
