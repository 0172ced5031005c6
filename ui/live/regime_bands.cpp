#include "ui/live/regime_bands.h"

#include <algorithm>
#include <limits>

#include <QFontMetrics>

#include <qcustomplot.h>

#include "ui/common/metric_style.h"
#include "ui/common/regime_events.h"

namespace ps::ui {

namespace {

const QString kLayerName = QStringLiteral("regimes");

// Preference-training records: at least one metric that is not an SFT warm-up metric. (SFT
// steps count from 1 like training steps, so they must not move a training band.)


}  // namespace

RegimeBands::RegimeBands(QCustomPlot* plot, std::vector<Target> targets)
    : plot_(plot), targets_(std::move(targets)) {
    // Under the graphs (layer "main") and over the grid, so curves always stay readable.
    layer_ = plot_->layer(kLayerName);
    if (!layer_) {
        plot_->addLayer(kLayerName, plot_->layer(QStringLiteral("main")), QCustomPlot::limBelow);
        layer_ = plot_->layer(kLayerName);
    }
    QObject::connect(plot_, &QCustomPlot::beforeReplot, plot_, [this] { layoutLabels(); });
}

RegimeBands::~RegimeBands() = default;  // the plot owns and deletes the items

void RegimeBands::clear() {
    for (Stretch& s : stretches_) removeItems(s);
    stretches_.clear();
    lastStep_ = 0;
}

bool RegimeBands::addEvents(const std::vector<RunEvent>& events) {
    bool changed = false;
    for (const RunEvent& e : events) {
        const std::optional<RegimeChange> change = regimeChange(e);
        if (!change) continue;
        const int64_t since = change->since;

        // A revised live label starts at or before stretches already drawn: they are replaced.
        while (!stretches_.empty() && stretches_.back().start >= since) {
            changed = changed || !stretches_.back().rects.empty();
            removeItems(stretches_.back());
            stretches_.pop_back();
        }
        if (!stretches_.empty()) {
            Stretch& previous = stretches_.back();
            previous.open = false;
            previous.end = std::max(previous.start, since - 1);
            updateGeometry(previous);
            changed = changed || !previous.rects.empty();
        }
        Stretch s;
        s.regime = change->regime;
        s.start = since;
        s.end = std::max({since, lastStep_, change->declared});
        s.open = true;
        s.message = change->message;
        stretches_.push_back(std::move(s));
        Stretch& added = stretches_.back();
        if (isProblemRegime(added.regime)) {
            draw(added);
            changed = true;
        }
    }
    return changed;
}

bool RegimeBands::replaceEvents(const std::vector<RunEvent>& events) {
    const int64_t last = lastStep_;
    const bool had = !stretches_.empty();
    clear();
    lastStep_ = last;
    return addEvents(events) || had;
}

bool RegimeBands::appendMetrics(const std::vector<StepMetrics>& batch) {
    int64_t newest = lastStep_;
    for (const StepMetrics& m : batch)
        if (isTrainingRecord(m)) newest = std::max(newest, m.step);
    if (newest == lastStep_) return false;
    lastStep_ = newest;
    if (stretches_.empty() || !stretches_.back().open) return false;
    Stretch& open = stretches_.back();
    if (newest <= open.end) return false;
    open.end = newest;
    updateGeometry(open);
    return !open.rects.empty();
}

std::vector<QCPItemRect*> RegimeBands::bandItems(int index) const {
    std::vector<QCPItemRect*> items;
    for (const Stretch& s : stretches_)
        if (index >= 0 && index < int(s.rects.size())) items.push_back(s.rects[index]);
    return items;
}

void RegimeBands::draw(Stretch& s) {
    const QColor base = regimeColor(s.regime);
    QFont labelFont = plot_->font();
    labelFont.setPointSizeF(std::max(6.5, labelFont.pointSizeF() - 1.5));
    for (const Target& target : targets_) {
        QCPAxis* x = target.rect->axis(QCPAxis::atBottom);
        QCPAxis* y = target.rect->axis(QCPAxis::atLeft);

        auto* rect = new QCPItemRect(plot_);
        rect->setLayer(layer_);
        rect->setSelectable(false);
        rect->setClipToAxisRect(true);
        rect->setClipAxisRect(target.rect);
        // x in steps, y as a fraction of the axis rect: the band spans the full height
        // whatever the value range.
        for (QCPItemPosition* p : {rect->topLeft, rect->bottomRight}) {
            p->setAxes(x, y);
            p->setAxisRect(target.rect);
            p->setTypeX(QCPItemPosition::ptPlotCoords);
            p->setTypeY(QCPItemPosition::ptAxisRectRatio);
        }
        QColor fill = base;
        fill.setAlpha(target.alpha);
        rect->setBrush(fill);
        rect->setPen(Qt::NoPen);
        s.rects.push_back(rect);

        if (target.labels) {
            auto* label = new QCPItemText(plot_);
            label->setLayer(layer_);
            label->setSelectable(false);
            label->setClipToAxisRect(true);
            label->setClipAxisRect(target.rect);
            label->position->setAxes(x, y);
            label->position->setAxisRect(target.rect);
            label->position->setTypeX(QCPItemPosition::ptPlotCoords);
            label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
            label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
            label->setPadding(QMargins(3, 2, 3, 2));
            label->setFont(labelFont);
            label->setColor(base.darker(140));
            label->setText(regimeShortLabel(s.regime));
            s.labels.push_back(label);
        } else {
            s.labels.push_back(nullptr);  // labels[i] belongs to targets_[i]
        }
    }
    updateGeometry(s);
}

void RegimeBands::setStepToX(std::function<double(int64_t)> stepToX) {
    stepToX_ = std::move(stepToX);
    for (Stretch& s : stretches_) updateGeometry(s);
}

void RegimeBands::updateGeometry(Stretch& s) {
    const double start = stepToX_ ? stepToX_(s.start) : double(s.start);
    const double end = stepToX_ ? stepToX_(s.end) : double(s.end);
    for (QCPItemRect* rect : s.rects) {
        rect->topLeft->setCoords(start, 0.0);
        rect->bottomRight->setCoords(end, 1.0);
    }
    for (QCPItemText* label : s.labels)
        if (label) label->position->setCoords(start, 0.0);
}

void RegimeBands::layoutLabels() {
    // Per target: walk the drawn stretches from the last; each label needs room up to the
    // start of the next drawn band (the last one has all the room to the right).
    for (size_t t = 0; t < targets_.size(); ++t) {
        if (!targets_[t].labels) continue;
        QCPAxis* x = targets_[t].rect->axis(QCPAxis::atBottom);
        double nextStartPx = std::numeric_limits<double>::infinity();
        for (auto it = stretches_.rbegin(); it != stretches_.rend(); ++it) {
            if (it->labels.size() <= t || !it->labels[t]) continue;
            QCPItemText* label = it->labels[t];
            const double startPx = x->coordToPixel(stepToX_ ? stepToX_(it->start) : double(it->start));
            const QMargins pad = label->padding();
            const double needed = QFontMetrics(label->font()).horizontalAdvance(label->text()) +
                                  pad.left() + pad.right();
            label->setVisible(startPx + needed <= nextStartPx);
            nextStartPx = startPx;
        }
    }
}

void RegimeBands::removeItems(Stretch& s) {
    for (QCPItemRect* rect : s.rects) plot_->removeItem(rect);
    for (QCPItemText* label : s.labels)
        if (label) plot_->removeItem(label);
    s.rects.clear();
    s.labels.clear();
}

}  // namespace ps::ui
