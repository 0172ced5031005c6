#include "ui/live/live_monitor.h"

#include <algorithm>
#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QResizeEvent>
#include <QScrollArea>
#include <QSlider>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "core/common/metric_name.h"
#include "ui/common/metric_style.h"
#include "ui/common/plot_items.h"
#include "ui/common/theme.h"
#include "ui/live/regime_bands.h"

namespace ps::ui {

namespace {

enum PanelIndex {
    kRewardsPanel = 0, kMarginPanel, kLossPanel, kAccuracyPanel,
    kLogpsPanel, kObjectivePanel, kGradNormPanel, kLearningRatePanel, kPanelCount
};

struct PanelSpec {
    const char* title;
    const char* yLabel;
    bool fixedUnitRange;
};

const PanelSpec kPanelSpecs[kPanelCount] = {
    {"Rewards: chosen vs rejected", "β·log(π/π_ref)", false},
    {"Reward margin", "chosen − rejected", false},
    {"Loss", "loss", false},
    {"Reward accuracy and greedy answers", "share", true},
    {"Log-probs: chosen vs rejected", "log π(y|x)", false},
    {"Objective terms", "value", false},
    {"Gradient norm", "‖g‖", false},
    {"Learning rate", "lr", false},
};

bool isSftName(const std::string& name) { return split_metric_name(name).phase == MetricPhase::Sft; }

// Lower and upper quantile of values (partially sorts them).
std::pair<double, double> quantileRange(std::vector<double>& v, double q) {
    const size_t lo = size_t(q * double(v.size() - 1));
    const size_t hi = size_t((1.0 - q) * double(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + long(lo), v.end());
    const double a = v[lo];
    std::nth_element(v.begin(), v.begin() + long(hi), v.end());
    return {a, v[hi]};
}

// Series longer than this are drawn through a decimated view (see updateDecimation).
constexpr int kDecimateAbove = 20000;

bool userInteracted(QMouseEvent* event) { return event->buttons() != Qt::NoButton; }

QString fmt4(double v) { return QString::number(v, 'g', 4); }

// The data point of `graph` nearest to `key`, if one lies within `tolerance`.
bool nearestValue(const QCPGraph* graph, double key, double tolerance, double* value) {
    if (!graph || graph->dataCount() == 0) return false;
    auto data = graph->data();
    auto it = data->findBegin(key - tolerance, false);
    bool found = false;
    double bestDistance = tolerance;
    for (; it != data->constEnd() && it->key <= key + tolerance; ++it) {
        const double d = std::abs(it->key - key);
        if (d <= bestDistance) {
            bestDistance = d;
            *value = it->value;
            found = true;
        }
    }
    return found;
}

}  // namespace

LiveMonitor::LiveMonitor(QWidget* parent) : QWidget(parent) {
    plot_ = new QCustomPlot(this);
    // Four rows of panels: below a readable height per row (ticks apart, titles clear of them)
    // the plots scroll rather than squash (issue #19: small screens).
    plot_->setMinimumSize(360, 4 * kMinimumRowHeight);
    plot_->setToolTip(tr("Drag to pan, wheel to zoom, double-click to follow the run again"));
    // Antialiased lines look much better; with thin pens and fast polylines a replot of
    // 50k points stays under ~10 ms (a 1.6 px pen made it ~700 ms: Qt strokes wide pens
    // segment by segment).
    plot_->setAntialiasedElements(QCP::aePlottables);
    plot_->setPlottingHint(QCP::phFastPolylines, true);
    plot_->setNoAntialiasingOnDrag(true);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setMouseTracking(true);  // hover crosshair
    plot_->installEventFilter(this);

    // A small toolbar above the plots: the smoothing weight (TensorBoard's slider).
    auto* toolbar = new QHBoxLayout;
    toolbar->setContentsMargins(4, 0, 4, 0);
    auto* smoothingLabel = new QLabel(tr("Smoothing"), this);
    smoothingSlider_ = new QSlider(Qt::Horizontal, this);
    smoothingSlider_->setObjectName(QStringLiteral("smoothingSlider"));
    smoothingSlider_->setRange(0, 99);
    smoothingSlider_->setValue(int(std::lround(smoothing_ * 100)));
    smoothingSlider_->setFixedWidth(160);
    smoothingSlider_->setToolTip(
        tr("Exponential moving average of the training curves (debiased, as in TensorBoard). "
           "The raw values stay visible, faint, behind the smoothed curve; eval points are "
           "never smoothed."));
    smoothingValue_ = new QLabel(this);
    smoothingValue_->setMinimumWidth(smoothingValue_->fontMetrics().horizontalAdvance("0.00") + 4);
    smoothingValue_->setText(QString::number(smoothing_, 'f', 2));
    auto* hint = new QLabel(tr("hover: values · drag: pan · wheel: zoom · double-click: follow the run"), this);
    hint->setStyleSheet(QStringLiteral("color: palette(mid);"));
    // The hint gives way on a small screen (it set the window's minimum width past 1280 px).
    hint->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    hint->setToolTip(hint->text());
    xAxisBox_ = new QComboBox(this);
    xAxisBox_->setObjectName(QStringLiteral("xAxisBox"));
    xAxisBox_->addItems({tr("Step"), tr("Wall time")});
    xAxisBox_->setToolTip(tr("x axis: optimiser step, or time since the run started"));
    outliersBox_ = new QCheckBox(tr("Ignore outliers"), this);
    outliersBox_->setObjectName(QStringLiteral("ignoreOutliers"));
    outliersBox_->setToolTip(tr("Fit each y axis to the 2nd-98th percentile of the visible "
                                "points, so a few spikes do not flatten the curves"));
    toolbar->addWidget(smoothingLabel);
    toolbar->addWidget(smoothingSlider_);
    toolbar->addWidget(smoothingValue_);
    toolbar->addSpacing(12);
    toolbar->addWidget(new QLabel(tr("x:"), this));
    toolbar->addWidget(xAxisBox_);
    toolbar->addSpacing(12);
    toolbar->addWidget(outliersBox_);
    toolbar->addStretch(1);
    toolbar->addWidget(hint);
    connect(smoothingSlider_, &QSlider::valueChanged, this,
            [this](int v) { setSmoothing(v / 100.0); });
    connect(xAxisBox_, qOverload<int>(&QComboBox::currentIndexChanged), this,
            [this](int index) { setXAxis(index == 1 ? XAxis::WallTime : XAxis::Step); });
    connect(outliersBox_, &QCheckBox::toggled, this, &LiveMonitor::setIgnoreOutliers);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(toolbar);
    plotScroll_ = new QScrollArea(this);
    plotScroll_->setObjectName(QStringLiteral("plotScroll"));
    plotScroll_->setWidget(plot_);
    plotScroll_->setWidgetResizable(true);
    plotScroll_->setFrameShape(QFrame::NoFrame);
    plotScroll_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    plotScroll_->setMinimumHeight(kMinimumRowHeight);  // at least one row in view
    layout->addWidget(plotScroll_, 1);

    buildPanels();

    // Any drag or wheel means the user wants to look at something: stop auto-scaling.
    connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        if (userInteracted(e)) follow_ = false;
    });
    connect(plot_, &QCustomPlot::mouseWheel, this, [this](QWheelEvent*) { follow_ = false; });
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { resetView(); });
    connect(plot_, &QCustomPlot::mouseMove, this, &LiveMonitor::onMouseMove);
    connect(plot_, &QCustomPlot::beforeReplot, this, &LiveMonitor::updateDecimation);
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
        auto* rect = new QCPAxisRect(plot_);
        cell->addElement(0, 0, new QCPTextElement(plot_, tr(spec.title), titleFont));
        cell->addElement(1, 0, legendRow);  // in the plot first: the legend's layer needs it
        cell->addElement(2, 0, rect);
        QCPLegend* legend = addCentredLegend(plot_, legendRow, legendFont);
        cell->setRowStretchFactor(0, 0.001);
        cell->setRowStretchFactor(1, 0.001);
        cell->setRowSpacing(0);
        legend->setMargins(QMargins(0, 0, 0, 0));
        legend->setColumnSpacing(12);
        legend->setVisible(false);  // shown once a curve has data

        rect->setMarginGroup(QCP::msLeft | QCP::msRight, marginGroup);
        // The panels share the x axis: only the bottom row names it.
        if (i >= kPanelCount - 2) rect->axis(QCPAxis::atBottom)->setLabel(tr("step"));
        rect->axis(QCPAxis::atLeft)->setLabel(tr(spec.yLabel));
        rect->axis(QCPAxis::atLeft)->setNumberFormat("gb");
        rect->axis(QCPAxis::atLeft)->ticker()->setTickCount(4);
        connect(rect->axis(QCPAxis::atBottom),
                qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
                &LiveMonitor::syncStepAxes);

        // A zero line: where a reward crosses it, the policy stopped moving that way.
        if (i == kRewardsPanel || i == kMarginPanel) {
            addZeroLine(plot_, rect);
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
    // The answer check (train.answer_check): what the reward accuracy does not show.
    addCurve(kAccuracyPanel, "eval/answers/chosen", tr("ans. chosen"));
    addCurve(kAccuracyPanel, "eval/answers/rejected", tr("ans. rejected"));
    addCurve(kAccuracyPanel, "eval/answers/other", tr("ans. neither"));
    addCurve(kLogpsPanel, "logps/chosen", tr("chosen"));
    addCurve(kLogpsPanel, "logps/rejected", tr("rejected"));
    addCurve(kLogpsPanel, "eval/logps/chosen", tr("eval chosen"));
    addCurve(kLogpsPanel, "eval/logps/rejected", tr("eval rejected"));
    // The algorithm's own terms; only those the run logs get a legend entry.
    addCurve(kObjectivePanel, "nll_loss", tr("nll (SFT term)"));
    addCurve(kObjectivePanel, "kl", tr("kl (KTO reference point)"));
    addCurve(kObjectivePanel, "log_odds_ratio", tr("log-odds ratio"));
    addCurve(kObjectivePanel, "log_odds_chosen", tr("log-odds chosen"));
    addCurve(kGradNormPanel, "grad_norm", tr("train"));
    addCurve(kGradNormPanel, "sft/grad_norm", tr("SFT warm-up"));
    addCurve(kLearningRatePanel, "learning_rate", tr("train"));
    addCurve(kLearningRatePanel, "sft/learning_rate", tr("SFT warm-up"));

    // The crosshair lives on the buffered overlay layer: hovering replots only that layer.
    QCPLayer* overlay = plot_->layer(QStringLiteral("overlay"));
    overlay->setMode(QCPLayer::lmBuffered);
    for (Panel& panel : panels_) {
        auto* line = new QCPItemStraightLine(plot_);
        line->setLayer(overlay);
        line->setClipToAxisRect(true);
        line->setClipAxisRect(panel.rect);
        for (QCPItemPosition* p : {line->point1, line->point2}) {
            p->setAxes(panel.rect->axis(QCPAxis::atBottom), panel.rect->axis(QCPAxis::atLeft));
            p->setTypeY(QCPItemPosition::ptAxisRectRatio);
            p->setAxisRect(panel.rect);
        }
        line->point1->setCoords(0, 0);
        line->point2->setCoords(0, 1);
        line->setPen(QPen(QColor(30, 30, 30, 170), 1, Qt::DashLine));
        line->setSelectable(false);
        line->setVisible(false);
        crosshairLines_.push_back(line);
    }
    crosshairLabel_ = new QCPItemText(plot_);
    crosshairLabel_->setLayer(overlay);
    crosshairLabel_->setClipToAxisRect(false);
    crosshairLabel_->position->setType(QCPItemPosition::ptAbsolute);
    crosshairLabel_->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
    crosshairLabel_->setTextAlignment(Qt::AlignLeft);
    crosshairLabel_->setBrush(QColor(255, 255, 255, 235));
    crosshairLabel_->setPen(QPen(QColor(120, 120, 120)));
    crosshairLabel_->setPadding(QMargins(6, 4, 6, 4));
    crosshairLabel_->setFont(legendFont);
    crosshairLabel_->setSelectable(false);
    crosshairLabel_->setVisible(false);

    // Strong on the rewards (where "both falling" is seen), light on the margin.
    bands_ = std::make_unique<RegimeBands>(
        plot_, std::vector<RegimeBands::Target>{{panels_[kRewardsPanel].rect, 40, true},
                                                {panels_[kMarginPanel].rect, 20, false}});

    applyTheme();
    clear();
}

void LiveMonitor::setNllInLoss(bool inLoss) {
    auto it = curves_.find(QStringLiteral("nll_loss"));
    if (it == curves_.end()) return;
    const QString label = inLoss ? tr("nll (SFT term)") : tr("nll of chosen (not in the loss)");
    it->second.label = label;
    it->second.graph->setName(label);
    if (it->second.smoothed) it->second.smoothed->setName(label);
    rebuildLegend(it->second.panel);
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString LiveMonitor::curveLabel(const QString& metric) const {
    auto it = curves_.find(metric);
    if (it == curves_.end()) return QString();
    return (it->second.smoothed ? it->second.smoothed : it->second.graph)->name();
}

void LiveMonitor::applyTheme() {
    applyPlotTheme(plot_);
    QColor line = palette().color(QPalette::WindowText);
    line.setAlpha(170);
    for (QCPItemStraightLine* l : crosshairLines_) l->setPen(QPen(line, 1, Qt::DashLine));
}

void LiveMonitor::changeEvent(QEvent* event) {
    if (event->type() == QEvent::PaletteChange && plot_) applyTheme();
    QWidget::changeEvent(event);
}

void LiveMonitor::addCurve(int panel, const QString& metric, const QString& label) {
    QCPAxisRect* rect = panels_[panel].rect;
    QCPGraph* graph = plot_->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    graph->setName(label);
    const QColor color = metricColor(metric);
    Curve curve{graph, nullptr, panel, label};
    if (isEvalMetric(metric)) {
        // Eval happens every N steps: markers, no line, so it never reads as a trend.
        graph->setLineStyle(QCPGraph::lsNone);
        graph->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(color.darker(170), 1.2), color.lighter(115), 8));
    } else {
        // Raw values faint behind, the smoothed curve solid on top (added after, drawn above).
        QColor faint = color;
        faint.setAlpha(60);
        graph->setPen(QPen(faint, 1.0));  // see the constructor: wider pens cost 50x per replot
        curve.smoothed = plot_->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        curve.smoothed->setName(label);
        QPen pen(color, 1.0);
        if (isSftMetric(metric)) pen.setStyle(Qt::DashLine);
        curve.smoothed->setPen(pen);
    }
    curves_[metric] = curve;
    curvesByStdName_[metric.toStdString()] = &curves_[metric];
    curveOrder_.push_back(metric);
}

void LiveMonitor::clear() {
    ++dataVersion_;
    stepTimes_.clear();
    stepTimesSorted_ = true;
    for (auto& [name, curve] : curves_) {
        curve.graph->data()->clear();
        if (curve.smoothed) curve.smoothed->data()->clear();
        curve.ema = 0.0;
        curve.emaCount = 0;
        curve.emaPow = 1.0;
    }
    hideCrosshair();
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
    std::map<Curve*, Pending> pending;
    for (const StepMetrics& m : batch) {
        for (const auto& [name, value] : m.values) {
            auto it = curvesByStdName_.find(name);
            if (it == curvesByStdName_.end() || !std::isfinite(value)) continue;
            Curve& curve = *it->second;
            const double stepX = isSftName(name) ? double(m.step - sftSteps_) : double(m.step);
            if (std::isfinite(m.wall_time)) recordTime(stepX, m.wall_time);
            double x = stepX;
            if (xAxis_ == XAxis::WallTime) {
                if (!std::isfinite(m.wall_time)) continue;
                x = m.wall_time;
            }
            Pending& p = pending[&curve];
            p.keys.push_back(x);
            p.values.push_back(value);

            minStep_ = std::min(minStep_, x);
            maxStep_ = std::max(maxStep_, x);
        }
    }
    if (!pending.empty()) {
        dirty_ = true;
        ++dataVersion_;
    }
    if (bands_->appendMetrics(batch)) dirty_ = true;
    for (auto& [curve, p] : pending) appendToCurve(*curve, p.keys, p.values);
}

void LiveMonitor::appendSeries(const std::string& metric, const std::vector<int64_t>& steps,
                               const std::vector<double>& values,
                               const std::vector<double>& wallTimes) {
    auto it = curvesByStdName_.find(metric);
    if (it == curvesByStdName_.end()) return;
    Curve& curve = *it->second;
    const bool sft = isSftName(metric);
    bool times = wallTimes.size() >= std::min(steps.size(), values.size());
    // Most series of a run share its steps: record their times once (the first series), so
    // opening a run of 1M rows does not sort millions of duplicates.
    bool record = times && !steps.empty();
    if (record) {
        const auto& known = stepTimes();
        const auto has = [&](double x) {
            return std::binary_search(known.begin(), known.end(), std::make_pair(x, 0.0),
                                      [](const auto& a, const auto& b) { return a.first < b.first; });
        };
        const double offset = sft ? double(sftSteps_) : 0.0;
        record = !(has(double(steps.front()) - offset) && has(double(steps.back()) - offset));
    }
    const size_t n = std::min(steps.size(), values.size());
    QVector<double> keys, vals;
    keys.reserve(qsizetype(n));
    vals.reserve(qsizetype(n));
    int64_t lastStep = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) continue;
        const double stepX = sft ? double(steps[i] - sftSteps_) : double(steps[i]);
        double x = stepX;
        if (record && std::isfinite(wallTimes[i])) recordTime(stepX, wallTimes[i]);
        if (xAxis_ == XAxis::WallTime) {
            if (!times || !std::isfinite(wallTimes[i])) continue;
            x = wallTimes[i];
        }
        keys.push_back(x);
        vals.push_back(values[i]);
        minStep_ = std::min(minStep_, x);
        maxStep_ = std::max(maxStep_, x);
        lastStep = std::max(lastStep, steps[i]);
    }
    if (keys.isEmpty()) return;
    dirty_ = true;
    ++dataVersion_;
    if (!sft) {
        // The regime bands only need the newest training step (what appendMetrics gives them).
        StepMetrics newest;
        newest.step = lastStep;
        newest.set(metric, vals.back());
        bands_->appendMetrics({newest});
    }
    appendToCurve(curve, keys, vals);
}

void LiveMonitor::appendToCurve(Curve& curve, const QVector<double>& keys,
                                const QVector<double>& values) {
    if (keys.isEmpty()) return;
    QCPGraph* graph = curve.graph;
    // Keys arrive in step order; only a restarted series would need QCP to sort.
    const bool sorted = std::is_sorted(keys.begin(), keys.end()) &&
                        (graph->data()->isEmpty() || (graph->data()->constEnd() - 1)->key <= keys.front());
    graph->addData(keys, values, sorted);
    if (curve.smoothed) {
        if (sorted) {
            // The live path: continue the EMA from where the last batch left it.
            const double w = smoothing_;
            QVector<double> smoothed;
            smoothed.reserve(values.size());
            for (double y : values) {
                curve.ema = curve.ema * w + (1.0 - w) * y;
                ++curve.emaCount;
                curve.emaPow *= w;
                const double debias = 1.0 - curve.emaPow;
                smoothed.push_back(debias > 0.0 ? curve.ema / debias : y);
            }
            curve.smoothed->addData(keys, smoothed, true);
        } else {
            resmooth(curve);
        }
    }
    QCPGraph* shown = curve.smoothed ? curve.smoothed : graph;
    if (!panels_[curve.panel].legend->hasItemWithPlottable(shown)) rebuildLegend(curve.panel);
}

void LiveMonitor::appendEvents(const std::vector<RunEvent>& events) {
    if (bands_->addEvents(events)) dirty_ = true;
}

void LiveMonitor::replaceRegimeEvents(const std::vector<RunEvent>& events) {
    if (bands_->replaceEvents(events)) dirty_ = true;
}

void LiveMonitor::setRewardsRelative(bool relative) {
    QCPAxis* y = panels_[kRewardsPanel].rect->axis(QCPAxis::atLeft);
    const QString label = relative ? tr(kPanelSpecs[kRewardsPanel].yLabel) : tr("β·avg log π (no reference)");
    if (y->label() == label) return;
    y->setLabel(label);
    dirty_ = true;
}

QString LiveMonitor::rewardsAxisLabel() const { return panels_[kRewardsPanel].rect->axis(QCPAxis::atLeft)->label(); }

QCPAxisRect* LiveMonitor::rewardsAxisRect() const { return panels_[kRewardsPanel].rect; }
QCPAxisRect* LiveMonitor::marginAxisRect() const { return panels_[kMarginPanel].rect; }
QCPAxisRect* LiveMonitor::axisRect(int panel) const {
    return panel >= 0 && panel < int(panels_.size()) ? panels_[size_t(panel)].rect : nullptr;
}

std::vector<double> LiveMonitor::smoothSeries(const std::vector<double>& values, double weight) {
    std::vector<double> out;
    out.reserve(values.size());
    double last = 0.0;
    int n = 0;
    for (double y : values) {
        if (!std::isfinite(y)) {
            out.push_back(y);
            continue;
        }
        last = last * weight + (1.0 - weight) * y;
        ++n;
        const double debias = 1.0 - std::pow(weight, n);
        out.push_back(debias > 0.0 ? last / debias : y);
    }
    return out;
}

void LiveMonitor::resmooth(Curve& curve) {
    if (!curve.smoothed) return;
    const auto data = curve.graph->data();
    QVector<double> keys, smoothed;
    keys.reserve(data->size());
    smoothed.reserve(data->size());
    const double w = smoothing_;
    double last = 0.0;
    int n = 0;
    double wn = 1.0;  // w^n
    for (auto it = data->constBegin(); it != data->constEnd(); ++it) {
        // Non-finite values never reach the raw graph (appendMetrics skips them).
        last = last * w + (1.0 - w) * it->value;
        ++n;
        wn *= w;
        const double debias = 1.0 - wn;
        keys.push_back(it->key);
        smoothed.push_back(debias > 0.0 ? last / debias : it->value);
    }
    curve.smoothed->setData(keys, smoothed, true);
    curve.ema = last;
    curve.emaCount = n;
    curve.emaPow = wn;
}

void LiveMonitor::setSmoothing(double weight) {
    weight = std::clamp(weight, 0.0, 0.99);
    {
        const QSignalBlocker block(smoothingSlider_);
        smoothingSlider_->setValue(int(std::lround(weight * 100)));
    }
    smoothingValue_->setText(QString::number(weight, 'f', 2));
    smoothing_ = weight;
    ++dataVersion_;
    for (auto& [name, curve] : curves_) resmooth(curve);
    dirty_ = true;
    refresh();
}

QCPGraph* LiveMonitor::smoothedGraph(const QString& metric) const {
    auto it = curves_.find(metric);
    return it == curves_.end() ? nullptr : it->second.smoothed;
}

QCPGraph* LiveMonitor::rawGraph(const QString& metric) const {
    auto it = curves_.find(metric);
    return it == curves_.end() ? nullptr : it->second.graph;
}

void LiveMonitor::showCrosshairAt(double step, QCPAxisRect* labelRect) {
    crosshairStep_ = step;
    for (QCPItemStraightLine* line : crosshairLines_) {
        line->point1->setCoords(step, 0);
        line->point2->setCoords(step, 1);
        line->setVisible(true);
    }
    // Points within a few pixels count as "at this step" (eval points are sparse).
    QCPAxis* x = panels_[kRewardsPanel].rect->axis(QCPAxis::atBottom);
    const double tolerance = std::max(0.5, std::abs(x->pixelToCoord(4) - x->pixelToCoord(0)));

    QStringList lines;
    const double stepX = xAxis_ == XAxis::WallTime ? stepAtTime(step) : step;
    const QString when = xAxis_ == XAxis::WallTime
                             ? tr("  (%1 s)").arg(QString::number(timeAtStep(stepX), 'f', 1))
                             : QString();
    if (sftSteps_ > 0 && stepX <= 0)
        lines << tr("SFT warm-up step %1").arg(std::llround(stepX) + sftSteps_) + when;
    else
        lines << tr("step %1").arg(std::llround(stepX)) + when;
    for (const QString& metric : curveOrder_) {
        const Curve& curve = curves_.at(metric);
        double raw = 0.0;
        if (!nearestValue(curve.graph, step, tolerance, &raw)) continue;
        double smooth = 0.0;
        if (curve.smoothed && smoothing_ > 0.0 && nearestValue(curve.smoothed, step, tolerance, &smooth))
            lines << tr("%1: %2  (smoothed %3)").arg(metric, fmt4(raw), fmt4(smooth));
        else
            lines << tr("%1: %2").arg(metric, fmt4(raw));
    }
    crosshairLabel_->setText(lines.join(QLatin1Char('\n')));
    crosshairLabel_->setVisible(true);
    if (labelRect) {
        // Next to the cursor's step, inside the hovered panel, on the side with room.
        const double px = labelRect->axis(QCPAxis::atBottom)->coordToPixel(step);
        const bool right = px < labelRect->center().x();
        crosshairLabel_->setPositionAlignment((right ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignTop);
        crosshairLabel_->position->setCoords(right ? px + 10 : px - 10, labelRect->top() + 4);
    }
}

void LiveMonitor::hideCrosshair() {
    if (!crosshairLabel_ || !crosshairLabel_->visible()) return;
    for (QCPItemStraightLine* line : crosshairLines_) line->setVisible(false);
    crosshairLabel_->setVisible(false);
    plot_->layer(QStringLiteral("overlay"))->replot();
}

bool LiveMonitor::crosshairVisible() const { return crosshairLabel_ && crosshairLabel_->visible(); }

QString LiveMonitor::crosshairText() const {
    return crosshairVisible() ? crosshairLabel_->text() : QString();
}

void LiveMonitor::onMouseMove(QMouseEvent* event) {
    if (event->buttons() != Qt::NoButton) {  // panning: the crosshair would only lag behind
        hideCrosshair();
        return;
    }
    const QPointF pos = event->position();
    QCPAxisRect* rect = plot_->axisRectAt(pos);
    if (!rect || !rect->rect().contains(pos.toPoint())) {
        hideCrosshair();
        return;
    }
    const double x = rect->axis(QCPAxis::atBottom)->pixelToCoord(pos.x());
    // On the step axis snap to a whole step; on the time axis to the nearest recorded time.
    showCrosshairAt(xAxis_ == XAxis::WallTime ? timeAtStep(stepAtTime(x)) : std::round(x), rect);
    plot_->layer(QStringLiteral("overlay"))->replot();
}

bool LiveMonitor::eventFilter(QObject* watched, QEvent* event) {
    if (watched == plot_ && event->type() == QEvent::Leave) hideCrosshair();
    if (watched == plot_ && event->type() == QEvent::Resize)  // before the plot lays itself out anew
        for (const Panel& panel : panels_)
            fitLegendColumns(panel.legend, legendWidth(static_cast<QResizeEvent*>(event)->size().width()));
    return QWidget::eventFilter(watched, event);
}

void LiveMonitor::rebuildLegend(int panelIndex) {
    // Only curves with data, always in the order they were defined (chosen before rejected).
    QCPLegend* legend = panels_[panelIndex].legend;
    legend->clearItems();
    for (const QString& metric : curveOrder_) {
        const Curve& curve = curves_.at(metric);
        if (curve.panel == panelIndex && curve.graph->dataCount() > 0)
            (curve.smoothed ? curve.smoothed : curve.graph)->addToLegend(legend);
    }
    legend->setVisible(legend->itemCount() > 0);
    fitLegendColumns(legend, legendWidth(plot_->width()));
}

int LiveMonitor::legendWidth(int plotWidth) {
    return plotWidth / 2 - 10;  // two panels side by side, with the layout's spacing
}

void LiveMonitor::updateDecimation() {
    for (auto& [name, curve] : curves_) {
        if (curve.graph->lineStyle() != QCPGraph::lsLine) continue;  // eval markers: sparse
        decimate(curve.graph, curve.graphView, curve.panel);
        if (curve.smoothed) decimate(curve.smoothed, curve.smoothedView, curve.panel);
    }
}

void LiveMonitor::decimate(QCPGraph* full, QCPGraph*& view, int panel) {
    const int n = full->dataCount();
    if (n <= kDecimateAbove) {
        if (view && view->visible()) {
            view->setVisible(false);
            view->data()->clear();
            viewKeys_.erase(full);
        }
        blocks_.erase(full);
        full->setVisible(true);
        return;
    }
    QCPAxisRect* rect = panels_[size_t(panel)].rect;
    QCPAxis* x = rect->axis(QCPAxis::atBottom);
    const QCPRange range = x->range();
    const int width = std::max(1, rect->width());
    const ViewKey key{range.lower, range.upper, width, dataVersion_};
    if (!view) {
        view = plot_->addGraph(x, rect->axis(QCPAxis::atLeft));
        view->setName(full->name());
        view->setPen(full->pen());
        view->setAdaptiveSampling(false);  // the data is already one column per pixel
        // A min/max envelope is a dense zig-zag: antialiasing it costs much and shows nothing.
        view->setAntialiased(false);
        // Above its full graph, below anything added later: the same drawing order.
        view->setLayer(full->layer());
        view->setSelectable(QCP::stNone);
    }
    full->setVisible(false);
    view->setVisible(true);
    auto cached = viewKeys_.find(full);
    if (cached != viewKeys_.end() && cached->second == key) return;
    viewKeys_[full] = key;

    // Per pixel column the lowest and highest point, in key order: the polyline looks the same
    // as the full one, for O(columns) points. The points just outside the range (findBegin/
    // findEnd include them) keep the line running to the edges.
    const auto data = full->data();
    const QCPGraphData* d = &*data->constBegin();
    constexpr int kBlock = 64;
    Blocks& blocks = blocks_[full];
    if (blocks.version != dataVersion_) {
        const int count = (n + kBlock - 1) / kBlock;
        blocks.low.resize(size_t(count));
        blocks.high.resize(size_t(count));
        for (int b = 0; b < count; ++b) {
            int lo = b * kBlock, hi = lo;
            for (int i = lo + 1, e = std::min(n, lo + kBlock); i < e; ++i) {
                if (d[i].value < d[lo].value) lo = i;
                if (d[i].value > d[hi].value) hi = i;
            }
            blocks.low[size_t(b)] = lo;
            blocks.high[size_t(b)] = hi;
        }
        blocks.version = dataVersion_;
    }
    const int begin = int(data->findBegin(range.lower, true) - data->constBegin());
    const int end = int(data->findEnd(range.upper, true) - data->constBegin());
    QVector<QCPGraphData> out;
    out.reserve(2 * (width + 2) + 2);
    const double span = range.size() > 0 ? range.size() : 1.0;
    const double scale = width / span;
    int i = begin;
    while (i < end) {
        // The column's points are contiguous (keys sorted): find its end by binary search,
        // then its lowest and highest point, whole blocks at a time.
        const double c = std::floor((d[i].key - range.lower) * scale);
        const double bound = range.lower + (c + 1.0) / scale;
        int colEnd = int(std::upper_bound(d + i, d + end, bound,
                                          [](double k, const QCPGraphData& p) { return k < p.key; }) - d);
        if (colEnd <= i) colEnd = i + 1;
        const int first = i, last = colEnd - 1;
        int lo = i, hi = i;
        const auto take = [&](int l, int h) {
            if (d[l].value < d[lo].value) lo = l;
            if (d[h].value > d[hi].value) hi = h;
        };
        int j = i + 1;
        for (; j < colEnd && j % kBlock != 0; ++j) take(j, j);
        for (; j + kBlock <= colEnd; j += kBlock) take(blocks.low[size_t(j / kBlock)], blocks.high[size_t(j / kBlock)]);
        for (; j < colEnd; ++j) take(j, j);
        i = colEnd;
        // The column's lowest and highest point, in key order (what QCustomPlot's adaptive
        // sampling draws); the first and last point only at the ends of the line.
        const int a = std::min(lo, hi), b = std::max(lo, hi);
        if (out.isEmpty() && first != a) out.push_back(d[first]);
        out.push_back(d[a]);
        if (b != a) out.push_back(d[b]);
        if (i == end && last != b) out.push_back(d[last]);
    }
    view->data()->set(out, true);
}

void LiveMonitor::refresh() {
    // Ticks that only carried progress or events leave the plots as they are.
    if (!dirty_) return;
    dirty_ = false;
    if (follow_) applyFollowRanges();
    if (crosshairVisible()) showCrosshairAt(crosshairStep_);  // values may have changed
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
    if (xAxis_ == XAxis::WallTime) {
        // Time has no planned end: frame the data.
        lower = minStep_;
    } else if (sftSteps_ > 0 && minStep_ < 0.0) {
        const bool training = maxStep_ > 0.0;
        lower = training ? -std::min(double(sftSteps_), std::max(1.0, 0.15 * trainSteps_))
                         : -double(sftSteps_);
    }
    const double upper = xAxis_ == XAxis::WallTime ? std::max(maxStep_, lower + 1.0)
                                                   : std::max({maxStep_, double(trainSteps_), lower + 1.0});
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
        if (ignoreOutliers_ && fitIgnoringOutliers(panel, steps, &values)) {
            const double span = values.size();
            const double margin = span > 1e-12 ? span * 0.1 : std::max(std::abs(values.upper) * 0.1, 0.05);
            y->setRange(values.lower - margin, values.upper + margin);
            continue;
        }
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

void LiveMonitor::recordTime(double stepX, double seconds) {
    if (stepTimes_.empty() || stepX > stepTimes_.back().first) {
        stepTimes_.emplace_back(stepX, seconds);
    } else if (stepX != stepTimes_.back().first) {
        stepTimes_.emplace_back(stepX, seconds);  // out of order (a stored run's warm-up)
        stepTimesSorted_ = false;
    }
}

const std::vector<std::pair<double, double>>& LiveMonitor::stepTimes() {
    if (!stepTimesSorted_) {
        std::stable_sort(stepTimes_.begin(), stepTimes_.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        stepTimes_.erase(std::unique(stepTimes_.begin(), stepTimes_.end(),
                                     [](const auto& a, const auto& b) { return a.first == b.first; }),
                         stepTimes_.end());
        stepTimesSorted_ = true;
    }
    return stepTimes_;
}

double LiveMonitor::timeAtStep(double stepX) {
    const auto& v = stepTimes();
    if (v.empty()) return stepX;
    auto it = std::lower_bound(v.begin(), v.end(), stepX,
                               [](const auto& p, double x) { return p.first < x; });
    if (it != v.end() && it->first == stepX) return it->second;
    // Between two recorded steps (a band's edge): linear in between, clamped at the ends.
    if (it == v.begin()) return it->second;
    if (it == v.end()) return v.back().second;
    const auto& a = *(it - 1);
    const auto& b = *it;
    return a.second + (b.second - a.second) * (stepX - a.first) / (b.first - a.first);
}

double LiveMonitor::stepAtTime(double seconds) {
    // Wall time grows with the step, so the same table sorted by step is sorted by time.
    const auto& v = stepTimes();
    if (v.empty()) return seconds;
    auto it = std::lower_bound(v.begin(), v.end(), seconds,
                               [](const auto& p, double t) { return p.second < t; });
    if (it == v.end()) return v.back().first;
    if (it != v.begin() && seconds - (it - 1)->second < it->second - seconds) --it;
    return it->first;
}

void LiveMonitor::setXAxis(XAxis axis) {
    if (axis == xAxis_) return;
    {
        const QSignalBlocker block(xAxisBox_);
        xAxisBox_->setCurrentIndex(axis == XAxis::WallTime ? 1 : 0);
    }
    const bool toTime = axis == XAxis::WallTime;
    xAxis_ = axis;
    // Re-key every curve: step -> seconds through the recorded (step, time) pairs, or back.
    minStep_ = 0.0;
    maxStep_ = 0.0;
    bool first = true;
    for (auto& [name, curve] : curves_) {
        for (QCPGraph* g : {curve.graph, curve.smoothed}) {
            if (!g || g->dataCount() == 0) continue;
            QVector<double> keys, values;
            keys.reserve(g->dataCount());
            values.reserve(g->dataCount());
            for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
                const double x = toTime ? timeAtStep(it->key) : stepAtTime(it->key);
                keys.push_back(x);
                values.push_back(it->value);
                minStep_ = first ? x : std::min(minStep_, x);
                maxStep_ = first ? x : std::max(maxStep_, x);
                first = false;
            }
            g->setData(keys, values, true);
        }
    }
    if (toTime) {
        bands_->setStepToX([this](int64_t step) { return timeAtStep(double(step)); });
    } else {
        bands_->setStepToX(nullptr);
        minStep_ = std::min(minStep_, 0.0);
    }
    QSharedPointer<QCPAxisTicker> ticker;
    if (toTime) {
        auto timeTicker = QSharedPointer<QCPAxisTickerTime>::create();
        timeTicker->setTimeFormat(QStringLiteral("%m:%s"));
        ticker = timeTicker;
    } else {
        ticker = QSharedPointer<QCPAxisTicker>::create();
    }
    for (Panel& panel : panels_) {
        QCPAxis* x = panel.rect->axis(QCPAxis::atBottom);
        x->setTicker(ticker);
        if (!x->label().isEmpty()) x->setLabel(toTime ? tr("wall time (min:s)") : tr("step"));
    }
    hideCrosshair();
    ++dataVersion_;
    follow_ = true;
    dirty_ = true;
    refresh();
}

void LiveMonitor::setIgnoreOutliers(bool on) {
    {
        const QSignalBlocker block(outliersBox_);
        outliersBox_->setChecked(on);
    }
    ignoreOutliers_ = on;
    follow_ = true;
    dirty_ = true;
    refresh();
}

bool LiveMonitor::fitIgnoringOutliers(const Panel& panel, const QCPRange& xRange, QCPRange* out) const {
    // Raw training points and eval markers in view; a big series is strided to ~20k points.
    std::vector<double> values;
    for (const auto& [name, curve] : curves_) {
        if (panels_[size_t(curve.panel)].rect != panel.rect) continue;
        const auto data = curve.graph->data();
        auto begin = data->findBegin(xRange.lower, false);
        auto end = data->findEnd(xRange.upper, false);
        const long n = long(end - begin);
        if (n <= 0) continue;
        const long stride = std::max(1L, n / 20000);
        for (auto it = begin; it < end; it += stride) values.push_back(it->value);
    }
    if (values.size() < 20) return false;
    const auto [lo, hi] = quantileRange(values, 0.02);
    *out = QCPRange(lo, hi);
    return true;
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
