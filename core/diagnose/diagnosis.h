// Diagnosis of a whole stored run (prefstudio-cli diagnose, the run comparison view), and the
// live diagnosis of a training run (LiveDiagnosis, fed by DiagnosisSink), which labels the run
// by the same segmentation over its latest records and turns label changes into "regime"
// RunEvents (README: diagnosis, "Live labels").
#pragma once
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "core/config/algorithm.h"
#include "core/diagnose/phase_segmentation.h"
#include "core/diagnose/regime.h"

namespace ps {

// What the diagnosis needs to know about the run beyond its metrics (the algorithm table's
// row, core/config/algorithm.h). An imported run may know none of it: then rewards are taken as
// relative to a reference and every remedy that applies to some algorithm is considered.
struct DiagnosisContext {
    std::string algorithm;               // objective.algorithm ("" when unknown)
    bool rewards_relative = true;        // rewards_relative_to_reference(config)
    std::optional<DataKind> data;        // the data the run trained on (nullopt: unknown)
    // The stream begins with the run's first training record; false for a live window of its
    // latest records (LiveDiagnosis), whose first point is not where the rewards start.
    bool starts_run = true;
    PhaseOptions phases;
};

// What the diagnosis needs to know of a run from its algorithm's name (the algorithm table's
// row: rewards relative to a reference or not, the data kind) and its config (reference-free
// DPO has no reference). An unknown algorithm (an imported run) gives the defaults.
DiagnosisContext diagnosis_context_for(const std::string& algorithm, const nlohmann::json& resolved_config,
                                       const nlohmann::json& config);

// The stored, retrospective diagnosis of a stream (prefstudio-cli diagnose, the run record):
// the phases of the whole curve by change-point segmentation (phase_segmentation.h; SFT and eval
// records are skipped) and a verdict on where the run stands and how it got there:
//   {"regimes": [{"start_step","end_step","declared_step" (= start_step: the phase is known
//                 retrospectively),"regime","evidence" {"method":"segmentation","chosen",
//                 "rejected","margin" (LineFit::to_json),"points"},"explanation"}...],
//    "final_regime", "training_steps", "last_step",
//    "levels": {"baseline": "reference" | "early", "chosen" / "rejected": {"end","se","baseline",
//               "change","fell","rose"}} at the last finite point (se from the noise),
//    "margin_decomposition": {"step","margin","from_chosen","from_rejected","share_chosen",
//               "share_rejected","baseline","chosen_baseline","rejected_baseline"} of the fitted
//               final levels against the baseline (0 for rewards relative to a reference, the run's
//               own early level for ORPO, SimPO, CPO),
//    "problem_steps": {"both_falling": N, ...}, "dominant_problem" (see dominant_problem()),
//    "severity": "fine" | "watch" | "problem" | "unknown", "headline": one sentence,
//    "likelihood_displacement": chosen ended clearly below its baseline, losing at least half
//               as much as the clearly positive margin gained (severity "problem"),
//    "answer_check": AnswerCheckSummary::to_json (answer_check.h) of the eval/answers/* metrics, or
//               null; fewer greedy answers equal to chosen (or more equal to neither) makes a
//               "fine" run "watch" and is named in the headline,
//    "verdict": the headline, the phases, what the margin is made of and the answer check,
//    "noise": {"chosen","rejected","margin"}, "unlogged_side": "rejected" | "chosen" | null,
//    "early_levels": {"chosen","rejected","margin"} (the fitted levels where the first judged
//               phase starts: PhaseSegmentation's baselines),
//    "options": PhaseOptions}.
// Throws ps::Error when the options are invalid.
nlohmann::json diagnose_series(const std::vector<StepMetrics>& all_steps, const DiagnosisContext& context = {});

// The problem the run suffered from most, from its phases: the problem regime with the largest
// share of the run's steps or of the movement of chosen and rejected (sum of |change| over its
// phases), whichever is larger; a run that ends diverging is diverging. WarmingUp when none.
Regime dominant_problem(const std::vector<Phase>& phases);

// A "regime" RunEvent read back (what DiagnosisSink writes): the one reader of those events, for
// the run record, the plots' bands and the diagnosis panel alike.
struct RegimeEvent {
    int64_t step = 0;           // the event's step
    int64_t since_step = 0;     // first step of the new stretch (data "since_step", else step)
    int64_t declared_step = 0;  // when the detector declared it (data "declared_step", else step)
    std::string from, to;       // regime names ("warming_up", "both_falling", ...); from may be ""
    std::string message;        // the explanation
};
// nullopt for events of another kind or without a regime name in data "to".
std::optional<RegimeEvent> parse_regime_event(const RunEvent& event);

// The live label of a training run (README: diagnosis, "Live labels"). Each training record
// (as segment_phases reads them: SFT and eval records and replayed steps are skipped) is added
// to a window of the run's latest `window` records, and the window is diagnosed by
// diagnose_series: the label is its final phase, the headline and evidence are that phase's.
// The window is diagnosed at every record up to 2 x 128 records, then every records / 128
// records, at most `stride` (so every 16 past 2048): a diagnosis of n points costs about
// n x 2.3 us, so the cost per record stays bounded (about 0.3 ms on a 2-core machine) for any
// run length, and the label is never more than `stride` - 1 records old. While the run has at
// most `window` training records the window is the whole run: the label is then what the
// retrospective diagnosis of the run so far says. Past that the window slides, keeping the run's
// early levels as its baselines (PhaseOptions). finish() diagnoses what the last stride left.
// A label may be revised: a later record can move a boundary or relabel the latest phase.
// Not thread-safe (DiagnosisSink adds the locking).
struct LiveDiagnosisOptions {
    int window = 2048;  // latest training records the live segmentation reads
    int stride = 16;    // the most records between two diagnoses of the window
    // A new label (regime, severity or level words) is announced once the diagnoses have given
    // it for `hold` consecutive records: the end of a live curve is where a short blip looks
    // like a new phase (one that is over before it is announced is never shown). Diverging is
    // announced at once; finish() announces the last diagnosis whatever it held.
    int hold = 10;
    void validate() const;  // throws ps::Error naming the option
};

class LiveDiagnosis {
public:
    explicit LiveDiagnosis(DiagnosisContext context = {}, LiveDiagnosisOptions options = {});
    void reset(DiagnosisContext context);  // a new run

    // Feeds one record; returns true when the window was diagnosed again.
    bool add(const StepMetrics& metrics);
    // The end of the run: diagnoses the window if records came since its last diagnosis.
    bool finish();

    // The label changes since the last call, oldest first, as RunEvent{kind "regime", step (the
    // record that changed it), message (the final phase's explanation), data = the final
    // phase's evidence + {"from","to","since_step" (first step of the final phase),
    // "declared_step","live": true,"severity","headline","window_start_step","records"}}. A
    // change is the final regime or the severity or whether chosen / rejected stand clearly
    // below or above their baseline (the headline's words) changing; wall_time is left 0.
    std::vector<RunEvent> take_events();

    Regime current() const { return label_; }
    // The latest diagnosis of the window (diagnose_series' JSON); null before the first.
    const nlohmann::json& latest() const { return latest_; }
    int64_t training_records() const { return records_; }
    const LiveDiagnosisOptions& options() const { return options_; }

private:
    void diagnose(int64_t step, bool final);
    void announce(int64_t step);  // the latest diagnosis becomes the label (candidate_ its key)

    DiagnosisContext context_;
    LiveDiagnosisOptions options_;
    std::deque<StepMetrics> window_;
    int64_t records_ = 0;
    int64_t last_step_ = 0;
    int64_t since_diagnosis_ = 0;
    nlohmann::json early_ = nullptr;  // early_levels of the last diagnosis that saw the run start
    nlohmann::json latest_ = nullptr;
    Regime label_ = Regime::WarmingUp;
    std::string key_;  // what a change is measured against (see take_events)
    std::string candidate_;  // a key the diagnoses give that is not announced yet
    int64_t candidate_since_ = 0;  // training record at which they first gave it
    std::vector<RunEvent> pending_;
};

// Feeds a LiveDiagnosis from the live stream and hands each label change downstream (the
// events of LiveDiagnosis::take_events, with the record's wall time). The context comes from
// on_start's RunInfo (diagnosis_context_for). The callback runs on the engine thread inside
// on_metrics, with no lock held.
class DiagnosisSink : public RunSink {
public:
    using EventCallback = std::function<void(const RunEvent&)>;
    explicit DiagnosisSink(EventCallback emit, LiveDiagnosisOptions options = {});

    void on_start(const RunInfo& info) override;  // a new run: forget the previous one
    void on_metrics(const StepMetrics& metrics) override;
    // The end of the run ("done" progress, which the engine sends to every sink before any
    // on_finish, so the store keeps the event; then on_finish for sources without it): the
    // label of the whole stream, what the last records left undiagnosed included.
    void on_progress(const RunProgress& progress) override;
    void on_finish(RunStatus status, const nlohmann::json& final_metrics, const std::string& error) override;

    // Safe to call from any thread (copies taken under the sink's lock).
    Regime current() const;
    nlohmann::json latest() const;

private:
    EventCallback emit_;
    mutable std::mutex mutex_;
    void finish();
    LiveDiagnosis live_;
    double last_wall_ = 0.0;
};

}  // namespace ps
