// The live monitor: small multiples of a run's metrics over a shared step axis, fed in
// batches from the GUI thread and replotted once per drain tick.
//   rewards/chosen (green) + rewards/rejected (red) | rewards/margins
//   loss (+ sft/loss during warm-up)                | rewards/accuracies
// Eval counterparts ("eval/...") are drawn as markers on the same panels.
// Diagnosed problem stretches (regime events) are shaded behind the rewards and margin panels.
// Training curves are drawn twice (the TensorBoard way): the raw values faint, a debiased EMA
// (weight set by the smoothing slider above the plots) solid on top. Eval markers stay raw.
// Hovering any panel shows a crosshair at that step on all panels and a label with the values.
#pragma once
#include <map>
#include <memory>
#include <vector>

#include <QString>
#include <QStringList>
#include <QWidget>

#include "core/common/run_types.h"

class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QCPLegend;
class QCPRange;
class QCPItemStraightLine;
class QCPItemText;
class QCheckBox;
class QComboBox;
class QLabel;
class QMouseEvent;
class QSlider;

class QScrollArea;

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
    // Bulk path (opening a stored run): a whole series of one metric, in step order, with
    // the same result as appendMetrics of one record per step, minus the per-record cost
    // (1M stored rows: ~50 ms less). Unknown metrics are ignored; no replot.
    // `wallTimes` (seconds since the run started, same length) lets the x axis show time.
    void appendSeries(const std::string& metric, const std::vector<int64_t>& steps,
                      const std::vector<double>& values,
                      const std::vector<double>& wallTimes = {});
    // GUI thread: takes a batch of run events; "regime" changes become bands (no replot).
    void appendEvents(const std::vector<RunEvent>& events);
    // The regime bands replaced by these changes (a stored run's retrospective phases, once it
    // is diagnosed, replace the live events it was stored with). No replot.
    void replaceRegimeEvents(const std::vector<RunEvent>& events);
    // What the rewards panel's y axis says: beta x (log pi - log pi_ref) for rewards relative
    // to a reference, beta x the policy's own average log-prob for ORPO, SimPO, CPO (and
    // reference-free DPO): their level is below 0 from the start, only their change means much.
    void setRewardsRelative(bool relative);
    // Whether the chosen answers' NLL is a term of the loss (an SFT weight above 0, ORPO); the
    // legend names it "nll (SFT term)" only then (issue #19).
    void setNllInLoss(bool inLoss);
    // The name the legend gives a metric's curve (empty for an unknown metric).
    QString curveLabel(const QString& metric) const;
    // Each of the four rows of panels keeps at least this height; below it the plots scroll.
    static constexpr int kMinimumRowHeight = 170;
    QString rewardsAxisLabel() const;
    // One replot of all panels if anything changed since the last; rescales the axes first
    // unless the user has zoomed or panned.
    void refresh();
    // Follow the data again after a zoom or pan (also on double-click).
    void resetView();

    // Smoothing weight w in [0, 0.99] (TensorBoard's: last = last*w + (1-w)*y, shown as
    // last / (1 - w^n)). Recomputes every smoothed curve from the raw data and replots.
    void setSmoothing(double weight);
    double smoothing() const { return smoothing_; }
    QSlider* smoothingSlider() const { return smoothingSlider_; }
    // The smoothed curve of a training metric (null for eval metrics or unknown names), and
    // the raw one (the faint curve; the markers for eval metrics).
    QCPGraph* smoothedGraph(const QString& metric) const;
    QCPGraph* rawGraph(const QString& metric) const;
    // The debiased EMA of `values` at weight w (NaN inputs are skipped and come back NaN).
    static std::vector<double> smoothSeries(const std::vector<double>& values, double weight);

    // Crosshair at a step (what hovering does): a vertical line on every panel and a label
    // listing every plotted value at that step. hideCrosshair() removes it.
    void showCrosshairAt(double step, QCPAxisRect* labelRect = nullptr);
    void hideCrosshair();
    bool crosshairVisible() const;
    QString crosshairText() const;
    double crosshairStep() const { return crosshairStep_; }

    // Number of points plotted for a metric (e.g. "rewards/chosen"); -1 when it has no curve.
    int pointCount(const QString& metric) const;
    int totalPointCount() const;
    QStringList plottedMetrics() const;
    QCustomPlot* plot() const { return plot_; }
    bool following() const { return follow_; }
    QCPAxisRect* rewardsAxisRect() const;
    QCPAxisRect* marginAxisRect() const;
    QCPAxisRect* axisRect(int panel) const;  // see kPanels
    // The x axis: optimiser steps (SFT warm-up left of 0), or wall time since the start.
    enum class XAxis { Step, WallTime };
    void setXAxis(XAxis axis);
    XAxis xAxis() const { return xAxis_; }
    // Fit y axes to the 2nd-98th percentile of the visible points (TensorBoard's "ignore
    // outliers in chart scaling").
    void setIgnoreOutliers(bool on);
    bool ignoreOutliers() const { return ignoreOutliers_; }
    // Panel indices: 0 rewards, 1 margin, 2 loss, 3 accuracy, 4 log-probs, 5 objective terms
    // (nll, kl, log-odds), 6 grad-norm, 7 learning rate.
    static constexpr int kPanels = 8;
    // The regime bands (target 0: rewards panel, 1: margin panel).
    const RegimeBands& regimeBands() const { return *bands_; }

private:
    struct Panel {
        QCPAxisRect* rect = nullptr;
        QCPLegend* legend = nullptr;
        bool fixedUnitRange = false;  // accuracies live in [0, 1]
    };
    struct Curve {
        QCPGraph* graph = nullptr;     // raw values (faint line, or eval markers)
        QCPGraph* smoothed = nullptr;  // debiased EMA; null for eval metrics
        int panel = 0;
        QString label;
        // EMA state of the smoothed curve, so live batches append incrementally.
        double ema = 0.0;
        int emaCount = 0;
        double emaPow = 1.0;  // weight^emaCount, for the debiasing (no pow per point)
        // Big series (more than kDecimateAbove points): the full graphs above are hidden and
        // these draw a per-pixel-column min/max envelope of the visible range instead (see
        // updateDecimation). Created lazily; null while the series is small.
        QCPGraph* graphView = nullptr;
        QCPGraph* smoothedView = nullptr;
    };
    // The cache key of a decimated view: redone when the range, width or data changes.
    struct ViewKey {
        double lower = 0, upper = 0;
        int width = 0;
        quint64 version = 0;
        bool operator==(const ViewKey& o) const {
            return lower == o.lower && upper == o.upper && width == o.width && version == o.version;
        }
    };

    void buildPanels();
    void addCurve(int panel, const QString& metric, const QString& label);
    void rebuildLegend(int panelIndex);
    void syncStepAxes(const QCPRange& range);
    void applyFollowRanges();
    void resmooth(Curve& curve);
    // Appends points (keys in the curve's x) to a curve and its smoothed curve.
    void appendToCurve(Curve& curve, const QVector<double>& keys, const QVector<double>& values);
    // Before each replot: refreshes the decimated views of big series (cheap when nothing
    // changed). QCustomPlot's adaptive sampling visits every point of the visible range on
    // every replot; with 1M-point series that alone costs ~6 ms per graph.
    void updateDecimation();
    void decimate(QCPGraph* full, QCPGraph*& view, int panel);
    void onMouseMove(QMouseEvent* event);
    // (x on the step axis, seconds) of every step seen, for the wall-time axis.
    void recordTime(double stepX, double seconds);
    const std::vector<std::pair<double, double>>& stepTimes();
    double timeAtStep(double stepX);
    double stepAtTime(double seconds);
    bool fitIgnoringOutliers(const Panel& panel, const QCPRange& xRange, QCPRange* out) const;
    bool eventFilter(QObject* watched, QEvent* event) override;
    // The width a panel's legend row has in a plot `plotWidth` pixels wide.
    static int legendWidth(int plotWidth);
    void changeEvent(QEvent* event) override;
    void applyTheme();  // plot colours from the palette (light or dark)

    QCustomPlot* plot_ = nullptr;
    QScrollArea* plotScroll_ = nullptr;
    std::vector<Panel> panels_;
    std::unique_ptr<RegimeBands> bands_;
    std::map<QString, Curve> curves_;  // by metric name
    std::map<std::string, Curve*> curvesByStdName_;  // the same, for the batch path
    std::map<QCPGraph*, ViewKey> viewKeys_;          // by full graph
    // Per block of kBlock points of a big full graph: the index of its lowest and highest
    // value, so a pan or zoom re-decimates in O(columns x points per column / kBlock).
    struct Blocks {
        quint64 version = 0;
        std::vector<int> low, high;
    };
    std::map<QCPGraph*, Blocks> blocks_;
    quint64 dataVersion_ = 1;                        // bumped on every data change
    QStringList curveOrder_;           // definition order, for legends
    int sftSteps_ = 0;
    int trainSteps_ = 0;
    double minStep_ = 0.0;
    double maxStep_ = 0.0;
    bool follow_ = true;
    bool syncingAxes_ = false;
    bool dirty_ = true;  // data or frame changed since the last replot
    double smoothing_ = 0.6;
    XAxis xAxis_ = XAxis::Step;
    bool ignoreOutliers_ = false;
    std::vector<std::pair<double, double>> stepTimes_;
    bool stepTimesSorted_ = true;
    QComboBox* xAxisBox_ = nullptr;
    QCheckBox* outliersBox_ = nullptr;
    QSlider* smoothingSlider_ = nullptr;
    QLabel* smoothingValue_ = nullptr;
    std::vector<QCPItemStraightLine*> crosshairLines_;  // one per panel
    QCPItemText* crosshairLabel_ = nullptr;
    double crosshairStep_ = 0.0;
};

}  // namespace ps::ui
