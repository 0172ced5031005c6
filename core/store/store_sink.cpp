// StoreSink: the run's stream into the run store, in batches, on the engine thread.
// A store that fails for a moment (a lock held too long, a trigger) is retried with back-off,
// the rows kept. One that cannot add the run, or keeps failing (a full disk, a read-only
// file), stops the run: on_start / on_metrics throw StoreError, so that nothing is trained,
// or reported completed, that is not stored.
#include <algorithm>
#include <chrono>
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
constexpr double kHeartbeatSeconds = 30;    // the owner's sign of life (RunStore::heartbeat)

double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

StoreSink::StoreSink(std::shared_ptr<RunStore> store, int flush_every, double flush_seconds, double give_up_seconds)
    : store_(std::move(store)),
      flush_every_(std::max(1, flush_every)),
      flush_seconds_(flush_seconds),
      give_up_seconds_(give_up_seconds) {
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
    failing_since_ = -1;
    gave_up_ = false;
    last_heartbeat_ = steady_seconds();
    if (resume_id_ > 0) {
        run_id_ = resume_id_;  // never a new run: its metrics belong to this one
        resume_id_ = 0;        // a later on_start begins a new run
        try {
            store_->prepare_resume(run_id_, resume_step_, resume_wall_);  // also makes this process its owner
        } catch (const std::exception& e) {
            record_error(e.what());
            gave_up_ = true;
            throw StoreError(last_error_ + "; the run is not resumed, since the store cannot take it back. "
                             "Free disk space, or fix the store");
        }
        return;
    }
    if (!ensure_run()) {
        gave_up_ = true;
        throw StoreError(last_error_ + "; the run is not started, since nothing of it could be stored. "
                         "Free disk space, or choose another run store");
    }
}

void StoreSink::give_up_if_failing_too_long(int64_t step) {
    if (failing_since_ < 0 || gave_up_) return;
    const bool too_long = steady_seconds() - failing_since_ >= give_up_seconds_ && failures_ >= 3;
    const bool too_much = pending_metrics_.size() >= kMaxPendingSteps || pending_events_.size() >= kMaxPendingEvents;
    if (!too_long && !too_much) return;
    gave_up_ = true;
    throw StoreError(store_error_ + "; the run store has failed for " +
                     std::to_string(static_cast<int>(steady_seconds() - failing_since_)) +
                     " s, so the run is stopped at step " + std::to_string(step) +
                     " rather than train on unstored. Free disk space (or fix the store) and run again");
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
    if (gave_up_) return;  // the run is being stopped; its end is recorded by on_finish if possible
    pending_metrics_.push_back(metrics);
    if (std::isfinite(metrics.wall_time)) last_wall_ = std::max(last_wall_, metrics.wall_time);
    ++steps_since_attempt_;

    const int backoff = std::min(1 << std::min(failures_, 6), kMaxBackoff);
    if (int64_t(steps_since_attempt_) >= int64_t(flush_every_) * backoff ||
        metrics.wall_time - last_flush_wall_ >= flush_seconds_ * backoff)
        flush();
    give_up_if_failing_too_long(metrics.step);
}

void StoreSink::on_event(const RunEvent& event) {
    pending_events_.push_back(event);
    if (std::isfinite(event.wall_time)) last_wall_ = std::max(last_wall_, event.wall_time);
    // The live diagnosis' last regime events come after on_finish: written at once.
    if (finish_called_ && !gave_up_) flush();
    if (pending_events_.size() > kMaxPendingEvents) {  // only once the run is stopped (on_metrics)
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

bool StoreSink::all_stored() const {
    return run_id_ > 0 && finish_called_ && !finish_pending_ && pending_metrics_.empty() && pending_events_.empty() &&
           pending_pairs_.empty() && pending_pair_logps_.empty() && dropped_steps_ == 0 && dropped_events_ == 0;
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
        if (failing_since_ < 0) failing_since_ = steady_seconds();
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
    if (ok) {
        failing_since_ = -1;
        if (steady_seconds() - last_heartbeat_ >= kHeartbeatSeconds) {
            last_heartbeat_ = steady_seconds();
            try {
                store_->heartbeat(run_id_);
            } catch (const std::exception& e) {
                record_error(e.what());
            }
        }
    } else if (failing_since_ < 0) {
        failing_since_ = steady_seconds();
    }
}

}  // namespace ps
