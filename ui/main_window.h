// The studio's main window: experiment form (left), live monitor with run controls (centre),
// runs list and run log (bottom). It owns the run store connection and the run session and
// wires their signals to the views; the views know nothing of each other.
#pragma once
#include <functional>
#include <optional>
#include <memory>

#include <QElapsedTimer>
#include <QIcon>
#include <QMainWindow>
#include <QThreadPool>
#include <QString>
#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

class QAction;
class QCustomPlot;
class QLabel;
class QTabWidget;
class QStackedWidget;
class QDockWidget;
class QPushButton;

namespace ps {
class RunStore;
struct RunConfig;
struct Remedy;
struct RunRecord;
}

namespace ps::ui {

class ClusterExportDialog;
class CompareView;

class DatasetPage;
class DiagnosisPanel;
class EventLog;
class ExperimentForm;
class LiveMonitor;
class OnPolicyDataJob;
class RunControls;
class RunSession;
class RunsView;
class SamplesPanel;

// The PrefStudio icon (green and red curves fanning out), every size.
QIcon applicationIcon();

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // Opens (creating) the run store at `storePath`; a store that cannot be opened is
    // reported in the window and disables Run, it does not throw.
    explicit MainWindow(const QString& storePath, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Settings (QSettings "PrefStudio"/"PrefStudio"): the window geometry and dock layout are
    // restored by the constructor and saved, with the store and experiment in use, on close.
    // The store and experiment of the last session, when those files still exist (else empty);
    // the application reopens them when started without --db, --demo or a CONFIG.
    static QString rememberedStorePath();
    static QString rememberedExperimentPath();
    // Writes the settings now (what closing the window does).
    void saveSettings() const;

    // Loads a run-config file into the form; false (with the reason shown) on failure.
    bool loadExperiment(const QString& path);
    QString loadError() const { return loadError_; }
    // Loads the built-in demo; a missing demo dataset is explained, not fatal.
    bool loadDemo(const QString& path);
    // Where the demo config is (the application finds it); the first-start screen offers it.
    void setDemoPath(const QString& path);

    // The first-start screen (no experiment and no runs yet): what to do first. Shown in place of
    // the plots until an experiment is loaded or edited, a run is opened, started or followed.
    QWidget* welcomePage() const { return welcome_; }
    bool isWelcomeShown() const;

    // The answer of the save prompt (Save / Discard / Cancel) comes from `prompt` instead of a
    // dialog (tests); an empty function restores the dialog.
    void setSavePrompt(std::function<int(const QString& question)> prompt) { savePrompt_ = std::move(prompt); }
    // Asks to save a modified experiment before it would be replaced or lost: true when it may
    // go (saved, discarded, or not modified), false when the user cancelled.
    bool maybeSaveExperiment();
    // Fits the window to `available` (a screen's available geometry): no larger than it, and
    // moved onto it when it lies (partly) off it. The constructor does this for the screen.
    void fitToScreen(const QRect& available);

    // Shows a problem that is not about one field (log + status bar, until the next message).
    void reportProblem(const QString& message);

    bool isRunning() const;
    // "idle", "running", "paused", "stopping", or the last run's final status.
    QString runState() const { return runState_; }
    QString lastRunError() const { return lastRunError_; }
    int64_t lastRunId() const;

    // Parts, for tests and the benchmark.
    ExperimentForm* experimentForm() const { return form_; }
    LiveMonitor* liveMonitor() const { return monitor_; }
    QCustomPlot* livePlot() const;
    RunControls* runControls() const { return controls_; }
    RunsView* runsView() const { return runsView_; }
    RunSession* runSession() const { return session_; }
    EventLog* eventLog() const { return log_; }
    DiagnosisPanel* diagnosisPanel() const { return diagnosis_; }
    QTabWidget* bottomTabs() const { return bottomTabs_; }
    std::shared_ptr<RunStore> store() const { return store_; }
    QAction* runAction() const { return runAction_; }
    QAction* pauseAction() const { return pauseAction_; }
    QAction* stopAction() const { return stopAction_; }
    QAction* aboutAction() const { return aboutAction_; }
    QAction* compareAction() const { return compareAction_; }
    QAction* openStoreAction() const { return openStoreAction_; }
    QAction* exportClusterAction() const { return exportClusterAction_; }
    // "Export for Cluster…" on a stored run / on the form's experiment: the dialog (returned, not
    // yet shown, for tests; nullptr with the reason reported when there is nothing to export).
    ClusterExportDialog* exportRunForCluster(qint64 runId, bool show = true);
    ClusterExportDialog* exportExperimentForCluster(bool show = true);
    QAction* importRunAction() const { return importRunAction_; }
    QAction* followRunAction() const { return followRunAction_; }

    // Runs trained with other tools (core/interop): File > Import Run…, File > Follow Run…, and
    // a folder or log file dropped on the window. importRuns stores every run `path` holds
    // (importing a source again updates its run), opens the last one and returns their ids;
    // empty when nothing could be imported (the reason is shown). followRun shows the run
    // `path` holds in the live monitor and diagnosis as it is written, like a native run; with
    // several runs in `path`, `pick` chooses (default: ask). False with the reason shown.
    std::vector<int64_t> importRuns(const QString& path);
    bool followRun(const QString& path, int pick = -1);
    // Opens a comparison window of the given stored runs (at least two); returns it (for tests).
    CompareView* compareRuns(const std::vector<int64_t>& runIds);
    // The text of Help > About: versions of PrefStudio, Qt, QCustomPlot, libtorch, the store.
    QString aboutText() const;
    // The stored run shown in the monitor by openStoredRun (0 when the monitor shows a live
    // run or nothing).
    int64_t openedRunId() const { return openedRunId_; }

public slots:
    void startRun();
    // Continues a stored run from its newest checkpoint (the Runs view's Resume).
    void resumeStoredRun(qint64 runId);
    void togglePause();
    void stopRun();
    void refreshRuns();
    // Loads a stored run's record (core's store/run_record.h) into the monitor and the
    // diagnosis, so a past run can be inspected; its diagnosis and remedies follow from a pool
    // thread (diagnosisPanel()->isDiagnosing() until then). Refused (false, with a message)
    // while a run is live.
    bool openStoredRun(qint64 runId);
    // Puts the current experiment, with the remedy picked in the diagnosis applied (by default
    // objective.sft_weight = 1.0, the RPO remedy for both rewards falling) and a new name, into
    // the form as a new unsaved experiment.
    void cloneWithRemedy();
    // The on-policy data of "clone with remedy" while it is being made (null otherwise).
    OnPolicyDataJob* onPolicyJob() const { return onPolicyJob_; }
    // Puts a stored run's configuration (as its user wrote it, with the data paths it resolved
    // to) into the form as a new unsaved experiment named "<name>-clone". False with a
    // message when the run is gone or a run is live.
    bool cloneStoredRun(qint64 runId);
    // Summarises the form's training data on a pool thread for the Dataset tab and the form.
    void summarizeDataset(const RunConfig& config);
    // File > Open Store: switch to another run store (created if new). Refused while a run
    // is live. Returns whether the new store opened.
    bool switchStore(const QString& path);
    // View > Theme: "system", "light" or "dark"; remembered for the next start.
    void setTheme(const QString& name);
    DatasetPage* datasetPage() const { return datasetPage_; }
    SamplesPanel* samplesPanel() const { return samplesPanel_; }
    // Where a studio run of a built-in model keeps its trained weights when the experiment sets
    // no train.save_dir: a new directory under "<store file name>-models/" next to the store.
    QString studioModelDir(const QString& runName) const;

signals:
    void runStarted();
    void runFinished(ps::RunStatus status);
    // After runFinished, once the Diagnosis tab shows the stored run's retrospective verdict
    // (diagnosed on a worker thread), or at once when there is none to wait for (a failed
    // run, no store): what scripted screenshots and --quit-when-done wait for.
    void runSettled(ps::RunStatus status);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QString deviceText(const std::string& requested) const;
    void diagnoseOpenedRun(std::shared_ptr<RunRecord> record);
    void finishCloneWithRemedy(nlohmann::json experiment, const Remedy& remedy);
    void makeOnPolicyData(nlohmann::json experiment, const Remedy& remedy, const std::string& path);
    void createActions();
    void createMenus();
    void createDocks();
    void restoreSettings();
    void openStore(const QString& path);
    void updateActions();
    void setRunState(const QString& state);
    void updateWindowTitle();
public:
    void newExperiment();
    void openExperiment();
    // Saves to the experiment's file (Save As when it has none); false when not saved.
    bool saveExperiment();
    bool saveExperimentAs();
private:
    // The shared start of a new and a resumed run, and its failure before training.
    void beginLiveRun(const RunConfig& config);
    void runFailedToStart(const QString& message);
    void showAbout();
    QWidget* createWelcomePage();
    void updateWelcome();
    void showShortcuts();

    void onRunStarted(const ps::RunInfo& info);
    void onProgress(const ps::RunProgress& progress);
    void onRunFinished(ps::RunStatus status, const QString& error,
                       const nlohmann::json& finalMetrics);

    std::shared_ptr<RunStore> store_;
    QString storePath_;
    QString storeError_;
    QString runState_ = QStringLiteral("idle");
    QString lastRunError_;
    QString loadError_;

    ExperimentForm* form_ = nullptr;
    LiveMonitor* monitor_ = nullptr;
    RunControls* controls_ = nullptr;
    RunsView* runsView_ = nullptr;
    EventLog* log_ = nullptr;
    DiagnosisPanel* diagnosis_ = nullptr;
    OnPolicyDataJob* onPolicyJob_ = nullptr;
    QTabWidget* bottomTabs_ = nullptr;
    QWidget* diagnosisPage_ = nullptr;  // the scroll area holding diagnosis_
    RunSession* session_ = nullptr;

    QAction* newAction_ = nullptr;
    QAction* openAction_ = nullptr;
    QAction* saveAction_ = nullptr;
    QAction* saveAsAction_ = nullptr;
    QAction* quitAction_ = nullptr;
    QAction* runAction_ = nullptr;
    QAction* pauseAction_ = nullptr;
    QAction* stopAction_ = nullptr;
    QAction* refreshAction_ = nullptr;
    QAction* followAction_ = nullptr;
    QAction* aboutAction_ = nullptr;
    QAction* compareAction_ = nullptr;
    QAction* shortcutsAction_ = nullptr;
    QAction* openStoreAction_ = nullptr;
    QAction* exportClusterAction_ = nullptr;
    QAction* importRunAction_ = nullptr;
    QAction* followRunAction_ = nullptr;
    std::vector<QAction*> themeActions_;  // system, light, dark
    DatasetPage* datasetPage_ = nullptr;
    SamplesPanel* samplesPanel_ = nullptr;
    QString datasetKey_;            // what the dataset page shows (path and data options)
    quint64 datasetGeneration_ = 0;  // drops summaries of files the form no longer names
    int64_t openedRunId_ = 0;
    int64_t selectedRunId_ = 0;  // the run selected in the Runs table when it last changed
    nlohmann::json liveMetrics_ = nlohmann::json::object();  // newest value of each live metric
    QElapsedTimer runsRefreshClock_;  // throttles the runs table refresh during a run

    QWidget* welcome_ = nullptr;
    QStackedWidget* centreStack_ = nullptr;
    QDockWidget* formDock_ = nullptr;
    QPushButton* demoButton_ = nullptr;
    QString demoPath_;
    bool welcomeDismissed_ = false;
    std::function<int(const QString&)> savePrompt_;
    QLabel* storeLabel_ = nullptr;
    QLabel* deviceLabel_ = nullptr;
    QLabel* stateLabel_ = nullptr;
    // Reads dataset summaries off the GUI thread. The window's own pool, not the global one: the
    // destructor waits for it, so no task posts its result to a window that is already gone.
    QThreadPool datasetPool_;
    // Diagnoses opened stored runs off the GUI thread (the segmentation takes up to a second on a
    // run of 100,000 steps); one at a time, the newest open wins (diagnosisGeneration_).
    QThreadPool diagnosisPool_;
    quint64 diagnosisGeneration_ = 0;
    std::optional<ps::RunStatus> settling_;  // a finished run whose stored verdict is on its way
};

}  // namespace ps::ui
