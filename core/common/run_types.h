// What a run emits while it trains: metrics, events, progress. Plain data, no torch, no Qt,
// so the store, the CLI and the GUI can consume it without the engine's headers.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ps {

// Interrupted is never written: the store reports a created, running or paused run whose
// owning process is gone so (core/store/run_owner.h).
enum class RunStatus { Created, Running, Paused, Completed, Stopped, Failed, Interrupted };
const char* to_string(RunStatus s);
RunStatus run_status_from_string(const std::string& s);  // throws ps::Error on unknown text

// One step's metrics. Names follow TRL (README: metric reference): "loss", "rewards/chosen", ...
// Eval metrics carry the "eval/" prefix, SFT warm-up metrics the "sft/" prefix.
// `step` counts optimiser steps of the phase the metrics belong to (SFT and preference
// training each count from 1), so preference curves line up with TRL's.
struct StepMetrics {
    int64_t step = 0;
    double wall_time = 0.0;  // seconds since the run started
    std::vector<std::pair<std::string, double>> values;

    void set(const std::string& name, double value) { values.emplace_back(name, value); }
    // NaN when absent.
    double get(const std::string& name) const;
};

// Something that happened in a run: a phase change, a warning, a diagnosis (regime change).
struct RunEvent {
    int64_t step = 0;
    double wall_time = 0.0;
    std::string kind;     // "phase", "warning", "info", "regime", "error"
    std::string message;  // one sentence for people
    nlohmann::json data = nlohmann::json::object();  // evidence, machine-readable
};

struct RunProgress {
    std::string phase;  // "prepare", "sft", "reference", "train", "eval", "done"
    int64_t step = 0;
    int64_t total_steps = 0;
    double elapsed_s = 0.0;
    double eta_s = -1.0;  // < 0 when unknown
    double tokens_per_second = 0.0;
    double loss = 0.0;
    double reward_chosen = 0.0;
    double reward_rejected = 0.0;
    // Memory in use: the process's resident set on the CPU (CUDA device memory is reported
    // once the CUDA build is in); -1 when unknown.
    int64_t memory_bytes = -1;
    std::string memory_kind;  // "process RSS"
};

// The resident set size of this process in bytes (/proc/self/statm), -1 where unavailable.
int64_t process_resident_bytes();

// One pair of the fixed eval subset that a run tracks (train.track_pairs): its text, lengths and
// the CHES similarity of its answers under the reference model, before training
// (core/diagnose/pair_tracking.h). NaN where a value is unknown.
struct TrackedPair {
    int64_t index = 0;        // position in the tracked subset, 0..n-1
    std::string split;        // "eval", or "train" when the run has no eval split
    int64_t split_index = 0;  // position of the pair in that split
    std::string prompt, chosen, rejected;
    int64_t chosen_tokens = 0;    // completion tokens scored (EOS included)
    int64_t rejected_tokens = 0;
    double ches = 0.0;        // Razin et al. 2024, Definition 2
    double ln_ches = 0.0;     // its length-normalised form
};

// The policy's log-probs of one tracked pair at one step, summed over completion tokens
// (step 0: before the first preference step).
struct PairLogpRecord {
    int64_t pair = 0;  // TrackedPair::index
    int64_t step = 0;
    double chosen = 0.0;
    double rejected = 0.0;
};

// Identity of a run, given to sinks before the first step.
struct RunInfo {
    std::string name;
    std::string algorithm;
    std::string model;
    std::string dataset;
    nlohmann::json config;           // as written by the user (after --set overrides)
    nlohmann::json resolved_config;  // every key with its effective value, paths absolute
    std::string device;
    // A run imported from another tool: its source ("tensorboard", "trainer_state", ...) and
    // the path that identifies it; the store updates the run of that source instead of adding
    // another (core/interop/import_run.h). Empty for native runs.
    std::string source_format;
    std::string source_path;
};

// Receives a run's stream. Called on the engine thread: implementations must be quick and
// thread-safe with respect to their own readers (the GUI drains a buffer on its own timer).
class RunSink {
public:
    virtual ~RunSink() = default;
    virtual void on_start(const RunInfo& info) { (void)info; }
    virtual void on_metrics(const StepMetrics& metrics) = 0;
    virtual void on_event(const RunEvent& event) { (void)event; }
    virtual void on_progress(const RunProgress& progress) { (void)progress; }
    // Per-pair tracking: the tracked pairs once, before the first preference step, then their
    // log-probs at step 0 and at every eval.
    virtual void on_tracked_pairs(const std::vector<TrackedPair>& pairs) { (void)pairs; }
    virtual void on_pair_logps(const std::vector<PairLogpRecord>& records) { (void)records; }
    // Checkpoints (train.checkpoint_every): the folder where this sink keeps the run's
    // checkpoints (the run store's sink: next to the store), empty when it keeps none. Asked
    // after on_start; the first sink that names one is used.
    virtual std::string checkpoint_folder() { return {}; }
    // Before the checkpoint of `step` is written: what the sink received so far is made
    // durable, since a resume keeps what was stored up to the checkpoint's step.
    virtual void on_checkpoint(int64_t step) { (void)step; }
    // Last call. `final_metrics` holds the last value of every metric; `error` is set for Failed.
    virtual void on_finish(RunStatus status, const nlohmann::json& final_metrics,
                           const std::string& error) {
        (void)status; (void)final_metrics; (void)error;
    }
};

}  // namespace ps
