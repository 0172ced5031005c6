#include "ui/diagnose/regime_timeline.h"

#include <algorithm>
#include <cmath>

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

#include "ui/common/metric_style.h"
#include "ui/common/regime_events.h"

namespace ps::ui {

namespace {

constexpr int kMargin = 4;  // pixels around the strip



QString regimeTitle(const QString& regime) {
    QString s = regimeShortLabel(regime);
    if (!s.isEmpty()) s[0] = s[0].toUpper();
    return s;
}

}  // namespace

QStringList RegimeTimeline::segmentLabels(const QString& regime) {
    QStringList labels{regimeShortLabel(regime)};
    if (regime == QLatin1String("warming_up")) labels << tr("warm-up") << tr("warm");
    return labels;
}

RegimeTimeline::RegimeTimeline(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("RegimeTimeline"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setMouseTracking(true);
}

QSize RegimeTimeline::sizeHint() const { return {480, fontMetrics().height() + 12}; }
QSize RegimeTimeline::minimumSizeHint() const { return {120, fontMetrics().height() + 12}; }

void RegimeTimeline::clear() {
    segments_.clear();
    lastStep_ = 0;
    update();
}

void RegimeTimeline::replaceEvents(const std::vector<RunEvent>& events) {
    segments_.clear();
    addEvents(events);
    update();
}

void RegimeTimeline::addEvents(const std::vector<RunEvent>& events) {
    bool changed = false;
    for (const RunEvent& e : events) {
        const std::optional<RegimeChange> change = regimeChange(e);
        if (!change) continue;
        const int64_t since = change->since;
        // A revised live label starts at or before segments already shown: they are replaced.
        while (!segments_.empty() && segments_.back().start >= since) segments_.pop_back();
        // The steps before the first judged stretch are labelled: a live label needs a few
        // logged points (and a label revised back to the start replaces the warm-up).
        if (segments_.empty() && since > 1 && change->regime != QLatin1String("warming_up")) {
            Segment warm;
            warm.regime = QStringLiteral("warming_up");
            warm.start = 1;
            warm.end = since - 1;
            warm.open = false;
            warm.message = tr("Warming up: not enough logged points yet to judge the trends.");
            segments_.push_back(std::move(warm));
        }
        if (!segments_.empty()) {
            Segment& previous = segments_.back();
            previous.open = false;
            previous.end = std::max(previous.start, since - 1);
        }
        Segment s;
        s.regime = change->regime;
        s.start = since;
        s.end = std::max({since, lastStep_, change->declared});
        s.message = change->message;
        lastStep_ = std::max(lastStep_, s.end);
        segments_.push_back(std::move(s));
        changed = true;
    }
    if (changed) update();
}

void RegimeTimeline::appendMetrics(const std::vector<StepMetrics>& batch) {
    int64_t newest = lastStep_;
    for (const StepMetrics& m : batch)
        if (isTrainingRecord(m)) newest = std::max(newest, m.step);
    if (newest == lastStep_) return;
    lastStep_ = newest;
    if (!segments_.empty() && segments_.back().open) segments_.back().end = std::max(segments_.back().end, newest);
    update();
}

int64_t RegimeTimeline::firstStep() const { return segments_.empty() ? 1 : std::min<int64_t>(1, segments_.front().start); }
int64_t RegimeTimeline::lastStep() const { return std::max(lastStep_, firstStep()); }

QRect RegimeTimeline::stripRect() const { return rect().adjusted(kMargin, kMargin, -kMargin, -kMargin); }

double RegimeTimeline::xOf(double step) const {
    const QRect r = stripRect();
    // A step covers [step - 0.5, step + 0.5] on the axis, so a one-step segment has a width.
    const double lo = double(firstStep()) - 0.5, hi = double(lastStep()) + 0.5;
    return r.left() + (step - lo) / (hi - lo) * r.width();
}

QRect RegimeTimeline::segmentRect(int index) const {
    if (index < 0 || index >= int(segments_.size())) return {};
    const Segment& s = segments_[size_t(index)];
    const QRect r = stripRect();
    const int left = int(std::lround(xOf(double(s.start) - 0.5)));
    const int right = int(std::lround(xOf(double(s.end) + 0.5)));
    return QRect(QPoint(left, r.top()), QPoint(std::max(left, right - 1), r.bottom()));
}

QString RegimeTimeline::toolTipAt(const QPoint& pos) const {
    for (int i = 0; i < int(segments_.size()); ++i) {
        if (!segmentRect(i).contains(pos)) continue;
        const Segment& s = segments_[size_t(i)];
        QString text = tr("%1, steps %2–%3%4")
                           .arg(regimeTitle(s.regime))
                           .arg(s.start)
                           .arg(s.end)
                           .arg(s.open ? tr(" (ongoing)") : QString());
        if (!s.message.isEmpty()) text += QStringLiteral("\n") + s.message;
        return text;
    }
    return QString();
}

bool RegimeTimeline::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        QString text = toolTipAt(help->pos());
        // Between or without stretches: what the strip is.
        if (text.isEmpty())
            text = segments_.empty() ? tr("The run's regimes (healthy, both falling, ...) appear here once "
                                          "preference training runs.")
                                     : tr("The run's regimes over its steps: hover a stretch for its steps "
                                          "and what it means.");
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), text, this);
        return true;
    }
    return QWidget::event(e);
}

void RegimeTimeline::paintEvent(QPaintEvent*) {
    QPainter p(this);
    const QRect strip = stripRect();
    p.fillRect(strip, palette().color(QPalette::AlternateBase));
    if (segments_.empty()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(strip, Qt::AlignCenter, tr("Regimes appear here once preference training runs"));
        return;
    }
    for (int i = 0; i < int(segments_.size()); ++i) {
        const Segment& s = segments_[size_t(i)];
        const QRect r = segmentRect(i);
        QColor fill = regimeColor(s.regime);
        fill.setAlpha(isProblemRegime(s.regime) ? 200 : 110);
        p.fillRect(r, fill);
        // The longest label that fits: a short warm-up still reads "warm-up" (issue #19).
        for (const QString& label : segmentLabels(s.regime)) {
            if (p.fontMetrics().horizontalAdvance(label) + 6 > r.width()) continue;
            p.setPen(isProblemRegime(s.regime) ? Qt::white : palette().color(QPalette::WindowText));
            p.drawText(r, Qt::AlignCenter, label);
            break;
        }
    }
    p.setPen(palette().color(QPalette::Mid));
    p.drawRect(strip.adjusted(0, 0, -1, -1));
}

}  // namespace ps::ui
