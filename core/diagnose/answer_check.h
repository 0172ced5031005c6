// The answer check (train.answer_check): what the reward margin hides. At step 0 and at every
// eval the policy answers the tracked pairs' prompts greedily (core/engine/answer_checker.h);
// each answer is equal to the pair's chosen answer, its rejected one, or neither. The shares are
// logged as eval/answers/* metrics and read back here for the verdict (diagnosis.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

namespace ps {

// Metric names (our own, beside TRL's eval/ metrics): shares of the checked prompts, and
// how many prompts were checked.
inline constexpr const char* kAnswersMetricPrefix = "eval/answers/";
inline constexpr const char* kAnswersChosenMetric = "eval/answers/chosen";
inline constexpr const char* kAnswersRejectedMetric = "eval/answers/rejected";
inline constexpr const char* kAnswersOtherMetric = "eval/answers/other";
inline constexpr const char* kAnswersPromptsMetric = "eval/answers/prompts";

enum class AnswerMatch { Chosen, Rejected, Other };
const char* to_string(AnswerMatch match);

// A pair's answer as training sees it: its completion tokens without the trailing stop token,
// and its text as the data hold it.
struct ExpectedAnswer {
    std::vector<int64_t> tokens;
    std::string text;
};

// A generated answer (tokens without the stop token, and their decoded text) is equal to an
// expected one when the tokens are the same, or when the texts are the same once surrounding
// whitespace is trimmed (another tokenisation of the same text) and not empty. Chosen is
// checked first: a pair whose answers are equal counts as chosen.
AnswerMatch classify_answer(const std::vector<int64_t>& tokens, const std::string& text, const ExpectedAnswer& chosen,
                            const ExpectedAnswer& rejected);

struct AnswerCounts {
    int64_t chosen = 0, rejected = 0, other = 0;
    int64_t prompts() const { return chosen + rejected + other; }
    void add(AnswerMatch match);
    // The four eval/answers/* metrics (shares; nothing when no prompt was checked).
    void set_metrics(StepMetrics& metrics) const;
};

// One check read back from the metrics.
struct AnswerShares {
    int64_t step = 0;
    double chosen = 0.0, rejected = 0.0, other = 0.0;
    int64_t prompts = 0;
};

// The checks of a stream, in step order (records without eval/answers/chosen are skipped; a
// repeated step keeps its first check).
std::vector<AnswerShares> answer_checks(const std::vector<StepMetrics>& stream);

// The first check against the last one. A share changed "clearly" when the difference exceeds
// `z` standard errors of a difference of two proportions (sqrt(p0 q0 / n0 + p1 q1 / n1), with
// the pooled share when both are 0 or 1) and at least one prompt's worth: with 64 prompts a
// fall from 9% to 4% is about 1.1 standard errors and is reported, not flagged.
struct AnswerCheckSummary {
    AnswerShares first, last;
    int64_t checks = 0;
    // -1 fell clearly, +1 rose clearly, 0 neither
    int chosen_change = 0, rejected_change = 0, other_change = 0;
    bool chosen_fell() const { return chosen_change < 0; }
    bool other_rose() const { return other_change > 0; }
    double z = 2.0;
    // "greedy answers equal to the chosen answer fell from 8.6% to 4.3% of 200 prompts
    // (step 0 -> 300); equal to neither rose from 1.0% to 33.5%"
    std::string describe() const;
    // The part a headline names: the clear fall of chosen answers ("greedy answers equal to the
    // chosen answer fell from 8.6% to 4.3% of 200 tracked prompts"), else the clear rise of
    // answers equal to neither.
    std::string headline() const;
    nlohmann::json to_json() const;
};
std::optional<AnswerCheckSummary> summarize_answer_checks(const std::vector<StepMetrics>& stream, double z = 2.0);

}  // namespace ps
