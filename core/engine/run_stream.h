// What a run tells its sinks while it goes: events, step metrics and progress, with the run's
// clock and step counters; and the user's pause and stop. Every part of the trainer
// (run_setup, reference_model, evaluator, pair_tracker, train_loop) reports through it.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/common/run_types.h"

namespace ps {

class RunControl;

// Thrown inside the trainer when the user stops the run; caught at the top (trainer.cpp).
struct StopRequested {};

class RunStream {
public:
    using Clock = std::chrono::steady_clock;

    RunStream(const std::vector<RunSink*>& sinks, RunControl& control, int64_t total_steps);

    const std::vector<RunSink*>& sinks() const { return sinks_; }
    void event(const std::string& kind, const std::string& message, nlohmann::json data = {});
    // A warning sentence, once per run however often it comes.
    void warn_once(const std::vector<std::string>& warnings);
    // Stamps the wall time and hands the metrics to every sink.
    void emit(StepMetrics& m);
    void progress(const std::string& phase, double tokens_per_second = 0, double loss = 0, double reward_chosen = 0,
                  double reward_rejected = 0);
    // The final progress report ("done"), then on_finish.
    // Every sink sees the start even when one throws (the run store cannot add the run); the
    // first error is rethrown afterwards, so the run fails before it trains.
    void start(const RunInfo& info);
    // The last call to the sinks: one that throws does not keep the others from the end.
    void finish(RunStatus status, const std::string& error);
    // Blocks while paused; throws StopRequested when the user stopped the run.
    void check_control();

    // A stepping phase starts now: the ETA counts from here.
    void start_steps();
    double elapsed() const;
    // A resumed run: the clock reads `seconds` now, and the last values and warnings given are
    // those the checkpoint kept.
    void set_elapsed(double seconds);
    nlohmann::json last_values() const;
    std::vector<std::string> warned() const { return {warned_.begin(), warned_.end()}; }
    void restore(const nlohmann::json& last_values, const std::vector<std::string>& warned);

    // While a resumed run replays what comes before its checkpoint (setup, SFT warm-up,
    // reference), events and metrics are not handed to the sinks: they hold them already.
    bool muted = false;
    int64_t global_step() const { return sft_step + step; }

    int64_t sft_step = 0;           // SFT warm-up steps done
    int64_t step = 0;               // preference steps done
    std::string phase = "prepare";  // of the last progress report: where a failure happened

private:
    std::vector<RunSink*> sinks_;
    RunControl& control_;
    int64_t total_steps_ = 0;
    Clock::time_point start_;
    double offset_ = 0.0;  // seconds added to the clock (set_elapsed)
    Clock::time_point steps_start_;
    int64_t steps_at_start_ = 0;
    std::map<std::string, double> last_values_;
    std::set<std::string> warned_;
};

}  // namespace ps
