#include "ui/live/run_controls.h"

#include <algorithm>

#include <QAction>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/common/format.h"

namespace ps::ui {

namespace {
QToolButton* actionButton(QAction* action, QWidget* parent) {
    auto* button = new QToolButton(parent);
    button->setDefaultAction(action);
    button->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    button->setMinimumWidth(84);
    return button;
}
}  // namespace

RunControls::RunControls(QAction* runAction, QAction* pauseAction, QAction* stopAction,
                         QWidget* parent)
    : QWidget(parent) {
    progressBar_ = new QProgressBar(this);
    progressBar_->setTextVisible(true);
    progressBar_->setMinimumWidth(160);  // the strip fits a 1280 px window beside the form
    elapsedLabel_ = new QLabel(this);
    etaLabel_ = new QLabel(this);
    throughputLabel_ = new QLabel(this);
    for (QLabel* label : {elapsedLabel_, etaLabel_, throughputLabel_}) {
        label->setMinimumWidth(60);
        label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    }
    problemLabel_ = new QLabel(this);
    problemLabel_->setTextFormat(Qt::PlainText);  // error text
    problemLabel_->setWordWrap(true);
    problemLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    problemLabel_->setStyleSheet(QStringLiteral("color: #b71c1c;"));
    problemLabel_->hide();

    auto* row = new QHBoxLayout;
    row->addWidget(actionButton(runAction, this));
    row->addWidget(actionButton(pauseAction, this));
    row->addWidget(actionButton(stopAction, this));
    row->addSpacing(12);
    row->addWidget(progressBar_, 1);
    row->addWidget(elapsedLabel_);
    row->addWidget(etaLabel_);
    row->addWidget(throughputLabel_);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 4, 6, 4);
    layout->addLayout(row);
    layout->addWidget(problemLabel_);

    showIdle(tr("Ready"));
}

void RunControls::setPaused(bool paused) {
    paused_ = paused;
    if (last_) showProgress(*last_);
    else if (paused) progressBar_->setFormat(tr("Paused"));
}

void RunControls::showProgress(const RunProgress& p) {
    last_ = p;
    const QString phase = paused_ ? tr("Paused") : phaseLabel(QString::fromStdString(p.phase));
    if (p.total_steps > 0) {
        progressBar_->setRange(0, int(std::min<int64_t>(p.total_steps, 1 << 30)));
        progressBar_->setValue(int(std::min(p.step, p.total_steps)));
        progressBar_->setFormat(tr("%1  %2 / %3").arg(phase).arg(p.step).arg(p.total_steps));
    } else {
        // Unknown length (data loading, reference pass without a count): busy indicator.
        progressBar_->setRange(0, 0);
        progressBar_->setFormat(phase);
    }
    elapsedLabel_->setText(tr("elapsed %1").arg(formatDuration(p.elapsed_s)));
    etaLabel_->setText(tr("ETA %1").arg(formatDuration(p.eta_s)));
    QString throughput = p.tokens_per_second > 0
                             ? tr("%1 tok/s").arg(QString::number(p.tokens_per_second, 'f', 0))
                             : QString();
    if (p.memory_bytes >= 0) {
        const QString memory = tr("mem %1").arg(formatBytes(double(p.memory_bytes)));
        throughput = throughput.isEmpty() ? memory : throughput + QStringLiteral(" · ") + memory;
        throughputLabel_->setToolTip(tr("Memory in use: %1").arg(QString::fromStdString(p.memory_kind)));
    }
    throughputLabel_->setText(throughput);
}

void RunControls::showIdle(const QString& message) {
    paused_ = false;
    last_.reset();
    progressBar_->setRange(0, 1);
    progressBar_->setValue(0);
    progressBar_->setFormat(message);
    elapsedLabel_->clear();
    etaLabel_->clear();
    throughputLabel_->clear();
}

void RunControls::setProblem(const QString& text) {
    problemLabel_->setText(text);
    problemLabel_->setVisible(!text.isEmpty());
}

QString RunControls::problem() const { return problemLabel_->text(); }

}  // namespace ps::ui
