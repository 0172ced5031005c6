// One run record: a stored run read back once, typed, for everything that shows a stored run
// (`prefstudio-cli diagnose`, the studio's monitor and diagnosis panel). Native runs and runs
// imported from other tools (HF Trainer trainer_state.json, TensorBoard, LLaMA-Factory logs)
// give the same record; those may have only logged scalars (no tracked pairs, no events, a
// config of a few keys, maybe no rewards at all), and every field says so by being empty.
//
// Layering: the record lives in store/ and reads core/diagnose/ (the regime detector, the pair
// analysis, the remedies); diagnose/ never includes store/.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/metric_name.h"
#include "core/common/run_types.h"
#include "core/diagnose/diagnosis.h"
#include "core/diagnose/pair_tracking.h"
#include "core/diagnose/regime.h"
#include "core/diagnose/remedies.h"
#include "core/store/run_store.h"

namespace ps {

// What a record is made of: the rows a store holds for a run (an importer fills it from its
// files). Only `run` is required.
struct RunRecordSource {
    StoredRun run;
    std::vector<MetricSeries> series;  // any order; names as logged ("sft/loss", "loss", "eval/loss")
    std::vector<RunEvent> events;
    std::vector<TrackedPair> tracked_pairs;
    std::vector<PairLogpRecord> pair_logps;
};

struct RunRecordOptions {
    // Build the stream and segment it into phases (stream, diagnosis, dominant_problem,
    // remedies). The rest only moves the rows; this part costs about 0.1 s per million rows for
    // the stream and 0.6 s per million logged points for the segmentation on a 2-core machine,
    // so the studio reads the rest first and calls diagnose_run_record off the GUI thread.
    bool diagnose = true;
    PhaseOptions phases;
};

struct RunRecord {
    StoredRun run;
    // Every series, grouped by phase (split_metric_name), names as stored, in the source's order.
    std::vector<MetricSeries> sft_series, train_series, eval_series;
    std::vector<RunEvent> events;         // every stored event, in order
    std::vector<RunEvent> regime_events;  // the stored regime changes (parse_regime_event)
    PairTrackingReport pairs;             // analyse_tracked_pairs; empty when the run tracked none
    // The off-policy check the run logged before training (the last event carrying
    // data "offpolicy", with its message added); null when none was logged.
    nlohmann::json offpolicy;
    // The directory the trained model was saved to (the last event with data "save_dir"), as
    // logged: it may have been moved or deleted since.
    std::optional<std::string> saved_model_dir;

    // Whether the fields below were filled (RunRecordOptions::diagnose, diagnose_run_record).
    bool diagnosed = false;
    // The preference-training stream: one record per step of the train phase carrying every
    // train-phase metric logged at that step (and the answer check's eval/answers/* metrics,
    // which the verdict reads), in step order. What diagnose_series and the
    // studio's diagnosis panel read.
    std::vector<StepMetrics> stream;
    // diagnose_series(stream, diagnosis_context(run)): the retrospective phases, severity,
    // headline, verdict, levels, margin decomposition, problem_steps, dominant_problem, ...
    nlohmann::json diagnosis = nlohmann::json::object();
    // The problem the run suffered from most (diagnosis "dominant_problem": most steps or the
    // largest share of the movement of its rewards).
    std::optional<Regime> dominant_problem;
    // remedies_for(dominant problem, run.algorithm, the algorithm's data kind); empty when the
    // run had no problem.
    std::vector<Remedy> remedies;

    const std::vector<MetricSeries>& series(MetricPhase phase) const;
    // The series of this full name ("eval/loss"); nullptr when the run has none.
    const MetricSeries* find_series(const std::string& name) const;
    // Whether the train phase logs both rewards/chosen and rewards/rejected.
    bool has_rewards() const;
    // The last step of a phase's series (0 when it has none).
    int64_t last_step(MetricPhase phase) const;
    // The regime changes to draw: once diagnosed, one per phase of the retrospective diagnosis
    // (what the headline and the evidence describe; the live detector's stored events came with a
    // delay and may have been revised), shaped as DiagnosisSink writes them; before that, the
    // stored ones.
    std::vector<RunEvent> timeline_events() const;
    // `prefstudio-cli diagnose --json`: the diagnosis plus "run", "remedies" {"regime",
    // "remedies"[]}, "pair_tracking" and "offpolicy".
    nlohmann::json to_json() const;
};

// Builds the record from its rows (no store involved). Throws ps::Error when the detector
// options are invalid.
RunRecord make_run_record(RunRecordSource source, const RunRecordOptions& options = {});
// Reads run `run_id` from the store and builds its record. Throws StoreError when the run is
// not there or the store cannot be read.
RunRecord load_run_record(RunStore& store, int64_t run_id, const RunRecordOptions& options = {});
// Fills the stream, the diagnosis, the dominant problem and the remedies of a record read
// without them. It reads only run, train_series and eval_series, so another thread may run it on a record
// that no other thread uses meanwhile.
// Throws ps::Error when the options are invalid.
void diagnose_run_record(RunRecord& record, const PhaseOptions& options = {});
// What the diagnosis needs to know of a stored run, from its algorithm's row in the algorithm
// table and its config: rewards relative to a reference or not (reference-free DPO is not), the
// data kind. An unknown algorithm (imported runs) gives the defaults.
DiagnosisContext diagnosis_context(const StoredRun& run);

// The off-policy report and the saved model directory as the events log them (see RunRecord).
nlohmann::json offpolicy_of(const std::vector<RunEvent>& events);
std::optional<std::string> saved_model_dir_of(const std::vector<RunEvent>& events);

}  // namespace ps
