#include "core/diagnose/margin_decomposition.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace ps {

namespace {

// Below this |margin| the shares are ratios of noise.
constexpr double kMinMarginForShares = 1e-9;

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

MarginDecomposition decompose_margin(double chosen, double rejected, double chosen_baseline,
                                     double rejected_baseline) {
    MarginDecomposition d;
    d.from_chosen = chosen - chosen_baseline;
    d.from_rejected = -(rejected - rejected_baseline);
    d.margin = d.from_chosen + d.from_rejected;
    if (std::isfinite(d.margin) && std::fabs(d.margin) > kMinMarginForShares) {
        d.share_chosen = d.from_chosen / d.margin;
        d.share_rejected = d.from_rejected / d.margin;
    } else {
        d.share_chosen = d.share_rejected = std::numeric_limits<double>::quiet_NaN();
    }
    return d;
}

nlohmann::json MarginDecomposition::to_json() const {
    return {{"margin", num(margin)},
            {"from_chosen", num(from_chosen)},
            {"from_rejected", num(from_rejected)},
            {"share_chosen", num(share_chosen)},
            {"share_rejected", num(share_rejected)}};
}

std::string MarginDecomposition::describe() const {
    if (!std::isfinite(margin)) return "margin unknown (the rewards are not finite)";
    char buf[160];
    std::snprintf(buf, sizeof buf, "margin %.3f = %.3f from chosen %s + %.3f from rejected %s",
                  margin, from_chosen, from_chosen >= 0.0 ? "rising" : "falling", from_rejected,
                  from_rejected >= 0.0 ? "falling" : "rising");
    return buf;
}

}  // namespace ps
