#include "core/engine/run_thread.h"

namespace ps {

void RunControl::request_stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);  // no lost wake-up between check and wait
        stop_ = true;
    }
    cv_.notify_all();
}

void RunControl::pause() { paused_ = true; }

void RunControl::resume() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        paused_ = false;
    }
    cv_.notify_all();
}

bool RunControl::wait_if_paused() {
    if (paused_.load() && !stop_.load()) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return !paused_.load() || stop_.load(); });
    }
    return !stop_.load();
}

RunThread::RunThread(RunConfig config, nlohmann::json config_json,
                     std::vector<std::shared_ptr<RunSink>> sinks)
    : config_(std::move(config)), config_json_(std::move(config_json)), sinks_(std::move(sinks)) {}

RunThread::~RunThread() {
    control_.request_stop();
    join();
}

void RunThread::start() {
    if (thread_.joinable()) return;
    status_ = RunStatus::Running;
    thread_ = std::thread([this] {
        std::vector<RunSink*> raw;
        for (auto& s : sinks_) raw.push_back(s.get());
        status_ = resume_ ? resume_training(config_, config_json_, *resume_, raw, control_)
                          : run_training(config_, config_json_, raw, control_);
        finished_ = true;
    });
}

void RunThread::join() {
    if (thread_.joinable()) thread_.join();
}

}  // namespace ps
