#include "ui/live/metric_buffer.h"

#include <utility>

namespace ps::ui {

void MetricBuffer::on_start(const RunInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.started = info;
}

void MetricBuffer::on_metrics(const StepMetrics& metrics) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.metrics.push_back(metrics);
}

void MetricBuffer::on_event(const RunEvent& event) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.events.push_back(event);
}

void MetricBuffer::on_progress(const RunProgress& progress) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.progress = progress;
}

void MetricBuffer::on_finish(RunStatus status, const nlohmann::json& final_metrics,
                             const std::string& error) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.finished = DrainedRun::Finish{status, final_metrics, error};
}

DrainedRun MetricBuffer::drain() {
    DrainedRun out;
    {
        // Swap under the lock; the copying and plotting happen after it is released.
        std::lock_guard<std::mutex> lock(mutex_);
        std::swap(out, pending_);
    }
    return out;
}

}  // namespace ps::ui
