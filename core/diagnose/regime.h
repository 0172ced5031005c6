// The regimes a run's phases are labelled with (README: diagnosis): healthy, both rewards
// falling, both rising, the margin collapsing, diverging; warming up where there is not enough
// data yet. The phases come from core/diagnose/phase_segmentation.h, retrospectively over a
// stored run and live over the recent window of a training one (core/diagnose/diagnosis.h).
#pragma once
#include <string>

namespace ps {

enum class Regime {
    WarmingUp,         // too few logged points with rewards (a line needs 4): nothing to judge yet
    Healthy,           // no problem pattern: chosen rising or flat while rejected falls, or all flat
    BothFalling,       // chosen and rejected both significantly falling
    BothRising,        // chosen and rejected both significantly rising
    MarginCollapsing,  // margin significantly falling after it had significantly grown
    Diverging,         // NaN/Inf in loss or rewards, or loss / grad_norm exploding
};

const char* to_string(Regime regime);                // "warming_up", "both_falling", ...
Regime regime_from_string(const std::string& text);  // throws ps::Error on unknown text
std::string regime_label(Regime regime);             // for legends: "Both falling"
bool is_problem(Regime regime);                      // BothFalling .. Diverging
// Plain sentences on what the regime means and its common causes (no numbers).
std::string regime_explanation(Regime regime);

}  // namespace ps
