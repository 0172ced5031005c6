// The live monitor: small multiples of a run's metrics over a shared step axis, fed in
// batches from the GUI thread and replotted once per drain tick.
//   rewards/chosen (green) + rewards/rejected (red) | rewards/margins
//   loss (+ sft/loss during warm-up)                | rewards/accuracies
// Eval counterparts ("eval/...") are drawn as markers on the same panels.
// Diagnosed problem stretches (regime events) are shaded behind the rewards and margin panels.
#pragma once
#include <map>
#include <memory>
#include <vector>

#include <QString>
#include <QStringList>
#include <QWidget>

#include "common/run_types.h"

class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QCPLegend;
class QCPRange;

namespace ps::ui {

class RegimeBands;

class LiveMonitor : public QWidget {
    Q_OBJECT
public:
    explicit LiveMonitor(QWidget* parent = nullptr);
    ~LiveMonitor() override;

    // Clears every curve and sets the step axis up for a run of this shape. SFT warm-up steps
    // are drawn at step - sftSteps, i.e. left of 0, so warm-up and training share one axis.
    void beginRun(int sftSteps, int trainSteps);
    void clear();
    // Frames the step axis for a run of this shape while nothing is plotted yet.
    void setPlannedSteps(int sftSteps, int trainSteps);
    // GUI thread: appends a batch of drained metrics (no replot).
    void appendMetrics(const std::vector<StepMetrics>& batch);
    // GUI thread: takes a batch of run events; "regime" changes become bands (no replot).
    void appendEvents(const std::vector<RunEvent>& events);
    // One replot of all panels if anything changed since the last; rescales the axes first
    // unless the user has zoomed or panned.
    void refresh();
    // Follow the data again after a zoom or pan (also on double-click).
    void resetView();

    // Number of points plotted for a metric (e.g. "rewards/chosen"); -1 when it has no curve.
    int pointCount(const QString& metric) const;
    int totalPointCount() const;
    QStringList plottedMetrics() const;
    QCustomPlot* plot() const { return plot_; }
    bool following() const { return follow_; }
    QCPAxisRect* rewardsAxisRect() const;
    QCPAxisRect* marginAxisRect() const;
    // The regime bands (target 0: rewards panel, 1: margin panel).
    const RegimeBands& regimeBands() const { return *bands_; }

private:
    struct Panel {
        QCPAxisRect* rect = nullptr;
        QCPLegend* legend = nullptr;
        bool fixedUnitRange = false;  // accuracies live in [0, 1]
    };
    struct Curve {
        QCPGraph* graph = nullptr;
        int panel = 0;
    };

    void buildPanels();
    void addCurve(int panel, const QString& metric, const QString& label);
    void rebuildLegend(int panelIndex);
    void syncStepAxes(const QCPRange& range);
    void applyFollowRanges();

    QCustomPlot* plot_ = nullptr;
    std::vector<Panel> panels_;
    std::unique_ptr<RegimeBands> bands_;
    std::map<QString, Curve> curves_;  // by metric name
    QStringList curveOrder_;           // definition order, for legends
    int sftSteps_ = 0;
    int trainSteps_ = 0;
    double minStep_ = 0.0;
    double maxStep_ = 0.0;
    bool follow_ = true;
    bool syncingAxes_ = false;
    bool dirty_ = true;  // data or frame changed since the last replot
};

}  // namespace ps::ui
