// Where the reward margin comes from, over the steps, as a stacked area plot: the red band is
// the part from the rejected answers falling (−rejected reward), the green band stacked on it the
// part from the chosen answers rising (the chosen reward), so the top edge is the margin:
// "0.8 = 0.5 from chosen + 0.3 from rejected". A band below its base means that side moved the
// wrong way (chosen fell, or rejected rose). Rewards are smoothed like the diagnosis panel's
// (debiased EMA 0.6) and split with core's decompose_margin (baselines 0: DPO-style rewards).
#pragma once
#include <cstdint>
#include <vector>

#include <QWidget>

#include "common/run_types.h"

class QCustomPlot;
class QCPGraph;
class QLabel;

namespace ps::ui {

class MarginDecompositionPlot : public QWidget {
    Q_OBJECT
public:
    static constexpr double kSmoothing = 0.6;

    explicit MarginDecompositionPlot(QWidget* parent = nullptr);

    void clear();
    // Records with "rewards/chosen" and "rewards/rejected" (training records) add a point each.
    // Replots (queued) when something was added.
    void appendMetrics(const std::vector<StepMetrics>& batch);

    QCustomPlot* plot() const { return plot_; }
    QCPGraph* fromRejectedGraph() const { return fromRejected_; }  // −rejected, filled to 0
    QCPGraph* marginGraph() const { return margin_; }  // chosen − rejected, filled down to the above
    size_t points() const { return steps_.size(); }
    // The last point's split, for the caption and tests (NaN before any point).
    double lastFromChosen() const;
    double lastFromRejected() const;
    QString caption() const;

private:
    struct Ema {
        double value = 0.0;
        int64_t count = 0;
        void add(double y);
        double get() const;
    };
    void updateCaption();

    QCustomPlot* plot_ = nullptr;
    QCPGraph* fromRejected_ = nullptr;
    QCPGraph* margin_ = nullptr;
    QLabel* caption_ = nullptr;
    Ema chosen_, rejected_;
    std::vector<int64_t> steps_;
    std::vector<double> fromChosen_, fromRejectedValues_;
};

}  // namespace ps::ui
