// Importing and following runs trained elsewhere: finding the sources in an output directory,
// reading one into the run stream that native runs emit (RunSink: on_start, on_metrics, the
// live diagnosis' regime events, on_progress, on_finish), and storing it as a run whose source
// (format, path) identifies it, so that importing the same source again updates that run.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "core/diagnose/diagnosis.h"
#include "core/interop/source_reader.h"
#include "core/store/run_record.h"

namespace ps {

class RunStore;

// The runs a path holds. A file is one run. In a directory (searched four levels deep) the
// sources are events.out.tfevents.* (under runs/ as the Trainer lays them out),
// checkpoint-*/trainer_state.json, trainer_state.json, trainer_log.jsonl, training_history.json
// and W&B's output.log; the sources of one output directory are one run, read from its newest
// source (the most recently written; within a minute of it: trainer_state.json, then the event
// file, then trainer_log.jsonl, then a checkpoint's state, then a console log). Each event
// file's directory under runs/ is a run of its own when there are several. Sorted by path.
// Throws DataError when the path does not exist or holds no source.
std::vector<SourceFile> find_sources(const std::string& path);

struct ImportOptions {
    std::string name;  // empty: the source's (its output directory's name)
    LiveDiagnosisOptions live;
    // Run the live diagnosis (DiagnosisSink) over a plain import too, storing its label changes
    // as regime events. Following always does. Off by default: it re-segments the run at every
    // record (up to LiveDiagnosisOptions::window), and a run stored without regime events gets
    // them from its diagnosis when it is shown (RunRecord::timeline_events).
    bool live_diagnosis = false;
    // Following: seconds between reads of the file, and after the run's last step (LLaMA-
    // Factory's final line, the summary) how long to wait for a final eval entry.
    double poll_seconds = 0.2;
    // Called after every read that gained something (the store sink flushes here, so points
    // reach the store within a read).
    std::function<void()> after_read;
};

struct ImportResult {
    int64_t run_id = 0;        // in the store; 0 when none was written
    std::string name;
    SourceFile source;
    std::string algorithm;     // detected; "" when unknown
    std::string loss_type;
    int64_t steps = 0;         // log entries read (train and eval)
    int64_t points = 0;        // metric values read
    std::map<std::string, int64_t> metric_points;  // per metric: distinct steps
    bool finished = false;     // the run's final summary was read
    RunStatus status = RunStatus::Completed;
    nlohmann::json summary = nlohmann::json::object();
    std::vector<std::string> warnings;
    nlohmann::json to_json() const;  // {id, name, format, path, points, steps, metrics{}, ...}
};

// Reads `source` and streams it to `sinks` as a run (regime events of the live diagnosis
// included when following or with options.live_diagnosis). follow = false: what the file holds now (status Completed when the final summary
// is there, else Stopped). follow = true: keeps reading as the file grows until the run's final
// summary or until `stop` becomes true (status Stopped). Throws DataError for a corrupt source
// (before on_start when the first read fails; after it, on_finish(Failed) is sent first).
ImportResult stream_source(const SourceFile& source, const std::vector<RunSink*>& sinks, bool follow,
                           const std::atomic<bool>* stop = nullptr, const ImportOptions& options = {});

// The whole source as the rows of a run record, without a store: make_run_record(
// read_run_record_source(source)) is the run's record (series in step order, one point per
// step; the run's name, algorithm, imported config, source and final values; the live
// diagnosis's regime events when options.live_diagnosis). Throws DataError as stream_source.
RunRecordSource read_run_record_source(const SourceFile& source, const ImportOptions& options = {});

// stream_source into `store` (one transaction for a plain import; a flush after every read
// when following). The run is the one stored for this source when there is one (its points
// and events are replaced), else a new one.
ImportResult import_source(RunStore& store, const SourceFile& source, const ImportOptions& options = {});
ImportResult follow_source(RunStore& store, const SourceFile& source, const std::atomic<bool>& stop,
                           const ImportOptions& options = {});

}  // namespace ps
