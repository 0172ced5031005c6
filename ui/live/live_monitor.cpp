#include "live/live_monitor.h"

#include <algorithm>
#include <cmath>

#include <QVBoxLayout>
#include <qcustomplot.h>

#include "common/metric_style.h"
#include "live/regime_bands.h"

namespace ps::ui {

namespace {

enum PanelIndex { kRewardsPanel = 0, kMarginPanel, kLossPanel, kAccuracyPanel, kPanelCount };

struct PanelSpec {
    const char* title;
    const char* yLabel;
    bool fixedUnitRange;
};

const PanelSpec kPanelSpecs[kPanelCount] = {
    {"Rewards: chosen vs rejected", "reward  β·(log π − log π_ref)", false},
    {"Reward margin", "chosen − rejected", false},
    {"Loss", "loss", false},
    {"Reward accuracy", "share chosen > rejected", true},
};

bool userInteracted(QMouseEvent* event) { return event->buttons() != Qt::NoButton; }

}  // namespace

LiveMonitor::LiveMonitor(QWidget* parent) : QWidget(parent) {
    plot_ = new QCustomPlot(this);
    plot_->setMinimumSize(480, 360);
    plot_->setToolTip(tr("Drag to pan, wheel to zoom, double-click to follow the run again"));
    // Antialiased lines look much better; with thin pens and fast polylines a replot of
    // 50k points stays under ~10 ms (a 1.6 px pen made it ~700 ms: Qt strokes wide pens
    // segment by segment).
    plot_->setAntialiasedElements(QCP::aePlottables);
    plot_->setPlottingHint(QCP::phFastPolylines, true);
    plot_->setNoAntialiasingOnDrag(true);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(plot_);

    buildPanels();

    // Any drag or wheel means the user wants to look at something: stop auto-scaling.
    connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        if (userInteracted(e)) follow_ = false;
    });
    connect(plot_, &QCustomPlot::mouseWheel, this, [this](QWheelEvent*) { follow_ = false; });
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { resetView(); });
}

LiveMonitor::~LiveMonitor() = default;

void LiveMonitor::buildPanels() {
    plot_->plotLayout()->clear();  // drops the default axis rect and legend
    plot_->setAutoAddPlottableToLegend(false);  // legends list only curves with data
    auto* marginGroup = new QCPMarginGroup(plot_);
    QFont titleFont = font();
    titleFont.setBold(true);
    QFont legendFont = font();
    legendFont.setPointSizeF(std::max(7.0, font().pointSizeF() - 1.0));

    panels_.assign(kPanelCount, Panel{});
    for (int i = 0; i < kPanelCount; ++i) {
        const PanelSpec& spec = kPanelSpecs[i];
        // Per panel: title, legend row, plot. The legend sits outside the plot (centred
        // between two stretching spacers) so it never hides a curve.
        auto* cell = new QCPLayoutGrid;
        plot_->plotLayout()->addElement(i / 2, i % 2, cell);
        auto* legendRow = new QCPLayoutGrid;
        auto* legend = new QCPLegend;
        auto* rect = new QCPAxisRect(plot_);
        cell->addElement(0, 0, new QCPTextElement(plot_, tr(spec.title), titleFont));
        cell->addElement(1, 0, legendRow);
        cell->addElement(2, 0, rect);
        cell->setRowStretchFactor(0, 0.001);
        cell->setRowStretchFactor(1, 0.001);
        cell->setRowSpacing(0);
        legendRow->addElement(0, 0, new QCPLayoutElement(plot_));
        legendRow->addElement(0, 1, legend);
        legendRow->addElement(0, 2, new QCPLayoutElement(plot_));
        legendRow->setColumnStretchFactor(1, 0.001);

        legend->setLayer(QStringLiteral("legend"));
        legend->setFont(legendFont);
        legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
        legend->setBrush(Qt::NoBrush);
        legend->setBorderPen(Qt::NoPen);
        legend->setMargins(QMargins(0, 0, 0, 0));
        legend->setColumnSpacing(12);
        legend->setVisible(false);  // shown once a curve has data

        rect->setMarginGroup(QCP::msLeft | QCP::msRight, marginGroup);
        rect->axis(QCPAxis::atBottom)->setLabel(tr("step"));
        rect->axis(QCPAxis::atLeft)->setLabel(tr(spec.yLabel));
        rect->axis(QCPAxis::atLeft)->setNumberFormat("gb");
        connect(rect->axis(QCPAxis::atBottom),
                qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
                &LiveMonitor::syncStepAxes);

        // A zero line: where a reward crosses it, the policy stopped moving that way.
        if (i == kRewardsPanel || i == kMarginPanel) {
            auto* zero = new QCPItemStraightLine(plot_);
            zero->setClipToAxisRect(true);
            zero->setClipAxisRect(rect);
            zero->point1->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
            zero->point2->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
            zero->point1->setCoords(0, 0);
            zero->point2->setCoords(1, 0);
            zero->setPen(QPen(QColor(0, 0, 0, 90), 1, Qt::DashLine));
        }

        Panel& panel = panels_[i];
        panel.rect = rect;
        panel.legend = legend;
        panel.fixedUnitRange = spec.fixedUnitRange;
    }

    addCurve(kRewardsPanel, "rewards/chosen", tr("chosen"));
    addCurve(kRewardsPanel, "rewards/rejected", tr("rejected"));
    addCurve(kRewardsPanel, "eval/rewards/chosen", tr("eval chosen"));
    addCurve(kRewardsPanel, "eval/rewards/rejected", tr("eval rejected"));
    addCurve(kMarginPanel, "rewards/margins", tr("train"));
    addCurve(kMarginPanel, "eval/rewards/margins", tr("eval"));
    addCurve(kLossPanel, "loss", tr("train"));
    addCurve(kLossPanel, "eval/loss", tr("eval"));
    addCurve(kLossPanel, "sft/loss", tr("SFT warm-up (steps ≤ 0)"));
    addCurve(kAccuracyPanel, "rewards/accuracies", tr("train"));
    addCurve(kAccuracyPanel, "eval/rewards/accuracies", tr("eval"));

    // Strong on the rewards (where "both falling" is seen), light on the margin.
    bands_ = std::make_unique<RegimeBands>(
        plot_, std::vector<RegimeBands::Target>{{panels_[kRewardsPanel].rect, 40, true},
                                                {panels_[kMarginPanel].rect, 20, false}});

    clear();
}

void LiveMonitor::addCurve(int panel, const QString& metric, const QString& label) {
    QCPAxisRect* rect = panels_[panel].rect;
    QCPGraph* graph = plot_->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    graph->setName(label);
    const QColor color = metricColor(metric);
    if (isEvalMetric(metric)) {
        // Eval happens every N steps: markers, no line, so it never reads as a trend.
        graph->setLineStyle(QCPGraph::lsNone);
        graph->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(color.darker(170), 1.2), color.lighter(115), 8));
    } else {
        QPen pen(color, 1.0);  // see the constructor: wider pens cost 50x per replot
        if (isSftMetric(metric)) pen.setStyle(Qt::DashLine);
        graph->setPen(pen);
    }
    curves_[metric] = Curve{graph, panel};
    curveOrder_.push_back(metric);
}

void LiveMonitor::clear() {
    for (auto& [name, curve] : curves_) curve.graph->data()->clear();
    for (Panel& panel : panels_) {
        panel.legend->clearItems();
        panel.legend->setVisible(false);
    }
    if (bands_) bands_->clear();
    minStep_ = 0.0;
    maxStep_ = 0.0;
    follow_ = true;
    dirty_ = true;
    refresh();
}

void LiveMonitor::beginRun(int sftSteps, int trainSteps) {
    sftSteps_ = std::max(0, sftSteps);
    trainSteps_ = std::max(0, trainSteps);
    clear();
}

void LiveMonitor::appendMetrics(const std::vector<StepMetrics>& batch) {
    // Gather per curve first so each graph gets one sorted addData call per tick.
    struct Pending {
        QVector<double> keys, values;
    };
    std::map<const Curve*, Pending> pending;
    for (const StepMetrics& m : batch) {
        for (const auto& [name, value] : m.values) {
            auto it = curves_.find(QString::fromStdString(name));
            if (it == curves_.end() || !std::isfinite(value)) continue;
            const Curve& curve = it->second;
            const bool sft = curve.panel == kLossPanel && isSftMetric(it->first);
            const double x = sft ? double(m.step - sftSteps_) : double(m.step);
            Pending& p = pending[&curve];
            p.keys.push_back(x);
            p.values.push_back(value);

            minStep_ = std::min(minStep_, x);
            maxStep_ = std::max(maxStep_, x);
        }
    }
    if (!pending.empty()) dirty_ = true;
    if (bands_->appendMetrics(batch)) dirty_ = true;
    for (auto& [curve, p] : pending) {
        QCPGraph* graph = curve->graph;
        // Keys arrive in step order; only a restarted series would need QCP to sort.
        const bool sorted = std::is_sorted(p.keys.begin(), p.keys.end()) &&
                            (graph->data()->isEmpty() ||
                             (graph->data()->constEnd() - 1)->key <= p.keys.front());
        graph->addData(p.keys, p.values, sorted);
        if (!panels_[curve->panel].legend->hasItemWithPlottable(graph))
            rebuildLegend(curve->panel);
    }
}

void LiveMonitor::appendEvents(const std::vector<RunEvent>& events) {
    if (bands_->addEvents(events)) dirty_ = true;
}

QCPAxisRect* LiveMonitor::rewardsAxisRect() const { return panels_[kRewardsPanel].rect; }
QCPAxisRect* LiveMonitor::marginAxisRect() const { return panels_[kMarginPanel].rect; }

void LiveMonitor::rebuildLegend(int panelIndex) {
    // Only curves with data, always in the order they were defined (chosen before rejected).
    QCPLegend* legend = panels_[panelIndex].legend;
    legend->clearItems();
    for (const QString& metric : curveOrder_) {
        const Curve& curve = curves_.at(metric);
        if (curve.panel == panelIndex && curve.graph->dataCount() > 0)
            curve.graph->addToLegend(legend);
    }
    legend->setVisible(legend->itemCount() > 0);
}

void LiveMonitor::refresh() {
    // Ticks that only carried progress or events leave the plots as they are.
    if (!dirty_) return;
    dirty_ = false;
    if (follow_) applyFollowRanges();
    plot_->replot();
}

void LiveMonitor::resetView() {
    follow_ = true;
    dirty_ = true;
    refresh();
}

void LiveMonitor::setPlannedSteps(int sftSteps, int trainSteps) {
    if (totalPointCount() > 0) return;  // a finished run's curves keep their frame
    sftSteps_ = std::max(0, sftSteps);
    trainSteps_ = std::max(0, trainSteps);
    dirty_ = true;
    refresh();
}

void LiveMonitor::applyFollowRanges() {
    // The step axis spans the whole planned run, so curves grow into a stable frame. During
    // SFT warm-up it shows the warm-up (negative steps); once preference training has points,
    // only the warm-up's tail stays in view as context.
    double lower = 0.0;
    if (sftSteps_ > 0 && minStep_ < 0.0) {
        const bool training = maxStep_ > 0.0;
        lower = training ? -std::min(double(sftSteps_), std::max(1.0, 0.15 * trainSteps_))
                         : -double(sftSteps_);
    }
    const double upper = std::max({maxStep_, double(trainSteps_), lower + 1.0});
    const double pad = (upper - lower) * 0.02;
    const QCPRange steps(lower - pad, upper + pad);
    syncStepAxes(steps);

    for (Panel& panel : panels_) {
        QCPAxis* y = panel.rect->axis(QCPAxis::atLeft);
        if (panel.fixedUnitRange) {
            y->setRange(-0.04, 1.04);
            continue;
        }
        // Fit what is in view (not the warm-up loss scrolled out to the left).
        bool found = false;
        QCPRange values;
        for (QCPAbstractPlottable* plottable : panel.rect->plottables()) {
            bool foundHere = false;
            const QCPRange r = plottable->getValueRange(foundHere, QCP::sdBoth, steps);
            if (!foundHere) continue;
            if (!found) values = r;
            else values.expand(r);
            found = true;
        }
        if (!found) {
            y->setRange(-1.0, 1.0);
            continue;
        }
        const double span = values.size();
        const double margin = span > 1e-12 ? span * 0.08 : std::max(std::abs(values.upper) * 0.1, 0.05);
        y->setRange(values.lower - margin, values.upper + margin);
    }
}

void LiveMonitor::syncStepAxes(const QCPRange& range) {
    if (syncingAxes_) return;
    syncingAxes_ = true;
    for (Panel& panel : panels_) panel.rect->axis(QCPAxis::atBottom)->setRange(range);
    syncingAxes_ = false;
}

int LiveMonitor::pointCount(const QString& metric) const {
    auto it = curves_.find(metric);
    return it == curves_.end() ? -1 : it->second.graph->dataCount();
}

int LiveMonitor::totalPointCount() const {
    int n = 0;
    for (const auto& [name, curve] : curves_) n += curve.graph->dataCount();
    return n;
}

QStringList LiveMonitor::plottedMetrics() const {
    QStringList names;
    for (const auto& [name, curve] : curves_) names << name;
    return names;
}

}  // namespace ps::ui
