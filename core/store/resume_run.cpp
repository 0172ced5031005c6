#include "core/store/resume_run.h"

#include "core/common/errors.h"
#include "core/engine/run_checkpoint.h"

namespace ps {
namespace {

// The config without what "auto" resolves differently per machine (the stored run's
// resolved config names the device and thread count it got).
nlohmann::json comparable(nlohmann::json config) {
    if (config.is_object() && config.contains("train") && config["train"].is_object()) {
        config["train"].erase("device");
        config["train"].erase("threads");
    }
    return config;
}

}  // namespace

std::string latest_checkpoint(const RunStore& store, int64_t run_id) {
    const auto all = list_checkpoints(RunStore::checkpoint_folder(store.path(), run_id), true);
    return all.empty() ? std::string() : all.back().path;
}

ResumePlan plan_resume(RunStore& store, const std::string& id_or_name) {
    ResumePlan plan;
    plan.run = store.resolve_run(id_or_name);
    const StoredRun& run = plan.run;
    const std::string which = "run " + std::to_string(run.id) + " '" + run.name + "'";
    if (run.imported()) throw StoreError(which + " was imported from " + run.source_format + "; only runs trained here resume");
    if (run.status == RunStatus::Completed) throw StoreError(which + " is completed; there is nothing to resume");
    // A running run's owner is alive (a gone one reads Interrupted): two processes must not write it.
    if (run.status == RunStatus::Running || run.status == RunStatus::Paused || run.status == RunStatus::Created)
        throw StoreError(which + " is still " + to_string(run.status) + " in process " + std::to_string(run.owner.pid) +
                         " on " + run.owner.host + "; stop it (or wait for it to end) before resuming");
    const std::string dir = latest_checkpoint(store, run.id);
    if (dir.empty())
        throw StoreError(which + " has no checkpoint in " + RunStore::checkpoint_folder(store.path(), run.id) +
                         " (train.checkpoint_every was 0, or it stopped before its first checkpoint); start it again");
    plan.checkpoint = read_checkpoint_summary(dir);
    // The run's stored resolved config is RunConfig::to_json with the device and threads resolved.
    if (comparable(plan.checkpoint.config_json) != comparable(RunConfig::from_json(run.resolved_config).to_json()))
        throw StoreError("the checkpoint " + dir + " was written with another config than " + which +
                         " has in the store; it cannot continue that run");
    plan.resume.checkpoint = dir;
    plan.resume.history = store.load_step_metrics(run.id, plan.checkpoint.step);
    return plan;
}

void prepare_store_sink(StoreSink& sink, const ResumePlan& plan) {
    sink.resume_run(plan.run.id, plan.checkpoint.step, plan.checkpoint.elapsed);
}

}  // namespace ps
