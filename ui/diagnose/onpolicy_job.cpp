#include "ui/diagnose/onpolicy_job.h"

#include <exception>

#include "core/common/errors.h"

namespace ps::ui {

OnPolicyDataJob::OnPolicyDataJob(RunConfig config, OnPolicyOptions options, QObject* parent)
    : QObject(parent), config_(std::move(config)), options_(std::move(options)) {
    poll_.setInterval(100);
    connect(&poll_, &QTimer::timeout, this, &OnPolicyDataJob::poll);
}

OnPolicyDataJob::~OnPolicyDataJob() {
    control_.request_stop();
    if (worker_.joinable()) worker_.join();
}

void OnPolicyDataJob::start() {
    if (started_) return;
    started_ = true;
    worker_ = std::thread([this] {
        try {
            OnPolicyReport r = make_onpolicy_data(config_, options_, control_,
                                                  [this](const std::string& phase, int64_t done, int64_t total) {
                                                      std::lock_guard<std::mutex> lock(mutex_);
                                                      phase_ = phase;
                                                      progressDone_ = done;
                                                      progressTotal_ = total;
                                                  });
            std::lock_guard<std::mutex> lock(mutex_);
            report_ = std::move(r);
        } catch (const Cancelled& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            error_ = e.what();
            cancelled_ = true;
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            error_ = e.what();
        }
        done_ = true;
    });
    poll_.start();
}

void OnPolicyDataJob::cancel() { control_.request_stop(); }

void OnPolicyDataJob::poll() {
    std::string phase;
    int64_t done = 0, total = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        phase = phase_;
        done = progressDone_;
        total = progressTotal_;
    }
    QString text;
    if (phase == "reference")
        text = tr("Building the reference model: SFT warm-up step %1 of %2").arg(done).arg(total);
    else if (phase == "sample")
        text = tr("Sampling rejected answers: prompt %1 of %2").arg(done).arg(total);
    else if (phase == "resample")
        text = tr("Sampling again where the answer repeated the chosen one: %1 of %2").arg(done).arg(total);
    else
        text = tr("Preparing the data and the model…");
    emit progressChanged(text, static_cast<int>(done), static_cast<int>(total));
    if (!done_) return;
    poll_.stop();
    worker_.join();
    reported_ = true;
    if (error_.empty())
        emit finished(report_);
    else
        emit failed(QString::fromStdString(error_), cancelled_);
}

}  // namespace ps::ui
