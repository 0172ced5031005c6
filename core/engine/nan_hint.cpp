#include "core/engine/nan_hint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ps {

namespace {

std::string g(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

}  // namespace

std::string nan_hint(double beta, double learning_rate, std::optional<double> last_abs_reward) {
    // beta x log-ratio at the smallest a moving policy gives (1 nat), or as last logged.
    const double scale = std::max(std::fabs(beta), last_abs_reward.value_or(0.0));
    if (!(scale < kRewardOverflow)) {
        if (last_abs_reward && *last_abs_reward >= kRewardOverflow)
            return "objective.beta = " + g(beta) + " made beta x log-ratio reach " + g(*last_abs_reward) +
                   ", past what float32 keeps finite (about " + g(kRewardOverflow) + "); lower objective.beta";
        return "objective.beta = " + g(beta) + " makes beta x log-ratio overflow float32 (past about " +
               g(kRewardOverflow) + " already at a log-ratio of 1 nat); lower objective.beta";
    }
    const std::optional<double> log_ratio =
        last_abs_reward && beta != 0 ? std::optional<double>(*last_abs_reward / std::fabs(beta)) : std::nullopt;
    if (log_ratio && *log_ratio > kRunawayLogRatio)
        return "the policy ran away from the reference (|log-ratio| " + g(*log_ratio) + " nats at the last finite step) "
               "with train.learning_rate = " + g(learning_rate) + "; lower train.learning_rate";
    if (learning_rate >= kLargeLearningRate)
        return "train.learning_rate = " + g(learning_rate) + " is large for fine-tuning; lower train.learning_rate";
    return "neither objective.beta = " + g(beta) + " nor train.learning_rate = " + g(learning_rate) +
           " is clearly at fault; lower train.learning_rate or raise objective.beta";
}

}  // namespace ps
