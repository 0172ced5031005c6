// The tracked pairs of a run (train.track_pairs), browsable: a table sorted by how much the
// chosen answer's log-prob fell, with each pair's CHES similarity (Razin et al. 2024, before
// training), and for the selected pair its chosen (green) and rejected (red) log-prob curves
// over the steps and its text. Fed with core's PairTrackingReport (core/diagnose/pair_tracking.h).
#pragma once
#include <QWidget>

#include "core/diagnose/pair_tracking.h"

class QCheckBox;
class QCustomPlot;
class QCPGraph;
class QLabel;
class QTableWidget;
class QTextBrowser;

namespace ps::ui {

class PairBrowser : public QWidget {
    Q_OBJECT
public:
    enum Column { kIndex = 0, kPrompt, kChosen, kRejected, kChosenChange, kChosenChangePerToken,
                  kRejectedChange, kChes, kLnChes, kColumnCount };

    explicit PairBrowser(QWidget* parent = nullptr);

    // Shows the report's pairs, the largest chosen drop first, and selects that one.
    void setReport(const PairTrackingReport& report);
    // No pairs; `why` says why (shown instead of the table's contents).
    void clear(const QString& why = QString());

    QTableWidget* table() const { return table_; }
    QCustomPlot* curvePlot() const { return plot_; }
    QCPGraph* chosenGraph() const { return chosenGraph_; }
    QCPGraph* rejectedGraph() const { return rejectedGraph_; }
    QCheckBox* perTokenBox() const { return perToken_; }
    QString summary() const;
    QString pairText() const;  // the selected pair's prompt, chosen and rejected, as plain text
    // TrackedPair::index of the selected pair; -1 when none.
    int64_t selectedPair() const;
    const PairTrackingReport& report() const { return report_; }

signals:
    void pairSelected(qint64 pairIndex);

private:
    void showSelected();

    PairTrackingReport report_;
    QLabel* summary_ = nullptr;
    QTableWidget* table_ = nullptr;
    QCustomPlot* plot_ = nullptr;
    QCPGraph* chosenGraph_ = nullptr;
    QCPGraph* rejectedGraph_ = nullptr;
    QCheckBox* perToken_ = nullptr;
    QTextBrowser* text_ = nullptr;
};

}  // namespace ps::ui
