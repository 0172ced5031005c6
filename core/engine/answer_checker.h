// The answer check (train.answer_check; core/diagnose/answer_check.h): at step 0 and at every
// eval, greedy answers to the prompts of the tracked pairs (PairTracker), each counted as equal
// to the pair's chosen answer, its rejected one, or neither. The shares go into the eval record
// as eval/answers/* metrics and the answers into an "answers" event. No random numbers are drawn
// and the model's mode is restored: the training curve is the same with the check on or off.
#pragma once
#include <cstdint>
#include <vector>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/diagnose/answer_check.h"
#include "core/engine/pair_tracker.h"
#include "core/engine/run_setup.h"
#include "core/engine/run_stream.h"

namespace ps {

class AnswerChecker {
public:
    AnswerChecker(const RunConfig& config, RunSetup& setup, RunStream& stream);

    // After tracker.start(): takes its pairs when train.answer_check is on for this model, and
    // checks step 0 (a record of its own: the eval split has no step-0 record).
    void start(const PairTracker& tracker);
    bool active() const { return !groups_.empty(); }
    // At an eval after preference step `step`: the shares added to `metrics`.
    void check(int64_t step, StepMetrics& metrics);

private:
    const RunConfig& config_;
    RunSetup& setup_;
    RunStream& stream_;
    bool from_eval_ = true;
    std::vector<size_t> groups_;  // the tracked pairs' groups in their split
    std::vector<ExpectedAnswer> chosen_, rejected_;
    std::vector<int64_t> stop_ids_;
    int max_new_tokens_ = 0;
};

}  // namespace ps
