#include "core/engine/run_stream.h"

#include "core/engine/run_thread.h"

#include <exception>

namespace ps {

RunStream::RunStream(const std::vector<RunSink*>& sinks, RunControl& control, int64_t total_steps)
    : sinks_(sinks), control_(control), total_steps_(total_steps), start_(Clock::now()), steps_start_(start_) {}

double RunStream::elapsed() const { return offset_ + std::chrono::duration<double>(Clock::now() - start_).count(); }

void RunStream::set_elapsed(double seconds) { offset_ += seconds - elapsed(); }

nlohmann::json RunStream::last_values() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : last_values_) out[k] = v;
    return out;
}

void RunStream::restore(const nlohmann::json& last_values, const std::vector<std::string>& warned) {
    last_values_.clear();
    for (auto it = last_values.begin(); it != last_values.end(); ++it)
        if (it->is_number()) last_values_[it.key()] = it->get<double>();
    warned_ = {warned.begin(), warned.end()};
}

void RunStream::event(const std::string& kind, const std::string& message, nlohmann::json data) {
    if (muted) return;
    RunEvent e;
    e.step = step;
    e.wall_time = elapsed();
    e.kind = kind;
    e.message = message;
    e.data = data.is_null() ? nlohmann::json::object() : std::move(data);
    for (auto* s : sinks_) s->on_event(e);
}

void RunStream::warn_once(const std::vector<std::string>& warnings) {
    for (const auto& w : warnings)
        if (warned_.insert(w).second) event("warning", w);
}

void RunStream::emit(StepMetrics& m) {
    m.wall_time = elapsed();
    for (const auto& [k, v] : m.values) last_values_[k] = v;
    if (muted) return;
    for (auto* s : sinks_) s->on_metrics(m);
}

void RunStream::progress(const std::string& phase_name, double tokens_per_second, double loss, double reward_chosen,
                         double reward_rejected) {
    phase = phase_name;
    RunProgress p;
    p.phase = phase_name;
    p.step = global_step();
    p.total_steps = total_steps_;
    p.elapsed_s = elapsed();
    const double since = std::chrono::duration<double>(Clock::now() - steps_start_).count();
    const int64_t done = global_step() - steps_at_start_;
    if (done > 0) p.eta_s = since / static_cast<double>(done) * static_cast<double>(p.total_steps - p.step);
    p.tokens_per_second = tokens_per_second;
    p.loss = loss;
    p.reward_chosen = reward_chosen;
    p.reward_rejected = reward_rejected;
    p.memory_bytes = process_resident_bytes();
    p.memory_kind = "process RSS";
    for (auto* s : sinks_) s->on_progress(p);
}

void RunStream::finish(RunStatus status, const std::string& error) {
    nlohmann::json final_metrics = nlohmann::json::object();
    for (const auto& [k, v] : last_values_) final_metrics[k] = v;
    RunProgress p;
    p.phase = "done";
    p.step = global_step();
    p.total_steps = total_steps_;
    p.elapsed_s = elapsed();
    p.eta_s = 0;
    p.memory_bytes = process_resident_bytes();
    p.memory_kind = "process RSS";
    for (auto* s : sinks_) {
        try {
            s->on_progress(p);
            s->on_finish(status, final_metrics, error);
        } catch (const std::exception&) {
            // A sink that cannot record the end keeps its own error (StoreSink::last_error).
        }
    }
}

void RunStream::start(const RunInfo& info) {
    std::exception_ptr first;
    for (auto* s : sinks_) {
        try {
            s->on_start(info);
        } catch (...) {
            if (!first) first = std::current_exception();
        }
    }
    if (first) std::rethrow_exception(first);
}

void RunStream::check_control() {
    if (!control_.wait_if_paused()) throw StopRequested{};
}

void RunStream::start_steps() {
    steps_start_ = Clock::now();
    steps_at_start_ = global_step();
}

}  // namespace ps
