// Makes an on-policy dataset (core's make_onpolicy_data: the reference model answers every
// prompt) on a worker thread, for "clone with remedy". The GUI thread polls its progress on a
// timer and never touches a tensor; destroying the job cancels the work and waits for it.
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include <QObject>
#include <QString>
#include <QTimer>

#include "core/config/run_config.h"
#include "core/engine/onpolicy_data.h"
#include "core/engine/run_thread.h"

namespace ps::ui {

class OnPolicyDataJob : public QObject {
    Q_OBJECT
public:
    OnPolicyDataJob(RunConfig config, OnPolicyOptions options, QObject* parent = nullptr);
    ~OnPolicyDataJob() override;
    void start();
    void cancel();
    bool running() const { return started_ && !reported_; }
    const std::string& outputPath() const { return options_.out; }

signals:
    // text: what is being done ("Building the reference model: SFT step 40 of 300").
    void progressChanged(const QString& text, int done, int total);
    void finished(const ps::OnPolicyReport& report);
    // One sentence; `cancelled` when the user cancelled.
    void failed(const QString& message, bool cancelled);

private:
    void poll();

    RunConfig config_;
    OnPolicyOptions options_;
    RunControl control_;
    std::thread worker_;
    QTimer poll_;
    bool started_ = false;
    bool reported_ = false;
    std::atomic<bool> done_{false};
    std::mutex mutex_;  // guards the fields below, written by the worker
    std::string phase_;
    int64_t progressDone_ = 0, progressTotal_ = 0;
    OnPolicyReport report_;
    std::string error_;
    bool cancelled_ = false;
};

}  // namespace ps::ui
