// StoreSink: the run's stream into the run store, in batches, on the engine thread.
// A failing store never stops training: the error is kept in last_error_ and the buffered rows
// are written at a later flush (with back-off), or dropped oldest-first past a bound.
#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include "core/common/errors.h"
#include "core/store/run_store.h"

namespace ps {

namespace {

constexpr int kMaxBackoff = 64;             // a failing store is retried at most 64x less often
constexpr size_t kMaxPendingSteps = 20000;  // bound on buffered steps while the store fails
constexpr size_t kMaxPendingEvents = 10000;

}  // namespace

StoreSink::StoreSink(std::shared_ptr<RunStore> store, int flush_every, double flush_seconds)
    : store_(std::move(store)), flush_every_(std::max(1, flush_every)), flush_seconds_(flush_seconds) {
    if (!store_) throw StoreError("a StoreSink needs a run store, got none");
}

StoreSink::~StoreSink() {
    try {
        if (!started_) return;
        flush();
        if (!finish_called_) {
            // The engine always ends a run with on_finish; without it the run did not end well.
            last_status_ = RunStatus::Failed;
            final_error_ = "the run ended without reporting how (the engine stopped unexpectedly)";
            finish_pending_ = true;
        }
        if (finish_pending_) try_finish();
    } catch (...) {
        // A destructor never throws; the error, if any, is already in last_error_.
    }
}

void StoreSink::record_error(const std::string& message) {
    store_error_ = message;
    last_error_ = message;
    if (dropped_steps_ > 0 || dropped_events_ > 0)
        last_error_ += " (" + std::to_string(dropped_steps_) + " steps of metrics and " +
                       std::to_string(dropped_events_) +
                       " events could not be stored and were dropped)";
}

bool StoreSink::ensure_run() {
    if (run_id_ > 0) return true;
    if (!started_) {
        record_error("the run store received data before the run started (no on_start)");
        return false;
    }
    try {
        const int64_t id = store_->create_run(info_);
        run_id_ = id;
        store_->set_status(id, RunStatus::Running);
        return true;
    } catch (const std::exception& e) {
        record_error(e.what());
    } catch (...) {
        record_error("unknown error while adding the run to the run store");
    }
    return false;
}

void StoreSink::on_start(const RunInfo& info) {
    // A sink records one run; a second on_start begins a new one.
    info_ = info;
    started_ = true;
    finish_called_ = false;
    finish_pending_ = false;
    run_id_ = 0;
    pending_metrics_.clear();
    pending_events_.clear();
    pending_pairs_.clear();
    pending_pair_logps_.clear();
    last_flush_wall_ = 0.0;
    last_wall_ = 0.0;
    last_status_ = RunStatus::Running;
    steps_since_attempt_ = 0;
    failures_ = 0;
    dropped_steps_ = 0;
    dropped_events_ = 0;
    store_error_.clear();
    last_error_.clear();
    if (resume_id_ > 0) {
        run_id_ = resume_id_;  // never a new run: its metrics belong to this one
        try {
            store_->prepare_resume(resume_id_, resume_step_, resume_wall_);
        } catch (const std::exception& e) {
            record_error(e.what());
        }
        resume_id_ = 0;  // a later on_start begins a new run
        return;
    }
    ensure_run();
}

void StoreSink::resume_run(int64_t run_id, int64_t step, double wall_time) {
    resume_id_ = run_id;
    resume_step_ = step;
    resume_wall_ = wall_time;
}

std::string StoreSink::checkpoint_folder() {
    return run_id_ > 0 ? RunStore::checkpoint_folder(store_->path(), run_id_) : std::string();
}

void StoreSink::on_checkpoint(int64_t step) {
    (void)step;
    flush();
}

void StoreSink::on_metrics(const StepMetrics& metrics) {
    pending_metrics_.push_back(metrics);
    if (std::isfinite(metrics.wall_time)) last_wall_ = std::max(last_wall_, metrics.wall_time);
    ++steps_since_attempt_;

    const int backoff = std::min(1 << std::min(failures_, 6), kMaxBackoff);
    if (int64_t(steps_since_attempt_) >= int64_t(flush_every_) * backoff ||
        metrics.wall_time - last_flush_wall_ >= flush_seconds_ * backoff)
        flush();

    if (pending_metrics_.size() > kMaxPendingSteps) {
        const size_t drop = kMaxPendingSteps / 4;
        pending_metrics_.erase(pending_metrics_.begin(),
                               pending_metrics_.begin() + static_cast<std::ptrdiff_t>(drop));
        dropped_steps_ += static_cast<int64_t>(drop);
        record_error(store_error_);
    }
}

void StoreSink::on_event(const RunEvent& event) {
    pending_events_.push_back(event);
    if (std::isfinite(event.wall_time)) last_wall_ = std::max(last_wall_, event.wall_time);
    if (pending_events_.size() > kMaxPendingEvents) {
        const size_t drop = kMaxPendingEvents / 4;
        pending_events_.erase(pending_events_.begin(),
                              pending_events_.begin() + static_cast<std::ptrdiff_t>(drop));
        dropped_events_ += static_cast<int64_t>(drop);
        record_error(store_error_);
    }
}

void StoreSink::on_tracked_pairs(const std::vector<TrackedPair>& pairs) {
    pending_pairs_.insert(pending_pairs_.end(), pairs.begin(), pairs.end());
    flush();  // once per run: the pairs are worth having in the store from the start
}

void StoreSink::on_pair_logps(const std::vector<PairLogpRecord>& records) {
    // A few hundred rows per eval at most; they go with the next metrics flush. Bounded like
    // the metrics while the store fails.
    pending_pair_logps_.insert(pending_pair_logps_.end(), records.begin(), records.end());
    if (pending_pair_logps_.size() > kMaxPendingSteps * 4) {
        const size_t drop = pending_pair_logps_.size() - kMaxPendingSteps * 4;
        pending_pair_logps_.erase(pending_pair_logps_.begin(),
                                  pending_pair_logps_.begin() + static_cast<std::ptrdiff_t>(drop));
    }
}

void StoreSink::on_progress(const RunProgress& progress) {
    (void)progress;  // the store keeps metrics and events; progress is for the live views
}

void StoreSink::on_finish(RunStatus status, const nlohmann::json& final_metrics,
                          const std::string& error) {
    finish_called_ = true;
    finish_pending_ = true;
    last_status_ = status;
    final_metrics_ = final_metrics.is_null() ? nlohmann::json::object() : final_metrics;
    final_error_ = error;
    flush();
    try_finish();
}

void StoreSink::try_finish() {
    if (!ensure_run()) return;
    try {
        store_->finish_run(run_id_, last_status_, final_metrics_, final_error_, last_wall_);
        finish_pending_ = false;
    } catch (const std::exception& e) {
        record_error(e.what());
    } catch (...) {
        record_error("unknown error while recording the end of the run in the run store");
    }
}

void StoreSink::flush() {
    steps_since_attempt_ = 0;
    last_flush_wall_ = last_wall_;
    if (pending_metrics_.empty() && pending_events_.empty() && pending_pairs_.empty() &&
        pending_pair_logps_.empty())
        return;
    if (!ensure_run()) {
        ++failures_;
        return;
    }
    bool ok = true;
    if (!pending_metrics_.empty()) {
        try {
            store_->append_metrics(run_id_, pending_metrics_);
            pending_metrics_.clear();
        } catch (const std::exception& e) {
            ok = false;
            record_error(e.what());
        } catch (...) {
            ok = false;
            record_error("unknown error while writing metrics to the run store");
        }
    }
    if (!pending_events_.empty()) {
        try {
            store_->append_events(run_id_, pending_events_);
            pending_events_.clear();
        } catch (const std::exception& e) {
            ok = false;
            record_error(e.what());
        } catch (...) {
            ok = false;
            record_error("unknown error while writing events to the run store");
        }
    }
    // Pairs before their log-probs; the log-probs wait while the pairs cannot be written.
    if (!pending_pairs_.empty()) {
        try {
            store_->append_tracked_pairs(run_id_, pending_pairs_);
            pending_pairs_.clear();
        } catch (const std::exception& e) {
            ok = false;
            record_error(e.what());
        } catch (...) {
            ok = false;
            record_error("unknown error while writing the tracked pairs to the run store");
        }
    }
    if (pending_pairs_.empty() && !pending_pair_logps_.empty()) {
        try {
            store_->append_pair_logps(run_id_, pending_pair_logps_);
            pending_pair_logps_.clear();
        } catch (const std::exception& e) {
            ok = false;
            record_error(e.what());
        } catch (...) {
            ok = false;
            record_error("unknown error while writing the tracked pairs' log-probs to the run store");
        }
    }
    failures_ = ok ? 0 : std::min(failures_ + 1, 30);
}

}  // namespace ps
