// Off-policy check before training: are the chosen answers something the reference model would
// say? When chosen answers were written by another (better) model and rejected ones sampled from
// this one, chosen is far less likely per token than rejected, and DPO tends to push both down.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ps {

struct OffPolicyReport {
    size_t pairs = 0;
    double mean_chosen_per_token = 0;    // mean over pairs of log ref(y_w) / |y_w|
    double mean_rejected_per_token = 0;  // mean over pairs of log ref(y_l) / |y_l|
    double median_gap_per_token = 0;     // median of (chosen - rejected) per-token log-prob
    double share_far_less_likely = 0;    // share of pairs with gap < -threshold
    double threshold = 1.0;              // nats per token
    bool warn = false;                   // share above `warn_share`
    std::string message;                 // one or two sentences for people

    nlohmann::json to_json() const;
};

// `chosen_logps` / `rejected_logps` are reference log-probs summed over completion tokens,
// `chosen_tokens` / `rejected_tokens` the completion lengths. Throws ps::Error on size mismatch.
OffPolicyReport check_off_policy(const std::vector<float>& chosen_logps, const std::vector<float>& rejected_logps,
                                 const std::vector<size_t>& chosen_tokens, const std::vector<size_t>& rejected_tokens,
                                 double threshold = 1.0, double warn_share = 0.25);

}  // namespace ps
