#include "ui/live/run_session.h"

#include <limits>

#include "core/engine/run_thread.h"
#include "core/interop/import_run.h"
#include "ui/live/metric_buffer.h"
#include "core/store/resume_run.h"
#include "core/store/run_store.h"

namespace ps::ui {

RunSession::RunSession(QObject* parent) : QObject(parent) {
    drainTimer_.setInterval(kDrainIntervalMs);
    drainTimer_.setTimerType(Qt::CoarseTimer);
    connect(&drainTimer_, &QTimer::timeout, this, &RunSession::tick);
}

RunSession::~RunSession() {
    // Receivers may be half destroyed by now (we are usually a child of the main window).
    blockSignals(true);
    stopAndWait();
}

void RunSession::start(const RunConfig& config, const nlohmann::json& configJson,
                       std::shared_ptr<RunStore> store) {
    startThread(config, configJson, std::move(store), nullptr);
}

void RunSession::startResumed(const ResumePlan& plan, std::shared_ptr<RunStore> store) {
    startThread(plan.checkpoint.config, plan.run.config, std::move(store), &plan);
}

void RunSession::startThread(const RunConfig& config, const nlohmann::json& configJson,
                             std::shared_ptr<RunStore> store, const ResumePlan* resume) {
    if (thread_) return;
    buffer_ = std::make_shared<MetricBuffer>();
    std::vector<std::shared_ptr<RunSink>> sinks;
    storeSink_.reset();
    if (store) {
        storeSink_ = std::make_shared<StoreSink>(std::move(store));
        if (resume) prepare_store_sink(*storeSink_, *resume);
        // The store first: when the buffer hears on_finish the run row is already final.
        sinks.push_back(storeSink_);
    }
    sinks.push_back(buffer_);
    info_.reset();
    finishStatus_.reset();
    finishError_.clear();
    finalMetrics_ = nlohmann::json::object();
    stopRequested_ = false;
    tickDurationsMs_.clear();

    auto thread = std::make_unique<RunThread>(config, configJson, std::move(sinks));
    if (resume) thread->resume_from(resume->resume);
    thread->start();
    thread_ = std::move(thread);
    wallClock_.start();
    drainTimer_.start();
}

void RunSession::startFollow(const SourceFile& source, std::shared_ptr<RunStore> store) {
    if (isActive()) return;
    buffer_ = std::make_shared<MetricBuffer>();
    storeSink_.reset();
    // Written after every read of the source, never on the sink's clock (imported wall times
    // are the source's).
    if (store) storeSink_ = std::make_shared<StoreSink>(std::move(store), 10000, std::numeric_limits<double>::infinity());
    info_.reset();
    finishStatus_.reset();
    finishError_.clear();
    finalMetrics_ = nlohmann::json::object();
    stopRequested_ = false;
    tickDurationsMs_.clear();
    followStop_ = false;
    followDone_ = false;
    auto buffer = buffer_;
    auto sink = storeSink_;
    follower_ = std::make_unique<std::thread>([this, source, buffer, sink] {
        std::vector<RunSink*> sinks;
        if (sink) sinks.push_back(sink.get());  // the store first, as for a native run
        sinks.push_back(buffer.get());
        ImportOptions options;
        if (sink) options.after_read = [sink] { sink->flush(); };
        try {
            stream_source(source, sinks, true, &followStop_, options);
        } catch (const std::exception& e) {
            // stream_source has already ended a started run as failed; one that never
            // started (the first read failed) ends here.
            buffer->on_finish(RunStatus::Failed, nlohmann::json::object(), e.what());
        }
        followDone_ = true;
    });
    wallClock_.start();
    drainTimer_.start();
}

bool RunSession::isPaused() const { return thread_ && thread_->paused(); }

void RunSession::pause() {
    if (thread_ && !stopRequested_) thread_->pause();
}

void RunSession::resume() {
    if (thread_) thread_->resume();
}

void RunSession::requestStop() {
    if (follower_) {
        stopRequested_ = true;
        followStop_ = true;
        return;
    }
    if (!thread_) return;
    stopRequested_ = true;
    thread_->request_stop();
    // A paused engine waits on its condition variable; waking it lets it see the stop.
    if (thread_->paused()) thread_->resume();
}

void RunSession::stopAndWait() {
    if (follower_) {
        requestStop();
        follower_->join();
        tick();
        return;
    }
    if (!thread_) return;
    requestStop();
    thread_->join();
    tick();  // delivers what is left and ends the run (thread finished now)
}

int64_t RunSession::storedRunId() const { return storeSink_ ? storeSink_->run_id() : 0; }

double RunSession::elapsedSeconds() const {
    return wallClock_.isValid() ? wallClock_.elapsed() / 1000.0 : 0.0;
}

void RunSession::tick() {
    if (!buffer_) return;
    QElapsedTimer tickClock;
    tickClock.start();
    // Read before draining: once the thread is finished every sink call has been made, so
    // this drain is guaranteed to be the last one with data.
    const bool threadDone = (thread_ && thread_->finished()) || (follower_ && followDone_.load());
    DrainedRun drained = buffer_->drain();
    if (drained.empty() && !threadDone) return;

    if (drained.started) {
        info_ = *drained.started;
        emit started(*drained.started);
    }
    if (!drained.metrics.empty()) emit metricsArrived(drained.metrics);
    if (!drained.events.empty()) emit eventsArrived(drained.events);
    if (drained.progress) emit progressChanged(*drained.progress);
    if (drained.finished) {
        finishStatus_ = drained.finished->status;
        finishError_ = QString::fromStdString(drained.finished->error);
        finalMetrics_ = std::move(drained.finished->final_metrics);
    }
    emit tickFinished();
    if (recordTicks_) tickDurationsMs_.push_back(tickClock.nsecsElapsed() / 1e6);

    if (threadDone) finishRun();
}

void RunSession::finishRun() {
    drainTimer_.stop();
    RunStatus status = RunStatus::Stopped;
    if (follower_) {
        follower_->join();  // returns at once: the reader has returned
        follower_.reset();
        status = finishStatus_.value_or(RunStatus::Stopped);
    } else {
        thread_->join();  // returns at once: the thread has finished
        status = finishStatus_.value_or(thread_->status());
        thread_.reset();
    }
    // Nothing is shown as completed that the store does not hold (a full disk, a read-only file).
    // (A run the store stopped has failed already, with the store's message.)
    if (storeSink_ && !storeSink_->all_stored() && (status != RunStatus::Failed || finishError_.isEmpty())) {
        finishError_ = tr("The run store does not hold the whole run: %1")
                           .arg(QString::fromStdString(storeSink_->last_error()));
        status = RunStatus::Failed;
    }
    emit finished(status, finishError_, finalMetrics_);
}

}  // namespace ps::ui
