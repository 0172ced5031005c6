// Evaluation: the objective's metrics over a whole split without gradients (`eval/` metrics
// during training, `prefstudio-cli eval` on the initial model), and the eval step of the loop.
#pragma once
#include <string>
#include <vector>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/engine/answer_checker.h"
#include "core/engine/batch_objective.h"
#include "core/engine/pair_tracker.h"
#include "core/engine/run_setup.h"
#include "core/engine/run_stream.h"

namespace ps {

class Evaluator {
public:
    Evaluator(const RunConfig& config, RunSetup& setup, RunStream& stream, BatchObjective& objective);

    // Size-weighted means of the objective's metrics over `split`, named `prefix` + metric; a
    // metric a batch leaves out (a side it lacks) is averaged over the batches that have it.
    // With `row_logps`, also each row's summed policy log-prob, in TokenRows order.
    StepMetrics metrics(Split split, const std::string& prefix, std::vector<float>* row_logps = nullptr);
    // After preference step `step`: the eval/ metrics, the tracked pairs' log-probs (from the
    // same forward when they are eval pairs: tracking then costs no extra forward) and the
    // answer check's shares (in the eval record).
    void evaluate(int64_t step, PairTracker& tracker, AnswerChecker& answers);

private:
    const RunConfig& config_;
    RunSetup& setup_;
    RunStream& stream_;
    BatchObjective& objective_;
};

}  // namespace ps
