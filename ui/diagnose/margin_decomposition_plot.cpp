#include "ui/diagnose/margin_decomposition_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <QLabel>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "ui/common/metric_style.h"
#include "ui/common/plot_items.h"
#include "core/diagnose/margin_decomposition.h"

namespace ps::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
QString num(double v) { return QString::number(v, 'g', 3); }
}  // namespace

void MarginDecompositionPlot::Ema::add(double y) {
    value = value * kSmoothing + (1.0 - kSmoothing) * y;
    ++count;
}

double MarginDecompositionPlot::Ema::get() const {
    if (count == 0) return kNaN;
    return value / (1.0 - std::pow(kSmoothing, double(count)));
}

MarginDecompositionPlot::MarginDecompositionPlot(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("MarginDecompositionPlot"));
    plot_ = new QCustomPlot(this);
    plot_->setMinimumHeight(160);
    plot_->setAntialiasedElements(QCP::aePlottables);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->xAxis->setLabel(tr("step"));
    plot_->yAxis->setLabel(tr("margin (smoothed)"));
    addZeroLine(plot_, plot_->axisRect());

    QColor red = colors::kRejected, green = colors::kChosen;
    red.setAlpha(110);
    green.setAlpha(120);
    auto band = [&](const QColor& fill, const QColor& edge, QCPGraph* base) {
        QCPGraph* g = plot_->addGraph();
        g->setPen(QPen(edge, 1.0));
        g->setBrush(fill);
        if (base) g->setChannelFillGraph(base);  // no base: filled down to 0
        return g;
    };
    rejectedUp_ = band(red, colors::kRejected, nullptr);
    chosenUp_ = band(green, colors::kChosen, rejectedUp_);
    rejectedDown_ = band(red, colors::kRejected, nullptr);
    chosenDown_ = band(green, colors::kChosen, rejectedDown_);
    rejectedUp_->setName(tr("from rejected falling (−rejected)"));
    chosenUp_->setName(tr("from chosen rising (chosen)"));
    rejectedDown_->removeFromLegend();
    chosenDown_->removeFromLegend();
    margin_ = plot_->addGraph();
    margin_->setName(tr("margin = sum of both"));
    margin_->setPen(QPen(colors::kMargin, 1.8));

    plot_->legend->setVisible(true);
    plot_->legend->setBrush(QColor(255, 255, 255, 200));
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    plot_->setToolTip(
        tr("Red: the margin gained by pushing the rejected answers down. Green: the margin gained "
           "by raising the chosen answers. Parts that add to the margin stack above 0; a part below 0 "
           "works against it (green below 0: the chosen answers fell). Blue: the margin."));

    caption_ = new QLabel;
    caption_->setWordWrap(true);
    caption_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(caption_);
    layout->addWidget(plot_, 1);
    clear();
}

void MarginDecompositionPlot::clear() {
    chosen_ = Ema{};
    rejected_ = Ema{};
    steps_.clear();
    fromChosen_.clear();
    fromRejectedValues_.clear();
    for (QCPGraph* g : {rejectedUp_, chosenUp_, rejectedDown_, chosenDown_, margin_}) g->data()->clear();
    plot_->xAxis->setRange(0, 10);
    plot_->yAxis->setRange(-1, 1);
    updateCaption();
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

void MarginDecompositionPlot::appendMetrics(const std::vector<StepMetrics>& batch) {
    bool any = false;
    for (const StepMetrics& m : batch) {
        const double c = m.get("rewards/chosen");
        const double r = m.get("rewards/rejected");
        if (!std::isfinite(c) || !std::isfinite(r)) continue;
        if (!steps_.empty() && m.step <= steps_.back()) continue;  // keys must grow
        chosen_.add(c);
        rejected_.add(r);
        const MarginDecomposition d = decompose_margin(chosen_.get(), rejected_.get());
        steps_.push_back(m.step);
        fromChosen_.push_back(d.from_chosen);
        fromRejectedValues_.push_back(d.from_rejected);
        const double x = double(m.step);
        const double rUp = std::max(0.0, d.from_rejected), rDown = std::min(0.0, d.from_rejected);
        rejectedUp_->addData(x, rUp);
        chosenUp_->addData(x, rUp + std::max(0.0, d.from_chosen));
        rejectedDown_->addData(x, rDown);
        chosenDown_->addData(x, rDown + std::min(0.0, d.from_chosen));
        margin_->addData(x, d.margin);
        any = true;
    }
    if (!any) return;
    bool found = false;
    QCPRange y(0.0, 0.0);
    for (QCPGraph* g : {chosenUp_, chosenDown_, margin_}) y.expand(g->getValueRange(found));
    const double pad = std::max(1e-3, 0.08 * y.size());
    plot_->yAxis->setRange(y.lower - pad, y.upper + pad);
    plot_->xAxis->setRange(double(steps_.front()), std::max(double(steps_.back()), double(steps_.front()) + 1.0));
    updateCaption();
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

double MarginDecompositionPlot::lastFromChosen() const { return fromChosen_.empty() ? kNaN : fromChosen_.back(); }
double MarginDecompositionPlot::lastFromRejected() const {
    return fromRejectedValues_.empty() ? kNaN : fromRejectedValues_.back();
}

QString MarginDecompositionPlot::caption() const { return caption_->text(); }

void MarginDecompositionPlot::updateCaption() {
    if (steps_.empty()) {
        caption_->setText(tr("Margin decomposition: no preference-training rewards yet"));
        return;
    }
    const double c = lastFromChosen(), r = lastFromRejected();
    caption_->setText(tr("Step %1: margin %2 = %3 from chosen + %4 from rejected")
                          .arg(steps_.back())
                          .arg(num(c + r), num(c), num(r)));
}

}  // namespace ps::ui
