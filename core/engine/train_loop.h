// The loops of a run: the SFT warm-up on the desirable rows, then the preference steps with
// their evaluations. Each step: learning rate, micro-batches (forward, objective, backward),
// clipping, optimiser step, metrics.
#pragma once
#include "core/config/run_config.h"
#include "core/engine/batch_objective.h"
#include "core/engine/evaluator.h"
#include "core/engine/pair_tracker.h"
#include "core/engine/run_setup.h"
#include "core/engine/run_checkpoint.h"
#include "core/engine/run_stream.h"

namespace ps {

// sft.steps of next-token loss on the desirable rows (a pair's chosen answer, an example
// labelled desirable); `sft/` metrics.
void sft_warmup(const RunConfig& config, RunSetup& setup, RunStream& stream);

// Checkpoints of the preference steps (core/engine/run_checkpoint.h).
struct CheckpointPlan {
    std::string folder;       // the run's checkpoint folder; empty: none written
    std::string resume_from;  // a checkpoint to continue from; empty: from step 1
    CheckpointMeta base;      // what every checkpoint of the run carries (config, reference key, model checksum)
};

// train.steps preference steps; eval/ metrics, tracked pairs and the answer check every train.eval_every steps
// and after the last; a checkpoint every train.checkpoint_every steps when `plan.folder` is set.
// From the step after `plan.resume_from`'s when it is set.
void train_preference(const RunConfig& config, RunSetup& setup, RunStream& stream, BatchObjective& objective,
                      Evaluator& evaluator, PairTracker& tracker, AnswerChecker& answers, const CheckpointPlan& plan);

}  // namespace ps
