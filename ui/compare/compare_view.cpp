#include "ui/compare/compare_view.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QResizeEvent>
#include <QScreen>
#include <QSignalBlocker>
#include <QSlider>
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
#include "ui/live/live_monitor.h"

namespace ps::ui {

namespace {

// Lines per legend row at most (fewer where the plot is too narrow for their names).
constexpr int kLegendColumns = 4;

// The panels' first choices (the four views every preference run has), with their titles.
struct PanelDefault {
    const char* metrics[2];
    const char* title;
    const char* yLabel;
};
const PanelDefault kPanelDefaults[CompareView::kPanelCount] = {
    {{"rewards/chosen", "rewards/rejected"}, "Rewards: chosen (solid) vs rejected (dashed)", "reward"},
    {{"rewards/margins", nullptr}, "Reward margin", "chosen − rejected"},
    {{"loss", nullptr}, "Loss", "loss"},
    {{"rewards/accuracies", nullptr}, "Reward accuracy", "share chosen > rejected"},
};
const char* const kPanelPlaces[CompareView::kPanelCount] = {
    QT_TRANSLATE_NOOP("ps::ui::CompareView", "top left"), QT_TRANSLATE_NOOP("ps::ui::CompareView", "top right"),
    QT_TRANSLATE_NOOP("ps::ui::CompareView", "bottom left"), QT_TRANSLATE_NOOP("ps::ui::CompareView", "bottom right")};

// Metrics listed first in the pickers, in this order; the rest follow alphabetically.
const char* const kPreferredMetrics[] = {
    "rewards/chosen", "rewards/rejected", "rewards/margins", "loss", "rewards/accuracies",
    "logps/chosen", "logps/rejected", "grad_norm", "learning_rate"};

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

QTableWidgetItem* readOnlyItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setFlags(item->flags() & ~Qt::ItemIsEditable);
    return item;
}

// `scale`: the largest magnitude shown with it, so float noise next to real values reads "0".
QTableWidgetItem* numberItem(double value, double scale) {
    auto* item = readOnlyItem(formatNumber(value, scale));
    item->setData(Qt::UserRole, value);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    item->setToolTip(QString::number(value, 'g', 17));
    return item;
}

bool isTrainingMetric(const std::string& name) { return split_metric_name(name).phase == MetricPhase::Train; }

// "objective.beta" -> "beta", unless another key shown with it ends the same way.
QString shortKey(const std::string& key, const std::vector<std::pair<std::string, std::string>>& all) {
    auto last = [](const std::string& k) {
        const size_t dot = k.find_last_of('.');
        return dot == std::string::npos ? k : k.substr(dot + 1);
    };
    const std::string mine = last(key);
    for (const auto& other : all)
        if (other.first != key && last(other.first) == mine) return QString::fromStdString(key);
    return QString::fromStdString(mine);
}

// A picker's text for a panel choice: "loss", "rewards/chosen vs rejected".
QString choiceText(const QStringList& metrics) {
    if (metrics.size() == 2) {
        const QString a = metrics[0], b = metrics[1];
        const int slash = int(a.lastIndexOf('/'));
        if (slash > 0 && b.startsWith(a.left(slash + 1))) return a + QStringLiteral(" vs ") + b.mid(slash + 1);
        return a + QStringLiteral(" vs ") + b;
    }
    return metrics.join(QStringLiteral(", "));
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    // Row 1: what is compared, exports.
    header_ = new QLabel(tr("No runs selected"), this);
    header_->setTextFormat(Qt::PlainText);  // run names are user text
    header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    header_->setWordWrap(true);

    exportPlotButton_ = new QToolButton(this);
    exportPlotButton_->setText(tr("Export plot..."));
    exportPlotButton_->setToolTip(tr("Save the plots as PNG, SVG or PDF"));
    connect(exportPlotButton_, &QToolButton::clicked, this, &CompareView::exportPlotInteractive);
    exportCsvButton_ = new QToolButton(this);
    exportCsvButton_->setText(tr("Export data (CSV)..."));
    exportCsvButton_->setToolTip(
        tr("Save the plotted metrics' raw values as long-form CSV: run_id,run_name,metric,step,value; "
           "with runs grouped, each line's mean, min, max and standard deviation: "
           "line,run_ids,metric,step,mean,min,max,std,count"));
    connect(exportCsvButton_, &QToolButton::clicked, this, &CompareView::exportCsvInteractive);


    // Row 2: how runs become lines.
    groupBox_ = new QComboBox(this);
    // Combos shrink with the window (the full text is in the popup), so the view fits 1280 px
    // and less.
    groupBox_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    groupBox_->setMinimumContentsLength(12);
    groupBox_->setToolTip(
        tr("Runs whose configurations differ only in this setting are drawn as one line: at each step "
           "the mean over the runs that logged that step (runs of different lengths: the end of the line "
           "averages the longer runs only), with a band. Names, save folders and checkpoint settings never "
           "keep runs apart."));
    connect(groupBox_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) {
        regroup();
        rebuildPlots();
        rebuildSummaryTable();
    });
    auto* groupLabel = new QLabel(tr("Group runs differing only in:"), this);
    groupLabel->setBuddy(groupBox_);

    bandBox_ = new QComboBox(this);
    bandBox_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    bandBox_->setMinimumContentsLength(8);
    bandBox_->addItem(tr("min–max"));
    bandBox_->addItem(tr("mean ± std. dev."));
    bandBox_->addItem(tr("none"));
    bandBox_->setToolTip(tr("The band around a group's mean: the lowest to the highest run at each step, or the "
                            "mean plus and minus the runs' standard deviation (population: divided by the number "
                            "of runs at that step)"));
    connect(bandBox_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        setBand(index == 1 ? Band::StdDev : index == 2 ? Band::None : Band::MinMax);
    });
    auto* bandLabel = new QLabel(tr("Band:"), this);
    bandLabel->setBuddy(bandBox_);

    smoothingSlider_ = new QSlider(Qt::Horizontal, this);
    smoothingSlider_->setRange(0, 99);
    smoothingSlider_->setValue(int(std::lround(smoothing_ * 100)));
    smoothingSlider_->setMinimumWidth(60);
    smoothingSlider_->setMaximumWidth(140);
    smoothingSlider_->setToolTip(
        tr("TensorBoard's smoothing (debiased EMA), as in the live view; applied to each run before a group's "
           "mean; a single run's raw values stay faint behind. Eval markers and the summary stay raw."));
    smoothingValue_ = new QLabel(QString::number(smoothing_, 'f', 2), this);
    smoothingValue_->setMinimumWidth(smoothingValue_->fontMetrics().horizontalAdvance("0.00") + 4);
    connect(smoothingSlider_, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 100.0); });
    auto* smoothingLabel = new QLabel(tr("Smoothing:"), this);
    smoothingLabel->setBuddy(smoothingSlider_);

    alignBox_ = new QComboBox(this);
    alignBox_->addItem(tr("by step"));
    alignBox_->addItem(tr("by fraction of training"));
    alignBox_->setToolTip(tr("By fraction: x = step / the last training step of the run (or of the longest run "
                             "of a group), so runs of different lengths line up from start (0) to end (1)"));
    connect(alignBox_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        setAlignment(index == 1 ? Alignment::ByFraction : Alignment::ByStep);
    });
    alignBox_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    alignBox_->setMinimumContentsLength(8);
    auto* alignLabel = new QLabel(tr("Align x:"), this);
    alignLabel->setBuddy(alignBox_);

    auto* bar = new QHBoxLayout;
    bar->addWidget(header_, 1);
    bar->addWidget(alignLabel);
    bar->addWidget(alignBox_);
    bar->addSpacing(8);
    bar->addWidget(exportPlotButton_);
    bar->addWidget(exportCsvButton_);

    auto* lineBar = new QHBoxLayout;
    lineBar->addWidget(groupLabel);
    lineBar->addWidget(groupBox_);
    lineBar->addWidget(bandLabel);
    lineBar->addWidget(bandBox_);
    lineBar->addSpacing(12);
    lineBar->addWidget(smoothingLabel);
    lineBar->addWidget(smoothingSlider_);
    lineBar->addWidget(smoothingValue_);
    lineBar->addStretch(1);

    // Row 3: what each panel shows.
    auto* panelBar = new QHBoxLayout;
    panelBar->addWidget(new QLabel(tr("Plots:"), this));
    panels_.resize(kPanelCount);
    for (int p = 0; p < kPanelCount; ++p) {
        PanelState& panel = panels_[p];
        for (const char* m : kPanelDefaults[p].metrics)
            if (m) panel.metrics << QString::fromLatin1(m);
        panel.box = new QComboBox(this);
        panel.box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        panel.box->setMinimumContentsLength(8);
        panel.box->setToolTip(tr("Metric of the %1 plot: any metric the runs logged").arg(tr(kPanelPlaces[p])));
        connect(panel.box, qOverload<int>(&QComboBox::activated), this, [this, p](int index) {
            setPanelMetrics(p, panels_[p].box->itemData(index).toStringList());
        });
        panel.logBox = new QCheckBox(tr("log"), this);
        panel.logBox->setToolTip(tr("Logarithmic y axis for the %1 plot (all its values must be positive)")
                                     .arg(tr(kPanelPlaces[p])));
        connect(panel.logBox, &QCheckBox::toggled, this, [this, p](bool on) { setLogScale(p, on); });
        panelBar->addWidget(panel.box, 1);
        panelBar->addWidget(panel.logBox);
        if (p + 1 < kPanelCount) panelBar->addSpacing(8);
    }

    // Plots.
    plot_ = new QCustomPlot(this);
    plot_->setMinimumSize(400, 240);
    plot_->setAntialiasedElements(QCP::aePlottables);
    plot_->setPlottingHint(QCP::phFastPolylines, true);
    plot_->setNoAntialiasingOnDrag(true);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setToolTip(tr("Drag to pan, wheel to zoom, double-click to fit all runs"));
    plot_->installEventFilter(this);  // a resize refits the legend's rows
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
        {tr("Metric"), tr("Run or group"), tr("Final"), tr("Best"), tr("Min"), tr("Max")});
    summaryTable_->horizontalHeaderItem(1)->setToolTip(
        tr("A group's numbers are those of its mean line (raw values, unsmoothed)"));
    summaryTable_->horizontalHeaderItem(3)->setToolTip(
        tr("Min for loss and rejected rewards, max for anything else"));
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
    tabs->setMinimumHeight(110);

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(plot_);
    splitter->addWidget(tabs);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);
    splitter->setChildrenCollapsible(false);

    // The view is a window of its own, without the main window's status bar.
    statusLine_ = new QLabel(this);
    statusLine_->setTextFormat(Qt::PlainText);  // paths are user text
    statusLine_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    connect(this, &CompareView::statusMessage, statusLine_, &QLabel::setText);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 4);
    layout->setSpacing(4);
    layout->addLayout(bar);
    layout->addLayout(lineBar);
    layout->addLayout(panelBar);
    layout->addWidget(splitter, 1);
    layout->addWidget(statusLine_);

    clear();
}

CompareView::~CompareView() = default;

void CompareView::changeEvent(QEvent* event) {
    if (event->type() == QEvent::PaletteChange && plot_) applyPlotTheme(plot_);
    QWidget::changeEvent(event);
}

void CompareView::showEvent(QShowEvent* event) {
    // Opened as a window at a fixed size: fit it to the screen it shows on (1280x720 too).
    if (isWindow() && !fittedToScreen_) {
        fittedToScreen_ = true;
        if (QScreen* s = screen()) {
            const QRect avail = s->availableGeometry();
            const int w = std::min(width(), avail.width() - 16);
            const int h = std::min(height(), avail.height() - 48);  // title bar
            if (w < width() || h < height()) {
                resize(std::max(w, minimumSizeHint().width()), std::max(h, 200));
                move(avail.left() + (avail.width() - width()) / 2, avail.top() + 8);
            }
        }
    }
    QWidget::showEvent(event);
}

void CompareView::buildPlotLayout() {
    plot_->plotLayout()->clear();
    plot_->setAutoAddPlottableToLegend(false);
    QFont titleFont = font();
    titleFont.setBold(true);
    QFont legendFont = font();
    legendFont.setPointSizeF(std::max(7.0, font().pointSizeF() - 1.0));

    // Row 0: the line legend, centred; row 1: the 2 x 2 panels.
    auto* legendRow = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(0, 0, legendRow);
    QCPLegend* legend = addCentredLegend(plot_, legendRow, legendFont);
    legend->setWrap(kLegendColumns);
    legend->setColumnSpacing(14);
    plot_->legend = legend;

    auto* grid = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(1, 0, grid);
    plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    plot_->plotLayout()->setRowSpacing(0);

    auto* marginGroup = new QCPMarginGroup(plot_);
    for (int i = 0; i < kPanelCount; ++i) {
        PanelState& panel = panels_[i];
        auto* cell = new QCPLayoutGrid;
        grid->addElement(i / 2, i % 2, cell);
        auto* rect = new QCPAxisRect(plot_);
        panel.title = new QCPTextElement(plot_, QString(), titleFont);
        cell->addElement(0, 0, panel.title);
        cell->addElement(1, 0, rect);
        cell->setRowStretchFactor(0, 0.001);
        cell->setRowSpacing(0);
        rect->setMarginGroup(QCP::msLeft | QCP::msRight, marginGroup);
        rect->axis(QCPAxis::atBottom)->setLabel(tr("step"));
        rect->axis(QCPAxis::atLeft)->setNumberFormat("gb");
        connect(rect->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::rangeChanged),
                this, [this](const QCPRange& range) {
                    // Panels share the x axis: a pan or zoom in one moves all.
                    if (syncingAxes_) return;
                    syncingAxes_ = true;
                    for (const PanelState& p : panels_) p.rect->axis(QCPAxis::atBottom)->setRange(range);
                    syncingAxes_ = false;
                });
        addZeroLine(plot_, rect);
        panel.zero = qobject_cast<QCPItemStraightLine*>(plot_->item(plot_->itemCount() - 1));
        auto* empty = new QCPItemText(plot_);
        empty->setClipToAxisRect(true);
        empty->setClipAxisRect(rect);
        empty->position->setType(QCPItemPosition::ptAxisRectRatio);
        empty->position->setAxisRect(rect);
        empty->position->setCoords(0.5, 0.5);
        empty->setText(tr("no data in these runs"));
        empty->setColor(QColor(0x88, 0x88, 0x88));
        panel.rect = rect;
        panel.empty = empty;
        updatePanelDecor(i);
    }
}

void CompareView::updatePanelDecor(int p) {
    PanelState& panel = panels_[p];
    const PanelDefault& def = kPanelDefaults[p];
    QStringList defaults;
    for (const char* m : def.metrics)
        if (m) defaults << QString::fromLatin1(m);
    const bool isDefault = panel.metrics == defaults;
    panel.title->setText(isDefault ? tr(def.title) : choiceText(panel.metrics));
    panel.rect->axis(QCPAxis::atLeft)->setLabel(isDefault ? tr(def.yLabel) : QString());
    // The zero line matters where the sign does: rewards and margins (not accuracies).
    const QString base = panel.metrics.isEmpty() ? QString() : baseMetricName(panel.metrics.first());
    const bool signedMetric = base.startsWith(QLatin1String("rewards/")) && !base.endsWith(QLatin1String("accuracies"));
    if (panel.zero) panel.zero->setVisible(signedMetric && !panel.log);
}

void CompareView::clear() {
    runs_.clear();
    lines_.clear();
    metricNames_.clear();
    missing_.clear();
    configRows_.clear();
    graphs_.clear();
    bands_.clear();
    raws_.clear();
    plot_->clearGraphs();
    plot_->legend->clearItems();
    plot_->legend->setVisible(false);
    for (PanelState& p : panels_) p.empty->setVisible(false);
    configTable_->clear();
    configTable_->setRowCount(0);
    configTable_->setColumnCount(0);
    summaryTable_->setRowCount(0);
    diffCount_->clear();
    header_->setText(tr("No runs selected"));
    exportPlotButton_->setEnabled(false);
    exportCsvButton_->setEnabled(false);
    fillMetricBoxes();
    fillGroupBox();
    rescale();
    plot_->replot();
}

void CompareView::setRuns(std::shared_ptr<RunStore> store, std::vector<int64_t> runIds) {
    clear();
    store_ = std::move(store);
    if (!store_) return;

    QString error;
    std::vector<int64_t> seen;
    try {
        for (int64_t id : runIds) {
            if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
            seen.push_back(id);
            std::optional<StoredRun> run = store_->find_run(id);
            if (!run) {
                missing_ << QStringLiteral("#%1").arg(id);
                continue;
            }
            LoadedRun loaded;
            loaded.run = std::move(*run);
            loaded.config = loaded.run.resolved_config.is_null() || loaded.run.resolved_config.empty()
                                ? loaded.run.config
                                : loaded.run.resolved_config;
            int64_t lastStep = 0;
            for (MetricSeries& series : store_->load_metrics(id)) {
                if (series.steps.empty()) continue;
                if (isTrainingMetric(series.name)) lastStep = std::max(lastStep, series.steps.back());
                loaded.series[QString::fromStdString(series.name)] = std::move(series);
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

    std::set<QString> names;
    for (const LoadedRun& r : runs_)
        for (const auto& entry : r.series) names.insert(entry.first);
    for (const QString& name : names) metricNames_ << name;

    exportPlotButton_->setEnabled(!runs_.empty());
    exportCsvButton_->setEnabled(!runs_.empty());
    fillMetricBoxes();
    fillGroupBox();
    regroup();
    rebuildPlots();
    rebuildConfigTable();
    rebuildSummaryTable();
}

void CompareView::fillMetricBoxes() {
    // Pickers list chosen/rejected pairs, then every metric: the preferred ones first, then
    // alphabetically; an eval/ metric only when its training metric is absent (it follows it).
    std::vector<QStringList> choices;
    for (const QString& m : metricNames_) {
        if (!m.endsWith(QLatin1String("/chosen"))) continue;
        const QString rejected = m.left(m.size() - 6) + QStringLiteral("rejected");
        if (metricNames_.contains(rejected)) choices.push_back({m, rejected});
    }
    QStringList singles;
    for (const char* m : kPreferredMetrics)
        if (metricNames_.contains(QLatin1String(m))) singles << QString::fromLatin1(m);
    for (const QString& m : metricNames_) {
        if (singles.contains(m)) continue;
        if (isEvalMetric(m) && metricNames_.contains(baseMetricName(m))) continue;
        singles << m;
    }
    for (const QString& m : singles) choices.push_back({m});

    for (PanelState& panel : panels_) {
        const QSignalBlocker block(panel.box);
        panel.box->clear();
        bool current = false;
        for (const QStringList& choice : choices) {
            panel.box->addItem(choiceText(choice), choice);
            current = current || choice == panel.metrics;
        }
        // The panel's choice stays listed (it shows "no data in these runs").
        if (!current) panel.box->addItem(choiceText(panel.metrics), panel.metrics);
        for (int i = 0; i < panel.box->count(); ++i)
            if (panel.box->itemData(i).toStringList() == panel.metrics) panel.box->setCurrentIndex(i);
        panel.box->setEnabled(!runs_.empty());
    }
}

void CompareView::fillGroupBox() {
    const QSignalBlocker block(groupBox_);
    groupBox_->clear();
    groupBox_->addItem(QStringLiteral("seed"), QStringLiteral("seed"));
    std::vector<nlohmann::json> configs;
    for (const LoadedRun& r : runs_) configs.push_back(r.config);
    for (const std::string& key : differing_config_keys(configs))
        if (key != "seed") groupBox_->addItem(QString::fromStdString(key), QString::fromStdString(key));
    groupBox_->addItem(tr("nothing (one line per run)"), QString());
    int index = groupBox_->findData(groupKey_);
    if (index < 0) {
        // A key the runs do not differ in groups nothing more than seed does.
        groupKey_ = QStringLiteral("seed");
        index = 0;
    }
    groupBox_->setCurrentIndex(index);
    groupBox_->setEnabled(runs_.size() > 1);
}

void CompareView::regroup() {
    groupKey_ = groupBox_->currentData().toString();
    lines_.clear();
    std::vector<nlohmann::json> configs;
    for (const LoadedRun& r : runs_) configs.push_back(r.config);
    const std::string key = groupKey_.toStdString();
    for (const RunGroup& group : group_runs(configs, key)) {
        Line line;
        line.members = group.members;
        line.color = kPalette[lines_.size() % kPaletteSize];
        for (size_t m : group.members) line.lastStep = std::max(line.lastStep, runs_[m].lastStep);
        if (group.members.size() == 1) {
            line.label = runLabel(runs_[group.members.front()].run.id);
        } else {
            QStringList parts;
            for (const auto& [k, v] : group.distinguishing) {
                if (parts.size() == 3) {
                    parts << QStringLiteral("…");
                    break;
                }
                parts << shortKey(k, group.distinguishing) + QLatin1Char('=') + QString::fromStdString(v);
            }
            if (parts.isEmpty())
                for (size_t m : group.members) parts << QStringLiteral("#%1").arg(runs_[m].run.id);
            const int n = int(group.members.size());
            QString size;
            if (key == "seed") {
                size = int(group.ignored_values.size()) == n
                           ? tr("%1 seeds").arg(n)
                           : tr("%1 runs, %2 seeds").arg(n).arg(group.ignored_values.size());
            } else {
                QStringList values;
                for (const std::string& v : group.ignored_values) values << QString::fromStdString(v);
                if (values.size() > 4) values = values.mid(0, 3) << QStringLiteral("…");
                size = tr("%1 runs, %2 = %3")
                           .arg(n)
                           .arg(shortKey(key, {}), values.join(QStringLiteral(", ")));
            }
            line.label = parts.join(QStringLiteral(", ")) + QStringLiteral(" (") + size + QLatin1Char(')');
        }
        lines_.push_back(std::move(line));
    }
}

GroupSeries CompareView::lineSeries(const Line& line, const QString& metric, bool smooth) const {
    std::vector<StepSeries> members;
    for (size_t m : line.members) {
        auto it = runs_[m].series.find(metric);
        if (it == runs_[m].series.end()) continue;
        StepSeries s;
        s.steps = it->second.steps;
        s.values = smooth ? LiveMonitor::smoothSeries(it->second.values, smoothing_) : it->second.values;
        members.push_back(std::move(s));
    }
    return aggregate_series(members);
}

QStringList CompareView::drawnMetrics(int panel) const {
    QStringList out = panels_[panel].metrics;
    for (const QString& m : panels_[panel].metrics) {
        const QString eval = QStringLiteral("eval/") + m;
        if (!isEvalMetric(m) && !isSftMetric(m) && metricNames_.contains(eval)) out << eval;
    }
    return out;
}

void CompareView::rebuildPlots() {
    plot_->clearGraphs();
    graphs_.clear();
    bands_.clear();
    raws_.clear();
    plot_->legend->clearItems();
    anyRagged_ = false;
    const bool fraction = alignment_ == Alignment::ByFraction;

    for (size_t l = 0; l < lines_.size(); ++l) {
        const Line& line = lines_[l];
        const bool grouped = line.members.size() > 1;
        auto xOf = [&](int64_t step) { return fraction ? double(step) / line.lastStep : double(step); };
        QCPGraph* legendGraph = nullptr;
        for (int p = 0; p < kPanelCount; ++p) {
            const PanelState& panel = panels_[p];
            QCPAxis* xAxis = panel.rect->axis(QCPAxis::atBottom);
            QCPAxis* yAxis = panel.rect->axis(QCPAxis::atLeft);
            const QString second = panel.metrics.size() == 2 ? panel.metrics[1] : QString();
            for (const QString& metric : drawnMetrics(p)) {
                const bool eval = isEvalMetric(metric);
                // The pair's second metric (rejected) is dashed, its eval markers hollow.
                const bool dashed = !second.isEmpty() && baseMetricName(metric) == baseMetricName(second);
                const GroupSeries s = lineSeries(line, metric, !eval && smoothing_ > 0.0);
                if (s.steps.empty()) continue;
                anyRagged_ = anyRagged_ || s.ragged;
                QVector<double> xs;
                xs.reserve(int(s.steps.size()));
                for (int64_t step : s.steps) xs << xOf(step);
                const GraphKey key{l, metric};

                if (!eval && grouped && band_ != Band::None) {
                    QVector<double> lo, hi;
                    for (size_t i = 0; i < s.steps.size(); ++i) {
                        lo << (band_ == Band::MinMax ? s.min[i] : s.mean[i] - s.stddev[i]);
                        hi << (band_ == Band::MinMax ? s.max[i] : s.mean[i] + s.stddev[i]);
                    }
                    QCPGraph* lower = plot_->addGraph(xAxis, yAxis);
                    QCPGraph* upper = plot_->addGraph(xAxis, yAxis);
                    lower->setName(line.label);
                    upper->setName(line.label);
                    lower->setPen(Qt::NoPen);
                    upper->setPen(Qt::NoPen);
                    QColor fill = line.color;
                    fill.setAlpha(dashed ? 28 : 50);
                    upper->setBrush(fill);
                    upper->setChannelFillGraph(lower);
                    lower->setData(xs, lo, true);
                    upper->setData(xs, hi, true);
                    bands_[key] = {lower, upper};
                }
                if (!eval && !grouped && smoothing_ > 0.0) {
                    const GroupSeries raw = lineSeries(line, metric, false);
                    QVector<double> rx, ry;
                    for (size_t i = 0; i < raw.steps.size(); ++i) {
                        rx << xOf(raw.steps[i]);
                        ry << raw.mean[i];
                    }
                    QCPGraph* faint = plot_->addGraph(xAxis, yAxis);
                    faint->setName(line.label);
                    QColor c = line.color;
                    c.setAlpha(60);
                    QPen pen(c, 1.0);
                    if (dashed) pen.setStyle(Qt::DashLine);
                    faint->setPen(pen);
                    faint->setData(rx, ry, true);
                    raws_[key] = faint;
                }

                QCPGraph* graph = plot_->addGraph(xAxis, yAxis);
                graph->setName(line.label);
                if (eval) {
                    // Eval happens every N steps: markers, no line. Rejected: hollow markers.
                    graph->setLineStyle(QCPGraph::lsNone);
                    graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle,
                                                           QPen(line.color.darker(130), 1.2),
                                                           dashed ? QBrush(Qt::white) : QBrush(line.color), 7));
                } else {
                    QPen pen(line.color, grouped ? 1.8 : 1.3);
                    if (dashed) pen.setStyle(Qt::DashLine);
                    graph->setPen(pen);
                }
                graph->setData(xs, QVector<double>(s.mean.begin(), s.mean.end()), true);
                graphs_[key] = graph;
                if (!legendGraph && !eval && !dashed) legendGraph = graph;
            }
        }
        if (!legendGraph) {
            // No solid training curve (an eval-only run): a stand-in for the legend entry.
            for (const auto& [key, graph] : graphs_)
                if (key.first == l) { legendGraph = graph; break; }
        }
        if (legendGraph) plot_->legend->addItem(new QCPPlottableLegendItem(plot_->legend, legendGraph));
    }
    plot_->legend->setVisible(plot_->legend->itemCount() > 0);
    fitLegendColumns(plot_->legend, plot_->width(), kLegendColumns);

    const QString xLabel = fraction ? tr("fraction of training (step / last step)") : tr("step");
    for (int p = 0; p < kPanelCount; ++p) {
        panels_[p].rect->axis(QCPAxis::atBottom)->setLabel(xLabel);
        panels_[p].empty->setVisible(!runs_.empty() && panels_[p].rect->graphs().isEmpty());
        applyScale(p);
    }
    rescale();
    plot_->replot();
    updateHeader();
}

double CompareView::panelMinValue(int panel) const {
    double lowest = std::numeric_limits<double>::infinity();
    for (QCPGraph* graph : panels_[panel].rect->graphs())
        for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it)
            lowest = std::min(lowest, it->value);
    return lowest;
}

void CompareView::applyScale(int p) {
    PanelState& panel = panels_[p];
    if (panel.log) {
        const double lowest = panelMinValue(p);
        if (!(lowest > 0.0)) {
            panel.log = false;
            const QSignalBlocker block(panel.logBox);
            panel.logBox->setChecked(false);
            emit statusMessage(tr("Log scale turned off for the %1 plot (%2): it now shows values down to %3, "
                                  "and a log axis needs every value above 0")
                                   .arg(tr(kPanelPlaces[p]), choiceText(panel.metrics), formatNumber(lowest)));
        }
    }
    QCPAxis* y = panel.rect->axis(QCPAxis::atLeft);
    if (panel.log) {
        y->setScaleType(QCPAxis::stLogarithmic);
        y->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    } else if (y->scaleType() != QCPAxis::stLinear) {
        y->setScaleType(QCPAxis::stLinear);
        y->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    updatePanelDecor(p);
}

bool CompareView::setLogScale(int p, bool on) {
    if (p < 0 || p >= kPanelCount) return false;
    PanelState& panel = panels_[p];
    bool ok = true;
    if (on) {
        const double lowest = panelMinValue(p);
        if (!(lowest > 0.0) && std::isfinite(lowest)) {
            on = false;
            ok = false;
            const bool band = band_ != Band::None && std::any_of(lines_.begin(), lines_.end(), [](const Line& l) {
                                  return l.members.size() > 1;
                              });
            emit statusMessage(tr("Log scale not applied to the %1 plot (%2): it shows values down to %3%4, "
                                  "and a log axis needs every value above 0")
                                   .arg(tr(kPanelPlaces[p]), choiceText(panel.metrics), formatNumber(lowest),
                                        band ? tr(" (bands included)") : QString()));
        }
    }
    {
        const QSignalBlocker block(panel.logBox);
        panel.logBox->setChecked(on);
    }
    if (panel.log != on) {
        panel.log = on;
        applyScale(p);
        rescale();
        plot_->replot();
    }
    return ok;
}

bool CompareView::logScale(int panel) const {
    return panel >= 0 && panel < kPanelCount && panels_[panel].log;
}

void CompareView::rescale() {
    // One x range for all panels; each panel's y fitted to its own curves (bands included).
    double xMin = std::numeric_limits<double>::infinity(), xMax = -xMin;
    for (PanelState& panel : panels_) {
        double yMin = std::numeric_limits<double>::infinity(), yMax = -yMin;
        for (QCPGraph* graph : panel.rect->graphs()) {
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
        QCPAxis* y = panel.rect->axis(QCPAxis::atLeft);
        const QString base = panel.metrics.isEmpty() ? QString() : baseMetricName(panel.metrics.first());
        const bool unitRange = base.endsWith(QLatin1String("accuracies")) && panel.metrics.size() == 1;
        if (panel.log) {
            if (std::isfinite(yMin) && yMin > 0.0) {
                const double pad = std::pow(yMax / yMin, 0.05) * 1.05;  // 5% of the decades, at least 5%
                y->setRange(yMin / pad, yMax * pad);
            } else {
                y->setRange(0.1, 10.0);
            }
        } else if (unitRange && (!std::isfinite(yMin) || (yMin >= 0.0 && yMax <= 1.0))) {
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
    for (PanelState& panel : panels_) panel.rect->axis(QCPAxis::atBottom)->setRange(xRange);
    syncingAxes_ = false;
}

void CompareView::updateHeader() {
    if (runs_.empty()) {
        header_->setText(missing_.isEmpty() ? tr("No runs selected")
                                            : tr("No runs to compare (not found: %1)").arg(missing_.join(", ")));
        return;
    }
    QString text;
    if (lines_.size() == runs_.size()) {
        QStringList labels;
        for (const LoadedRun& r : runs_) labels << runLabel(r.run.id);
        text = tr("Comparing %n run(s): ", nullptr, int(runs_.size())) + labels.join(QStringLiteral(", "));
    } else {
        QStringList labels;
        for (const Line& line : lines_) {
            if (line.members.size() == 1) {
                labels << line.label;
                continue;
            }
            QStringList ids;
            for (size_t m : line.members) ids << QStringLiteral("#%1").arg(runs_[m].run.id);
            labels << line.label + QStringLiteral(": ") + ids.join(QStringLiteral(", "));
        }
        text = tr("Comparing %1 runs as %2 lines: ").arg(runs_.size()).arg(lines_.size()) +
               labels.join(QStringLiteral("; "));
    }
    if (!missing_.isEmpty()) text += tr("  (not found: %1)").arg(missing_.join(QStringLiteral(", ")));
    if (anyRagged_)
        text += tr(". A group's runs differ in length or logged steps: at each step its line is the mean "
                   "of the runs that logged that step.");
    header_->setText(text);
}

void CompareView::setAlignment(Alignment alignment) {
    const int index = alignment == Alignment::ByFraction ? 1 : 0;
    if (alignBox_->currentIndex() != index) {
        alignBox_->setCurrentIndex(index);  // comes back here through the signal
        return;
    }
    if (alignment_ == alignment) return;
    alignment_ = alignment;
    rebuildPlots();
}

void CompareView::setGroupKey(const QString& key) {
    int index = groupBox_->findData(key);
    if (index < 0) {
        // A key the runs agree on: listed anyway, it groups what it groups.
        groupBox_->blockSignals(true);
        groupBox_->insertItem(groupBox_->count() - 1, key, key);
        groupBox_->blockSignals(false);
        index = groupBox_->findData(key);
    }
    if (groupBox_->currentIndex() != index) groupBox_->setCurrentIndex(index);  // regroups through the signal
}

QString CompareView::groupKey() const { return groupKey_; }

void CompareView::setBand(Band band) {
    const int index = band == Band::StdDev ? 1 : band == Band::None ? 2 : 0;
    if (bandBox_->currentIndex() != index) {
        bandBox_->setCurrentIndex(index);  // comes back here through the signal
        return;
    }
    if (band_ == band) return;
    band_ = band;
    rebuildPlots();
}

void CompareView::setSmoothing(double weight) {
    weight = std::clamp(weight, 0.0, 0.99);
    {
        const QSignalBlocker block(smoothingSlider_);
        smoothingSlider_->setValue(int(std::lround(weight * 100)));
    }
    smoothingValue_->setText(QString::number(weight, 'f', 2));
    if (weight == smoothing_) return;
    smoothing_ = weight;
    rebuildPlots();
}

void CompareView::setPanelMetrics(int p, const QStringList& metrics) {
    if (p < 0 || p >= kPanelCount || metrics.isEmpty() || metrics.size() > 2) return;
    if (panels_[p].metrics == metrics) return;
    panels_[p].metrics = metrics;
    fillMetricBoxes();
    rebuildPlots();
    rebuildSummaryTable();
}

QStringList CompareView::panelMetrics(int panel) const {
    return panel >= 0 && panel < kPanelCount ? panels_[panel].metrics : QStringList();
}

QComboBox* CompareView::panelMetricBox(int panel) const {
    return panel >= 0 && panel < kPanelCount ? panels_[panel].box : nullptr;
}

QCheckBox* CompareView::logScaleBox(int panel) const {
    return panel >= 0 && panel < kPanelCount ? panels_[panel].logBox : nullptr;
}

QString CompareView::statusText() const { return statusLine_->text(); }

void CompareView::rebuildConfigTable() {
    std::vector<nlohmann::json> configs;
    for (const LoadedRun& r : runs_) configs.push_back(r.config);
    configRows_ = compare::buildConfigRows(configs);

    configTable_->clear();
    configTable_->setColumnCount(int(runs_.size()) + 1);
    configTable_->setRowCount(int(configRows_.size()));
    QStringList headers{tr("Setting")};
    for (const LoadedRun& r : runs_) headers << runLabel(r.run.id);
    configTable_->setHorizontalHeaderLabels(headers);
    for (size_t c = 0; c < runs_.size(); ++c) {
        QTableWidgetItem* h = configTable_->horizontalHeaderItem(int(c) + 1);
        h->setForeground(runColor(runs_[c].run.id).darker(120));
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
    QStringList metrics;
    for (int p = 0; p < kPanelCount; ++p)
        for (const QString& m : drawnMetrics(p))
            if (!metrics.contains(m)) metrics << m;
    int row = 0;
    for (const QString& metric : metrics) {
        // Every line's numbers of this metric, then one scale for them: float noise next to
        // real values reads "0".
        struct Row {
            size_t line;
            compare::SeriesSummary s;
        };
        std::vector<Row> rows;
        double scale = 0.0;
        for (size_t l = 0; l < lines_.size(); ++l) {
            const GroupSeries g = lineSeries(lines_[l], metric, false);
            const compare::SeriesSummary s = compare::summarize(g.mean, compare::higherIsBetter(metric.toStdString()));
            if (!s.valid) continue;
            scale = std::max({scale, std::abs(s.min), std::abs(s.max)});
            rows.push_back({l, s});
        }
        for (const Row& r : rows) {
            const Line& line = lines_[r.line];
            summaryTable_->insertRow(row);
            summaryTable_->setItem(row, 0, readOnlyItem(metric));
            auto* lineItem = readOnlyItem(line.label);
            lineItem->setForeground(line.color.darker(120));
            lineItem->setData(Qt::UserRole, qlonglong(runs_[line.members.front()].run.id));
            if (line.members.size() > 1) {
                QStringList names;
                for (size_t m : line.members) names << runLabel(runs_[m].run.id);
                lineItem->setToolTip(plainToolTip(tr("Mean of %1 runs: %2").arg(line.members.size()).arg(names.join(", "))));
            }
            summaryTable_->setItem(row, 1, lineItem);
            summaryTable_->setItem(row, 2, numberItem(r.s.final, scale));
            summaryTable_->setItem(row, 3, numberItem(r.s.best, scale));
            summaryTable_->setItem(row, 4, numberItem(r.s.min, scale));
            summaryTable_->setItem(row, 5, numberItem(r.s.max, scale));
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

int CompareView::lineOfRun(int64_t runId) const {
    for (size_t l = 0; l < lines_.size(); ++l)
        for (size_t m : lines_[l].members)
            if (runs_[m].run.id == runId) return int(l);
    return -1;
}

QColor CompareView::runColor(int64_t runId) const {
    const int l = lineOfRun(runId);
    return l < 0 ? QColor() : lines_[l].color;
}

std::vector<CompareView::LineInfo> CompareView::lines() const {
    std::vector<LineInfo> out;
    for (const Line& line : lines_) {
        LineInfo info{line.label, {}, line.color};
        for (size_t m : line.members) info.runIds.push_back(runs_[m].run.id);
        out.push_back(std::move(info));
    }
    return out;
}

QCPGraph* CompareView::graph(int64_t runId, const QString& metric) const {
    const int l = lineOfRun(runId);
    if (l < 0) return nullptr;
    auto it = graphs_.find({size_t(l), metric});
    return it == graphs_.end() ? nullptr : it->second;
}

QCPGraph* CompareView::bandGraph(int64_t runId, const QString& metric, bool upper) const {
    const int l = lineOfRun(runId);
    if (l < 0) return nullptr;
    auto it = bands_.find({size_t(l), metric});
    if (it == bands_.end()) return nullptr;
    return upper ? it->second.second : it->second.first;
}

QCPGraph* CompareView::rawGraph(int64_t runId, const QString& metric) const {
    const int l = lineOfRun(runId);
    if (l < 0) return nullptr;
    auto it = raws_.find({size_t(l), metric});
    return it == raws_.end() ? nullptr : it->second;
}

int CompareView::graphCount(const QString& metric) const {
    int n = 0;
    for (const auto& [key, graph] : graphs_) n += key.second == metric ? 1 : 0;
    return n;
}

QStringList CompareView::plottedMetrics() const {
    QStringList out;
    for (int p = 0; p < kPanelCount; ++p)
        for (const QString& m : drawnMetrics(p))
            if (!out.contains(m) && graphCount(m) > 0) out << m;
    return out;
}

QCPAxisRect* CompareView::axisRect(Panel panel) const {
    return panel >= 0 && panel < kPanelCount ? panels_[panel].rect : nullptr;
}

QSize CompareView::exportSize(int width, int height) const {
    if (width > 0 && height > 0) return QSize(width, height);
    // A view that was never shown has no meaningful size yet.
    if (plot_->isVisible() && plot_->width() >= 300 && plot_->height() >= 200) return plot_->size();
    return QSize(1200, 900);
}

namespace {
QString shownPath(const QString& path) { return QDir::toNativeSeparators(QFileInfo(path).absoluteFilePath()); }
}  // namespace

bool CompareView::exportPng(const QString& path, int width, int height) {
    const QSize size = exportSize(width, height);
    const bool ok = plot_->savePng(path, size.width(), size.height());
    emit statusMessage(ok ? tr("Plot saved to %1").arg(shownPath(path)) : tr("Could not write %1").arg(shownPath(path)));
    return ok;
}

bool CompareView::exportPdf(const QString& path, int width, int height) {
    const QSize size = exportSize(width, height);
    const bool ok = plot_->savePdf(path, size.width(), size.height(), QCP::epNoCosmetic,
                                   QStringLiteral("PrefStudio"), tr("Run comparison"));
    emit statusMessage(ok ? tr("Plot saved to %1").arg(shownPath(path)) : tr("Could not write %1").arg(shownPath(path)));
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
    bool ok = painter.begin(&svg);
    if (ok) {
        plot_->toPainter(&painter, size.width(), size.height());
        ok = painter.end() && QFileInfo(path).size() > 0;
    }
    emit statusMessage(ok ? tr("Plot saved to %1").arg(shownPath(path)) : tr("Could not write %1").arg(shownPath(path)));
    return ok;
}

bool CompareView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == plot_ && event->type() == QEvent::Resize)  // before the plot lays itself out anew
        fitLegendColumns(plot_->legend, static_cast<QResizeEvent*>(event)->size().width(), kLegendColumns);
    return QWidget::eventFilter(watched, event);
}

bool CompareView::exportCsv(const QString& path) {
    QFile file(path);
    bool ok = file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text);
    if (ok) {
        QTextStream out(&file);
        out.setEncoding(QStringConverter::Utf8);
        QStringList metrics;
        for (int p = 0; p < kPanelCount; ++p)
            for (const QString& m : drawnMetrics(p))
                if (!metrics.contains(m)) metrics << m;
        const bool grouped = std::any_of(lines_.begin(), lines_.end(), [](const Line& l) { return l.members.size() > 1; });
        auto number = [](double v) { return QString::number(v, 'g', QLocale::FloatingPointShortest); };
        // Grouped: the lines as plotted (a group's mean, min, max and standard deviation over
        // its runs at each step, of the raw values), so a plotted band can be rebuilt.
        if (grouped) out << "line,run_ids,metric,step,mean,min,max,std,count\n";
        else out << "run_id,run_name,metric,step,value\n";
        for (const QString& metric : metrics) {
            if (grouped) {
                for (const Line& line : lines_) {
                    const GroupSeries g = lineSeries(line, metric, false);
                    QStringList ids;
                    for (size_t m : line.members) ids << QString::number(runs_[m].run.id);
                    const QString prefix = QString::fromStdString(compare::csvField(line.label.toStdString())) +
                                           QLatin1Char(',') + ids.join(QLatin1Char(';')) + QLatin1Char(',') +
                                           metric + QLatin1Char(',');
                    for (size_t i = 0; i < g.steps.size(); ++i)
                        out << prefix << g.steps[i] << ',' << number(g.mean[i]) << ',' << number(g.min[i]) << ','
                            << number(g.max[i]) << ',' << number(g.stddev[i]) << ',' << g.count[i] << '\n';
                }
                continue;
            }
            for (const LoadedRun& r : runs_) {
                auto it = r.series.find(metric);
                if (it == r.series.end()) continue;
                const QString prefix = QString::number(r.run.id) + QLatin1Char(',') +
                                       QString::fromStdString(compare::csvField(r.run.name)) +
                                       QLatin1Char(',') + metric + QLatin1Char(',');
                const MetricSeries& s = it->second;
                for (size_t i = 0; i < s.steps.size() && i < s.values.size(); ++i) {
                    out << prefix << s.steps[i] << ',' << number(s.values[i]) << '\n';
                }
            }
        }
        out.flush();
        file.close();
        ok = file.error() == QFile::NoError && out.status() == QTextStream::Ok;
    }
    emit statusMessage(ok ? tr("Data saved to %1").arg(shownPath(path)) : tr("Could not write %1").arg(shownPath(path)));
    return ok;
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
    if (suffix == QLatin1String("pdf")) exportPdf(path);
    else if (suffix == QLatin1String("svg")) exportSvg(path);
    else exportPng(path);
}

void CompareView::exportCsvInteractive() {
    QString path = QFileDialog::getSaveFileName(this, tr("Export data"),
                                                QStringLiteral("comparison.csv"),
                                                tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(QLatin1String(".csv"), Qt::CaseInsensitive)) path += ".csv";
    exportCsv(path);
}

}  // namespace ps::ui
