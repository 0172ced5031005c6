// Resuming a stored run (`prefstudio-cli run --resume RUN`, the studio's Resume): the run, its
// newest whole checkpoint and the checks that it can continue, before anything is replayed.
#pragma once
#include <cstdint>
#include <string>

#include "core/engine/run_thread.h"
#include "core/store/run_store.h"

namespace ps {

struct ResumePlan {
    StoredRun run;
    CheckpointSummary checkpoint;  // its config is the run's
    ResumeFrom resume;             // the checkpoint's folder and the stored metrics up to its step
};

// The newest whole checkpoint of the run, if any (leftovers of a killed write are ignored).
std::string latest_checkpoint(const RunStore& store, int64_t run_id);

// Throws StoreError for an unknown run, an imported or completed one, a run without a
// checkpoint, or a checkpoint written by another config than the stored run's; ModelError
// when the model's files changed since (read_checkpoint_summary).
ResumePlan plan_resume(RunStore& store, const std::string& id_or_name);

// What resume_training needs on top: the store's sink told that the run continues.
void prepare_store_sink(StoreSink& sink, const ResumePlan& plan);

}  // namespace ps
