// Where a reward margin comes from (README: diagnosis): margin = chosen - rejected is split
// into the chosen part (the chosen reward: positive when the policy raised the chosen answers)
// and the rejected part (minus the rejected reward: positive when it lowered the rejected ones).
// Of a margin of 0.8 = 0.5 - (-0.3), 0.5 comes from chosen rising and 0.3 from rejected falling;
// only the chosen part is the policy getting better at what it should say.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace ps {

struct MarginDecomposition {
    double margin = 0.0;         // from_chosen + from_rejected
    double from_chosen = 0.0;    // chosen - chosen_baseline; negative when chosen fell
    double from_rejected = 0.0;  // -(rejected - rejected_baseline); negative when rejected rose
    // Fractions of the margin (from_chosen / margin, from_rejected / margin): they add up to 1
    // and can be negative or above 1 when one part works against the margin. NaN when the
    // margin is too close to 0 for a share to mean anything.
    double share_chosen = 0.0;
    double share_rejected = 0.0;

    // {"margin","from_chosen","from_rejected","share_chosen","share_rejected"}; NaN -> null.
    nlohmann::json to_json() const;
    // "margin 0.800 = 0.500 from chosen rising + 0.300 from rejected falling".
    std::string describe() const;
};

// Rewards of DPO-style objectives (DPO, IPO, KTO, ...) are relative to the reference model and
// start at 0, so the baselines are 0. For reference-free rewards (ORPO, SimPO: beta times the
// policy's own log-probs) pass the early values as baselines to split the change of the margin.
// Non-finite inputs give NaN fields.
MarginDecomposition decompose_margin(double chosen, double rejected, double chosen_baseline = 0.0,
                                     double rejected_baseline = 0.0);

}  // namespace ps
