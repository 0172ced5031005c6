// The run comparison view: several stored runs side by side.
//   - plots: four panels, each showing a metric the user picks from every metric the runs
//     logged (or a chosen/rejected pair: chosen solid, rejected dashed), eval counterparts as
//     markers, a log-scale toggle per panel (refused, with the reason, for values <= 0);
//   - runs whose configs differ only in a chosen key (`seed` by default; core/store/run_groups.h)
//     are one line: the mean at each step over the runs that logged it, with a min-max or
//     mean +/- standard deviation band; the legend names the group and its size
//     ("beta=0.1 (3 seeds)"); one colour per line;
//   - smoothing: the live monitor's debiased EMA, applied to each run before the mean; a single
//     run's raw values stay faint behind;
//   - x aligned "by step" or "by fraction of training" (step / the line's last training step);
//   - the resolved configs as a table (rows: flattened keys, columns: runs), by default only
//     the keys where runs differ (W&B / MLflow "diff only");
//   - a summary table: final, best, min, max of each plotted metric per line (raw values);
//   - export of the plots (PNG, SVG, PDF) and of the plotted data (long-form CSV); the view's
//     status line says where each export went.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <QString>
#include <QStringList>
#include <QWidget>

#include "ui/compare/config_diff.h"
#include "core/store/run_groups.h"
#include "core/store/run_store.h"

class QCheckBox;
class QComboBox;
class QSlider;
class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCPTextElement;
class QLabel;
class QTableWidget;
class QToolButton;

namespace ps::ui {

class CompareView : public QWidget {
    Q_OBJECT
public:
    enum class Alignment { ByStep, ByFraction };
    enum class Band { MinMax, StdDev, None };
    // The panels, named after their default metric (the user may pick any).
    enum Panel { kRewardsPanel = 0, kMarginPanel, kLossPanel, kAccuracyPanel, kPanelCount };

    explicit CompareView(QWidget* parent = nullptr);
    ~CompareView() override;

    // Loads the runs (in this order; unknown ids are skipped and reported in the header line)
    // with their metrics, on the calling (GUI) thread, and rebuilds plots and tables.
    // Throws nothing: a store error is shown in the header line and leaves the view empty.
    void setRuns(std::shared_ptr<RunStore> store, std::vector<int64_t> runIds);
    void clear();

    void setAlignment(Alignment alignment);
    Alignment alignment() const { return alignment_; }
    void setDifferencesOnly(bool on);
    bool differencesOnly() const;

    // Grouping: runs whose configs differ only in `key` (a flattened key: "seed",
    // "objective.beta") are one line; "" draws one line per run.
    void setGroupKey(const QString& key);
    QString groupKey() const;
    void setBand(Band band);
    Band band() const { return band_; }
    // Smoothing weight w in [0, 0.99], the live monitor's (LiveMonitor::smoothSeries).
    void setSmoothing(double weight);
    double smoothing() const { return smoothing_; }

    // Every metric any compared run logged, sorted (eval/ and sft/ names included).
    QStringList availableMetrics() const { return metricNames_; }
    // What a panel shows: one metric, or two drawn solid and dashed in one colour (a
    // chosen/rejected pair); each with its eval/ counterpart as markers when logged.
    void setPanelMetrics(int panel, const QStringList& metrics);
    QStringList panelMetrics(int panel) const;
    // Log y axis on a panel. Refused (returns false, axis stays linear, the status line says
    // why) while the panel shows a value <= 0; a later change that brings one turns it off.
    bool setLogScale(int panel, bool on);
    bool logScale(int panel) const;

    // Exports. Width/height 0: the plot's current size, or 1200 x 900 while it is not laid out.
    bool exportPng(const QString& path, int width = 0, int height = 0);
    bool exportPdf(const QString& path, int width = 0, int height = 0);
    bool exportSvg(const QString& path, int width = 0, int height = 0);
    // Long form, one line per point of every plotted metric (train and eval) of every run,
    // raw values and steps:
    //   run_id,run_name,metric,step,value
    // While some line groups several runs: one line per step of every plotted line, over the
    // raw values of its runs (run_ids joined with ';'; std is the population deviation):
    //   line,run_ids,metric,step,mean,min,max,std,count
    bool exportCsv(const QString& path);
    // The view's own status line (it is a window of its own): exports written, log scale
    // refused, load errors.
    QString statusText() const;

    // --- for tests and the lead's wiring ---
    std::vector<int64_t> runIds() const;
    QString runLabel(int64_t runId) const;  // "#12 dpo-beta0.1"
    QColor runColor(int64_t runId) const;  // its line's colour
    // The lines drawn: a group of runs (or one run) each.
    struct LineInfo {
        QString label;                // the legend's text
        std::vector<int64_t> runIds;  // in the order of setRuns
        QColor color;
    };
    std::vector<LineInfo> lines() const;
    // The graph of the line holding a run, for a metric ("rewards/chosen", "eval/loss", ...):
    // the run's (smoothed) values, or its group's mean; nullptr when not plotted.
    QCPGraph* graph(int64_t runId, const QString& metric) const;
    // The band around a group's line (lower or upper edge); nullptr for a one-run line, eval
    // markers or Band::None.
    QCPGraph* bandGraph(int64_t runId, const QString& metric, bool upper) const;
    // A one-run line's raw values, drawn faint behind the smoothed line while smoothing > 0.
    QCPGraph* rawGraph(int64_t runId, const QString& metric) const;
    // Lines drawn for a metric.
    int graphCount(const QString& metric) const;
    QStringList plottedMetrics() const;  // metrics with at least one graph, in panel order
    QCustomPlot* plot() const { return plot_; }
    QCPAxisRect* axisRect(Panel panel) const;
    QTableWidget* configTable() const { return configTable_; }
    QStringList visibleConfigKeys() const;  // keys of the rows not hidden by "Differences only"
    QTableWidget* summaryTable() const { return summaryTable_; }
    std::optional<compare::SeriesSummary> summary(int64_t runId, const QString& metric) const;
    QComboBox* alignmentBox() const { return alignBox_; }
    QCheckBox* differencesOnlyBox() const { return diffOnlyBox_; }
    QComboBox* groupBox() const { return groupBox_; }
    QComboBox* bandBox() const { return bandBox_; }
    QSlider* smoothingSlider() const { return smoothingSlider_; }
    QComboBox* panelMetricBox(int panel) const;
    QCheckBox* logScaleBox(int panel) const;

signals:
    // A message for the status bar (exports written, load errors).
    void statusMessage(const QString& text);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct LoadedRun {
        StoredRun run;
        nlohmann::json config;                   // resolved (or as given)
        std::map<QString, MetricSeries> series;  // every logged metric with a point
        double lastStep = 1.0;                   // last training step, for "by fraction"
    };
    struct Line {
        std::vector<size_t> members;  // indices into runs_
        QString label;
        QColor color;
        double lastStep = 1.0;        // the members' largest
    };
    struct PanelState {
        QStringList metrics;
        bool log = false;
        QComboBox* box = nullptr;
        QCheckBox* logBox = nullptr;
        QCPAxisRect* rect = nullptr;
        QCPTextElement* title = nullptr;
        QCPItemText* empty = nullptr;
        QCPItemStraightLine* zero = nullptr;
    };
    using GraphKey = std::pair<size_t, QString>;  // (line, metric)

    void buildPlotLayout();
    void changeEvent(QEvent* event) override;
    void showEvent(QShowEvent* event) override;
    void fillMetricBoxes();
    void fillGroupBox();
    void regroup();
    void rebuildPlots();
    // A line's series for a metric: members smoothed (training metrics, when smoothing > 0),
    // then aggregated on the step.
    GroupSeries lineSeries(const Line& line, const QString& metric, bool smooth) const;
    // Metrics a panel draws: its choice and the eval counterparts the runs logged.
    QStringList drawnMetrics(int panel) const;
    double panelMinValue(int panel) const;
    void applyScale(int panel);
    void updatePanelDecor(int panel);
    void rescale();
    void rebuildConfigTable();
    void applyDifferencesFilter();
    void rebuildSummaryTable();
    void updateHeader();
    void exportPlotInteractive();
    void exportCsvInteractive();
    QSize exportSize(int width, int height) const;
    int lineOfRun(int64_t runId) const;

    QCustomPlot* plot_ = nullptr;
    std::vector<PanelState> panels_;
    QLabel* header_ = nullptr;
    QLabel* statusLine_ = nullptr;
    QComboBox* alignBox_ = nullptr;
    QComboBox* groupBox_ = nullptr;
    QComboBox* bandBox_ = nullptr;
    QSlider* smoothingSlider_ = nullptr;
    QLabel* smoothingValue_ = nullptr;
    QToolButton* exportPlotButton_ = nullptr;
    QToolButton* exportCsvButton_ = nullptr;
    QCheckBox* diffOnlyBox_ = nullptr;
    QLabel* diffCount_ = nullptr;
    QTableWidget* configTable_ = nullptr;
    QTableWidget* summaryTable_ = nullptr;

    std::shared_ptr<RunStore> store_;
    std::vector<LoadedRun> runs_;
    std::vector<Line> lines_;
    QStringList metricNames_;
    QStringList missing_;
    std::vector<compare::ConfigRow> configRows_;
    std::map<GraphKey, QCPGraph*> graphs_;
    std::map<GraphKey, std::pair<QCPGraph*, QCPGraph*>> bands_;
    std::map<GraphKey, QCPGraph*> raws_;
    Alignment alignment_ = Alignment::ByStep;
    Band band_ = Band::MinMax;
    QString groupKey_ = QStringLiteral("seed");
    double smoothing_ = 0.6;  // TensorBoard's default, as the live monitor's
    bool anyRagged_ = false;
    bool syncingAxes_ = false;
    bool fittedToScreen_ = false;
};

}  // namespace ps::ui
