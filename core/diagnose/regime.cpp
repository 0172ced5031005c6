#include "core/diagnose/regime.h"

#include "core/common/errors.h"

namespace ps {

namespace {

const Regime kAllRegimes[] = {Regime::WarmingUp,        Regime::Healthy,  Regime::BothFalling,
                              Regime::BothRising,       Regime::MarginCollapsing,
                              Regime::Diverging};

}  // namespace

const char* to_string(Regime regime) {
    switch (regime) {
        case Regime::WarmingUp: return "warming_up";
        case Regime::Healthy: return "healthy";
        case Regime::BothFalling: return "both_falling";
        case Regime::BothRising: return "both_rising";
        case Regime::MarginCollapsing: return "margin_collapsing";
        case Regime::Diverging: return "diverging";
    }
    return "unknown";
}

Regime regime_from_string(const std::string& text) {
    for (Regime r : kAllRegimes)
        if (text == to_string(r)) return r;
    throw Error("unknown regime '" + text +
                "' (known: warming_up, healthy, both_falling, both_rising, margin_collapsing, "
                "diverging)");
}

std::string regime_label(Regime regime) {
    switch (regime) {
        case Regime::WarmingUp: return "Warming up";
        case Regime::Healthy: return "Healthy";
        case Regime::BothFalling: return "Both falling";
        case Regime::BothRising: return "Both rising";
        case Regime::MarginCollapsing: return "Margin collapsing";
        case Regime::Diverging: return "Diverging";
    }
    return "Unknown";
}

bool is_problem(Regime regime) { return regime != Regime::WarmingUp && regime != Regime::Healthy; }

std::string regime_explanation(Regime regime) {
    switch (regime) {
        case Regime::WarmingUp:
            return "Not enough training steps with rewards yet to judge their trends.";
        case Regime::Healthy:
            return "Chosen is rising or steady while rejected falls: the margin grows the way "
                   "preference optimisation intends.";
        case Regime::BothFalling:
            return "Both rewards are falling: the policy is moving away from the chosen answers as "
                   "well as the rejected ones; the margin grows only because rejected falls faster. "
                   "Common causes: chosen answers unlikely under the model (off-policy), "
                   "near-identical pairs, learning rate too high or beta too low.";
        case Regime::BothRising:
            return "Both rewards are rising: the policy is moving toward the rejected answers as "
                   "well as the chosen ones; the margin grows only because chosen rises faster. "
                   "Common causes: rejected answers close to the chosen ones or in the same style, "
                   "beta too low; check that the rejected answers really are worse.";
        case Regime::MarginCollapsing:
            return "The margin is shrinking after it had grown: the policy is losing the "
                   "preference it learned (rejected rising back, or chosen falling faster than "
                   "rejected). Common causes: learning rate too high, over-fitting noisy pairs, "
                   "or drift without a reference anchor (SimPO).";
        case Regime::Diverging:
            return "Training is diverging: the loss, the rewards or the gradient norm left any "
                   "sensible range. Lower the learning rate or raise beta, keep gradient clipping "
                   "on, and check the data for empty or truncated answers.";
    }
    return "";
}

}  // namespace ps
