// The run comparison view: several stored runs side by side.
//   - plots, one panel per metric (rewards chosen+rejected | margins / loss | accuracies), one
//     colour per run, chosen solid, rejected dashed, eval counterparts as markers, one legend
//     naming the runs ("#id name");
//   - x aligned "by step" or "by fraction of training" (step / the run's last training step);
//   - the resolved configs as a table (rows: flattened keys, columns: runs), by default only
//     the keys where runs differ (W&B / MLflow "diff only");
//   - a summary table: final, best, min, max of each plotted metric per run;
//   - export of the plots (PNG, PDF) and of the plotted data (long-form CSV).
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
#include "core/store/run_store.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QCPItemText;
class QLabel;
class QTableWidget;
class QToolButton;

namespace ps::ui {

class CompareView : public QWidget {
    Q_OBJECT
public:
    enum class Alignment { ByStep, ByFraction };
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

    // Exports. Width/height 0: the plot's current size, or 1200 x 900 while it is not laid out.
    bool exportPng(const QString& path, int width = 0, int height = 0);
    bool exportPdf(const QString& path, int width = 0, int height = 0);
    bool exportSvg(const QString& path, int width = 0, int height = 0);
    // Long form, one line per point of every plotted metric (train and eval), raw steps:
    //   run_id,run_name,metric,step,value
    bool exportCsv(const QString& path) const;

    // --- for tests and the lead's wiring ---
    std::vector<int64_t> runIds() const;
    QString runLabel(int64_t runId) const;  // "#12 dpo-beta0.1"
    QColor runColor(int64_t runId) const;
    // The graph of a run's metric ("rewards/chosen", "eval/loss", ...); nullptr when that run
    // has no such series.
    QCPGraph* graph(int64_t runId, const QString& metric) const;
    // Graphs drawn for a metric, one per run that has it.
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

signals:
    // A message for the status bar (exports written, load errors).
    void statusMessage(const QString& text);

private:
    struct LoadedRun {
        StoredRun run;
        std::map<QString, MetricSeries> series;  // only the metrics the view plots
        double lastStep = 1.0;                   // last training step, for "by fraction"
        QColor color;
    };

    void buildPlotLayout();
    void changeEvent(QEvent* event) override;
    void rebuildPlots();
    void updateEmptyLabels();  // "no data" on panels none of the runs has a curve for
    void applyXData();  // (re)computes x from steps for the current alignment and rescales
    void rescale();
    void rebuildConfigTable();
    void applyDifferencesFilter();
    void rebuildSummaryTable();
    void exportPlotInteractive();
    void exportCsvInteractive();
    QSize exportSize(int width, int height) const;

    QCustomPlot* plot_ = nullptr;
    std::vector<QCPAxisRect*> rects_;
    std::vector<QCPItemText*> emptyLabels_;
    QLabel* header_ = nullptr;
    QComboBox* alignBox_ = nullptr;
    QToolButton* exportPlotButton_ = nullptr;
    QToolButton* exportCsvButton_ = nullptr;
    QCheckBox* diffOnlyBox_ = nullptr;
    QLabel* diffCount_ = nullptr;
    QTableWidget* configTable_ = nullptr;
    QTableWidget* summaryTable_ = nullptr;

    std::shared_ptr<RunStore> store_;
    std::vector<LoadedRun> runs_;
    std::vector<compare::ConfigRow> configRows_;
    // (run index, metric) -> graph
    std::map<std::pair<size_t, QString>, QCPGraph*> graphs_;
    Alignment alignment_ = Alignment::ByStep;
    bool syncingAxes_ = false;
};

}  // namespace ps::ui
