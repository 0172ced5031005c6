// The hand-over point between the engine thread and the GUI thread (the PlotJuggler pattern):
// the engine appends under a mutex, the GUI thread moves everything out on its own timer.
#pragma once
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

namespace ps::ui {

// What a run produced since the last drain.
struct DrainedRun {
    std::optional<RunInfo> started;       // set once, on the drain after on_start
    std::vector<StepMetrics> metrics;     // in arrival order
    std::vector<RunEvent> events;
    std::optional<RunProgress> progress;  // only the newest; older ones are stale
    struct Finish {
        RunStatus status = RunStatus::Completed;
        nlohmann::json final_metrics;
        std::string error;
    };
    std::optional<Finish> finished;

    bool empty() const {
        return !started && metrics.empty() && events.empty() && !progress && !finished;
    }
};

class MetricBuffer : public RunSink {
public:
    // Engine thread: each call only appends or overwrites under the lock.
    void on_start(const RunInfo& info) override;
    void on_metrics(const StepMetrics& metrics) override;
    void on_event(const RunEvent& event) override;
    void on_progress(const RunProgress& progress) override;
    void on_finish(RunStatus status, const nlohmann::json& final_metrics,
                   const std::string& error) override;

    // GUI thread: takes everything pending and leaves the buffer empty.
    DrainedRun drain();

private:
    std::mutex mutex_;
    DrainedRun pending_;
};

}  // namespace ps::ui
