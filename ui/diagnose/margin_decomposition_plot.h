// Where the reward margin comes from, over the steps, as a stacked area plot (margin =
// from chosen + from rejected, core's decompose_margin): the red band is the part from the
// rejected answers falling (−rejected reward), the green band the part from the chosen answers
// rising (the chosen reward). Positive parts stack upward from 0 (red first, green on top), so
// "0.8 = 0.5 from chosen + 0.3 from rejected" reads as red up to 0.3 and green from 0.3 to 0.8;
// a part that works against the margin (chosen fell, or rejected rose) stacks downward below 0.
// The blue line is the margin itself. Rewards are smoothed like the diagnosis panel's
// (debiased EMA 0.6), with baselines 0 (DPO-style rewards, relative to the reference).
#pragma once
#include <cstdint>
#include <vector>

#include <QWidget>

#include "core/common/run_types.h"

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
    // The bands' edges: `up` = the positive side (stacked from 0 upward), else the negative side.
    // The rejected band is filled to 0; the chosen band is filled to the rejected band's edge.
    QCPGraph* rejectedBand(bool up) const { return up ? rejectedUp_ : rejectedDown_; }
    QCPGraph* chosenBand(bool up) const { return up ? chosenUp_ : chosenDown_; }
    QCPGraph* marginGraph() const { return margin_; }  // the margin line, no fill
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
    QCPGraph* rejectedUp_ = nullptr;
    QCPGraph* chosenUp_ = nullptr;
    QCPGraph* rejectedDown_ = nullptr;
    QCPGraph* chosenDown_ = nullptr;
    QCPGraph* margin_ = nullptr;
    QLabel* caption_ = nullptr;
    Ema chosen_, rejected_;
    std::vector<int64_t> steps_;
    std::vector<double> fromChosen_, fromRejectedValues_;
};

}  // namespace ps::ui
