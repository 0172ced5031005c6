// The strip under the plots: Run / Pause / Stop and where the run stands (phase, step/total,
// elapsed, ETA, tokens/s). The buttons show the main window's actions, so menus, toolbar,
// shortcuts and buttons always agree.
#pragma once
#include <optional>

#include <QWidget>

#include "core/common/run_types.h"

class QAction;
class QLabel;
class QProgressBar;

namespace ps::ui {

class RunControls : public QWidget {
    Q_OBJECT
public:
    RunControls(QAction* runAction, QAction* pauseAction, QAction* stopAction,
                QWidget* parent = nullptr);

    void showProgress(const RunProgress& progress);
    // A paused run reads "Paused" in place of its phase until resumed.
    void setPaused(bool paused);
    // Idle look: empty bar, `message` in place of the phase.
    void showIdle(const QString& message);
    // A line in red under the buttons: why Run is disabled, or why the last run failed
    // (empty hides it).
    void setProblem(const QString& text);
    QString problem() const;

    QProgressBar* progressBar() const { return progressBar_; }

private:
    QProgressBar* progressBar_ = nullptr;
    QLabel* elapsedLabel_ = nullptr;
    QLabel* etaLabel_ = nullptr;
    QLabel* throughputLabel_ = nullptr;
    QLabel* problemLabel_ = nullptr;
    bool paused_ = false;
    std::optional<RunProgress> last_;  // the newest progress, shown again on pause and resume
};

}  // namespace ps::ui
