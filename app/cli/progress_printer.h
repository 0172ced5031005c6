// Shows a run's progress on the terminal: one redrawn bar on a TTY, plain lines otherwise.
#pragma once
#include <cstdio>
#include <mutex>
#include <string>

#include "core/common/run_types.h"

namespace ps::cli {

class ProgressPrinter : public RunSink {
public:
    explicit ProgressPrinter(FILE* out);
    void on_metrics(const StepMetrics& metrics) override;
    void on_event(const RunEvent& event) override;
    void on_progress(const RunProgress& progress) override;
    void on_finish(RunStatus status, const nlohmann::json& final_metrics, const std::string& error) override;

private:
    void clear_bar();
    FILE* out_;
    bool tty_;
    std::mutex mutex_;
    bool bar_shown_ = false;
    std::string last_phase_;
    int64_t last_line_step_ = -1;
    double last_draw_ = -1.0;
    double last_eval_acc_ = -1.0;
};

std::string format_duration(double seconds);

}  // namespace ps::cli
