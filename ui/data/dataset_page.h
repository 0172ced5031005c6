// The dataset page: what a preference file holds before a run starts. A summary (format,
// counts, dropped and truncated, length bias, warnings, problems with file:line), token-length
// histograms of prompts, chosen and rejected answers (QCustomPlot), and a browsable table of
// the pairs with chosen and rejected side by side; the selected pair is shown in full below,
// the parts where chosen and rejected differ highlighted. Not yet wired into the main window.
#pragma once
#include <QString>
#include <QWidget>

#include "core/data/dataset_summary.h"

class QCustomPlot;
class QLabel;
class QListWidget;
class QTableWidget;
class QTextEdit;

namespace ps::ui {

class DatasetPage : public QWidget {
    Q_OBJECT
public:
    explicit DatasetPage(QWidget* parent = nullptr);

    // Reads and summarises `path` with the byte tokenizer (synchronously: a 100 MB file takes
    // a few seconds; callers that need the GUI responsive compute summarize_dataset() on a
    // worker thread and call showSummary()). options.keep_examples bounds the table (default
    // here 2000 when it is the CLI's 3).
    void load(const QString& path, SummaryOptions options = {});
    void showSummary(const DatasetSummary& summary);
    // The data file cannot be read (a bad path): the page shows `message` instead of the last
    // summary, which no longer describes the form's file.
    void showError(const QString& message);
    const DatasetSummary& summary() const { return summary_; }

    // For tests and the main window.
    QLabel* summaryLabel() const { return summaryLabel_; }
    QCustomPlot* histogram() const { return histogram_; }
    QTableWidget* table() const { return table_; }
    QListWidget* problems() const { return problems_; }
    QTextEdit* chosenView() const { return chosenView_; }
    QTextEdit* rejectedView() const { return rejectedView_; }
    QTextEdit* promptView() const { return promptView_; }
    void selectExample(int row);

    static constexpr size_t kDefaultKeptExamples = 2000;
    static constexpr int kHistogramBins = 40;

private:
    void fillSummary();
    void fillHistogram();
    void fillTable();
    void showExample(int row);

    DatasetSummary summary_;
    QLabel* summaryLabel_ = nullptr;
    QCustomPlot* histogram_ = nullptr;
    QTableWidget* table_ = nullptr;
    QListWidget* problems_ = nullptr;
    QTextEdit* promptView_ = nullptr;
    QTextEdit* chosenView_ = nullptr;
    QTextEdit* rejectedView_ = nullptr;
};

}  // namespace ps::ui
