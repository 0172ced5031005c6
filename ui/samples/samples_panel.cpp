#include "ui/samples/samples_panel.h"

#include "ui/common/format.h"

#include <algorithm>
#include <filesystem>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMetaObject>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/model/source_tokenizer.h"
#include "core/model/text_generator.h"
#include "core/store/run_record.h"
#include "core/store/run_store.h"
#include "core/text/chat_template.h"

namespace ps::ui {
namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

bool isBuiltin(const std::string& source) { return source.rfind("builtin:", 0) == 0; }

// Prompts per generate call: small enough for steady progress, big enough to use the batch.
constexpr size_t kBatch = 4;

}  // namespace

TrainedWeights trainedWeightsOf(const StoredRun& run, const std::vector<RunEvent>& events) {
    TrainedWeights w;
    if (const std::optional<std::string> saved = saved_model_dir_of(events)) {
        const QString dir = q(*saved);
        if (QFileInfo::exists(dir + "/config.json")) {
            w.dir = dir;
        } else {
            w.problem = QObject::tr("The run saved its trained model to %1, but it is not there any more.").arg(dir);
        }
        return w;
    }
    std::string source = run.model;
    if (run.resolved_config.is_object() && run.resolved_config.contains("model") &&
        run.resolved_config["model"].contains("source") && run.resolved_config["model"]["source"].is_string())
        source = run.resolved_config["model"]["source"].get<std::string>();
    switch (run.status) {
        case RunStatus::Created:
        case RunStatus::Running:
        case RunStatus::Paused:
            w.problem = QObject::tr("The run is not finished: its trained model is saved when it completes.");
            break;
        case RunStatus::Stopped:
        case RunStatus::Failed:
        case RunStatus::Interrupted:
            w.problem = QObject::tr("The run %1 before the end, so it saved no trained model (a run saves it when it "
                                    "completes).")
                            .arg(run.status == RunStatus::Stopped       ? QObject::tr("was stopped")
                                 : run.status == RunStatus::Interrupted ? QObject::tr("was interrupted")
                                                                        : QObject::tr("failed"));
            break;
        default:
            w.problem = isBuiltin(source)
                            ? QObject::tr("This run saved no trained model: it ran without train.save_dir (from the "
                                          "command line, or before the studio kept built-in models' weights). Run it "
                                          "again from the studio, or set train.save_dir.")
                            : QObject::tr("This run saved no trained model: runs of Hugging Face models keep their "
                                          "weights only when train.save_dir is set (they can take gigabytes). Set "
                                          "train.save_dir in the experiment and run it again.");
    }
    return w;
}

struct SamplesPanel::Job {
    std::atomic<bool> cancel{false};
};

SamplesPanel::SamplesPanel(QWidget* parent) : QWidget(parent) {
    pool_.setMaxThreadCount(1);

    sourceLabel_ = new QLabel;
    sourceLabel_->setWordWrap(true);
    sourceLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    statusLabel_ = new QLabel;
    statusLabel_->setTextFormat(Qt::PlainText);
    statusLabel_->setWordWrap(true);

    promptCount_ = new QSpinBox;
    promptCount_->setRange(1, 64);
    promptCount_->setValue(4);
    promptCount_->setToolTip(tr("How many eval prompts of the run's data to load"));
    loadButton_ = new QPushButton(tr("Load eval prompts"));
    loadButton_->setToolTip(tr("The first eval prompts of the data, rendered and tokenized as the run does"));
    addButton_ = new QPushButton(tr("Add prompt"));
    addButton_->setToolTip(tr("Type a prompt of your own: it is rendered with the run's chat template as one user turn"));
    removeButton_ = new QPushButton(tr("Remove"));

    maxTokens_ = new QSpinBox;
    maxTokens_->setRange(1, 4096);
    maxTokens_->setValue(32);
    decoding_ = new QComboBox;
    decoding_->addItem(tr("Greedy"));
    decoding_->addItem(tr("Sample"));
    temperature_ = new QDoubleSpinBox;
    temperature_->setRange(0.01, 5.0);
    temperature_->setSingleStep(0.1);
    temperature_->setValue(0.7);
    topP_ = new QDoubleSpinBox;
    topP_->setRange(0.01, 1.0);
    topP_->setSingleStep(0.05);
    topP_->setValue(1.0);
    topK_ = new QSpinBox;
    topK_->setRange(0, 100000);
    topK_->setSpecialValueText(tr("off"));
    seed_ = new QSpinBox;
    seed_->setRange(0, 1000000000);
    generateButton_ = new QPushButton(tr("Generate"));
    generateButton_->setToolTip(tr("Answer every prompt with the model before and after training"));
    cancelButton_ = new QPushButton(tr("Cancel"));
    progress_ = new QProgressBar;
    progress_->setTextVisible(true);
    progress_->setFormat(tr("%v / %m answers"));
    // Room for the longest text, so the layout never squeezes it onto two lines.
    progress_->setMinimumWidth(progress_->fontMetrics().horizontalAdvance(tr("000 / 000 answers")) + 48);
    progress_->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);

    auto* promptsRow = new QHBoxLayout;
    promptsRow->addWidget(new QLabel(tr("Prompts:")));
    promptsRow->addWidget(promptCount_);
    promptsRow->addWidget(loadButton_);
    promptsRow->addWidget(addButton_);
    promptsRow->addWidget(removeButton_);
    promptsRow->addStretch(1);

    auto* settingsRow = new QHBoxLayout;
    const auto labelled = [&](const QString& text, QWidget* w) {
        auto* l = new QLabel(text);
        l->setBuddy(w);
        settingsRow->addWidget(l);
        settingsRow->addWidget(w);
    };
    labelled(tr("Max new tokens"), maxTokens_);
    labelled(tr("Decoding"), decoding_);
    labelled(tr("Temperature"), temperature_);
    labelled(tr("Top-p"), topP_);
    labelled(tr("Top-k"), topK_);
    labelled(tr("Seed"), seed_);
    settingsRow->addStretch(1);
    settingsRow->addWidget(generateButton_);
    settingsRow->addWidget(cancelButton_);
    settingsRow->addWidget(progress_);

    table_ = new QTableWidget(0, 4);
    table_->setHorizontalHeaderLabels({tr("Prompt"), tr("Expected (chosen)"), tr("Before training"), tr("After training")});
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->setWordWrap(true);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                            QAbstractItemView::AnyKeyPressed);
    table_->setAlternatingRowColors(true);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(sourceLabel_);
    layout->addLayout(promptsRow);
    layout->addLayout(settingsRow);
    layout->addWidget(statusLabel_);
    layout->addWidget(table_, 1);

    connect(loadButton_, &QPushButton::clicked, this, [this] { loadEvalPrompts(promptCount_->value()); });
    connect(addButton_, &QPushButton::clicked, this, [this] {
        addPrompt(QString());
        table_->setCurrentCell(table_->rowCount() - 1, PromptColumn);
        table_->editItem(table_->item(table_->rowCount() - 1, PromptColumn));
    });
    connect(removeButton_, &QPushButton::clicked, this, [this] {
        std::vector<int> selected;
        for (const QModelIndex& i : table_->selectionModel()->selectedRows()) selected.push_back(i.row());
        std::sort(selected.rbegin(), selected.rend());
        for (int r : selected) {
            rows_.erase(rows_.begin() + r);
            table_->removeRow(r);
        }
        updateState();
    });
    connect(decoding_, &QComboBox::currentIndexChanged, this, [this] { updateState(); });
    connect(generateButton_, &QPushButton::clicked, this, [this] { generate(); });
    connect(cancelButton_, &QPushButton::clicked, this, &SamplesPanel::cancel);
    connect(table_, &QTableWidget::cellChanged, this, &SamplesPanel::onPromptEdited);
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] { updateState(); });

    updateHeader();
    updateState();
    setStatus(tr("Select a completed run in the Runs tab, load its eval prompts or add your own, and press Generate."));
}

SamplesPanel::~SamplesPanel() {
    if (job_) job_->cancel = true;
    pool_.waitForDone();
}

void SamplesPanel::setStore(std::shared_ptr<RunStore> store) {
    store_ = std::move(store);
    runId_ = 0;
    setConfig(std::nullopt, QString(), tr("Select a completed run in the Runs tab."), QString());
}

void SamplesPanel::showRun(int64_t runId) {
    if (!store_ || runId <= 0) {
        runId_ = 0;
        setConfig(std::nullopt, QString(), tr("Select a completed run in the Runs tab."), QString());
        return;
    }
    std::optional<StoredRun> run;
    std::vector<RunEvent> events;
    try {
        run = store_->find_run(runId);
        if (run) events = store_->load_events(runId);
    } catch (const std::exception& e) {
        setStatus(tr("Cannot read run %1: %2").arg(runId).arg(q(e.what())));
        return;
    }
    if (!run) {
        runId_ = 0;
        setConfig(std::nullopt, QString(), tr("Run %1 is not in the store.").arg(runId), QString());
        return;
    }
    if (run->imported()) {
        runId_ = runId;
        setConfig(std::nullopt, QString(),
                  tr("Samples are not available for run %1: it was imported from another tool (%2), and answering "
                     "prompts needs its model, which stays with that tool.")
                      .arg(runId)
                      .arg(q(run->source_format)),
                  tr("run %1 '%2'").arg(runId).arg(q(run->name)));
        return;
    }
    std::optional<RunConfig> config;
    for (const nlohmann::json* j : {&run->resolved_config, &run->config}) {
        try {
            config = RunConfig::from_json(*j);
            break;
        } catch (const std::exception&) {
        }
    }
    const TrainedWeights weights = trainedWeightsOf(*run, events);
    const QString title = tr("run %1 '%2'").arg(runId).arg(q(run->name));
    // The same run with the same weights: keep the prompts and answers on screen.
    if (runId == runId_ && weights.dir == trainedDir_ && weights.problem == afterProblem_) return;
    runId_ = runId;
    if (!config) {
        setConfig(std::nullopt, QString(), tr("The configuration of run %1 cannot be read.").arg(runId), title);
        return;
    }
    setConfig(config, weights.dir, weights.problem, title);
}

void SamplesPanel::showExperiment(const RunConfig& config) {
    runId_ = 0;
    setConfig(config, QString(), tr("No run selected: select a completed run in the Runs tab to see what training changed."),
              QString());
}

void SamplesPanel::setConfig(const std::optional<RunConfig>& config, const QString& trainedDir,
                             const QString& afterProblem, const QString& afterTitle) {
    cancel();
    job_.reset();  // answers of a generation for the previous run are dropped when they arrive
    config_ = config;
    trainedDir_ = trainedDir;
    afterProblem_ = afterProblem;
    afterTitle_ = afterTitle;
    templateName_.clear();
    if (config_) {
        try {
            templateName_ = q(resolve_template_name(config_->model.chat_template, config_->model.source));
        } catch (const std::exception& e) {
            afterProblem_ = q(e.what());
        }
    }
    // Prompts from the previous data were tokenized for it: keep them as typed text.
    for (Row& r : rows_) r.fromData = false;
    clearAnswers();
    updateHeader();
    updateState();
    setStatus(afterProblem_);
}

void SamplesPanel::updateHeader() {
    QString before = tr("Before training");
    QString after = tr("After training");
    QString source;
    if (config_) {
        before += QStringLiteral(" (%1)").arg(q(config_->model.source));
        if (!afterTitle_.isEmpty()) after += QStringLiteral(" (%1)").arg(afterTitle_);
        source = tr("<b>Before</b>: %1, seed %2 · <b>After</b>: %3 · chat template %4")
                     .arg(q(config_->model.source).toHtmlEscaped())
                     .arg(config_->seed)
                     .arg(trainedDir_.isEmpty() ? tr("no trained model") : trainedDir_.toHtmlEscaped())
                     .arg(templateName_.toHtmlEscaped());
    } else {
        source = tr("No model: select a run in the Runs tab.");
    }
    table_->setHorizontalHeaderLabels({tr("Prompt"), tr("Expected (chosen)"), before, after});
    sourceLabel_->setText(source);
}

void SamplesPanel::setStatus(const QString& text) { statusLabel_->setText(text); }

QString SamplesPanel::statusText() const { return statusLabel_->text(); }

void SamplesPanel::updateState() {
    const bool busy = isBusy() || loadingPrompts_;
    const bool sampling = decoding_->currentIndex() == 1;
    loadButton_->setEnabled(!busy && config_.has_value());
    addButton_->setEnabled(!busy);
    removeButton_->setEnabled(!busy && table_->selectionModel()->hasSelection());
    promptCount_->setEnabled(!busy);
    generateButton_->setEnabled(!busy && config_.has_value() && !rows_.empty());
    cancelButton_->setEnabled(isBusy());
    for (QWidget* w : std::initializer_list<QWidget*>{temperature_, topP_, topK_}) w->setEnabled(sampling && !busy);
    for (QWidget* w : std::initializer_list<QWidget*>{maxTokens_, decoding_, seed_}) w->setEnabled(!busy);
    table_->setEditTriggers(busy ? QAbstractItemView::NoEditTriggers
                                 : QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                                       QAbstractItemView::AnyKeyPressed);
}

void SamplesPanel::setRows(std::vector<Row> rows) {
    rows_.clear();
    table_->setRowCount(0);
    for (Row& r : rows) appendRow(std::move(r));
    updateState();
}

void SamplesPanel::appendRow(Row row) {
    filling_ = true;
    const int r = table_->rowCount();
    table_->insertRow(r);
    auto* prompt = new QTableWidgetItem(q(row.prompt.text));
    if (row.fromData)
        prompt->setToolTip(tr("As the model sees it (line %1 of the data):\n%2")
                               .arg(row.prompt.source_line)
                               .arg(q(row.prompt.rendered)));
    table_->setItem(r, PromptColumn, prompt);
    auto* expected = new QTableWidgetItem(q(row.prompt.expected));
    expected->setFlags(expected->flags() & ~Qt::ItemIsEditable);
    if (!row.prompt.expected.empty()) expected->setToolTip(tr("The chosen answer of line %1 of the data").arg(row.prompt.source_line));
    table_->setItem(r, ExpectedColumn, expected);
    for (int c : {BeforeColumn, AfterColumn}) {
        auto* item = new QTableWidgetItem;
        item->setFlags(item->flags() & ~Qt::ItemIsEditable);
        table_->setItem(r, c, item);
    }
    rows_.push_back(std::move(row));
    filling_ = false;
}

void SamplesPanel::onPromptEdited(int row, int column) {
    if (filling_ || column != PromptColumn || row < 0 || row >= int(rows_.size())) return;
    const QString text = table_->item(row, PromptColumn)->text();
    Row& r = rows_[static_cast<size_t>(row)];
    if (text.toStdString() == r.prompt.text) return;
    // Edited: it is typed text now, rendered with the chat template when generated.
    r.prompt = SamplePrompt{text.toStdString(), {}, {}, 0};
    r.fromData = false;
    filling_ = true;
    table_->item(row, PromptColumn)->setToolTip(QString());
    table_->item(row, ExpectedColumn)->setText(QString());
    table_->item(row, ExpectedColumn)->setToolTip(QString());
    table_->item(row, BeforeColumn)->setText(QString());
    table_->item(row, AfterColumn)->setText(QString());
    filling_ = false;
    updateState();
}

void SamplesPanel::clearAnswers() {
    filling_ = true;
    for (int r = 0; r < table_->rowCount(); ++r)
        for (int c : {BeforeColumn, AfterColumn}) {
            table_->item(r, c)->setText(QString());
            table_->item(r, c)->setToolTip(QString());
        }
    filling_ = false;
}

void SamplesPanel::setPrompts(const QStringList& prompts) {
    std::vector<Row> rows;
    for (const QString& p : prompts) rows.push_back(Row{SamplePrompt{p.toStdString(), {}, {}, 0}, false});
    setRows(std::move(rows));
}

void SamplesPanel::addPrompt(const QString& text) {
    appendRow(Row{SamplePrompt{text.toStdString(), {}, {}, 0}, false});
    updateState();
}

QStringList SamplesPanel::prompts() const {
    QStringList out;
    for (const Row& r : rows_) out << q(r.prompt.text);
    return out;
}

SamplesPanel::Settings SamplesPanel::settings() const {
    Settings s;
    s.max_new_tokens = maxTokens_->value();
    s.temperature = decoding_->currentIndex() == 1 ? temperature_->value() : 0.0;
    s.top_p = topP_->value();
    s.top_k = topK_->value();
    s.seed = seed_->value();
    return s;
}

void SamplesPanel::setSettings(const Settings& s) {
    maxTokens_->setValue(s.max_new_tokens);
    decoding_->setCurrentIndex(s.temperature > 0.0 ? 1 : 0);
    if (s.temperature > 0.0) temperature_->setValue(s.temperature);
    topP_->setValue(s.top_p);
    topK_->setValue(s.top_k);
    seed_->setValue(static_cast<int>(s.seed));
    updateState();
}

void SamplesPanel::loadEvalPrompts(int count) {
    if (!config_ || isBusy() || loadingPrompts_) return;
    promptCount_->setValue(count);
    loadingPrompts_ = true;
    updateState();
    setStatus(tr("Reading the eval prompts of %1…").arg(q(config_->data.train)));
    const RunConfig config = *config_;
    pool_.start([this, config, count] {
        std::vector<SamplePrompt> prompts;
        QString error;
        try {
            const auto tokenizer = load_source_tokenizer(config.model.source);
            prompts = sample_prompts(config, *tokenizer, static_cast<size_t>(count));
        } catch (const std::exception& e) {
            error = q(e.what());
        }
        QMetaObject::invokeMethod(
            this,
            [this, prompts = std::move(prompts), error, source = config.model.source, train = config.data.train] {
                loadingPrompts_ = false;
                // Loaded for data that is still the panel's.
                if (config_ && config_->model.source == source && config_->data.train == train && error.isEmpty()) {
                    std::vector<Row> rows;
                    for (const SamplePrompt& p : prompts) rows.push_back(Row{p, true});
                    setRows(std::move(rows));
                    setStatus(tr("%1 eval prompt(s) loaded, as the run renders and tokenizes them. Edit a prompt "
                                 "(double-click) or add your own, then press Generate.")
                                  .arg(prompts.size()));
                } else if (!error.isEmpty()) {
                    setStatus(tr("Cannot read the eval prompts: %1").arg(error));
                }
                updateState();
                emit promptsLoaded(int(rows_.size()));
            },
            Qt::QueuedConnection);
    });
}

bool SamplesPanel::generate() {
    if (isBusy() || loadingPrompts_) return false;
    if (!config_) {
        setStatus(tr("Select a run first: its model.source is the model before training."));
        return false;
    }
    if (rows_.empty()) {
        setStatus(tr("Add a prompt or load the eval prompts first."));
        return false;
    }
    clearAnswers();
    auto job = std::make_shared<Job>();
    job_ = job;
    const RunConfig config = *config_;
    const std::string templateName = templateName_.toStdString();
    const std::string trained = trainedDir_.toStdString();
    std::vector<Row> rows = rows_;
    const Settings s = settings();
    const int columns = trained.empty() ? 1 : 2;
    progress_->setRange(0, int(rows.size()) * columns);
    progress_->setValue(0);
    updateState();
    setStatus(trained.empty() ? tr("Generating with the model before training… (%1)").arg(afterProblem_)
                              : tr("Generating with the models before and after training…"));

    pool_.start([this, job, config, templateName, trained, rows = std::move(rows), s] {
        QString error;
        try {
            TextGeneratorOptions o;
            o.seed = config.seed;  // built-in models: the run's initial weights
            o.dtype = choice_name(resolved_dtype(config.model.dtype));
            o.device = config.train.device;
            o.chat_template = templateName;  // the run's template, also for its saved model
            o.template_kwargs = config.model.template_kwargs;
            GenerationOptions g;
            g.max_new_tokens = s.max_new_tokens;
            g.temperature = s.temperature;
            g.top_p = s.top_p;
            g.top_k = s.top_k;
            g.seed = static_cast<uint64_t>(s.seed);
            g.cancel = &job->cancel;
            std::vector<std::vector<int64_t>> ids;
            std::vector<std::pair<int, std::string>> models{{BeforeColumn, config.model.source}};
            if (!trained.empty()) models.push_back({AfterColumn, trained});
            for (const auto& [column, source] : models) {
                if (job->cancel) break;
                const auto generator = TextGenerator::open(source, o);
                if (ids.empty())
                    for (const Row& r : rows) ids.push_back(r.fromData ? r.prompt.ids : generator->encode_prompt(r.prompt.text));
                for (size_t first = 0; first < ids.size() && !job->cancel; first += kBatch) {
                    const size_t end = std::min(ids.size(), first + kBatch);
                    const std::vector<std::vector<int64_t>> batch(ids.begin() + long(first), ids.begin() + long(end));
                    const auto results = generator->generate_ids(batch, g);
                    if (job->cancel) break;
                    QStringList answers, reasons;
                    for (const auto& r : results) {
                        // Cut at the token limit mid-character: no replacement characters.
                        answers << displayUtf8(r.completion);
                        reasons << q(r.finish_reason);
                    }
                    QMetaObject::invokeMethod(
                        this, [this, job, column = column, first, answers, reasons] {
                            if (job == job_) onAnswers(column, int(first), answers, reasons);
                        },
                        Qt::QueuedConnection);
                }
            }
        } catch (const std::exception& e) {
            error = q(e.what());
        }
        const bool completed = !job->cancel && error.isEmpty();
        QMetaObject::invokeMethod(
            this, [this, job, completed, error] {
                if (job == job_) onJobEnded(completed, error);
            },
            Qt::QueuedConnection);
    });
    return true;
}

void SamplesPanel::onAnswers(int column, int firstRow, const QStringList& answers, const QStringList& reasons) {
    filling_ = true;
    for (int i = 0; i < answers.size(); ++i) {
        const int row = firstRow + i;
        if (row >= table_->rowCount()) break;
        QTableWidgetItem* item = table_->item(row, column);
        item->setText(answers[i]);
        item->setToolTip(reasons[i] == QLatin1String("stop") ? tr("Stopped at an end-of-turn token")
                                                             : tr("Stopped at the token limit"));
    }
    filling_ = false;
    progress_->setValue(progress_->value() + int(answers.size()));
}

void SamplesPanel::onJobEnded(bool completed, const QString& error) {
    job_.reset();
    updateState();
    if (!error.isEmpty())
        setStatus(tr("Generation failed: %1").arg(error));
    else if (!completed)
        setStatus(tr("Generation cancelled."));
    else if (trainedDir_.isEmpty())
        setStatus(tr("Done: answers before training only. %1").arg(afterProblem_));
    else
        setStatus(tr("Done: %1 prompt(s), before and after training, %2 decoding.")
                      .arg(rows_.size())
                      .arg(settings().temperature > 0 ? tr("sampled") : tr("greedy")));
    emit generationFinished(completed);
}

void SamplesPanel::cancel() {
    if (!job_) return;
    job_->cancel = true;
    cancelButton_->setEnabled(false);
    setStatus(tr("Cancelling…"));
}

QString SamplesPanel::beforeText(int row) const {
    const auto* item = table_->item(row, BeforeColumn);
    return item ? item->text() : QString();
}

QString SamplesPanel::afterText(int row) const {
    const auto* item = table_->item(row, AfterColumn);
    return item ? item->text() : QString();
}

}  // namespace ps::ui
