// Diagnosis of a whole stored run (prefstudio-cli diagnose, the run comparison view) and the
// live DiagnosisSink that turns regime changes into "regime" RunEvents while a run trains.
#pragma once
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "core/config/algorithm.h"
#include "core/diagnose/phase_segmentation.h"
#include "core/diagnose/regime_detector.h"

namespace ps {

// What the diagnosis needs to know about the run beyond its metrics (the algorithm table's
// row, core/config/algorithm.h). An imported run may know none of it: then rewards are taken as
// relative to a reference and every remedy that applies to some algorithm is considered.
struct DiagnosisContext {
    std::string algorithm;               // objective.algorithm ("" when unknown)
    bool rewards_relative = true;        // rewards_relative_to_reference(config)
    std::optional<DataKind> data;        // the data the run trained on (nullopt: unknown)
    PhaseOptions phases;
};

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
//    "verdict": the headline, the phases and what the margin is made of,
//    "noise": {"chosen","rejected","margin"}, "unlogged_side": "rejected" | "chosen" | null,
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

// Feeds a detector from the live stream and hands each regime change downstream as
// RunEvent{kind "regime", step, message = explanation, data = evidence + {"from","to"}}.
// The callback runs on the engine thread inside on_metrics, with no lock held.
class DiagnosisSink : public RunSink {
public:
    using EventCallback = std::function<void(const RunEvent&)>;
    explicit DiagnosisSink(EventCallback emit, RegimeDetectorOptions options = {});

    void on_start(const RunInfo& info) override;  // a new run: forget the previous one
    void on_metrics(const StepMetrics& metrics) override;

    // Safe to call from any thread (copies taken under the sink's lock).
    Regime current() const;
    std::vector<RegimeSegment> segments() const;

private:
    EventCallback emit_;
    mutable std::mutex mutex_;
    RegimeDetector detector_;
};

}  // namespace ps
