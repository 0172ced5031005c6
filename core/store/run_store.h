// The run store: every run, its config, metrics and events in one SQLite file.
// WAL mode and a busy timeout so a second PrefStudio (or the CLI) can read while a run writes.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "core/store/run_owner.h"

struct sqlite3;

namespace ps {

struct StoredRun {
    int64_t id = 0;
    std::string name;
    std::string algorithm;
    std::string model;
    std::string dataset;
    std::string device;
    RunStatus status = RunStatus::Created;
    std::string created_at;  // ISO 8601 UTC
    double duration_s = 0.0;
    std::string error;
    std::string tags;   // comma-separated
    std::string notes;
    nlohmann::json config;
    nlohmann::json resolved_config;
    nlohmann::json final_metrics = nlohmann::json::object();
    // Imported runs: the source's format and identifying path (RunInfo); empty for native runs.
    std::string source_format;
    std::string source_path;
    bool imported() const { return !source_format.empty(); }
    // The process that writes it; status reads Interrupted when the run was left unfinished
    // by an owner that is gone, and last_step is then its last stored preference step.
    RunOwner owner;
    int64_t last_step = -1;
};

// A metric series: step and value columns, in step order.
struct MetricSeries {
    std::string name;
    std::vector<int64_t> steps;
    std::vector<double> wall_times;
    std::vector<double> values;
};

class RunStore {
public:
    // 2 added per-pair tracking (tracked_pairs, pair_logps), 3 the source of imported runs
    // (runs.source_format, runs.source_path), 4 the runs' owners (runs.owner_host, owner_pid,
    // owner_start, heartbeat_at); an older store is migrated when it is opened, keeping its runs.
    static constexpr int kSchemaVersion = 4;

    // ReadOnly: for commands that only read. Nothing is created or written (an older store is
    // still migrated first, where the file is writable); a store on read-only media opens too.
    enum class Access { ReadWrite, ReadOnly };

    // Opens (creating when missing, with its parent directories) the store at `path`.
    // Throws StoreError naming the file when it cannot be opened or has a newer schema;
    // ReadOnly also when the file does not exist.
    explicit RunStore(const std::string& path, Access access = Access::ReadWrite);
    ~RunStore();
    RunStore(const RunStore&) = delete;
    RunStore& operator=(const RunStore&) = delete;

    // $XDG_DATA_HOME/prefstudio/runs.db, or ~/.local/share/prefstudio/runs.db.
    static std::string default_path();
    const std::string& path() const { return path_; }
    bool read_only() const { return access_ == Access::ReadOnly; }
    // The SQLite URI that opens `path` read-only and immutable (no locks, no -shm: for a file on
    // read-only media, where no one can be writing it).
    static std::string immutable_uri(const std::string& path);

    // A new run; or, for an imported run (info.source_path set) whose source is already
    // stored, that run: its points, events and tracked pairs are cleared and its identity
    // (name, algorithm, config, ...) replaced, in one transaction, and its id returned.
    int64_t create_run(const RunInfo& info);
    // The run imported from this source (the newest when several), if any.
    std::optional<StoredRun> find_run_by_source(const std::string& source_path);
    void set_status(int64_t run_id, RunStatus status);
    // The owner's sign of life (StoreSink writes it while the run streams), and this process
    // becoming the run's owner (a resumed run).
    void heartbeat(int64_t run_id);
    void claim_run(int64_t run_id);
    // Where the checkpoints of a run of the store at `store_path` are kept (train.checkpoint_every):
    // `<store>.checkpoints/<run id>`.
    static std::string checkpoint_folder(const std::string& store_path, int64_t run_id);
    // A run resumed from its checkpoint of `step` (taken at `wall_time` on the run's clock): what
    // was stored after it is removed (metrics of later steps, the SFT warm-up's kept; events
    // of later steps or times; tracked-pair log-probs of later steps) and the run is running
    // again, without error; one transaction.
    void prepare_resume(int64_t run_id, int64_t step, double wall_time);
    // The run's metrics up to `max_step` (the SFT warm-up's all) as the engine emitted them:
    // the warm-up's steps, then each preference step's record and its eval/ record.
    std::vector<StepMetrics> load_step_metrics(int64_t run_id, int64_t max_step);
    // One transaction for the whole batch.
    void append_metrics(int64_t run_id, const std::vector<StepMetrics>& batch);
    void append_events(int64_t run_id, const std::vector<RunEvent>& events);
    // Per-pair tracking (one transaction per call). A pair or (pair, step) written again
    // replaces the earlier row; NaN and Inf are stored as NULL and read back as NaN.
    void append_tracked_pairs(int64_t run_id, const std::vector<TrackedPair>& pairs);
    void append_pair_logps(int64_t run_id, const std::vector<PairLogpRecord>& records);
    void finish_run(int64_t run_id, RunStatus status, const nlohmann::json& final_metrics,
                    const std::string& error, double duration_s);
    void set_tags_notes(int64_t run_id, const std::string& tags, const std::string& notes);
    void delete_run(int64_t run_id);

    std::vector<StoredRun> list_runs();
    std::optional<StoredRun> find_run(int64_t run_id);
    // A run by numeric id, or by exact name (the newest run of that name). Throws StoreError.
    StoredRun resolve_run(const std::string& id_or_name);
    std::vector<std::string> metric_names(int64_t run_id);
    std::vector<MetricSeries> load_metrics(int64_t run_id);  // every series of the run
    MetricSeries load_metric(int64_t run_id, const std::string& name);
    std::vector<RunEvent> load_events(int64_t run_id);
    std::vector<TrackedPair> load_tracked_pairs(int64_t run_id);     // by pair index
    std::vector<PairLogpRecord> load_pair_logps(int64_t run_id);     // by pair index, then step

private:
    void exec(const char* sql);
    int64_t metric_key_id(const std::string& name);  // caller holds mutex_

    void open(int flags, const std::string& name);
    std::string path_;
    Access access_ = Access::ReadWrite;
    sqlite3* db_ = nullptr;
    std::mutex mutex_;  // one connection shared by threads; SQLite calls are serialised here
    struct Detail;      // cached prepared statements and metric key ids (run_store.cpp)
    std::unique_ptr<Detail> detail_;
};

// A RunSink that writes to a RunStore: the run row on start, metrics in batches (one
// transaction per batch, flushed every `flush_every` steps or half a second), the final
// status on finish. A store that fails for a moment is retried, rows kept; one that cannot add
// the run (on_start) or fails for 10 s (on_metrics) throws StoreError, which stops the run.
class StoreSink : public RunSink {
public:
    // Flushes every `flush_every` steps or `flush_seconds` of the run's wall time (infinity:
    // only by count and explicit flush(), for imported runs whose wall times are the source's).
    // `give_up_seconds`: how long the store may keep failing before the run is stopped.
    explicit StoreSink(std::shared_ptr<RunStore> store, int flush_every = 50, double flush_seconds = 0.5,
                       double give_up_seconds = 10);
    ~StoreSink() override;
    void on_start(const RunInfo& info) override;
    void on_metrics(const StepMetrics& metrics) override;
    void on_event(const RunEvent& event) override;
    void on_progress(const RunProgress& progress) override;
    void on_tracked_pairs(const std::vector<TrackedPair>& pairs) override;
    void on_pair_logps(const std::vector<PairLogpRecord>& records) override;
    void on_finish(RunStatus status, const nlohmann::json& final_metrics,
                   const std::string& error) override;

    int64_t run_id() const { return run_id_; }
    const std::string& last_error() const { return last_error_; }
    // The run, every row it streamed and its end are in the store (after on_finish).
    bool all_stored() const;
    void flush();
    // The run continues run `run_id` from its checkpoint of `step` taken at `wall_time`
    // (RunStore::prepare_resume at on_start) instead of adding a new run. Before on_start.
    void resume_run(int64_t run_id, int64_t step, double wall_time);
    std::string checkpoint_folder() override;
    void on_checkpoint(int64_t step) override;

private:
    int64_t resume_id_ = 0;
    int64_t resume_step_ = 0;
    double resume_wall_ = 0.0;
    std::shared_ptr<RunStore> store_;
    int flush_every_;
    double flush_seconds_;
    int64_t run_id_ = 0;
    std::vector<StepMetrics> pending_metrics_;
    std::vector<RunEvent> pending_events_;
    std::vector<TrackedPair> pending_pairs_;          // written at the next flush
    std::vector<PairLogpRecord> pending_pair_logps_;
    double last_flush_wall_ = 0.0;
    double last_wall_ = 0.0;
    RunStatus last_status_ = RunStatus::Running;
    std::string last_error_;

    bool ensure_run();     // creates the run row when on_start could not; false when it fails
    void try_finish();     // writes the final status kept from on_finish
    void record_error(const std::string& message);
    void give_up_if_failing_too_long(int64_t step);  // throws StoreError
    RunInfo info_;
    bool started_ = false;
    bool finish_called_ = false;
    bool finish_pending_ = false;
    nlohmann::json final_metrics_ = nlohmann::json::object();
    std::string final_error_;
    int steps_since_attempt_ = 0;  // steps buffered since the last flush attempt
    int failures_ = 0;             // consecutive failed flushes; retries back off
    int64_t dropped_steps_ = 0;    // metrics dropped because the store kept failing
    int64_t dropped_events_ = 0;
    std::string store_error_;      // the store's last message, without the dropped counts
    double give_up_seconds_;
    double failing_since_ = -1;    // steady-clock seconds of the first failure in a row; -1: none
    bool gave_up_ = false;         // the run was told to stop (StoreError thrown)
    double last_heartbeat_ = 0;
};

}  // namespace ps
