#include "core/diagnose/offpolicy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/common/errors.h"

namespace ps {

nlohmann::json OffPolicyReport::to_json() const {
    return {{"pairs", pairs},
            {"mean_chosen_logp_per_token", mean_chosen_per_token},
            {"mean_rejected_logp_per_token", mean_rejected_per_token},
            {"median_gap_per_token", median_gap_per_token},
            {"share_chosen_far_less_likely", share_far_less_likely},
            {"threshold_nats_per_token", threshold},
            {"warn", warn}};
}

OffPolicyReport check_off_policy(const std::vector<float>& chosen_logps, const std::vector<float>& rejected_logps,
                                 const std::vector<size_t>& chosen_tokens, const std::vector<size_t>& rejected_tokens,
                                 double threshold, double warn_share) {
    const size_t n = chosen_logps.size();
    if (rejected_logps.size() != n || chosen_tokens.size() != n || rejected_tokens.size() != n)
        throw Error("off-policy check: log-prob and length lists differ in size");
    OffPolicyReport r;
    r.pairs = n;
    r.threshold = threshold;
    if (n == 0) {
        r.message = "No pairs to check.";
        return r;
    }
    std::vector<double> gaps(n);
    size_t far = 0;
    for (size_t i = 0; i < n; ++i) {
        const double c = chosen_logps[i] / static_cast<double>(std::max<size_t>(1, chosen_tokens[i]));
        const double rj = rejected_logps[i] / static_cast<double>(std::max<size_t>(1, rejected_tokens[i]));
        r.mean_chosen_per_token += c / static_cast<double>(n);
        r.mean_rejected_per_token += rj / static_cast<double>(n);
        gaps[i] = c - rj;
        if (gaps[i] < -threshold) ++far;
    }
    std::nth_element(gaps.begin(), gaps.begin() + static_cast<long>(n / 2), gaps.end());
    r.median_gap_per_token = gaps[n / 2];
    r.share_far_less_likely = static_cast<double>(far) / static_cast<double>(n);
    r.warn = r.share_far_less_likely > warn_share;
    char buf[512];
    if (r.warn)
        std::snprintf(buf, sizeof buf,
                      "Off-policy data: in %.0f%% of the pairs the chosen answer is far less likely under the "
                      "reference model than the rejected one (by more than %.1f nats per token); the chosen answers "
                      "were probably not written by this model. Expect both rewards to fall; an SFT term on chosen "
                      "(objective.sft_weight) or on-policy data helps.",
                      100.0 * r.share_far_less_likely, threshold);
    else
        std::snprintf(buf, sizeof buf,
                      "Off-policy check: %.0f%% of the pairs have a chosen answer far less likely than the rejected "
                      "one (per-token log-prob: chosen %.2f, rejected %.2f).",
                      100.0 * r.share_far_less_likely, r.mean_chosen_per_token, r.mean_rejected_per_token);
    r.message = buf;
    return r;
}

}  // namespace ps
