#include "diagnose/margin_decomposition_plot.h"

#include <cmath>
#include <limits>

#include <QLabel>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "common/metric_style.h"
#include "common/plot_items.h"
#include "diagnose/margin_decomposition.h"

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

    fromRejected_ = plot_->addGraph();
    fromRejected_->setName(tr("from rejected falling (−rejected)"));
    QColor red = colors::kRejected;
    fromRejected_->setPen(QPen(red, 1.2));
    red.setAlpha(90);
    fromRejected_->setBrush(red);  // filled down to 0

    margin_ = plot_->addGraph();
    margin_->setName(tr("+ from chosen rising (chosen) = margin"));
    margin_->setPen(QPen(colors::kMargin, 1.6));
    QColor green = colors::kChosen;
    green.setAlpha(110);
    margin_->setBrush(green);
    margin_->setChannelFillGraph(fromRejected_);  // the green band is the chosen part

    plot_->legend->setVisible(true);
    plot_->legend->setBrush(QColor(255, 255, 255, 200));
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    plot_->setToolTip(
        tr("Red: the margin gained by pushing the rejected answers down. Green, stacked on it: the "
           "margin gained by raising the chosen answers; green below the red edge means the chosen "
           "answers fell. The top edge is the margin."));

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
    fromRejected_->data()->clear();
    margin_->data()->clear();
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
        fromRejected_->addData(double(m.step), d.from_rejected);
        margin_->addData(double(m.step), d.margin);
        any = true;
    }
    if (!any) return;
    bool found = false;
    QCPRange y = fromRejected_->getValueRange(found);
    QCPRange ym = margin_->getValueRange(found);
    y.expand(ym);
    y.expand(0.0);
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
