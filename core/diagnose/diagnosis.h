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
#include "core/diagnose/regime_detector.h"

namespace ps {

// Runs the regime detector over a stored stream (SFT and eval records included; they are
// skipped) and returns
//   {"regimes": [{"start_step","end_step","declared_step","regime","evidence","explanation"}...],
//    "final_regime": "healthy", "training_steps": N, "last_step": S,
//    "margin_decomposition": {"step","margin","from_chosen","from_rejected","share_chosen",
//                             "share_rejected"} of the smoothed rewards at the last step,
//    "problem_steps": {"both_falling": N, ...} (steps spent in each problem regime),
//    "dominant_problem": the problem regime the run spent the most steps in (null when none;
//    a tie goes to the later one): what the run as a whole suffered from,
//    "verdict": "one sentence", "options": {...}}.
// Throws ps::Error when the options are invalid.
// The problem regime with the most steps among the segments (ties: the later one), or
// WarmingUp when no segment is a problem. Remedies are picked for it, so a run that spent 200
// steps with both rewards falling gets their advice even when it ends in another regime.
Regime dominant_problem(const std::vector<RegimeSegment>& segments);

nlohmann::json diagnose_series(const std::vector<StepMetrics>& all_steps,
                               const RegimeDetectorOptions& options = {});

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
