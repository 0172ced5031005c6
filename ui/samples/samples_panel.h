// The Samples panel: what a model answers, before and after training, side by side. For a
// stored run it takes the run's resolved config: "before" is model.source (built with the
// run's seed, so a built-in model gets the very weights the run started from), "after" the
// trained policy the run saved (the trainer's "save_dir" event). Prompts are the first N eval
// prompts of the run's data, rendered and tokenized as the run did, plus typed ones (rendered
// with the run's chat template as one user turn). Generation runs on the panel's own worker
// thread, one prompt batch at a time, with progress and Cancel; the GUI thread only sees text.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QWidget>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/data/data_pipeline.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace ps {
class RunStore;
struct StoredRun;
}  // namespace ps

namespace ps::ui {

// Where a stored run's trained weights are, or why there are none (one sentence that says how
// to get them).
struct TrainedWeights {
    QString dir;      // a directory with config.json and model.safetensors; empty when none
    QString problem;  // why there are none
};
TrainedWeights trainedWeightsOf(const StoredRun& run, const std::vector<RunEvent>& events);

class SamplesPanel : public QWidget {
    Q_OBJECT
public:
    // The expected column: the data's chosen answer for the prompt (empty for typed prompts).
    enum Column { PromptColumn = 0, ExpectedColumn = 1, BeforeColumn = 2, AfterColumn = 3 };

    explicit SamplesPanel(QWidget* parent = nullptr);
    ~SamplesPanel() override;  // cancels and waits for a generation in flight

    void setStore(std::shared_ptr<RunStore> store);
    // Compares model.source with the trained weights of this stored run (0 = none). A run not
    // in the store, still running or without saved weights leaves "after" empty and says why.
    void showRun(int64_t runId);
    // No run: "before" only, for the experiment in the form.
    void showExperiment(const RunConfig& config);
    int64_t runId() const { return runId_; }

    // Replaces the prompts with the first `count` eval prompts of the current data (read on
    // the worker thread; promptsLoaded() follows).
    void loadEvalPrompts(int count);
    // Typed prompts (rendered with the chat template when generated).
    void setPrompts(const QStringList& prompts);
    void addPrompt(const QString& text);
    QStringList prompts() const;

    struct Settings {
        int max_new_tokens = 32;
        double temperature = 0.0;  // 0 = greedy
        double top_p = 1.0;
        int top_k = 0;
        qint64 seed = 0;
    };
    Settings settings() const;
    void setSettings(const Settings& settings);

    // Starts generating "before" and, when the run has weights, "after" for every prompt.
    // False (with the reason in the status line) when busy, without prompts or without a model.
    bool generate();
    void cancel();
    bool isBusy() const { return job_ != nullptr; }

    QString beforeText(int row) const;
    QString afterText(int row) const;
    QString statusText() const;
    QString afterExplanation() const { return afterProblem_; }
    QString trainedDir() const { return trainedDir_; }

    QTableWidget* table() const { return table_; }
    QPushButton* generateButton() const { return generateButton_; }
    QPushButton* cancelButton() const { return cancelButton_; }
    QProgressBar* progressBar() const { return progress_; }

signals:
    void promptsLoaded(int count);
    // After the last batch, on error, or after a cancel.
    void generationFinished(bool completed);

private:
    struct Row {
        SamplePrompt prompt;
        bool fromData = false;  // ids as the run tokenized them; false once edited or typed
    };
    struct Job;
    void setConfig(const std::optional<RunConfig>& config, const QString& trainedDir, const QString& afterProblem,
                   const QString& afterTitle);
    void setRows(std::vector<Row> rows);
    void appendRow(Row row);
    void onPromptEdited(int row, int column);
    void clearAnswers();
    void updateHeader();
    void updateState();
    void setStatus(const QString& text);
    void onAnswers(int column, int firstRow, const QStringList& answers, const QStringList& reasons);
    void onJobEnded(bool completed, const QString& error);

    std::shared_ptr<RunStore> store_;
    int64_t runId_ = 0;
    std::optional<RunConfig> config_;
    QString templateName_;
    QString trainedDir_;
    QString afterProblem_;
    QString afterTitle_;
    std::vector<Row> rows_;
    bool filling_ = false;

    QThreadPool pool_;  // one worker: generations run one after another, and the destructor waits
    std::shared_ptr<Job> job_;
    bool loadingPrompts_ = false;

    QLabel* sourceLabel_ = nullptr;
    QLabel* statusLabel_ = nullptr;
    QSpinBox* promptCount_ = nullptr;
    QPushButton* loadButton_ = nullptr;
    QPushButton* addButton_ = nullptr;
    QPushButton* removeButton_ = nullptr;
    QSpinBox* maxTokens_ = nullptr;
    QComboBox* decoding_ = nullptr;
    QDoubleSpinBox* temperature_ = nullptr;
    QDoubleSpinBox* topP_ = nullptr;
    QSpinBox* topK_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QPushButton* generateButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QTableWidget* table_ = nullptr;
};

}  // namespace ps::ui
