// A training run on its own thread: the GUI and the CLI start it, pause, resume or stop it,
// and read its stream through sinks. No torch types here, so callers need no torch headers.
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/common/run_types.h"
#include "core/config/run_config.h"

namespace ps {

// Shared by the run's owner and the engine thread.
class RunControl {
public:
    void request_stop();
    void pause();
    void resume();
    bool stop_requested() const { return stop_.load(); }
    bool paused() const { return paused_.load(); }
    // Engine side: blocks while paused; returns false when a stop was requested.
    bool wait_if_paused();

private:
    std::atomic<bool> stop_{false};
    std::atomic<bool> paused_{false};
    std::mutex mutex_;
    std::condition_variable cv_;
};

// Runs the whole pipeline (data, model, SFT warm-up, reference, preference training, eval)
// synchronously on the calling thread. Errors do not escape: they end the run as Failed and
// reach the sinks' on_finish with one clear sentence. Returns the final status.
// `config_json` is the config as the user wrote it (recorded in RunInfo::config).
RunStatus run_training(const RunConfig& config, const nlohmann::json& config_json,
                       const std::vector<RunSink*>& sinks, RunControl& control);

// Continuing a killed run from one of its checkpoints (core/engine/run_checkpoint.h).
struct ResumeFrom {
    std::string checkpoint;            // the checkpoint's folder
    std::vector<StepMetrics> history;  // the run's stored metrics up to its step, in order, for the live diagnosis
};

// The run as its checkpoint left it: `config` is the checkpoint's (resume_config()); setup, SFT
// warm-up and reference are replayed without reaching the sinks, then the preference steps
// go on from the checkpoint's step + 1. The sinks see on_start as for a new run (the store's
// sink is told beforehand that the run continues: StoreSink::resume_run). A checkpoint that
// does not fit (model files or reference changed since) ends the run as Failed, with why.
RunStatus resume_training(const RunConfig& config, const nlohmann::json& config_json, const ResumeFrom& resume,
                          const std::vector<RunSink*>& sinks, RunControl& control);

// The config a checkpoint was written with, its step and the run's clock then. Throws ps::Error:
// StoreError for an unreadable checkpoint, ConfigError for a config this version refuses,
// ModelError when the files of model.source changed since (their checksum differs).
struct CheckpointSummary {
    RunConfig config;
    nlohmann::json config_json;  // as stored (RunConfig::to_json of the run's config)
    int64_t step = 0;
    double elapsed = 0.0;
};
CheckpointSummary read_checkpoint_summary(const std::string& checkpoint);

// `prefstudio-cli eval`: every metric of the configured objective for the model in its initial
// state (no SFT warm-up, no training; the reference is the model itself) on the eval split, or
// on all data when there is none. Keys are the metric names (README's metric reference) plus
// "pairs". Throws ps::Error for bad input.
nlohmann::json evaluate_initial_model(const RunConfig& config);

class RunThread {
public:
    RunThread(RunConfig config, nlohmann::json config_json,
              std::vector<std::shared_ptr<RunSink>> sinks);
    ~RunThread();  // requests stop and joins
    // Before start(): the thread continues a run from this checkpoint (resume_training).
    void resume_from(ResumeFrom resume) { resume_ = std::make_unique<ResumeFrom>(std::move(resume)); }
    void start();
    void request_stop() { control_.request_stop(); }
    void pause() { control_.pause(); }
    void resume() { control_.resume(); }
    bool paused() const { return control_.paused(); }
    bool finished() const { return finished_.load(); }
    void join();
    RunStatus status() const { return status_.load(); }

private:
    RunConfig config_;
    nlohmann::json config_json_;
    std::vector<std::shared_ptr<RunSink>> sinks_;
    std::unique_ptr<ResumeFrom> resume_;
    RunControl control_;
    std::thread thread_;
    std::atomic<bool> finished_{false};
    std::atomic<RunStatus> status_{RunStatus::Created};
};

}  // namespace ps
