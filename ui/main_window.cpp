#include "ui/main_window.h"

#include "ui/compare/compare_view.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QInputDialog>
#include <QMimeData>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressDialog>
#include <QPushButton>
#include <QScreen>
#include <QStackedWidget>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QTabBar>
#include <QTabWidget>
#include <QThreadPool>
#include <QToolBar>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>

#include "ui/common/format.h"
#include "ui/common/metric_style.h"
#include "ui/common/theme.h"
#include "ui/common/wheel_guard.h"
#include "ui/data/dataset_page.h"
#include "core/data/data_pipeline.h"
#include "core/data/dataset_summary.h"
#include "core/model/source_tokenizer.h"
#include "core/text/chat_template.h"
#include "core/engine/runtime_info.h"
#include "ui/diagnose/onpolicy_job.h"
#include "core/diagnose/remedies.h"  // evidence helper: clone with the picked remedy
#include "core/engine/remedy_config.h"
#include "ui/experiment/experiment_form.h"
#include "ui/interop/cluster_export_dialog.h"
#include "core/interop/export_config.h"
#include "ui/live/diagnosis_panel.h"
#include "ui/live/event_log.h"
#include "ui/live/live_monitor.h"
#include "ui/live/run_controls.h"
#include "ui/live/run_session.h"
#include "ui/runs/runs_model.h"
#include "ui/runs/runs_view.h"
#include "ui/samples/samples_panel.h"
#include "core/store/run_record.h"
#include "core/store/resume_run.h"
#include "core/store/run_store.h"
#include "core/interop/import_run.h"

// Resources live in the static library; they must be registered by name, outside namespaces.
static void initPrefStudioResources() { Q_INIT_RESOURCE(prefstudio); }

namespace ps::ui {

namespace {

// Whether the chosen answers' NLL is a term of the objective's loss: ORPO always (its loss is
// NLL + lambda * odds ratio), CPO with cpo_alpha > 0, the others with sft_weight > 0.
bool nllInLoss(const ObjectiveConfig& objective) {
    if (objective.algorithm == "orpo") return true;
    if (objective.algorithm == "cpo") return objective.cpo_alpha > 0;
    return objective.sft_weight > 0;
}

}  // namespace

QIcon applicationIcon() {
    initPrefStudioResources();
    QIcon icon;
    for (int size : {16, 32, 48, 64, 128})
        icon.addFile(QStringLiteral(":/icons/prefstudio-%1.png").arg(size), QSize(size, size));
    icon.addFile(QStringLiteral(":/icons/prefstudio.png"), QSize(256, 256));
    return icon;
}

MainWindow::MainWindow(const QString& storePath, QWidget* parent) : QMainWindow(parent) {
    setWindowIcon(applicationIcon());
    // The wheel changes a spin box, combo box or slider only once it has focus, everywhere.
    installWheelGuard();
    setObjectName(QStringLiteral("MainWindow"));

    session_ = new RunSession(this);
    form_ = new ExperimentForm;
    monitor_ = new LiveMonitor;
    runsView_ = new RunsView;
    log_ = new EventLog;
    diagnosis_ = new DiagnosisPanel;

    createActions();
    controls_ = new RunControls(runAction_, pauseAction_, stopAction_);

    auto* centre = new QWidget(this);
    auto* centreLayout = new QVBoxLayout(centre);
    centreLayout->setContentsMargins(4, 4, 4, 0);
    centreLayout->setSpacing(2);
    centreLayout->addWidget(monitor_, 1);
    centreLayout->addWidget(controls_);
    centreStack_ = new QStackedWidget(this);
    welcome_ = createWelcomePage();
    centreStack_->addWidget(centre);
    centreStack_->addWidget(welcome_);
    setCentralWidget(centreStack_);

    createDocks();
    createMenus();

    storeLabel_ = new QLabel(this);
    deviceLabel_ = new QLabel(this);
    stateLabel_ = new QLabel(this);
    for (QLabel* l : {storeLabel_, deviceLabel_, stateLabel_}) l->setTextFormat(Qt::PlainText);  // paths, errors
    statusBar()->addPermanentWidget(storeLabel_);
    statusBar()->addPermanentWidget(deviceLabel_);
    statusBar()->addPermanentWidget(stateLabel_);

    connect(form_, &ExperimentForm::changed, this, [this] {
        updateWindowTitle();
        updateActions();
        if (!form_->isValid() && !isRunning() && form_->invalidField().startsWith(QLatin1String("data."))) {
            // A bad data path: the Dataset tab says so (not the last good file's summary), and
            // the corrected path is read again.
            datasetKey_.clear();
            ++datasetGeneration_;
            datasetPage_->showError(form_->validationMessage());
        }
        if (!form_->isValid() || isRunning()) return;
        const RunConfig& config = form_->runConfig();
        deviceLabel_->setText(deviceText(config.train.device));
        monitor_->setPlannedSteps(config.sft.steps, config.train.steps);
        summarizeDataset(config);
        // Without a run picked, the Samples tab answers with the form's model.
        if (samplesPanel_->runId() == 0 && !samplesPanel_->isBusy()) samplesPanel_->showExperiment(config);
    });
    connect(session_, &RunSession::started, this, &MainWindow::onRunStarted);
    connect(session_, &RunSession::metricsArrived, monitor_, &LiveMonitor::appendMetrics);
    connect(session_, &RunSession::eventsArrived, log_, &EventLog::appendEvents);
    connect(session_, &RunSession::metricsArrived, diagnosis_, &DiagnosisPanel::appendMetrics);
    connect(session_, &RunSession::eventsArrived, monitor_, &LiveMonitor::appendEvents);
    connect(session_, &RunSession::eventsArrived, diagnosis_, &DiagnosisPanel::appendEvents);
    connect(diagnosis_, &DiagnosisPanel::regimeChanged, this,
            [this](const QString& regime, bool problem) {
                const int index = bottomTabs_->indexOf(diagnosisPage_);
                if (index < 0) return;
                bottomTabs_->setTabText(index, problem ? tr("Diagnosis: %1").arg(regimeShortLabel(regime))
                                                       : tr("Diagnosis"));
                bottomTabs_->tabBar()->setTabTextColor(
                    index, problem ? regimeColor(regime).darker(115) : QColor());
                // A problem is worth the user's eye: bring the diagnosis to the front.
                if (problem) bottomTabs_->setCurrentIndex(index);
            });
    connect(diagnosis_, &DiagnosisPanel::cloneWithRemedyRequested, this, &MainWindow::cloneWithRemedy);
    connect(session_, &RunSession::progressChanged, this, &MainWindow::onProgress);
    // One replot per drain tick, after every batch of that tick is in.
    connect(session_, &RunSession::tickFinished, monitor_, &LiveMonitor::refresh);
    // The runs table follows the live run (status, and final metrics once it ends) every 2 s.
    connect(session_, &RunSession::tickFinished, this, [this] {
        if (!isRunning() || !runsRefreshClock_.isValid() || runsRefreshClock_.elapsed() < 2000) return;
        runsRefreshClock_.restart();
        runsView_->refresh();
        runsView_->model()->setRunMetrics(session_->storedRunId(), liveMetrics_);
    });
    connect(session_, &RunSession::metricsArrived, this, [this](const std::vector<StepMetrics>& batch) {
        for (const StepMetrics& m : batch)
            for (const auto& [name, value] : m.values)
                if (name.rfind("rewards/", 0) == 0 && std::isfinite(value)) liveMetrics_[name] = value;
    });
    connect(runsView_->table()->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        const int64_t id = runsView_->selectedRunId();
        if (id > 0 && id != samplesPanel_->runId()) samplesPanel_->showRun(id);
        // The plots and the Diagnosis tab follow the run the user selects (one row; not while a
        // run is live). A refresh re-selects the same run: that opens nothing again.
        const bool another = id != selectedRunId_;
        selectedRunId_ = id;
        if (another && id > 0 && id != openedRunId_ && !isRunning() && runsView_->selectedRunIds().size() == 1)
            openStoredRun(id);
    });
    connect(runsView_, &RunsView::openRequested, this, &MainWindow::openStoredRun);
    connect(runsView_, &RunsView::cloneRequested, this, &MainWindow::cloneStoredRun);
    connect(runsView_, &RunsView::resumeRequested, this, &MainWindow::resumeStoredRun);
    connect(runsView_, &RunsView::exportClusterRequested, this, [this](qint64 id) { exportRunForCluster(id); });
    connect(runsView_, &RunsView::runsDeleted, this, [this](const std::vector<int64_t>& ids) {
        for (int64_t id : ids) {
            log_->appendMessage(QStringLiteral("info"), tr("Run %1 deleted from the store.").arg(id));
            if (id == openedRunId_) {
                openedRunId_ = 0;
                monitor_->clear();
                diagnosis_->clear();
            }
            if (id == samplesPanel_->runId()) samplesPanel_->showRun(0);
        }
        statusBar()->showMessage(tr("%n run(s) deleted.", nullptr, int(ids.size())), 5000);
    });
    connect(session_, &RunSession::finished, this, &MainWindow::onRunFinished);

    openStore(storePath);
    setRunState(QStringLiteral("idle"));
    updateWindowTitle();
    updateActions();
    setAcceptDrops(true);  // an output folder or a log file dropped outside the form: import it
    restoreSettings();
}

void MainWindow::fitToScreen(const QRect& available) {
    if (!available.isValid()) return;
    // The frame (title bar, borders) is known only once shown; before that, leave room for one.
    QSize frame = frameGeometry().size() - geometry().size();
    if (!isVisible() || frame.isEmpty()) frame = QSize(0, 0);
    const QSize room = (available.size() - frame).expandedTo(QSize(200, 150));
    QRect g = geometry();
    g.setSize(g.size().boundedTo(room));
    // Off the screen (another monitor was unplugged, a smaller screen): move it back on.
    if (!available.contains(g.topLeft()) || !available.contains(g.bottomRight()))
        g.moveTopLeft(QPoint(std::clamp(g.left(), available.left(), available.right() - g.width() - frame.width() + 1),
                             std::clamp(g.top(), available.top(), available.bottom() - g.height() - frame.height() + 1)));
    if (!available.contains(g.topLeft())) g.moveTopLeft(available.topLeft());
    setGeometry(g);
}

QWidget* MainWindow::createWelcomePage() {
    auto* page = new QWidget;
    page->setObjectName(QStringLiteral("welcomePage"));
    auto* outer = new QVBoxLayout(page);
    outer->addStretch(1);
    auto* title = new QLabel(tr("Welcome to PrefStudio"), page);
    QFont f = title->font();
    f.setPointSizeF(f.pointSizeF() * 1.6);
    f.setBold(true);
    title->setFont(f);
    auto* text = new QLabel(tr("There is no experiment and no run in this store yet. Start with one of these:"), page);
    text->setWordWrap(true);
    outer->addWidget(title, 0, Qt::AlignHCenter);
    outer->addWidget(text, 0, Qt::AlignHCenter);
    auto* buttons = new QVBoxLayout;
    const auto addButton = [&](const QString& label, const QString& detail, auto slot) {
        auto* b = new QPushButton(label, page);
        b->setMinimumWidth(320);
        b->setToolTip(detail);
        auto* note = new QLabel(detail, page);
        note->setWordWrap(true);
        note->setMaximumWidth(520);
        buttons->addWidget(b, 0, Qt::AlignHCenter);
        buttons->addWidget(note, 0, Qt::AlignHCenter);
        buttons->addSpacing(8);
        connect(b, &QPushButton::clicked, this, slot);
        return b;
    };
    demoButton_ = addButton(tr("Open the demo"),
                            tr("A small DPO experiment on a built-in model that trains in about a minute on a CPU: "
                               "press Run and watch the rewards separate."),
                            [this] {
                                if (!demoPath_.isEmpty() && maybeSaveExperiment()) loadDemo(demoPath_);
                            });
    demoButton_->setObjectName(QStringLiteral("welcomeDemo"));
    demoButton_->setEnabled(!demoPath_.isEmpty());
    addButton(tr("Open an experiment…"), tr("A run config (JSON) you or the CLI wrote: File > Open Experiment."),
              [this] { openExperiment(); });
    addButton(tr("New experiment"), tr("Fill in the form on the left: a model, a data file, an algorithm."),
              [this] {
                  welcomeDismissed_ = true;
                  updateWelcome();
              });
    addButton(tr("Import a run…"),
              tr("Store a run trained with TRL, transformers or LLaMA-Factory (File > Import Run, or drop its "
                 "output folder on the window)."),
              [this] { importRunAction_->trigger(); });
    addButton(tr("Follow a run…"), tr("Watch a run another tool is training, live (File > Follow Run)."),
              [this] { followRunAction_->trigger(); });
    outer->addLayout(buttons);
    outer->addStretch(2);
    return page;
}

void MainWindow::setDemoPath(const QString& path) {
    demoPath_ = path;
    if (demoButton_) demoButton_->setEnabled(!path.isEmpty());
}

bool MainWindow::isWelcomeShown() const { return centreStack_ && centreStack_->currentWidget() == welcome_; }

void MainWindow::updateWelcome() {
    if (!centreStack_) return;
    const bool show = !welcomeDismissed_ && !isRunning() && openedRunId_ == 0 && form_->filePath().isEmpty() &&
                      !form_->isModified() && runsView_->model()->rowCount() == 0;
    // Once the user has something, the welcome never comes back this session.
    if (!show) welcomeDismissed_ = welcomeDismissed_ || centreStack_->currentWidget() == welcome_;
    centreStack_->setCurrentWidget(show ? welcome_ : centreStack_->widget(0));
}

bool MainWindow::maybeSaveExperiment() {
    if (!form_->isModified()) return true;
    const QString name = form_->filePath().isEmpty() ? form_->experimentName() : QFileInfo(form_->filePath()).fileName();
    const QString question = tr("The experiment '%1' has unsaved changes. Save them?").arg(name);
    int answer = QMessageBox::Cancel;
    if (savePrompt_) {
        answer = savePrompt_(question);
    } else {
        QMessageBox box(QMessageBox::Question, tr("Unsaved experiment"), question,
                        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
        box.setTextFormat(Qt::PlainText);
        box.setDefaultButton(QMessageBox::Save);
        answer = box.exec();
    }
    if (answer == QMessageBox::Save) return saveExperiment();
    return answer == QMessageBox::Discard;
}

std::vector<int64_t> MainWindow::importRuns(const QString& path) {
    std::vector<int64_t> ids;
    if (!store_) {
        reportProblem(tr("Cannot import runs: %1").arg(storeError_));
        return ids;
    }
    QApplication::setOverrideCursor(Qt::WaitCursor);
    QStringList done;
    try {
        for (const SourceFile& source : find_sources(path.toStdString())) {
            const ImportResult r = import_source(*store_, source);
            ids.push_back(r.run_id);
            done << tr("run %1 '%2' (%3, %4 points)").arg(r.run_id).arg(QString::fromStdString(r.name))
                        .arg(QString::fromLatin1(to_string(source.format))).arg(r.points);
            for (const std::string& w : r.warnings) log_->appendMessage(QStringLiteral("warning"), QString::fromStdString(w));
        }
    } catch (const std::exception& e) {
        QApplication::restoreOverrideCursor();
        if (!done.isEmpty()) log_->appendMessage(QStringLiteral("info"), tr("Imported %1.").arg(done.join(QStringLiteral(", "))));
        reportProblem(tr("Cannot import %1: %2").arg(path, QString::fromStdString(e.what())));
        refreshRuns();
        return ids;
    }
    QApplication::restoreOverrideCursor();
    log_->appendMessage(QStringLiteral("info"), tr("Imported %1.").arg(done.join(QStringLiteral(", "))));
    refreshRuns();
    if (!ids.empty() && !isRunning()) openStoredRun(ids.back());
    statusBar()->showMessage(tr("Imported %n run(s) from %1.", nullptr, int(ids.size())).arg(path), 8000);
    return ids;
}

bool MainWindow::followRun(const QString& path, int pick) {
    if (isRunning()) {
        statusBar()->showMessage(tr("A run is going: stop it or let it finish before following another."), 5000);
        return false;
    }
    std::vector<SourceFile> sources;
    try {
        sources = find_sources(path.toStdString());
    } catch (const std::exception& e) {
        reportProblem(tr("Cannot follow %1: %2").arg(path, QString::fromStdString(e.what())));
        return false;
    }
    size_t index = 0;
    if (sources.size() > 1) {
        if (pick >= 0 && size_t(pick) < sources.size()) {
            index = size_t(pick);
        } else {
            QStringList items;
            for (const SourceFile& s : sources)
                items << QStringLiteral("%1 (%2)").arg(QString::fromStdString(s.path), QString::fromLatin1(to_string(s.format)));
            bool ok = false;
            const QString chosen = QInputDialog::getItem(this, tr("Follow which run?"),
                                                         tr("%1 holds %2 runs:").arg(path).arg(sources.size()), items, 0, false, &ok);
            if (!ok) return false;
            index = size_t(items.indexOf(chosen));
        }
    }
    const SourceFile& source = sources[index];
    monitor_->beginRun(0, 0);
    openedRunId_ = 0;
    liveMetrics_ = nlohmann::json::object();
    diagnosis_->clear();
    lastRunError_.clear();
    controls_->setProblem(QString());
    try {
        session_->startFollow(source, store_);
    } catch (const std::exception& e) {
        reportProblem(tr("Cannot follow %1: %2").arg(path, QString::fromStdString(e.what())));
        return false;
    }
    log_->appendMessage(QStringLiteral("info"), tr("Following %1 (%2): the plots and the diagnosis update as it is written.")
                                                    .arg(QString::fromStdString(source.path), QString::fromLatin1(to_string(source.format))));
    controls_->showIdle(tr("Following %1…").arg(QString::fromStdString(source.name)));
    setRunState(QStringLiteral("running"));
    updateActions();
    emit runStarted();
    return true;
}

namespace {

// A warning whose text is an error message (user text: paths, names, values): shown as written.
void plainWarning(QWidget* parent, const QString& title, const QString& text) {
    QMessageBox box(QMessageBox::Warning, title, text, QMessageBox::Ok, parent);
    box.setTextFormat(Qt::PlainText);
    box.exec();
}

// The local paths of a drop, when every URL is one.
QStringList droppedPaths(const QMimeData* mime) {
    QStringList paths;
    if (!mime || !mime->hasUrls()) return paths;
    for (const QUrl& url : mime->urls()) {
        if (!url.isLocalFile()) return {};
        paths << url.toLocalFile();
    }
    return paths;
}

}  // namespace

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (!droppedPaths(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QStringList paths = droppedPaths(event->mimeData());
    if (paths.isEmpty()) return;
    event->acceptProposedAction();
    for (const QString& p : paths) importRuns(p);
}

namespace {

const QString kGeometryKey = QStringLiteral("window/geometry");
const QString kStateKey = QStringLiteral("window/state");
const QString kStoreKey = QStringLiteral("session/store");
const QString kExperimentKey = QStringLiteral("session/experiment");
constexpr int kStateVersion = 1;  // bump when the docks change

QSettings studioSettings() { return QSettings(QStringLiteral("PrefStudio"), QStringLiteral("PrefStudio")); }

QString existingFile(const QString& key) {
    const QString path = studioSettings().value(key).toString();
    return !path.isEmpty() && QFileInfo(path).isFile() ? path : QString();
}

}  // namespace

QString MainWindow::rememberedStorePath() { return existingFile(kStoreKey); }

QString MainWindow::rememberedExperimentPath() { return existingFile(kExperimentKey); }

void MainWindow::restoreSettings() {
    QSettings settings = studioSettings();
    const QByteArray geometry = settings.value(kGeometryKey).toByteArray();
    QScreen* screen = QGuiApplication::primaryScreen();
    if (geometry.isEmpty() || !restoreGeometry(geometry)) {
        // Fresh settings: a comfortable size, never larger than the screen, centred on it.
        QSize size(1440, 900);
        if (screen) {
            // On a small screen (1280x720, 1366x768) the studio wants all of it.
            const QRect available = screen->availableGeometry();
            if (size.width() > available.width() * 0.94 || size.height() > available.height() * 0.94)
                size = available.size();
            setGeometry(QStyle::alignedRect(Qt::LeftToRight, Qt::AlignCenter, size, available));
        } else {
            resize(size);
        }
    }
    // A geometry saved on a larger (or another) screen is fitted to this one (issue #19).
    if (QScreen* on = QGuiApplication::screenAt(this->geometry().center())) screen = on;
    if (screen) fitToScreen(screen->availableGeometry());
    const QByteArray state = settings.value(kStateKey).toByteArray();
    if (!state.isEmpty()) restoreState(state, kStateVersion);
}

void MainWindow::saveSettings() const {
    QSettings settings = studioSettings();
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState(kStateVersion));
    if (store_ && !storePath_.isEmpty())
        settings.setValue(kStoreKey, QFileInfo(storePath_).absoluteFilePath());
    if (!form_->filePath().isEmpty())
        settings.setValue(kExperimentKey, QFileInfo(form_->filePath()).absoluteFilePath());
    settings.sync();
}

MainWindow::~MainWindow() {
    // Stop a run before the views it feeds go away.
    if (session_) {
        disconnect(session_, nullptr, this, nullptr);
        session_->blockSignals(true);
        session_->stopAndWait();
    }
    // A summary still being read posts its result to this window when done: wait for it here,
    // while the window exists (~QObject then drops the posted result unread).
    datasetPool_.waitForDone();
    diagnosisPool_.waitForDone();
}

void MainWindow::createActions() {
    QStyle* s = style();
    newAction_ = new QAction(tr("&New Experiment"), this);
    newAction_->setShortcut(QKeySequence::New);
    connect(newAction_, &QAction::triggered, this, &MainWindow::newExperiment);

    openAction_ = new QAction(s->standardIcon(QStyle::SP_DialogOpenButton), tr("&Open Experiment…"), this);
    openAction_->setShortcut(QKeySequence::Open);
    connect(openAction_, &QAction::triggered, this, &MainWindow::openExperiment);

    saveAction_ = new QAction(s->standardIcon(QStyle::SP_DialogSaveButton), tr("&Save Experiment"), this);
    saveAction_->setShortcut(QKeySequence::Save);
    connect(saveAction_, &QAction::triggered, this, &MainWindow::saveExperiment);

    saveAsAction_ = new QAction(tr("Save Experiment &As…"), this);
    saveAsAction_->setShortcut(QKeySequence::SaveAs);
    connect(saveAsAction_, &QAction::triggered, this, &MainWindow::saveExperimentAs);

    quitAction_ = new QAction(tr("&Quit"), this);
    quitAction_->setShortcut(QKeySequence::Quit);
    connect(quitAction_, &QAction::triggered, this, &QWidget::close);

    runAction_ = new QAction(s->standardIcon(QStyle::SP_MediaPlay), tr("&Run"), this);
    runAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    connect(runAction_, &QAction::triggered, this, &MainWindow::startRun);

    pauseAction_ = new QAction(s->standardIcon(QStyle::SP_MediaPause), tr("&Pause"), this);
    pauseAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P));
    connect(pauseAction_, &QAction::triggered, this, &MainWindow::togglePause);

    stopAction_ = new QAction(s->standardIcon(QStyle::SP_MediaStop), tr("&Stop"), this);
    stopAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Period));
    connect(stopAction_, &QAction::triggered, this, &MainWindow::stopRun);

    refreshAction_ = new QAction(s->standardIcon(QStyle::SP_BrowserReload), tr("Re&fresh Runs"), this);
    refreshAction_->setShortcut(QKeySequence::Refresh);
    connect(refreshAction_, &QAction::triggered, this, &MainWindow::refreshRuns);

    followAction_ = new QAction(tr("&Follow Live Run"), this);
    followAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    followAction_->setToolTip(tr("Undo zoom and pan: the plots follow the run again"));
    connect(followAction_, &QAction::triggered, monitor_, &LiveMonitor::resetView);

    aboutAction_ = new QAction(tr("&About PrefStudio"), this);
    aboutAction_->setMenuRole(QAction::AboutRole);
    connect(aboutAction_, &QAction::triggered, this, &MainWindow::showAbout);

    compareAction_ = new QAction(tr("&Compare Selected Runs"), this);
    compareAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C));
    compareAction_->setToolTip(tr("Overlay the curves and configurations of two or more selected runs"));
    connect(compareAction_, &QAction::triggered, this, [this] { compareRuns(runsView_->selectedRunIds()); });

    openStoreAction_ = new QAction(tr("Open &Store…"), this);
    openStoreAction_->setToolTip(tr("Switch to another run store (an SQLite file; a new name creates one)"));
    connect(openStoreAction_, &QAction::triggered, this, [this] {
        const QString start = storePath_.isEmpty() ? QDir::homePath() : QFileInfo(storePath_).absolutePath();
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Open or create a run store"), start, tr("Run stores (*.db *.sqlite);;All files (*)"),
            nullptr, QFileDialog::DontConfirmOverwrite);
        if (!path.isEmpty()) switchStore(path);
    });

    importRunAction_ = new QAction(tr("&Import Run…"), this);
    importRunAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    importRunAction_->setToolTip(tr("Store a run trained with TRL, transformers or LLaMA-Factory: an output folder, "
                                    "trainer_state.json, a TensorBoard event file, trainer_log.jsonl or a console log"));
    connect(importRunAction_, &QAction::triggered, this, [this] {
        const QString path = QFileDialog::getExistingDirectory(this, tr("Import the runs of an output folder"), QDir::homePath());
        if (!path.isEmpty()) importRuns(path);
    });
    followRunAction_ = new QAction(tr("Fo&llow Run…"), this);
    followRunAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L));
    followRunAction_->setToolTip(tr("Watch a run another tool is training, live: its output folder or log file"));
    connect(followRunAction_, &QAction::triggered, this, [this] {
        const QString path = QFileDialog::getExistingDirectory(this, tr("Follow the run of an output folder"), QDir::homePath());
        if (!path.isEmpty()) followRun(path);
    });

    auto* themeGroup = new QActionGroup(this);
    const QString currentTheme = studioSettings().value(QStringLiteral("view/theme"), QStringLiteral("system")).toString();
    for (const auto& [name, label] : {std::pair{QStringLiteral("system"), tr("Follow the &System")},
                                      std::pair{QStringLiteral("light"), tr("&Light")},
                                      std::pair{QStringLiteral("dark"), tr("&Dark")}}) {
        auto* action = new QAction(label, themeGroup);
        action->setCheckable(true);
        action->setData(name);
        action->setChecked(name == themeModeName(themeModeFromString(currentTheme)));
        connect(action, &QAction::triggered, this, [this, name = name] { setTheme(name); });
        themeActions_.push_back(action);
    }

    exportClusterAction_ = new QAction(tr("&Export Experiment for Cluster…"), this);
    exportClusterAction_->setToolTip(tr("Write the experiment as a TRL or LLaMA-Factory config with multi-GPU and "
                                        "multi-node launch lines"));
    connect(exportClusterAction_, &QAction::triggered, this, [this] { exportExperimentForCluster(); });

    shortcutsAction_ = new QAction(tr("&Keyboard Shortcuts"), this);
    connect(shortcutsAction_, &QAction::triggered, this, &MainWindow::showShortcuts);

    for (QAction* a : {runAction_, pauseAction_, stopAction_, openAction_, saveAction_, refreshAction_})
        if (!a->shortcut().isEmpty())
            a->setToolTip(QStringLiteral("%1 (%2)").arg(a->text().remove('&'),
                                                         a->shortcut().toString(QKeySequence::NativeText)));
}

CompareView* MainWindow::compareRuns(const std::vector<int64_t>& runIds) {
    if (runIds.size() < 2) {
        statusBar()->showMessage(tr("Select two or more runs in the Runs list to compare them."), 5000);
        return nullptr;
    }
    // A window of its own, so a comparison stays open while the next run trains.
    auto* view = new CompareView;
    view->setAttribute(Qt::WA_DeleteOnClose);
    view->setWindowTitle(tr("PrefStudio: compare runs"));
    view->resize(1300, 900);
    view->setRuns(store_, runIds);
    view->show();
    return view;
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(newAction_);
    file->addAction(openAction_);
    file->addAction(saveAction_);
    file->addAction(saveAsAction_);
    file->addAction(exportClusterAction_);
    file->addSeparator();
    file->addAction(openStoreAction_);
    file->addSeparator();
    file->addAction(importRunAction_);
    file->addAction(followRunAction_);
    file->addSeparator();
    file->addAction(quitAction_);

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    run->addAction(runAction_);
    run->addAction(pauseAction_);
    run->addAction(stopAction_);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(refreshAction_);
    view->addAction(followAction_);
    view->addSeparator();
    view->addAction(runsView_->openAction());
    view->addAction(compareAction_);
    view->addAction(runsView_->cloneAction());
    view->addAction(runsView_->editTagsAction());
    view->addAction(runsView_->deleteAction());
    view->addSeparator();
    QMenu* theme = view->addMenu(tr("&Theme"));
    for (QAction* a : themeActions_) theme->addAction(a);
    view->addSeparator();
    for (QDockWidget* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(shortcutsAction_);
    help->addSeparator();
    help->addAction(aboutAction_);

    QToolBar* toolbar = addToolBar(tr("Main"));
    toolbar->setObjectName(QStringLiteral("MainToolBar"));
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolbar->addAction(openAction_);
    toolbar->addAction(saveAction_);
    toolbar->addSeparator();
    toolbar->addAction(runAction_);
    toolbar->addAction(pauseAction_);
    toolbar->addAction(stopAction_);
    toolbar->addSeparator();
    toolbar->addAction(refreshAction_);
}

void MainWindow::createDocks() {
    auto* formScroll = new QScrollArea;
    formScroll->setWidget(form_);
    formScroll->setWidgetResizable(true);
    formScroll->setFrameShape(QFrame::NoFrame);
    // Wide enough for the form, but not wider than a 1280 px screen allows beside the plots.
    formScroll->setMinimumWidth(std::min(form_->sizeHint().width() + 24, 440));
    auto* formDock = new QDockWidget(tr("Experiment"), this);
    formDock_ = formDock;
    formDock->setObjectName(QStringLiteral("ExperimentDock"));
    formDock->setWidget(formScroll);
    formDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                          QDockWidget::DockWidgetClosable);
    addDockWidget(Qt::LeftDockWidgetArea, formDock);

    auto* diagnosisScroll = new QScrollArea;
    diagnosisScroll->setWidget(diagnosis_);
    diagnosisScroll->setWidgetResizable(true);
    diagnosisScroll->setFrameShape(QFrame::NoFrame);
    diagnosisPage_ = diagnosisScroll;
    auto* tabs = new QTabWidget;
    bottomTabs_ = tabs;
    tabs->addTab(runsView_, tr("Runs"));
    tabs->addTab(diagnosisScroll, tr("Diagnosis"));
    datasetPage_ = new DatasetPage;
    // In a scroll area, so the page's minimum height never takes the plots' room.
    auto* datasetScroll = new QScrollArea;
    datasetScroll->setWidget(datasetPage_);
    datasetScroll->setWidgetResizable(true);
    datasetScroll->setFrameShape(QFrame::NoFrame);
    tabs->addTab(datasetScroll, tr("Dataset"));
    samplesPanel_ = new SamplesPanel;
    tabs->addTab(samplesPanel_, tr("Samples"));
    tabs->addTab(log_, tr("Log"));
    auto* bottomDock = new QDockWidget(tr("Runs"), this);
    bottomDock->setObjectName(QStringLiteral("RunsDock"));
    bottomDock->setWidget(tabs);
    addDockWidget(Qt::BottomDockWidgetArea, bottomDock);
    // The plots get the height; the runs list a few rows.
    resizeDocks({bottomDock}, {200}, Qt::Vertical);
}

void MainWindow::summarizeDataset(const RunConfig& config) {
    // The setup form's data and limits decide the summary; only a change reads the file again.
    const SummaryOptions options = [&] {
        SummaryOptions o;
        o.data = data_options(config.data);
        o.limits = truncation_options(config.data);
        o.template_name = resolve_template_name(config.model.chat_template, config.model.source);
        o.keep_examples = 2000;
        return o;
    }();
    const QString key = QString::fromStdString(config.data.train + "|" + config.to_json()["data"].dump() + "|" +
                                               options.template_name + "|" + config.model.source);
    if (key == datasetKey_) return;
    datasetKey_ = key;
    const quint64 generation = ++datasetGeneration_;
    const std::string path = config.data.train;
    const std::string source = config.model.source;
    form_->setDataInfo(tr("reading…"));
    // A big file takes seconds: read it on a pool thread, show it if it is still the current one.
    datasetPool_.start([this, generation, path, source, options] {
        DatasetSummary summary;
        QString error;
        try {
            // Token lengths as the run will count them: the model's own tokenizer.
            const std::shared_ptr<Tokenizer> tokenizer = load_source_tokenizer(source);
            summary = summarize_dataset(path, *tokenizer, options);
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(this, [this, generation, summary = std::move(summary), error] {
            if (generation != datasetGeneration_) return;
            if (!error.isEmpty()) {
                form_->setDataInfo(error);
                datasetPage_->showError(error);
                return;
            }
            datasetPage_->showSummary(summary);
            form_->setDataInfo(tr("%1 · %2 %3 kept, %4 dropped · %5 problem(s), %6 warning(s) · see the Dataset tab")
                                   .arg(QString::fromStdString(summary.format.empty() ? "format unknown" : summary.format))
                                   .arg(summary.fit.kept)
                                   .arg(summary.unpaired ? tr("examples") : tr("pairs"))
                                   .arg(summary.fit.dropped_prompt_too_long)
                                   .arg(summary.errors.size())
                                   .arg(summary.warnings.size()));
        }, Qt::QueuedConnection);
    });
}

bool MainWindow::switchStore(const QString& path) {
    if (isRunning()) {
        statusBar()->showMessage(tr("Stop the live run before switching stores."), 5000);
        return false;
    }
    openedRunId_ = 0;
    monitor_->clear();
    diagnosis_->clear();
    openStore(path);
    updateActions();
    if (store_) {
        log_->appendMessage(QStringLiteral("info"), tr("Run store: %1").arg(QDir::toNativeSeparators(path)));
        statusBar()->showMessage(tr("Opened store %1").arg(QDir::toNativeSeparators(path)), 5000);
    } else {
        statusBar()->showMessage(storeError_);
    }
    return store_ != nullptr;
}

void MainWindow::setTheme(const QString& name) {
    const ThemeMode mode = themeModeFromString(name);
    applyTheme(mode);
    // Every plot now, with the new palette (a hidden view may get its PaletteChange late).
    for (QCustomPlot* plot : findChildren<QCustomPlot*>()) applyPlotTheme(plot);
    for (QAction* a : themeActions_) a->setChecked(a->data().toString() == themeModeName(mode));
    QSettings settings = studioSettings();
    settings.setValue(QStringLiteral("view/theme"), themeModeName(mode));
}

void MainWindow::openStore(const QString& path) {
    storePath_ = path;
    try {
        store_ = std::make_shared<RunStore>(path.toStdString());
        storeError_.clear();
        storeLabel_->setText(tr("store: %1").arg(QDir::toNativeSeparators(path)));
        storeLabel_->setToolTip(QString());
    } catch (const std::exception& e) {
        store_.reset();
        storeError_ = tr("The run store cannot be opened: %1").arg(QString::fromStdString(e.what()));
        storeLabel_->setText(tr("store: unavailable"));
        storeLabel_->setToolTip(plainToolTip(storeError_));
        log_->appendMessage(QStringLiteral("error"), storeError_);
    }
    runsView_->setStore(store_);
    samplesPanel_->setStore(store_);
}

QString MainWindow::studioModelDir(const QString& runName) const {
    const QFileInfo store(storePath_);
    QString name;
    for (const QChar c : runName) name += (c.isLetterOrNumber() || c == '-' || c == '_' || c == '.') ? c : QChar('_');
    const QString base = store.absolutePath() + "/" + store.completeBaseName() + "-models/" +
                         (name.isEmpty() ? QStringLiteral("run") : name) + "-" +
                         QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss"));
    QString dir = base;
    for (int i = 2; QFileInfo::exists(dir); ++i) dir = base + "-" + QString::number(i);
    return dir;
}

bool MainWindow::loadExperiment(const QString& path) {
    form_->setMissingDataHint(QString());
    loadError_.clear();
    try {
        form_->loadFile(path);
    } catch (const std::exception& e) {
        const QString message = tr("Cannot open %1: %2").arg(QDir::toNativeSeparators(path),
                                                              QString::fromStdString(e.what()));
        loadError_ = message;
        statusBar()->showMessage(message, 10000);
        log_->appendMessage(QStringLiteral("error"), message);
        return false;
    }
    updateWindowTitle();
    updateActions();
    return true;
}

bool MainWindow::loadDemo(const QString& path) {
    if (!loadExperiment(path)) return false;
    const QString data = form_->fieldText(QStringLiteral("data.train"));
    form_->setMissingDataHint(
        tr("Demo data missing: run `prefstudio-cli make-data arith --out %1` (the build "
           "normally generates it).")
            .arg(data.isEmpty() ? QStringLiteral("experiments/data/arith-dpo.jsonl") : data));
    if (!form_->isValid()) log_->appendMessage(QStringLiteral("warning"), form_->validationMessage());
    return true;
}

void MainWindow::reportProblem(const QString& message) {
    log_->appendMessage(QStringLiteral("error"), message);
    statusBar()->showMessage(message);
}

bool MainWindow::isRunning() const { return session_->isActive(); }

int64_t MainWindow::lastRunId() const { return session_->storedRunId(); }

QCustomPlot* MainWindow::livePlot() const { return monitor_->plot(); }

void MainWindow::refreshRuns() { runsView_->refresh(); }

bool MainWindow::openStoredRun(qint64 runId) {
    if (isRunning()) {
        statusBar()->showMessage(tr("A run is live: stop it or let it finish before opening a stored run."), 8000);
        return false;
    }
    if (!store_) return false;
    // One record of the run (core's store/run_record.h) feeds every panel, as it feeds the CLI.
    // Its diagnosis follows from a pool thread (diagnoseOpenedRun).
    std::optional<RunRecord> record;
    try {
        if (!store_->find_run(runId)) {
            reportProblem(tr("Run %1 is not in the store any more.").arg(runId));
            runsView_->refresh();
            return false;
        }
        RunRecordOptions options;
        options.diagnose = false;
        record = load_run_record(*store_, runId, options);
    } catch (const std::exception& e) {
        reportProblem(tr("Cannot read run %1: %2").arg(runId).arg(QString::fromStdString(e.what())));
        return false;
    }
    const StoredRun& run = record->run;
    // The run's shape frames the step axis as it did live.
    const auto stepsOf = [&](const char* section) -> int {
        for (const nlohmann::json* j : {&run.resolved_config, &run.config})
            if (j->is_object() && j->contains(section) && (*j)[section].is_object() &&
                (*j)[section].contains("steps") && (*j)[section]["steps"].is_number())
                return (*j)[section]["steps"].get<int>();
        return 0;
    };
    const std::vector<RunEvent>& regimes = record->regime_events;
    const int64_t lastStep = std::max(record->last_step(MetricPhase::Train), record->last_step(MetricPhase::Eval));
    monitor_->beginRun(stepsOf("sft"), std::max<int>(stepsOf("train"), int(lastStep)));
    monitor_->setRewardsRelative(diagnosis_context(run).rewards_relative);
    {
        // The objective the run trained with: whether its nll was a term of the loss.
        ObjectiveConfig objective;
        try {
            const nlohmann::json& j = run.resolved_config.is_object() ? run.resolved_config : run.config;
            if (j.is_object() && j.contains("objective")) {
                nlohmann::json c = j;
                c["data"]["train"] = "unused.jsonl";
                objective = RunConfig::from_json(c).objective;
            }
        } catch (const std::exception&) {
            objective.algorithm = "unknown";
        }
        monitor_->setNllInLoss(nllInLoss(objective));
    }
    // SFT warm-up first, as it was recorded; the monitor takes the series as they are.
    for (const MetricPhase phase : {MetricPhase::Sft, MetricPhase::Train, MetricPhase::Eval})
        for (const MetricSeries& s : record->series(phase)) monitor_->appendSeries(s.name, s.steps, s.values, s.wall_times);
    monitor_->appendEvents(regimes);
    monitor_->refresh();
    diagnosis_->showRecord(*record);
    samplesPanel_->showRun(runId);
    openedRunId_ = runId;
    controls_->showIdle(tr("Showing stored run %1 (%2)")
                            .arg(runId)
                            .arg(QString::fromLatin1(to_string(run.status))));
    const QString name = QString::fromStdString(run.name);
    log_->appendMessage(QStringLiteral("info"),
                        tr("Opened stored run %1 '%2': %3 steps, %4 regime change(s).")
                            .arg(runId)
                            .arg(name)
                            .arg(record->last_step(MetricPhase::Train))
                            .arg(regimes.size()));
    statusBar()->showMessage(tr("Showing stored run %1 '%2'").arg(runId).arg(name), 8000);
    updateWelcome();
    diagnoseOpenedRun(std::make_shared<RunRecord>(std::move(*record)));
    return true;
}

void MainWindow::diagnoseOpenedRun(std::shared_ptr<RunRecord> record) {
    const quint64 generation = ++diagnosisGeneration_;
    diagnosisPool_.start([this, generation, record] {
        QString error;
        try {
            diagnose_run_record(*record);
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(this, [this, generation, record, error] {
            // Another run was opened, a run started, or this one was deleted meanwhile.
            if (generation != diagnosisGeneration_ || openedRunId_ != record->run.id) return;
            if (!error.isEmpty()) {
                reportProblem(tr("Cannot diagnose run %1: %2").arg(record->run.id).arg(error));
            } else {
                diagnosis_->showDiagnosis(*record);
                // The bands show the retrospective phases the diagnosis describes (replacing the
                // live events the run was stored with), as the strip does.
                monitor_->replaceRegimeEvents(record->timeline_events());
                monitor_->refresh();
            }
            if (settling_) {
                const RunStatus status = *settling_;
                settling_.reset();
                emit runSettled(status);
            }
        }, Qt::QueuedConnection);
    });
}

void MainWindow::startRun() {
    if (isRunning() || !form_->isValid() || !store_) return;
    if (onPolicyJob_) {
        statusBar()->showMessage(tr("Wait for the on-policy data (or cancel them) before starting a run."), 5000);
        return;
    }
    RunConfig config = form_->runConfig();
    const nlohmann::json configJson = form_->experimentJson();
    // Built-in models are small (MBs): the studio keeps every run's trained weights, so the
    // Samples tab can show what training changed. Hugging Face models can be gigabytes: they
    // are saved only where the user sets train.save_dir. The resolved config and the trainer's
    // save event record the directory.
    if (!config.train.save_dir && config.model.source.rfind("builtin:", 0) == 0 && !storePath_.isEmpty())
        config.train.save_dir = studioModelDir(QString::fromStdString(config.name)).toStdString();
    beginLiveRun(config);
    try {
        session_->start(config, configJson, store_);
    } catch (const std::exception& e) {
        runFailedToStart(tr("The run could not start: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    log_->appendMessage(QStringLiteral("info"),
                        tr("Run '%1' started (%2, %3 steps).")
                            .arg(QString::fromStdString(config.name),
                                 QString::fromStdString(config.objective.algorithm))
                            .arg(config.train.steps));
    controls_->showIdle(tr("Starting…"));
    setRunState(QStringLiteral("running"));
    updateActions();
    emit runStarted();
}

// What a new or resumed run starts from: empty live plots for its steps, no opened run, no
// diagnosis or error of an earlier run.
void MainWindow::beginLiveRun(const RunConfig& config) {
    monitor_->beginRun(config.sft.steps, config.train.steps);  // also drops the regime bands
    monitor_->setRewardsRelative(rewards_relative_to_reference(config.objective));
    monitor_->setNllInLoss(nllInLoss(config.objective));
    openedRunId_ = 0;
    liveMetrics_ = nlohmann::json::object();
    diagnosis_->clear();
    diagnosis_->setAlgorithm(config.objective.algorithm);
    lastRunError_.clear();
    controls_->setProblem(QString());
}

void MainWindow::runFailedToStart(const QString& message) {
    lastRunError_ = message;
    log_->appendMessage(QStringLiteral("error"), lastRunError_);
    statusBar()->showMessage(lastRunError_, 10000);
    setRunState(QStringLiteral("failed"));
    updateActions();
}

void MainWindow::resumeStoredRun(qint64 runId) {
    if (isRunning() || !store_) return;
    if (onPolicyJob_) {
        statusBar()->showMessage(tr("Wait for the on-policy data (or cancel them) before resuming a run."), 5000);
        return;
    }
    ResumePlan plan;
    try {
        plan = plan_resume(*store_, std::to_string(runId));
    } catch (const std::exception& e) {
        const QString message = tr("Run %1 cannot resume: %2").arg(runId).arg(QString::fromStdString(e.what()));
        log_->appendMessage(QStringLiteral("error"), message);
        statusBar()->showMessage(message, 10000);
        return;
    }
    const RunConfig& config = plan.checkpoint.config;
    beginLiveRun(config);
    try {
        session_->startResumed(plan, store_);
    } catch (const std::exception& e) {
        runFailedToStart(tr("The run could not resume: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    // The live plots show the steps after the checkpoint; the stored run (Open Run) shows all.
    log_->appendMessage(QStringLiteral("info"),
                        tr("Run %1 '%2' resumed from its checkpoint of step %3 (of %4).")
                            .arg(runId)
                            .arg(QString::fromStdString(plan.run.name))
                            .arg(plan.checkpoint.step)
                            .arg(config.train.steps));
    controls_->showIdle(tr("Resuming…"));
    setRunState(QStringLiteral("running"));
    updateActions();
    emit runStarted();
}

void MainWindow::cloneWithRemedy() {
    if (isRunning() || !form_->isValid() || onPolicyJob_) return;
    // The remedy picked in the diagnosis (core's diagnose/remedies.h), as config overrides.
    const std::string remedyId = diagnosis_->selectedRemedyId().isEmpty()
                                     ? std::string("sft_weight")
                                     : diagnosis_->selectedRemedyId().toStdString();
    nlohmann::json j;
    Remedy remedy;
    try {
        remedy = remedy_by_id(remedyId);
        j = apply_remedy(form_->experimentJson(), remedyId, form_->runConfig());
    } catch (const std::exception& e) {
        reportProblem(tr("Cannot clone with this remedy: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    if (remedy.makes_data) {
        // The remedy's data file is named after what decides it: an unchanged experiment reuses
        // the file made before, anything else is made now (on a worker thread).
        const std::string path = j["data"]["train"].get<std::string>();
        if (!std::filesystem::exists(path)) {
            makeOnPolicyData(std::move(j), remedy, path);
            return;
        }
        log_->appendMessage(QStringLiteral("info"),
                            tr("Reusing the on-policy data made before for this experiment: %1").arg(QString::fromStdString(path)));
    }
    finishCloneWithRemedy(std::move(j), remedy);
}

void MainWindow::finishCloneWithRemedy(nlohmann::json j, const Remedy& remedy) {
    // A new, unsaved experiment: data paths made absolute so they still resolve without the
    // original file's directory (a remedy that made its own data file keeps that one).
    const RunConfig& resolved = form_->runConfig();
    if (!j["data"].is_object()) j["data"] = nlohmann::json::object();
    if (!remedy.makes_data) j["data"]["train"] = resolved.data.train;
    if (resolved.data.eval) j["data"]["eval"] = *resolved.data.eval;
    nlohmann::json before = form_->experimentJson();
    // The paths were only made absolute: not a change worth pointing at.
    if (!remedy.makes_data) before["data"]["train"] = j["data"]["train"];
    if (resolved.data.eval) before["data"]["eval"] = j["data"]["eval"];
    const QString origin = QString::fromStdString(before.value("name", std::string()));
    form_->setMissingDataHint(QString());
    form_->setExperiment(j, QString(), true);
    form_->highlightChanges(before, tr("Clone of '%1' with the remedy: %2 (not saved yet).")
                                        .arg(origin, QString::fromStdString(remedy.title)));
    updateWindowTitle();
    updateActions();
    const QString what = QString::fromStdString(remedy.title + " (" + remedy.change + ")");
    log_->appendMessage(QStringLiteral("info"),
                        tr("Cloned the experiment as '%1' with the remedy: %2. Press Run to try it.")
                            .arg(QString::fromStdString(j["name"].get<std::string>()), what));
    statusBar()->showMessage(tr("Experiment cloned with remedy %1: press Run").arg(QString::fromStdString(remedy.title)), 8000);
}

void MainWindow::makeOnPolicyData(nlohmann::json experiment, const Remedy& remedy, const std::string& path) {
    OnPolicyOptions options;
    options.out = path;
    onPolicyJob_ = new OnPolicyDataJob(form_->runConfig(), options, this);
    auto* dialog = new QProgressDialog(tr("Building the reference model…"), tr("Cancel"), 0, 0, this);
    dialog->setWindowTitle(tr("On-policy rejected answers"));
    dialog->setMinimumDuration(300);
    dialog->setMinimumWidth(440);  // room for "Sampling again where ... 35 of 35" without jumping
    dialog->setAutoClose(false);
    dialog->setAutoReset(false);
    connect(dialog, &QProgressDialog::canceled, onPolicyJob_, &OnPolicyDataJob::cancel);
    connect(onPolicyJob_, &OnPolicyDataJob::progressChanged, dialog, [dialog](const QString& text, int done, int total) {
        dialog->setLabelText(text);
        dialog->setMaximum(std::max(total, 0));
        dialog->setValue(std::min(done, std::max(total, 0)));
    });
    auto finish = [this, dialog] {
        dialog->deleteLater();
        onPolicyJob_->deleteLater();
        onPolicyJob_ = nullptr;
        updateActions();
    };
    connect(onPolicyJob_, &OnPolicyDataJob::finished, this,
            [this, finish, experiment, remedy](const OnPolicyReport& r) {
                finish();
                log_->appendMessage(
                    QStringLiteral("info"),
                    tr("Made %1: %2 pairs, %3 rejected answers sampled from the reference model (%4 SFT warm-up steps), "
                       "%5 kept (the model only repeated the chosen answer), in %6 s.")
                        .arg(QString::fromStdString(r.path))
                        .arg(r.pairs)
                        .arg(r.sampled)
                        .arg(r.reference_sft_steps)
                        .arg(r.kept_original)
                        .arg(r.seconds, 0, 'f', 1));
                finishCloneWithRemedy(experiment, remedy);
            });
    connect(onPolicyJob_, &OnPolicyDataJob::failed, this, [this, finish](const QString& message, bool cancelled) {
        finish();
        if (cancelled) {
            log_->appendMessage(QStringLiteral("info"), tr("On-policy data cancelled; the form is unchanged."));
            statusBar()->showMessage(tr("On-policy data cancelled"), 5000);
        } else {
            reportProblem(tr("Could not make the on-policy data: %1").arg(message));
        }
    });
    log_->appendMessage(QStringLiteral("info"),
                        tr("Making on-policy rejected answers with the reference model of '%1' into %2…")
                            .arg(QString::fromStdString(form_->runConfig().name), QString::fromStdString(path)));
    onPolicyJob_->start();
    updateActions();
}

ClusterExportDialog* MainWindow::exportRunForCluster(qint64 runId, bool show) {
    std::optional<StoredRun> run;
    try {
        if (store_) run = store_->find_run(runId);
        if (!run) {
            statusBar()->showMessage(tr("Run %1 is no longer in the store.").arg(runId), 5000);
            return nullptr;
        }
        const RunConfig config = stored_run_config(*run);
        auto* dialog = new ClusterExportDialog(
            config, tr("run %1 '%2'").arg(runId).arg(QString::fromStdString(run->name)), this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        if (show) dialog->open();
        return dialog;
    } catch (const std::exception& e) {
        reportProblem(tr("Cannot export run %1 for a cluster: %2").arg(runId).arg(QString::fromStdString(e.what())));
        return nullptr;
    }
}

ClusterExportDialog* MainWindow::exportExperimentForCluster(bool show) {
    if (!form_->isValid()) {
        reportProblem(tr("Fix the experiment first: the export needs a valid config."));
        return nullptr;
    }
    auto* dialog = new ClusterExportDialog(form_->runConfig(), tr("the current experiment"), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    if (show) dialog->open();
    return dialog;
}

bool MainWindow::cloneStoredRun(qint64 runId) {
    if (isRunning()) {
        statusBar()->showMessage(tr("Stop the live run before cloning another into the form."), 5000);
        return false;
    }
    std::optional<StoredRun> run;
    try {
        if (store_) run = store_->find_run(runId);
    } catch (const std::exception& e) {
        reportProblem(tr("Could not read run %1: %2").arg(runId).arg(QString::fromStdString(e.what())));
        return false;
    }
    if (!run) {
        statusBar()->showMessage(tr("Run %1 is no longer in the store.").arg(runId), 5000);
        return false;
    }
    nlohmann::json j = run->config.is_object() ? run->config : run->resolved_config;
    if (!j.is_object()) j = nlohmann::json::object();
    // The data paths the run actually used: relative ones meant the old config's directory.
    const nlohmann::json& resolved = run->resolved_config;
    if (resolved.is_object() && resolved.contains("data") && resolved["data"].is_object()) {
        if (!j["data"].is_object()) j["data"] = nlohmann::json::object();
        for (const char* key : {"train", "eval"})
            if (resolved["data"].contains(key)) j["data"][key] = resolved["data"][key];
    }
    j["name"] = run->name + "-clone";
    if (!maybeSaveExperiment()) return false;
    form_->setMissingDataHint(QString());
    // What the run had, as the form shows it (defaults filled in), to point at what differs.
    nlohmann::json before = j;
    before["name"] = run->name;
    form_->setExperiment(before);
    before = form_->experimentJson();
    form_->setExperiment(j, QString(), true);
    form_->highlightChanges(before, tr("Clone of run %1 '%2' (not saved yet).").arg(runId).arg(QString::fromStdString(run->name)));
    updateWindowTitle();
    updateActions();
    log_->appendMessage(QStringLiteral("info"),
                        tr("Cloned run %1 (%2) into a new experiment: change what you want to try "
                           "and press Run.").arg(runId).arg(QString::fromStdString(run->name)));
    statusBar()->showMessage(tr("Run %1 cloned into the form").arg(runId), 6000);
    return true;
}

void MainWindow::togglePause() {
    if (!isRunning() || session_->stopRequested()) return;
    if (session_->isPaused()) {
        session_->resume();
        setRunState(QStringLiteral("running"));
    } else {
        session_->pause();
        setRunState(QStringLiteral("paused"));
    }
    // "Paused" in the progress strip and the Runs list, not the phase and "running".
    controls_->setPaused(session_->isPaused());
    runsView_->model()->setPausedRunId(session_->isPaused() ? session_->storedRunId() : 0);
    updateActions();
}

void MainWindow::stopRun() {
    if (!isRunning()) return;
    session_->requestStop();
    setRunState(QStringLiteral("stopping"));
    statusBar()->showMessage(tr("Stopping after the current step…"), 5000);
    updateActions();
}

QString MainWindow::deviceText(const std::string& requested) const {
    // The device a run would get and the memory it offers (the live use is in the run's progress).
    try {
        const std::string device = resolve_device_name(requested);
        QString text = tr("device: %1").arg(QString::fromStdString(device));
        if (requested == "auto") text += tr(" (auto)");
        const int64_t available = device_available_bytes(device);
        if (available > 0) text += tr(" · %1 available").arg(formatBytes(available));
        return text;
    } catch (const std::exception&) {
        return tr("device: %1 (not available here)").arg(QString::fromStdString(requested));
    }
}

void MainWindow::onRunStarted(const RunInfo& info) {
    if (session_->isFollowing()) {
        diagnosis_->setAlgorithm(info.algorithm);
        deviceLabel_->setText(tr("followed: %1").arg(QString::fromStdString(info.source_path)));
    } else if (!info.device.empty()) {
        deviceLabel_->setText(deviceText(info.device));
    }
    // The store row exists now (the store sink sees on_start first): show it as running.
    runsView_->setLiveRunId(session_->storedRunId());
    runsView_->refresh();
    runsView_->selectRun(session_->storedRunId());
    runsRefreshClock_.start();
}

void MainWindow::onProgress(const RunProgress& progress) {
    controls_->showProgress(progress);
    if (runState_ == QLatin1String("running") && progress.total_steps > 0)
        stateLabel_->setText(tr("running: %1 %2/%3")
                                 .arg(phaseLabel(QString::fromStdString(progress.phase)))
                                 .arg(progress.step)
                                 .arg(progress.total_steps));
}

void MainWindow::onRunFinished(RunStatus status, const QString& error,
                               const nlohmann::json& finalMetrics) {
    const QString statusText = QString::fromLatin1(to_string(status));
    const QString duration = formatDuration(session_->elapsedSeconds());
    monitor_->refresh();
    if (status == RunStatus::Failed) {
        lastRunError_ = error.isEmpty() ? tr("The run failed.") : error;
        controls_->showIdle(tr("Failed after %1").arg(duration));
        log_->appendMessage(QStringLiteral("error"), tr("Run failed: %1").arg(lastRunError_));
        statusBar()->showMessage(tr("Run failed: %1").arg(lastRunError_), 15000);
    } else {
        controls_->showIdle(status == RunStatus::Completed ? tr("Completed in %1").arg(duration)
                                                           : tr("Stopped after %1").arg(duration));
        const double chosen = metricValue(finalMetrics, "rewards/chosen");
        const double rejected = metricValue(finalMetrics, "rewards/rejected");
        const double margin = metricValue(finalMetrics, "rewards/margins");
        const double accuracy = metricValue(finalMetrics, "rewards/accuracies");
        log_->appendMessage(QStringLiteral("info"),
                            tr("Run %1 %2 in %3: chosen %4, rejected %5, margin %6, accuracy %7.")
                                .arg(session_->storedRunId())
                                .arg(statusText, duration, formatMetric(chosen),
                                     formatMetric(rejected), formatMetric(margin),
                                     formatMetric(accuracy)));
        statusBar()->showMessage(tr("Run %1.").arg(statusText), 8000);
    }
    setRunState(statusText);
    runsView_->model()->setPausedRunId(0);
    runsView_->setLiveRunId(0);
    runsView_->refresh();
    runsView_->selectRun(session_->storedRunId());
    if (store_ && session_->storedRunId() > 0)  // evidence helper: per-pair tracking
        diagnosis_->loadTrackedPairs(*store_, session_->storedRunId());
    if (session_->storedRunId() > 0) samplesPanel_->showRun(session_->storedRunId());
    // The live label lags by design and may be revised; once the run has ended, the Diagnosis tab
    // shows the stored run's retrospective verdict, as the CLI's `diagnose` does.
    settling_.reset();
    if (store_ && session_->storedRunId() > 0 && status != RunStatus::Failed) {
        if (openStoredRun(session_->storedRunId())) {
            controls_->showIdle(status == RunStatus::Completed ? tr("Completed in %1").arg(duration)
                                                               : tr("Stopped after %1").arg(duration));
            settling_ = status;
        }
    }
    updateActions();
    emit runFinished(status);
    if (!settling_) emit runSettled(status);
}

void MainWindow::setRunState(const QString& state) {
    runState_ = state;
    stateLabel_->setText(state);
    QPalette p = stateLabel_->palette();
    p.setColor(QPalette::WindowText, statusColor(state).darker(120));
    stateLabel_->setPalette(p);
}

void MainWindow::updateActions() {
    const bool running = isRunning();
    QString blocked;
    if (!running) {
        if (!store_) blocked = storeError_;
        else if (!form_->isValid()) blocked = form_->validationMessage();
    }
    runAction_->setEnabled(!running && blocked.isEmpty());
    runAction_->setToolTip(blocked.isEmpty() ? tr("Start the run (Ctrl+R)")
                                             : tr("Cannot run: %1").arg(blocked));
    // A followed run is written by another tool: it can be stopped following, not paused.
    pauseAction_->setEnabled(running && !session_->stopRequested() && !session_->isFollowing());
    pauseAction_->setText(session_->isPaused() ? tr("Resume") : tr("Pause"));
    pauseAction_->setToolTip(QStringLiteral("%1 (%2)").arg(
        pauseAction_->text(), pauseAction_->shortcut().toString(QKeySequence::NativeText)));
    pauseAction_->setIcon(style()->standardIcon(session_->isPaused() ? QStyle::SP_MediaPlay
                                                                     : QStyle::SP_MediaPause));
    stopAction_->setEnabled(running && !session_->stopRequested());
    if (exportClusterAction_) exportClusterAction_->setEnabled(form_->isValid());
    diagnosis_->setCloneEnabled(!running && form_->isValid() && !onPolicyJob_,
                                running        ? tr("Stop the run or let it finish first")
                                : onPolicyJob_ ? tr("The on-policy data are being made")
                                               : tr("Fix the experiment first: %1").arg(form_->validationMessage()));
    // The form describes the next run; editing it mid-run would suggest otherwise.
    form_->setEnabled(!running);
    newAction_->setEnabled(!running);
    openAction_->setEnabled(!running);
    // What stops the next run wins over how the last one ended.
    updateWelcome();
    if (!blocked.isEmpty())
        controls_->setProblem(tr("Cannot run: %1").arg(blocked));
    else if (!running && runState_ == QLatin1String("failed") && !lastRunError_.isEmpty())
        controls_->setProblem(tr("Run failed: %1").arg(lastRunError_));
    else
        controls_->setProblem(QString());
}

void MainWindow::updateWindowTitle() {
    const QString file = form_->filePath().isEmpty() ? tr("new experiment")
                                                     : QFileInfo(form_->filePath()).fileName();
    // "*": changes not saved (issue #19), in the title and where the experiment is shown.
    const QString mark = form_->isModified() ? QStringLiteral("*") : QString();
    setWindowTitle(tr("%1%2 — PrefStudio").arg(mark, file));
    if (formDock_) {
        const QString name = form_->experimentName();
        formDock_->setWindowTitle(name.isEmpty() ? tr("Experiment%1").arg(mark.isEmpty() ? QString() : QStringLiteral(" *"))
                                                 : tr("Experiment: %1%2").arg(name, mark.isEmpty() ? QString() : QStringLiteral(" *")));
    }
}

void MainWindow::newExperiment() {
    if (isRunning() || !maybeSaveExperiment()) return;
    welcomeDismissed_ = true;
    form_->setMissingDataHint(QString());
    form_->setExperiment(RunConfig{}.to_json());
    updateWindowTitle();
}

void MainWindow::openExperiment() {
    if (isRunning() || !maybeSaveExperiment()) return;
    const QString start = form_->filePath().isEmpty() ? QDir::currentPath()
                                                      : QFileInfo(form_->filePath()).absolutePath();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open Experiment"), start,
                                                      tr("Run configs (*.json);;All files (*)"));
    if (!path.isEmpty() && !loadExperiment(path))
        plainWarning(this, tr("Open Experiment"), loadError_);
}

bool MainWindow::saveExperiment() {
    if (form_->filePath().isEmpty()) return saveExperimentAs();
    try {
        form_->saveFile(form_->filePath());
    } catch (const std::exception& e) {
        plainWarning(this, tr("Save Experiment"), QString::fromStdString(e.what()));
        return false;
    }
    updateWindowTitle();
    statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(form_->filePath())), 5000);
    return true;
}

bool MainWindow::saveExperimentAs() {
    QString start = form_->filePath();
    if (start.isEmpty())
        start = QDir::current().filePath(QString::fromStdString(form_->experimentJson().value("name", "experiment")) +
                                         QStringLiteral(".json"));
    QString path = QFileDialog::getSaveFileName(this, tr("Save Experiment As"), start,
                                                tr("Run configs (*.json)"));
    if (path.isEmpty()) return false;
    if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".json");
    try {
        form_->saveFile(path);
    } catch (const std::exception& e) {
        plainWarning(this, tr("Save Experiment"), QString::fromStdString(e.what()));
        return false;
    }
    updateWindowTitle();
    updateActions();
    statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(path)), 5000);
    return true;
}

QString MainWindow::aboutText() const {
    const QString store = storePath_.isEmpty() ? tr("(none)") : QDir::toNativeSeparators(storePath_);
    return tr("<h3>PrefStudio %1</h3><p>A studio for preference optimisation (DPO, KTO, ORPO, "
              "SimPO) of language models.</p><p>Chosen rewards are drawn in green, rejected in "
              "red; eval points as markers.</p>"
              "<table>"
              "<tr><td>PrefStudio</td><td>%1</td></tr>"
              "<tr><td>Qt</td><td>%2 (built with %3)</td></tr>"
              "<tr><td>QCustomPlot</td><td>%4</td></tr>"
              "<tr><td>libtorch</td><td>%7</td></tr>"
              "<tr><td>Run store</td><td>%5%6</td></tr>"
              "</table>")
        .arg(QStringLiteral(PREFSTUDIO_VERSION), QString::fromLatin1(qVersion()),
             QStringLiteral(QT_VERSION_STR), QStringLiteral(QCUSTOMPLOT_VERSION_STR),
             store.toHtmlEscaped(), store_ ? QString() : tr(" (unavailable)"),
             QString::fromStdString(runtime_summary(runtime_info())).toHtmlEscaped());
}

void MainWindow::showAbout() { QMessageBox::about(this, tr("About PrefStudio"), aboutText()); }

void MainWindow::showShortcuts() {
    QString rows;
    for (QAction* a : {runAction_, pauseAction_, stopAction_, newAction_, openAction_, saveAction_,
                       saveAsAction_, importRunAction_, followRunAction_, refreshAction_, followAction_, compareAction_,
                       runsView_->deleteAction(), quitAction_})
        rows += QStringLiteral("<tr><td>%1</td><td><b>%2</b></td></tr>")
                    .arg(a->text().remove('&').remove(QChar(0x2026)).toHtmlEscaped(),
                         a->shortcut().toString(QKeySequence::NativeText).toHtmlEscaped());
    QMessageBox::information(
        this, tr("Keyboard Shortcuts"),
        tr("<table cellspacing='4'>%1</table><p>Plots: hover for values at a step, drag to pan, "
           "wheel to zoom (all panels share the step axis), double-click to follow the run "
           "again. Runs: double-click a row to open a stored run; select two or more and Compare.</p>")
            .arg(rows));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    // An unsaved experiment is never lost silently.
    if (!maybeSaveExperiment()) {
        event->ignore();
        return;
    }
    if (isRunning()) {
        // The engine checks for a stop every step, so this wait is short; the store then
        // records the run as stopped.
        setRunState(QStringLiteral("stopping"));
        statusBar()->showMessage(tr("Stopping the run…"));
        QApplication::setOverrideCursor(Qt::WaitCursor);
        session_->stopAndWait();
        QApplication::restoreOverrideCursor();
    }
    saveSettings();
    event->accept();
}

}  // namespace ps::ui
