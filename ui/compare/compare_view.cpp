#include "ui/compare/compare_view.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextStream>
#include <QToolButton>
#include <QVBoxLayout>
#include <QSvgGenerator>
#include <qcustomplot.h>

#include "core/common/metric_name.h"
#include "ui/common/format.h"
#include "ui/common/metric_style.h"
#include "ui/common/plot_items.h"
#include "ui/common/theme.h"

namespace ps::ui {

namespace {

struct PanelSpec {
    const char* title;
    const char* yLabel;
    bool unitRange;
};

const PanelSpec kPanelSpecs[CompareView::kPanelCount] = {
    {"Rewards: chosen (solid) vs rejected (dashed)", "reward", false},
    {"Reward margin", "chosen − rejected", false},
    {"Loss", "loss", false},
    {"Reward accuracy", "share chosen > rejected", true},
};

struct MetricSpec {
    const char* name;
    int panel;
};

// Panel order; eval counterparts follow their training metric.
const MetricSpec kMetrics[] = {
    {"rewards/chosen", CompareView::kRewardsPanel},
    {"rewards/rejected", CompareView::kRewardsPanel},
    {"eval/rewards/chosen", CompareView::kRewardsPanel},
    {"eval/rewards/rejected", CompareView::kRewardsPanel},
    {"rewards/margins", CompareView::kMarginPanel},
    {"eval/rewards/margins", CompareView::kMarginPanel},
    {"loss", CompareView::kLossPanel},
    {"eval/loss", CompareView::kLossPanel},
    {"rewards/accuracies", CompareView::kAccuracyPanel},
    {"eval/rewards/accuracies", CompareView::kAccuracyPanel},
};

// A qualitative palette (Tableau 10) with green and red moved last, so the first runs are
// not confused with the fixed chosen-green / rejected-red of the other views.
const QColor kPalette[] = {
    QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x94, 0x67, 0xbd),
    QColor(0x8c, 0x56, 0x4b), QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f),
    QColor(0xbc, 0xbd, 0x22), QColor(0x17, 0xbe, 0xcf), QColor(0x2c, 0xa0, 0x2c),
    QColor(0xd6, 0x27, 0x28),
};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

const QColor kDiffBackground(0xff, 0xf0, 0xb3);     // pale amber: values differ
const QColor kMissingBackground(0xf2, 0xf2, 0xf2);  // grey: key absent in this run

QString formatValue(double v) { return QString::number(v, 'g', 5); }

QTableWidgetItem* readOnlyItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setFlags(item->flags() & ~Qt::ItemIsEditable);
    return item;
}

QTableWidgetItem* numberItem(double value) {
    auto* item = readOnlyItem(formatValue(value));
    item->setData(Qt::UserRole, value);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    item->setToolTip(QString::number(value, 'g', 17));
    return item;
}

bool isTrainingMetric(const std::string& name) { return split_metric_name(name).phase == MetricPhase::Train; }

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    // Header: what is compared, the x alignment, exports.
    header_ = new QLabel(tr("No runs selected"), this);
    header_->setTextFormat(Qt::PlainText);  // run names are user text
    header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    header_->setWordWrap(true);

    alignBox_ = new QComboBox(this);
    alignBox_->addItem(tr("by step"));
    alignBox_->addItem(tr("by fraction of training"));
    alignBox_->setToolTip(tr("By fraction: x = step / the run's last training step, so runs "
                             "of different lengths line up from start (0) to end (1)"));
    connect(alignBox_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        setAlignment(index == 1 ? Alignment::ByFraction : Alignment::ByStep);
    });
    auto* alignLabel = new QLabel(tr("Align x:"), this);
    alignLabel->setBuddy(alignBox_);

    exportPlotButton_ = new QToolButton(this);
    exportPlotButton_->setText(tr("Export plot..."));
    exportPlotButton_->setToolTip(
        tr("Save the plots as PNG or PDF (SVG is not available: this build has no Qt SVG module)"));
    connect(exportPlotButton_, &QToolButton::clicked, this, &CompareView::exportPlotInteractive);
    exportCsvButton_ = new QToolButton(this);
    exportCsvButton_->setText(tr("Export data (CSV)..."));
    exportCsvButton_->setToolTip(
        tr("Save the plotted series as long-form CSV: run_id,run_name,metric,step,value"));
    connect(exportCsvButton_, &QToolButton::clicked, this, &CompareView::exportCsvInteractive);

    auto* bar = new QHBoxLayout;
    bar->addWidget(header_, 1);
    bar->addWidget(alignLabel);
    bar->addWidget(alignBox_);
    bar->addSpacing(12);
    bar->addWidget(exportPlotButton_);
    bar->addWidget(exportCsvButton_);

    // Plots.
    plot_ = new QCustomPlot(this);
    plot_->setMinimumSize(480, 320);
    plot_->setAntialiasedElements(QCP::aePlottables);
    plot_->setPlottingHint(QCP::phFastPolylines, true);
    plot_->setNoAntialiasingOnDrag(true);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setToolTip(tr("Drag to pan, wheel to zoom, double-click to fit all runs"));
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) {
        rescale();
        plot_->replot();
    });
    buildPlotLayout();
    applyPlotTheme(plot_);

    // Summary table.
    summaryTable_ = new QTableWidget(this);
    summaryTable_->setColumnCount(6);
    summaryTable_->setHorizontalHeaderLabels(
        {tr("Metric"), tr("Run"), tr("Final"), tr("Best"), tr("Min"), tr("Max")});
    summaryTable_->horizontalHeaderItem(3)->setToolTip(
        tr("Max for rewards/chosen, margins and accuracies; min for loss and rewards/rejected"));
    summaryTable_->verticalHeader()->setVisible(false);
    summaryTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    summaryTable_->setAlternatingRowColors(true);
    summaryTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    summaryTable_->horizontalHeader()->setMinimumSectionSize(72);
    summaryTable_->horizontalHeader()->setStretchLastSection(false);

    // Configuration table.
    diffOnlyBox_ = new QCheckBox(tr("Differences only"), this);
    diffOnlyBox_->setChecked(true);
    diffOnlyBox_->setToolTip(tr("Hide the settings on which all runs agree"));
    connect(diffOnlyBox_, &QCheckBox::toggled, this, [this](bool) { applyDifferencesFilter(); });
    diffCount_ = new QLabel(this);
    diffCount_->setTextFormat(Qt::PlainText);
    configTable_ = new QTableWidget(this);
    configTable_->verticalHeader()->setVisible(false);
    configTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    configTable_->setWordWrap(false);
    configTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    configTable_->horizontalHeader()->setStretchLastSection(false);

    auto* configPage = new QWidget(this);
    auto* configLayout = new QVBoxLayout(configPage);
    configLayout->setContentsMargins(4, 4, 4, 4);
    auto* configBar = new QHBoxLayout;
    configBar->addWidget(diffOnlyBox_);
    configBar->addSpacing(12);
    configBar->addWidget(diffCount_, 1);
    configLayout->addLayout(configBar);
    configLayout->addWidget(configTable_);

    auto* tabs = new QTabWidget(this);
    tabs->addTab(summaryTable_, tr("Summary"));
    tabs->addTab(configPage, tr("Configuration"));

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(plot_);
    splitter->addWidget(tabs);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setChildrenCollapsible(false);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addLayout(bar);
    layout->addWidget(splitter, 1);

    clear();
}

CompareView::~CompareView() = default;

void CompareView::changeEvent(QEvent* event) {
    if (event->type() == QEvent::PaletteChange && plot_) applyPlotTheme(plot_);
    QWidget::changeEvent(event);
}

void CompareView::buildPlotLayout() {
    plot_->plotLayout()->clear();
    plot_->setAutoAddPlottableToLegend(false);
    QFont titleFont = font();
    titleFont.setBold(true);
    QFont legendFont = font();
    legendFont.setPointSizeF(std::max(7.0, font().pointSizeF() - 1.0));

    // Row 0: the run legend, centred; row 1: the 2 x 2 panels.
    auto* legendRow = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(0, 0, legendRow);
    QCPLegend* legend = addCentredLegend(plot_, legendRow, legendFont);
    legend->setWrap(5);
    legend->setColumnSpacing(14);
    plot_->legend = legend;

    auto* panels = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(1, 0, panels);
    plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    plot_->plotLayout()->setRowSpacing(0);

    auto* marginGroup = new QCPMarginGroup(plot_);
    rects_.assign(kPanelCount, nullptr);
    for (int i = 0; i < kPanelCount; ++i) {
        const PanelSpec& spec = kPanelSpecs[i];
        auto* cell = new QCPLayoutGrid;
        panels->addElement(i / 2, i % 2, cell);
        auto* rect = new QCPAxisRect(plot_);
        cell->addElement(0, 0, new QCPTextElement(plot_, tr(spec.title), titleFont));
        cell->addElement(1, 0, rect);
        cell->setRowStretchFactor(0, 0.001);
        cell->setRowSpacing(0);
        rect->setMarginGroup(QCP::msLeft | QCP::msRight, marginGroup);
        rect->axis(QCPAxis::atBottom)->setLabel(tr("step"));
        rect->axis(QCPAxis::atLeft)->setLabel(tr(spec.yLabel));
        rect->axis(QCPAxis::atLeft)->setNumberFormat("gb");
        connect(rect->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::rangeChanged),
                this, [this](const QCPRange& range) {
                    // Panels share the x axis: a pan or zoom in one moves all.
                    if (syncingAxes_) return;
                    syncingAxes_ = true;
                    for (QCPAxisRect* r : rects_) r->axis(QCPAxis::atBottom)->setRange(range);
                    syncingAxes_ = false;
                });
        if (i == kRewardsPanel || i == kMarginPanel) {
            addZeroLine(plot_, rect);
        }
        auto* empty = new QCPItemText(plot_);
        empty->setClipToAxisRect(true);
        empty->setClipAxisRect(rect);
        empty->position->setType(QCPItemPosition::ptAxisRectRatio);
        empty->position->setAxisRect(rect);
        empty->position->setCoords(0.5, 0.5);
        empty->setText(tr("no data in these runs"));
        empty->setColor(QColor(0x88, 0x88, 0x88));
        rects_[i] = rect;
        emptyLabels_.push_back(empty);
    }
}

void CompareView::clear() {
    runs_.clear();
    configRows_.clear();
    graphs_.clear();
    plot_->clearGraphs();
    plot_->legend->clearItems();
    plot_->legend->setVisible(false);
    updateEmptyLabels();
    configTable_->clear();
    configTable_->setRowCount(0);
    configTable_->setColumnCount(0);
    summaryTable_->setRowCount(0);
    diffCount_->clear();
    header_->setText(tr("No runs selected"));
    exportPlotButton_->setEnabled(false);
    exportCsvButton_->setEnabled(false);
    rescale();
    plot_->replot();
}

void CompareView::setRuns(std::shared_ptr<RunStore> store, std::vector<int64_t> runIds) {
    clear();
    store_ = std::move(store);
    if (!store_) return;

    QStringList missing;
    QString error;
    std::vector<int64_t> seen;
    try {
        for (int64_t id : runIds) {
            if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
            seen.push_back(id);
            std::optional<StoredRun> run = store_->find_run(id);
            if (!run) {
                missing << QStringLiteral("#%1").arg(id);
                continue;
            }
            LoadedRun loaded;
            loaded.run = std::move(*run);
            loaded.color = kPalette[runs_.size() % kPaletteSize];
            int64_t lastStep = 0;
            for (MetricSeries& series : store_->load_metrics(id)) {
                if (isTrainingMetric(series.name) && !series.steps.empty())
                    lastStep = std::max(lastStep, series.steps.back());
                const QString name = QString::fromStdString(series.name);
                const bool plotted = std::any_of(std::begin(kMetrics), std::end(kMetrics),
                                                 [&](const MetricSpec& m) { return name == m.name; });
                if (plotted && !series.steps.empty()) loaded.series[name] = std::move(series);
            }
            // A run with only eval points (or nothing) still gets a sensible denominator.
            if (lastStep <= 0) {
                for (const auto& [name, series] : loaded.series)
                    lastStep = std::max(lastStep, series.steps.back());
            }
            loaded.lastStep = lastStep > 0 ? double(lastStep) : 1.0;
            runs_.push_back(std::move(loaded));
        }
    } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
    }

    if (!error.isEmpty()) {
        runs_.clear();
        header_->setText(tr("Could not load the runs: %1").arg(error));
        emit statusMessage(header_->text());
        rescale();
        plot_->replot();
        return;
    }

    QStringList labels;
    for (const LoadedRun& r : runs_) labels << runLabel(r.run.id);
    QString text = runs_.empty() ? tr("No runs to compare")
                                 : tr("Comparing %n run(s): ", nullptr, int(runs_.size())) +
                                       labels.join(QStringLiteral(", "));
    if (!missing.isEmpty()) text += tr("  (not found: %1)").arg(missing.join(QStringLiteral(", ")));
    header_->setText(text);
    exportPlotButton_->setEnabled(!runs_.empty());
    exportCsvButton_->setEnabled(!runs_.empty());

    rebuildPlots();
    rebuildConfigTable();
    rebuildSummaryTable();
}

void CompareView::rebuildPlots() {
    plot_->clearGraphs();
    graphs_.clear();
    plot_->legend->clearItems();

    for (size_t r = 0; r < runs_.size(); ++r) {
        const LoadedRun& run = runs_[r];
        QCPGraph* legendGraph = nullptr;
        for (const MetricSpec& spec : kMetrics) {
            const QString metric = QString::fromLatin1(spec.name);
            if (!run.series.count(metric)) continue;
            QCPAxisRect* rect = rects_[spec.panel];
            QCPGraph* graph =
                plot_->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
            graph->setName(runLabel(run.run.id));
            const bool rejected = baseMetricName(metric) == QLatin1String("rewards/rejected");
            if (isEvalMetric(metric)) {
                // Eval happens every N steps: markers, no line. Rejected: hollow markers.
                graph->setLineStyle(QCPGraph::lsNone);
                graph->setScatterStyle(QCPScatterStyle(
                    QCPScatterStyle::ssCircle, QPen(run.color.darker(130), 1.2),
                    rejected ? QBrush(Qt::white) : QBrush(run.color), 7));
            } else {
                QPen pen(run.color, 1.2);
                if (rejected) pen.setStyle(Qt::DashLine);
                graph->setPen(pen);
            }
            graphs_[{r, metric}] = graph;
            if (!legendGraph && !isEvalMetric(metric) && !rejected) legendGraph = graph;
        }
        if (!legendGraph) {
            // No solid training curve (an eval-only run): a stand-in for the legend entry.
            for (const auto& [key, graph] : graphs_)
                if (key.first == r) { legendGraph = graph; break; }
        }
        if (legendGraph) plot_->legend->addItem(new QCPPlottableLegendItem(plot_->legend, legendGraph));
    }
    plot_->legend->setVisible(plot_->legend->itemCount() > 0);
    updateEmptyLabels();
    applyXData();
}

void CompareView::updateEmptyLabels() {
    for (size_t p = 0; p < emptyLabels_.size(); ++p)
        emptyLabels_[p]->setVisible(!runs_.empty() && rects_[p]->graphs().isEmpty());
}

void CompareView::applyXData() {
    const bool fraction = alignment_ == Alignment::ByFraction;
    for (const auto& [key, graph] : graphs_) {
        const LoadedRun& run = runs_[key.first];
        const MetricSeries& series = run.series.at(key.second);
        QVector<double> xs, ys;
        xs.reserve(int(series.steps.size()));
        ys.reserve(int(series.steps.size()));
        for (size_t i = 0; i < series.steps.size() && i < series.values.size(); ++i) {
            if (!std::isfinite(series.values[i])) continue;
            const double step = double(series.steps[i]);
            xs.push_back(fraction ? step / run.lastStep : step);
            ys.push_back(series.values[i]);
        }
        graph->setData(xs, ys, true);
    }
    const QString xLabel = fraction ? tr("fraction of training (step / last step)") : tr("step");
    for (QCPAxisRect* rect : rects_) rect->axis(QCPAxis::atBottom)->setLabel(xLabel);
    rescale();
    plot_->replot();
}

void CompareView::rescale() {
    // One x range for all panels; each panel's y fitted to its own curves with 5% headroom.
    double xMin = std::numeric_limits<double>::infinity(), xMax = -xMin;
    for (int p = 0; p < kPanelCount; ++p) {
        QCPAxisRect* rect = rects_[p];
        double yMin = std::numeric_limits<double>::infinity(), yMax = -yMin;
        for (QCPGraph* graph : rect->graphs()) {
            bool ok = false;
            const QCPRange keys = graph->getKeyRange(ok);
            if (ok) {
                xMin = std::min(xMin, keys.lower);
                xMax = std::max(xMax, keys.upper);
            }
            const QCPRange values = graph->getValueRange(ok);
            if (ok) {
                yMin = std::min(yMin, values.lower);
                yMax = std::max(yMax, values.upper);
            }
        }
        QCPAxis* y = rect->axis(QCPAxis::atLeft);
        if (kPanelSpecs[p].unitRange) {
            y->setRange(-0.03, 1.03);
        } else if (std::isfinite(yMin)) {
            const double pad = yMax > yMin ? 0.05 * (yMax - yMin) : std::max(0.1, std::abs(yMax) * 0.1);
            y->setRange(yMin - pad, yMax + pad);
        } else {
            y->setRange(0, 1);
        }
    }
    QCPRange xRange(0, alignment_ == Alignment::ByFraction ? 1.0 : 10.0);
    if (std::isfinite(xMin)) {
        const double lower = std::min(0.0, xMin);
        const double span = std::max(xMax - lower, 1e-9);
        xRange = QCPRange(lower, xMax + 0.02 * span);
    }
    syncingAxes_ = true;
    for (QCPAxisRect* rect : rects_) rect->axis(QCPAxis::atBottom)->setRange(xRange);
    syncingAxes_ = false;
}

void CompareView::setAlignment(Alignment alignment) {
    const int index = alignment == Alignment::ByFraction ? 1 : 0;
    if (alignBox_->currentIndex() != index) {
        alignBox_->setCurrentIndex(index);  // comes back here through the signal
        return;
    }
    if (alignment_ == alignment) return;
    alignment_ = alignment;
    applyXData();
}

void CompareView::rebuildConfigTable() {
    std::vector<nlohmann::json> configs;
    for (const LoadedRun& r : runs_)
        configs.push_back(r.run.resolved_config.is_null() || r.run.resolved_config.empty()
                              ? r.run.config
                              : r.run.resolved_config);
    configRows_ = compare::buildConfigRows(configs);

    configTable_->clear();
    configTable_->setColumnCount(int(runs_.size()) + 1);
    configTable_->setRowCount(int(configRows_.size()));
    QStringList headers{tr("Setting")};
    for (const LoadedRun& r : runs_) headers << runLabel(r.run.id);
    configTable_->setHorizontalHeaderLabels(headers);
    for (size_t c = 0; c < runs_.size(); ++c) {
        QTableWidgetItem* h = configTable_->horizontalHeaderItem(int(c) + 1);
        h->setForeground(runs_[c].color.darker(120));
    }
    QFont bold = configTable_->font();
    bold.setBold(true);
    for (size_t row = 0; row < configRows_.size(); ++row) {
        const compare::ConfigRow& cr = configRows_[row];
        auto* keyItem = readOnlyItem(QString::fromStdString(cr.key));
        if (cr.differs) keyItem->setFont(bold);
        configTable_->setItem(int(row), 0, keyItem);
        for (size_t c = 0; c < cr.values.size(); ++c) {
            auto* item = readOnlyItem(cr.present[c] ? QString::fromStdString(cr.values[c])
                                                    : QStringLiteral("—"));
            if (!cr.present[c]) {
                item->setBackground(kMissingBackground);
                item->setToolTip(tr("Not set in this run's configuration"));
            } else if (cr.differs) {
                item->setBackground(kDiffBackground);
                item->setToolTip(plainToolTip(item->text()));
            }
            configTable_->setItem(int(row), int(c) + 1, item);
        }
    }
    configTable_->resizeColumnsToContents();
    for (int c = 0; c < configTable_->columnCount(); ++c)
        configTable_->setColumnWidth(c, std::clamp(configTable_->columnWidth(c) + 16, 90, 360));
    applyDifferencesFilter();
}

void CompareView::applyDifferencesFilter() {
    const bool only = diffOnlyBox_->isChecked();
    int differing = 0;
    for (size_t row = 0; row < configRows_.size(); ++row) {
        const bool differs = configRows_[row].differs;
        differing += differs ? 1 : 0;
        configTable_->setRowHidden(int(row), only && !differs);
    }
    if (configRows_.empty())
        diffCount_->setText(runs_.empty() ? QString() : tr("No configuration stored"));
    else if (runs_.size() < 2)
        diffCount_->setText(tr("%n setting(s)", nullptr, int(configRows_.size())));
    else
        diffCount_->setText(tr("%1 of %2 settings differ")
                                .arg(differing)
                                .arg(configRows_.size()));
}

void CompareView::setDifferencesOnly(bool on) { diffOnlyBox_->setChecked(on); }
bool CompareView::differencesOnly() const { return diffOnlyBox_->isChecked(); }

QStringList CompareView::visibleConfigKeys() const {
    QStringList keys;
    for (int row = 0; row < configTable_->rowCount(); ++row)
        if (!configTable_->isRowHidden(row)) keys << configTable_->item(row, 0)->text();
    return keys;
}

void CompareView::rebuildSummaryTable() {
    summaryTable_->setRowCount(0);
    int row = 0;
    for (const MetricSpec& spec : kMetrics) {
        const QString metric = QString::fromLatin1(spec.name);
        for (size_t r = 0; r < runs_.size(); ++r) {
            auto it = runs_[r].series.find(metric);
            if (it == runs_[r].series.end()) continue;
            const compare::SeriesSummary s =
                compare::summarize(it->second.values, compare::higherIsBetter(spec.name));
            if (!s.valid) continue;
            summaryTable_->insertRow(row);
            summaryTable_->setItem(row, 0, readOnlyItem(metric));
            auto* runItem = readOnlyItem(runLabel(runs_[r].run.id));
            runItem->setForeground(runs_[r].color.darker(120));
            runItem->setData(Qt::UserRole, qlonglong(runs_[r].run.id));
            summaryTable_->setItem(row, 1, runItem);
            summaryTable_->setItem(row, 2, numberItem(s.final));
            summaryTable_->setItem(row, 3, numberItem(s.best));
            summaryTable_->setItem(row, 4, numberItem(s.min));
            summaryTable_->setItem(row, 5, numberItem(s.max));
            ++row;
        }
    }
}

std::optional<compare::SeriesSummary> CompareView::summary(int64_t runId,
                                                           const QString& metric) const {
    for (const LoadedRun& r : runs_) {
        if (r.run.id != runId) continue;
        auto it = r.series.find(metric);
        if (it == r.series.end()) return std::nullopt;
        compare::SeriesSummary s =
            compare::summarize(it->second.values, compare::higherIsBetter(metric.toStdString()));
        if (!s.valid) return std::nullopt;
        return s;
    }
    return std::nullopt;
}

std::vector<int64_t> CompareView::runIds() const {
    std::vector<int64_t> ids;
    for (const LoadedRun& r : runs_) ids.push_back(r.run.id);
    return ids;
}

QString CompareView::runLabel(int64_t runId) const {
    for (const LoadedRun& r : runs_)
        if (r.run.id == runId)
            return r.run.name.empty() ? QStringLiteral("#%1").arg(runId)
                                      : QStringLiteral("#%1 %2").arg(runId).arg(
                                            QString::fromStdString(r.run.name));
    return QStringLiteral("#%1").arg(runId);
}

QColor CompareView::runColor(int64_t runId) const {
    for (const LoadedRun& r : runs_)
        if (r.run.id == runId) return r.color;
    return QColor();
}

QCPGraph* CompareView::graph(int64_t runId, const QString& metric) const {
    for (size_t r = 0; r < runs_.size(); ++r) {
        if (runs_[r].run.id != runId) continue;
        auto it = graphs_.find({r, metric});
        return it == graphs_.end() ? nullptr : it->second;
    }
    return nullptr;
}

int CompareView::graphCount(const QString& metric) const {
    int n = 0;
    for (const auto& [key, graph] : graphs_) n += key.second == metric ? 1 : 0;
    return n;
}

QStringList CompareView::plottedMetrics() const {
    QStringList out;
    for (const MetricSpec& spec : kMetrics)
        if (graphCount(QString::fromLatin1(spec.name)) > 0) out << QString::fromLatin1(spec.name);
    return out;
}

QCPAxisRect* CompareView::axisRect(Panel panel) const {
    return panel >= 0 && panel < kPanelCount ? rects_[panel] : nullptr;
}

QSize CompareView::exportSize(int width, int height) const {
    if (width > 0 && height > 0) return QSize(width, height);
    // A view that was never shown has no meaningful size yet.
    if (plot_->isVisible() && plot_->width() >= 300 && plot_->height() >= 200) return plot_->size();
    return QSize(1200, 900);
}

bool CompareView::exportPng(const QString& path, int width, int height) {
    const QSize size = exportSize(width, height);
    const bool ok = plot_->savePng(path, size.width(), size.height());
    if (ok) emit statusMessage(tr("Plot saved to %1").arg(path));
    return ok;
}

bool CompareView::exportPdf(const QString& path, int width, int height) {
    const QSize size = exportSize(width, height);
    const bool ok = plot_->savePdf(path, size.width(), size.height(), QCP::epNoCosmetic,
                                   QStringLiteral("PrefStudio"), tr("Run comparison"));
    if (ok) emit statusMessage(tr("Plot saved to %1").arg(path));
    return ok;
}

bool CompareView::exportSvg(const QString& path, int width, int height) {
    // QCustomPlot draws through QPainter, so any paint device works: here Qt SVG's generator.
    const QSize size = exportSize(width, height);
    QSvgGenerator svg;
    svg.setFileName(path);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(tr("Run comparison"));
    svg.setDescription(QStringLiteral("PrefStudio"));
    QCPPainter painter;
    if (!painter.begin(&svg)) return false;
    plot_->toPainter(&painter, size.width(), size.height());
    const bool ok = painter.end();
    if (ok) emit statusMessage(tr("Plot saved to %1").arg(path));
    return ok && QFileInfo(path).size() > 0;
}

bool CompareView::exportCsv(const QString& path) const {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
    QTextStream out(&file);
    out.setEncoding(QStringConverter::Utf8);
    out << "run_id,run_name,metric,step,value\n";
    for (const MetricSpec& spec : kMetrics) {
        const QString metric = QString::fromLatin1(spec.name);
        for (const LoadedRun& r : runs_) {
            auto it = r.series.find(metric);
            if (it == r.series.end()) continue;
            const QString prefix = QString::number(r.run.id) + QLatin1Char(',') +
                                   QString::fromStdString(compare::csvField(r.run.name)) +
                                   QLatin1Char(',') + metric + QLatin1Char(',');
            const MetricSeries& s = it->second;
            for (size_t i = 0; i < s.steps.size() && i < s.values.size(); ++i) {
                out << prefix << s.steps[i] << ','
                    << QString::number(s.values[i], 'g', QLocale::FloatingPointShortest) << '\n';
            }
        }
    }
    out.flush();
    file.close();
    return file.error() == QFile::NoError && out.status() == QTextStream::Ok;
}

void CompareView::exportPlotInteractive() {
    QString selected;
    QString path = QFileDialog::getSaveFileName(
        this, tr("Export plot"), QStringLiteral("comparison.png"),
        tr("PNG image (*.png);;SVG image (*.svg);;PDF document (*.pdf)"), &selected);
    if (path.isEmpty()) return;
    // The file's suffix decides; without one, the chosen filter does.
    QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix != QLatin1String("png") && suffix != QLatin1String("svg") && suffix != QLatin1String("pdf")) {
        suffix = selected.startsWith(QLatin1String("PDF")) ? QStringLiteral("pdf")
                 : selected.startsWith(QLatin1String("SVG")) ? QStringLiteral("svg")
                                                              : QStringLiteral("png");
        path += QLatin1Char('.') + suffix;
    }
    const bool ok = suffix == QLatin1String("pdf")   ? exportPdf(path)
                    : suffix == QLatin1String("svg") ? exportSvg(path)
                                                     : exportPng(path);
    if (!ok) emit statusMessage(tr("Could not write %1").arg(path));
}

void CompareView::exportCsvInteractive() {
    QString path = QFileDialog::getSaveFileName(this, tr("Export data"),
                                                QStringLiteral("comparison.csv"),
                                                tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(QLatin1String(".csv"), Qt::CaseInsensitive)) path += ".csv";
    if (exportCsv(path))
        emit statusMessage(tr("Data saved to %1").arg(path));
    else
        emit statusMessage(tr("Could not write %1").arg(path));
}

}  // namespace ps::ui
