// One training run seen from the GUI thread: owns the engine thread and its sinks, drains the
// MetricBuffer on a coalescing timer and re-emits what arrived as Qt signals. The GUI thread
// never blocks on the engine here, except when the owner asks for stopAndWait() at shutdown.
#pragma once
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/interop/source_reader.h"

namespace ps {
struct ResumePlan;
class RunStore;
class RunThread;
class StoreSink;
}  // namespace ps

namespace ps::ui {

class MetricBuffer;

class RunSession : public QObject {
    Q_OBJECT
public:
    // About 25 Hz: fast enough to look live, slow enough that a replot per tick stays cheap.
    static constexpr int kDrainIntervalMs = 40;

    explicit RunSession(QObject* parent = nullptr);
    ~RunSession() override;  // stops and joins a run still going

    // Starts `config` on a new engine thread; `store` may be null (nothing is recorded then).
    // Throws std::exception when the thread cannot be started.
    void start(const RunConfig& config, const nlohmann::json& configJson,
               std::shared_ptr<RunStore> store);
    // Continues a stored run from its newest checkpoint (core/store/resume_run.h: plan_resume
    // made the checks) on a new engine thread, into the same run of `store`.
    void startResumed(const ResumePlan& plan, std::shared_ptr<RunStore> store);

    // Follows a run another tool is writing (core/interop/import_run.h: a TensorBoard event
    // file, trainer_log.jsonl, ...) on a reader thread: the same signals as a native run, the
    // live diagnosis' regime events included, into `store` (may be null). It ends at the run's
    // final summary or at requestStop(); it cannot be paused.
    // Throws std::exception when the thread cannot be started.
    void startFollow(const SourceFile& source, std::shared_ptr<RunStore> store);
    bool isFollowing() const { return follower_ != nullptr; }

    bool isActive() const { return thread_ != nullptr || follower_ != nullptr; }
    bool isPaused() const;
    bool stopRequested() const { return stopRequested_; }
    void pause();
    void resume();
    void requestStop();
    // Shutdown only: stops the run and waits for the engine thread to end.
    void stopAndWait();

    // Run id in the store of the current or last run (0 before the store created it).
    int64_t storedRunId() const;
    const std::optional<RunInfo>& runInfo() const { return info_; }
    double elapsedSeconds() const;

    // Records the duration of each non-empty tick (drain + every slot connected to the
    // signals, including the replot), in ms, for the latency benchmark. Off by default: a
    // days-long run would grow the list without bound.
    void setRecordTickDurations(bool on) { recordTicks_ = on; }
    const std::vector<double>& tickDurationsMs() const { return tickDurationsMs_; }

signals:
    void started(const ps::RunInfo& info);
    void metricsArrived(const std::vector<ps::StepMetrics>& metrics);
    void eventsArrived(const std::vector<ps::RunEvent>& events);
    void progressChanged(const ps::RunProgress& progress);
    // After every other signal of one tick: the place to replot, once.
    void tickFinished();
    // The engine thread has ended; `error` is the run's own message when it failed,
    // `finalMetrics` the last value of every metric.
    void finished(ps::RunStatus status, const QString& error, const nlohmann::json& finalMetrics);

private slots:
    void tick();

private:
    void startThread(const RunConfig& config, const nlohmann::json& configJson, std::shared_ptr<RunStore> store,
                     const ResumePlan* resume);
    void finishRun();

    QTimer drainTimer_;
    QElapsedTimer wallClock_;
    std::shared_ptr<MetricBuffer> buffer_;
    std::shared_ptr<StoreSink> storeSink_;
    std::unique_ptr<RunThread> thread_;
    // A followed run: its reader thread, the stop it watches and whether it has returned.
    std::unique_ptr<std::thread> follower_;
    std::atomic<bool> followStop_{false};
    std::atomic<bool> followDone_{false};
    std::optional<RunInfo> info_;
    std::optional<RunStatus> finishStatus_;
    QString finishError_;
    nlohmann::json finalMetrics_;
    bool stopRequested_ = false;
    bool recordTicks_ = false;
    std::vector<double> tickDurationsMs_;
};

}  // namespace ps::ui
