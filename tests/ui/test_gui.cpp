// The studio end to end on the offscreen platform: a real run on the engine thread, plotted
// live, stored, listed; Stop; inline validation. Uses the tiny built-in model and a dataset
// the test writes itself, so it needs nothing from the build but the libraries.
#include <QAbstractButton>
#include <QProcess>
#include <QAction>
#include <QApplication>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QDockWidget>
#include <QRegularExpression>
#include <QTableWidget>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QSlider>
#include <QTableView>
#include <QTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QDir>
#include <QScreen>
#include <QLabel>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>
#include <sqlite3.h>

#include <thread>

#include "tests/common/arith_pairs.h"
#include "core/diagnose/diagnosis.h"
#include "ui/data/dataset_page.h"
#include "ui/experiment/experiment_form.h"
#include "ui/diagnose/regime_timeline.h"
#include "ui/live/diagnosis_panel.h"
#include "ui/live/metric_buffer.h"
#include "ui/live/regime_bands.h"
#include "ui/live/run_session.h"
#include "ui/live/live_monitor.h"
#include "ui/live/run_controls.h"
#include "ui/compare/compare_view.h"
#include "ui/main_window.h"
#include "ui/runs/runs_model.h"
#include "ui/runs/runs_view.h"
#include "core/store/run_record.h"
#include "core/store/run_store.h"

using nlohmann::json;
using ps::ui::MainWindow;

class TestGui : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void settingsRoundTripBetweenWindows();
    void bigSeriesAreDrawnDecimated();
    void metricBufferHandsOverBetweenThreads();
    void completedRunIsPlottedAndStored();
    void stopDuringLongRun();
    void stoppedRunResumesFromTheRunsView();
    void stopRightAfterStart();
    void pauseHoldsTheRun();
    void closeWhileRunningStopsTheRun();
    void failedRunIsReportedNotFatal();
    void unavailableStoreDisablesRun();
    void invalidValueDisablesRun();
    void missingDemoDataIsExplained();
    void formKeepsKeysItDoesNotShow();
    void regimeChangesShadeThePlotsAndExplain();
    void smoothingIsTensorBoardsDebiasedEma();
    void crosshairListsTheValuesAtAStep();
    void stepAxesZoomTogether();
    void storedRunOpensInTheMonitor();
    void diagnosisFollowsTheSelectedRun();
    void liveHeadlineStripAndBandsAgree();
    void runsFilterAndDelete();
    void tagsNotesAndCloneRun();
    void datasetTabFollowsTheForm();
    void aboutListsVersions();
    void liveRunRowFollowsTheRun();
    void compareSelectedRunsOpensAComparison();
    void interruptedRunIsShownSo();

private:
    // Writes the dataset and a config with `train` merged over the defaults; returns its path.
    QString writeConfig(const json& trainOverrides, const QString& fileName = "exp.json");
    QString storePath() const { return dir_->filePath("runs.db"); }
    static QAbstractButton* buttonFor(MainWindow& window, QAction* action);
    static void clickRun(MainWindow& window);

    std::unique_ptr<QTemporaryDir> dir_;
    QString dataPath_;
    QTemporaryDir settingsDir_;  // QSettings of the whole test run: never the user's
};

void TestGui::initTestCase() {
    QVERIFY(settingsDir_.isValid());
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir_.path());
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
    QSettings settings(QStringLiteral("PrefStudio"), QStringLiteral("PrefStudio"));
    QVERIFY2(settings.fileName().startsWith(settingsDir_.path()), qPrintable(settings.fileName()));
}

void TestGui::init() {
    QSettings(QStringLiteral("PrefStudio"), QStringLiteral("PrefStudio")).clear();  // each test starts fresh
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    dataPath_ = dir_->filePath("pairs.jsonl");
    QVERIFY(ps::test::write_arith_pairs(dataPath_.toStdString(), 20));
}

void TestGui::metricBufferHandsOverBetweenThreads() {
    // The engine thread appends while the GUI thread drains: nothing lost, order kept.
    ps::ui::MetricBuffer buffer;
    constexpr int kSteps = 20000;
    std::thread producer([&] {
        ps::RunInfo info;
        info.name = "synthetic";
        buffer.on_start(info);
        for (int s = 1; s <= kSteps; ++s) {
            ps::StepMetrics m;
            m.step = s;
            m.set("rewards/chosen", 0.001 * s);
            buffer.on_metrics(m);
            ps::RunProgress p;
            p.step = s;
            buffer.on_progress(p);
        }
        buffer.on_finish(ps::RunStatus::Completed, {{"rewards/chosen", 0.001 * kSteps}}, "");
    });
    int64_t expected = 1;
    bool started = false, finished = false;
    int64_t lastProgress = 0;
    while (!finished) {
        ps::ui::DrainedRun d = buffer.drain();
        started = started || d.started.has_value();
        for (const auto& m : d.metrics) QCOMPARE(m.step, expected++);
        if (d.progress) {
            QVERIFY(d.progress->step >= lastProgress);
            lastProgress = d.progress->step;
        }
        if (d.finished) {
            finished = true;
            QCOMPARE(d.finished->status, ps::RunStatus::Completed);
        }
    }
    producer.join();
    QVERIFY(started);
    QCOMPARE(expected, int64_t(kSteps + 1));
    QCOMPARE(lastProgress, int64_t(kSteps));
    QVERIFY(buffer.drain().empty());
}

QString TestGui::writeConfig(const json& trainOverrides, const QString& fileName) {
    json config = {{"name", "gui-test"},
                   {"seed", 0},
                   {"model", {{"source", "builtin:tiny"}}},
                   {"data", {{"train", dataPath_.toStdString()}}},
                   {"sft", {{"steps", 5}, {"learning_rate", 1e-3}}},
                   {"objective", {{"algorithm", "dpo"}, {"beta", 0.1}}},
                   {"train", {{"steps", 10}, {"batch_size", 4}, {"eval_every", 5},
                              {"learning_rate", 5e-4}, {"warmup_steps", 2}}}};
    if (trainOverrides.is_object()) config["train"].update(trainOverrides);
    const QString path = dir_->filePath(fileName);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) return QString();
    file.write(QByteArray::fromStdString(config.dump(2)));
    return path;
}

QAbstractButton* TestGui::buttonFor(MainWindow& window, QAction* action) {
    for (QToolButton* button : window.runControls()->findChildren<QToolButton*>())
        if (button->defaultAction() == action) return button;
    return nullptr;
}

void TestGui::clickRun(MainWindow& window) {
    QAbstractButton* run = buttonFor(window, window.runAction());
    QVERIFY(run);
    QVERIFY2(run->isEnabled(), qPrintable(window.experimentForm()->validationMessage()));
    QTest::mouseClick(run, Qt::LeftButton);
    QVERIFY2(window.isRunning(), qPrintable(window.lastRunError()));
}

void TestGui::completedRunIsPlottedAndStored() {
    MainWindow window(storePath());
    QVERIFY2(window.loadExperiment(writeConfig({})), qPrintable(window.loadError()));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));

    QSignalSpy settled(&window, &MainWindow::runSettled);
    clickRun(window);
    QVERIFY(!window.runAction()->isEnabled());
    QVERIFY(window.stopAction()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 120000);
    QCOMPARE(window.runState(), QStringLiteral("completed"));
    // Once settled, the Diagnosis tab shows the stored run's retrospective verdict: the same
    // headline as `prefstudio-cli diagnose` (core's diagnosis of the stored record).
    QTRY_COMPARE_WITH_TIMEOUT(settled.count(), 1, 30000);
    {
        ps::RunRecord record = ps::load_run_record(*window.store(), window.lastRunId());
        ps::diagnose_run_record(record);
        QCOMPARE(window.diagnosisPanel()->headline(),
                 QString::fromStdString(record.diagnosis.at("headline").get<std::string>()));
        // The answer check (on for built-in models) is in the verdict and on the plot.
        QVERIFY(!record.diagnosis.at("answer_check").is_null());
    }
    QVERIFY(window.liveMonitor()->pointCount("eval/answers/chosen") >= 2);  // step 0 and the evals
    QVERIFY2(window.lastRunError().isEmpty(), qPrintable(window.lastRunError()));

    ps::ui::LiveMonitor* monitor = window.liveMonitor();
    QVERIFY(monitor->plot() == window.livePlot());
    QVERIFY2(monitor->pointCount("rewards/chosen") >= 10,
             qPrintable(QString::number(monitor->pointCount("rewards/chosen"))));
    QVERIFY(monitor->pointCount("rewards/rejected") >= 10);
    QVERIFY(monitor->pointCount("rewards/margins") >= 10);
    QVERIFY(monitor->pointCount("loss") >= 10);
    QVERIFY(monitor->pointCount("rewards/accuracies") >= 10);
    QVERIFY(monitor->pointCount("eval/rewards/chosen") >= 1);  // eval_every 5
    QVERIFY(monitor->pointCount("sft/loss") >= 1);              // 5 warm-up steps

    ps::ui::RunsView* runs = window.runsView();
    QCOMPARE(runs->runCount(), 1);
    const int64_t id = window.lastRunId();
    QVERIFY(id > 0);
    QCOMPARE(runs->statusOfRun(id), QStringLiteral("completed"));
    // Final metrics reach the table.
    const QModelIndex chosen = runs->model()->index(0, ps::ui::RunsModel::ChosenColumn);
    QVERIFY(!runs->model()->data(chosen).toString().isEmpty());

    const auto series = window.store()->load_metrics(id);
    QVERIFY(!series.empty());
    bool foundChosen = false;
    for (const auto& s : series)
        if (s.name == "rewards/chosen") {
            foundChosen = true;
            QCOMPARE(int(s.values.size()), 10);
        }
    QVERIFY(foundChosen);
    QVERIFY(window.runAction()->isEnabled());  // ready for the next run
}

void TestGui::stopDuringLongRun() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
    window.show();
    clickRun(window);
    // Stop once preference training is visibly under way.
    QTRY_VERIFY_WITH_TIMEOUT(window.liveMonitor()->pointCount("rewards/chosen") >= 3, 120000);
    QAbstractButton* stop = buttonFor(window, window.stopAction());
    QVERIFY(stop && stop->isEnabled());
    QElapsedTimer clock;
    clock.start();
    QTest::mouseClick(stop, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 10000);
    qInfo("stopped %lld ms after the click", static_cast<long long>(clock.elapsed()));
    QCOMPARE(window.runState(), QStringLiteral("stopped"));
    QCOMPARE(window.runsView()->statusOfRun(window.lastRunId()), QStringLiteral("stopped"));
    const auto stored = window.store()->find_run(window.lastRunId());
    QVERIFY(stored.has_value());
    QCOMPARE(stored->status, ps::RunStatus::Stopped);
    QVERIFY(window.liveMonitor()->pointCount("rewards/chosen") < 10000);
}

// A stopped run with a checkpoint resumes from the Runs view (the same run, to completion); a
// completed one cannot.
void TestGui::stoppedRunResumesFromTheRunsView() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 400}, {"checkpoint_every", 10}, {"threads", 1}})));
    window.show();
    clickRun(window);
    QTRY_VERIFY_WITH_TIMEOUT(window.liveMonitor()->pointCount("rewards/chosen") >= 25, 120000);
    QTest::mouseClick(buttonFor(window, window.stopAction()), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 10000);
    const int64_t id = window.lastRunId();
    QCOMPARE(window.store()->find_run(id)->status, ps::RunStatus::Stopped);

    ps::ui::RunsView* runs = window.runsView();
    runs->selectRun(id);
    QVERIFY(runs->resumeAction()->isEnabled());
    runs->resumeAction()->trigger();
    QVERIFY(window.isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 120000);
    QCOMPARE(window.runState(), QStringLiteral("completed"));
    QCOMPARE(window.store()->list_runs().size(), size_t(1));
    QCOMPARE(window.store()->find_run(id)->status, ps::RunStatus::Completed);
    const auto loss = window.store()->load_metric(id, "loss");
    QCOMPARE(loss.steps.size(), size_t(400));  // every step once
    QCOMPARE(loss.steps.front(), int64_t(1));
    QCOMPARE(loss.steps.back(), int64_t(400));
    runs->selectRun(id);
    QVERIFY(!runs->resumeAction()->isEnabled());  // completed
}

void TestGui::stopRightAfterStart() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
    window.show();
    clickRun(window);
    window.stopAction()->trigger();  // during data loading / warm-up
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 30000);
    QCOMPARE(window.runState(), QStringLiteral("stopped"));
    if (window.lastRunId() > 0)
        QCOMPARE(window.runsView()->statusOfRun(window.lastRunId()), QStringLiteral("stopped"));
}

void TestGui::pauseHoldsTheRun() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
    window.show();
    clickRun(window);
    QTRY_VERIFY_WITH_TIMEOUT(window.liveMonitor()->pointCount("rewards/chosen") >= 2, 120000);
    window.pauseAction()->trigger();
    QCOMPARE(window.runState(), QStringLiteral("paused"));
    QCOMPARE(window.pauseAction()->text(), QStringLiteral("Resume"));
    QTest::qWait(500);  // the step in flight lands
    const int held = window.liveMonitor()->pointCount("rewards/chosen");
    QTest::qWait(800);
    QCOMPARE(window.liveMonitor()->pointCount("rewards/chosen"), held);
    window.pauseAction()->trigger();
    QCOMPARE(window.runState(), QStringLiteral("running"));
    QTRY_VERIFY_WITH_TIMEOUT(window.liveMonitor()->pointCount("rewards/chosen") > held, 30000);
    // Stop from paused works too.
    window.pauseAction()->trigger();
    window.stopAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 10000);
    QCOMPARE(window.runState(), QStringLiteral("stopped"));
}

void TestGui::closeWhileRunningStopsTheRun() {
    int64_t id = 0;
    {
        MainWindow window(storePath());
        QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
        window.show();
        clickRun(window);
        QTRY_VERIFY_WITH_TIMEOUT(window.lastRunId() > 0, 60000);
        id = window.lastRunId();
        QElapsedTimer clock;
        clock.start();
        QVERIFY(window.close());
        QVERIFY(!window.isRunning());
        QVERIFY2(clock.elapsed() < 15000, "closing waited too long for the engine");
    }
    ps::RunStore store(storePath().toStdString());
    const auto stored = store.find_run(id);
    QVERIFY(stored.has_value());
    QCOMPARE(stored->status, ps::RunStatus::Stopped);
}

void TestGui::failedRunIsReportedNotFatal() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({})));
    // A folder that is no model disables Run with the reason (issue #19)...
    QVERIFY(window.experimentForm()->setFieldText("model.source", dir_->filePath("no-such-model")));
    QVERIFY(!window.runAction()->isEnabled());
    QVERIFY(window.runControls()->problem().contains(QStringLiteral("no-such-model")));
    // ... one that looks like a model (config.json, tokenizer.json) but has no weights passes the
    // checks: the engine fails while preparing.
    QVERIFY(QDir(dir_->path()).mkpath("broken-model"));
    for (const auto& [name, text] : {std::pair<const char*, const char*>{"config.json",
             R"({"model_type": "qwen2", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1})"},
                                     std::pair<const char*, const char*>{"tokenizer.json", "{}"}}) {
        QFile f(dir_->filePath(QStringLiteral("broken-model/") + name));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(text);
    }
    QVERIFY(window.experimentForm()->setFieldText("model.source", dir_->filePath("broken-model")));
    QVERIFY2(window.experimentForm()->isValid(), qPrintable(window.experimentForm()->validationMessage()));
    window.show();
    clickRun(window);
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 60000);
    QCOMPARE(window.runState(), QStringLiteral("failed"));
    QVERIFY(!window.lastRunError().isEmpty());
    QVERIFY(window.runControls()->problem().contains(window.lastRunError()));
    if (window.lastRunId() > 0)
        QCOMPARE(window.runsView()->statusOfRun(window.lastRunId()), QStringLiteral("failed"));
    QVERIFY(window.runAction()->isEnabled());  // fix it and try again
}

void TestGui::unavailableStoreDisablesRun() {
    // A store under a regular file cannot be created.
    const QString blocker = dir_->filePath("file");
    QFile f(blocker);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    MainWindow window(blocker + "/runs.db");
    QVERIFY(window.loadExperiment(writeConfig({})));
    QVERIFY(window.experimentForm()->isValid());
    QVERIFY(!window.store());
    QVERIFY(!window.runAction()->isEnabled());
    QVERIFY2(window.runControls()->problem().contains("store"),
             qPrintable(window.runControls()->problem()));
}

void TestGui::invalidValueDisablesRun() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({})));
    ps::ui::ExperimentForm* form = window.experimentForm();
    QVERIFY2(form->isValid(), qPrintable(form->validationMessage()));
    QVERIFY(window.runAction()->isEnabled());

    QVERIFY(form->setFieldText("train.learning_rate", "0"));
    QVERIFY(!window.runAction()->isEnabled());
    QVERIFY2(form->validationMessage().contains("train.learning_rate"),
             qPrintable(form->validationMessage()));
    QVERIFY(window.runControls()->problem().contains("train.learning_rate"));
    QVERIFY(window.runAction()->toolTip().contains("train.learning_rate"));

    QVERIFY(form->setFieldText("train.learning_rate", "not a number"));
    QVERIFY(form->validationMessage().contains("train.learning_rate"));

    QVERIFY(form->setFieldText("train.learning_rate", "5e-4"));
    QVERIFY(window.runAction()->isEnabled());
    QVERIFY(window.runControls()->problem().isEmpty());

    QVERIFY(form->setFieldText("train.steps", "0"));
    QVERIFY(!window.runAction()->isEnabled());
    QVERIFY2(form->validationMessage().contains("train.steps"), qPrintable(form->validationMessage()));
    QVERIFY(form->setFieldText("train.steps", "10"));
    QVERIFY(window.runAction()->isEnabled());

    QVERIFY(form->setFieldText("objective.beta", "-1"));
    QVERIFY(form->validationMessage().contains("objective.beta"));
    QVERIFY(!window.runAction()->isEnabled());
    // Run refuses quietly even when called directly.
    window.startRun();
    QVERIFY(!window.isRunning());
}

void TestGui::missingDemoDataIsExplained() {
    MainWindow window(storePath());
    json config = {{"name", "demo-dpo"}, {"data", {{"train", "no-such-dir/arith-dpo.jsonl"}}}};
    const QString path = dir_->filePath("demo.json");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(QByteArray::fromStdString(config.dump()));
    file.close();
    QVERIFY(window.loadDemo(path));
    QVERIFY(!window.runAction()->isEnabled());
    const QString message = window.experimentForm()->validationMessage();
    QVERIFY2(message.contains("Demo data missing") && message.contains("make-data arith"),
             qPrintable(message));
}

void TestGui::formKeepsKeysItDoesNotShow() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"max_grad_norm", 0.5}, {"grad_accum", 2}})));
    ps::ui::ExperimentForm* form = window.experimentForm();
    QVERIFY(form->setFieldText("objective.algorithm", "simpo"));
    QVERIFY(form->setFieldText("objective.beta", "0.25"));
    const json merged = form->experimentJson();
    QCOMPARE(merged["train"]["max_grad_norm"].get<double>(), 0.5);
    QCOMPARE(merged["train"]["grad_accum"].get<int>(), 2);
    QCOMPARE(merged["objective"]["beta"].get<double>(), 0.25);
    QCOMPARE(merged["objective"]["algorithm"].get<std::string>(), std::string("simpo"));
    QVERIFY(form->isValid());
    QCOMPARE(form->runConfig().train.grad_accum, 2);

    // Save and load back: same JSON.
    const QString saved = dir_->filePath("saved.json");
    form->saveFile(saved);
    QVERIFY(window.loadExperiment(saved));
    QVERIFY2(form->experimentJson() == merged, form->experimentJson().dump().c_str());
}

namespace {

// A preference-training record; rewards fall after step 60 (both), as the detector would see.
ps::StepMetrics trainingRecord(int64_t step) {
    ps::StepMetrics m;
    m.step = step;
    const double drop = step > 60 ? 0.01 * double(step - 60) : 0.0;
    const double chosen = 0.002 * double(step) - drop;
    const double rejected = -0.003 * double(step) - 1.5 * drop;
    m.set("loss", 0.69);
    m.set("rewards/chosen", chosen);
    m.set("rewards/rejected", rejected);
    m.set("rewards/margins", chosen - rejected);
    m.set("rewards/accuracies", 0.7);
    return m;
}

std::vector<ps::StepMetrics> trainingRecords(int64_t first, int64_t last) {
    std::vector<ps::StepMetrics> batch;
    for (int64_t s = first; s <= last; ++s) batch.push_back(trainingRecord(s));
    return batch;
}

ps::RunEvent regimeEvent(const std::string& from, const std::string& to, int64_t since,
                         int64_t declared, const std::string& message) {
    ps::RunEvent e;
    e.step = declared;
    e.kind = "regime";
    e.message = message;
    e.data = {{"from", from}, {"to", to}, {"since_step", since}, {"declared_step", declared},
              {"chosen", {{"trend", to == "both_falling" ? "falling" : "rising"}}},
              {"rejected", {{"trend", "falling"}}}};
    return e;
}

// The band items (QCPItemRect) the plot draws inside `rect`.
std::vector<QCPItemRect*> bandsIn(QCustomPlot* plot, QCPAxisRect* rect) {
    std::vector<QCPItemRect*> bands;
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto* r = qobject_cast<QCPItemRect*>(plot->item(i)))
            if (r->clipAxisRect() == rect) bands.push_back(r);
    return bands;
}

}  // namespace

void TestGui::regimeChangesShadeThePlotsAndExplain() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::RunSession* session = window.runSession();
    ps::ui::LiveMonitor* monitor = window.liveMonitor();
    ps::ui::DiagnosisPanel* panel = window.diagnosisPanel();
    QCustomPlot* plot = window.livePlot();
    QCPAxisRect* rewards = monitor->rewardsAxisRect();
    QCPAxisRect* margin = monitor->marginAxisRect();
    QVERIFY(rewards && margin && rewards != margin);

    // The same path a drain tick takes: RunSession's signals, then one replot.
    const auto tick = [&](const std::vector<ps::StepMetrics>& metrics,
                          const std::vector<ps::RunEvent>& events) {
        if (!metrics.empty()) emit session->metricsArrived(metrics);
        if (!events.empty()) emit session->eventsArrived(events);
        emit session->tickFinished();
    };
    tick(trainingRecords(1, 40), {regimeEvent("warming_up", "healthy", 30, 40, "Healthy.")});
    QVERIFY(bandsIn(plot, rewards).empty());  // healthy: no band
    QVERIFY(panel->headline().contains("Healthy"));

    tick(trainingRecords(41, 75),
         {regimeEvent("healthy", "both_falling", 60, 75,
                      "Both rewards are falling: the policy is moving away from the chosen answers.")});
    auto open = bandsIn(plot, rewards);
    QCOMPARE(int(open.size()), 1);
    QCOMPARE(open[0]->topLeft->coords().x(), 60.0);
    QCOMPARE(open[0]->bottomRight->coords().x(), 75.0);
    // The open band grows with the run.
    tick(trainingRecords(76, 100), {});
    QCOMPARE(open[0]->bottomRight->coords().x(), 100.0);
    QCOMPARE(int(bandsIn(plot, margin).size()), 1);

    const QString headline = panel->headline().toLower();
    QVERIFY2(headline.contains("both") && headline.contains("falling") && headline.contains("60"),
             qPrintable(headline));
    QVERIFY(panel->explanation().contains("moving away"));
    QVERIFY2(panel->decomposition().contains("from chosen") &&
                 panel->decomposition().contains("from rejected"),
             qPrintable(panel->decomposition()));
    QVERIFY(panel->remedies().contains("sft_weight"));
    QVERIFY(panel->remedies().contains("dpop_lambda"));
    QVERIFY(!panel->cloneButton()->isHidden());
    // Clone with remedy: a new experiment in the form with an SFT term on chosen.
    panel->cloneButton()->click();
    QCOMPARE(window.experimentForm()->experimentJson()["objective"]["sft_weight"].get<double>(), 1.0);
    QVERIFY(window.experimentForm()->isValid());
    QVERIFY(window.experimentForm()->filePath().isEmpty());  // a new, unsaved experiment
    QVERIFY(window.bottomTabs()->tabText(window.bottomTabs()->currentIndex()).contains("Diagnosis"));

    tick(trainingRecords(101, 170), {regimeEvent("both_falling", "healthy", 150, 165, "Healthy again.")});
    tick(trainingRecords(171, 200), {});
    const auto closed = bandsIn(plot, rewards);
    QCOMPARE(int(closed.size()), 1);
    QCOMPARE(closed[0]->topLeft->coords().x(), 60.0);
    QCOMPARE(closed[0]->bottomRight->coords().x(), 149.0);
    // Full height of the panel, whatever the rewards' range.
    QCOMPARE(closed[0]->topLeft->typeY(), QCPItemPosition::ptAxisRectRatio);
    QCOMPARE(closed[0]->topLeft->coords().y(), 0.0);
    QCOMPARE(closed[0]->bottomRight->coords().y(), 1.0);
    QCOMPARE(closed[0]->layer()->index() < plot->layer("main")->index(), true);
    const auto marginBands = bandsIn(plot, margin);
    QCOMPARE(int(marginBands.size()), 1);
    QCOMPARE(marginBands[0]->bottomRight->coords().x(), 149.0);
    QCOMPARE(int(monitor->regimeBands().stretches().size()), 3);
    QVERIFY(panel->headline().contains("Healthy since step 150"));
    QVERIFY(panel->remedies().isEmpty());

    // A new run starts from a clean slate.
    clickRun(window);
    QVERIFY(bandsIn(plot, rewards).empty());
    QVERIFY(bandsIn(plot, margin).empty());
    QVERIFY(monitor->regimeBands().stretches().empty());
    QVERIFY(panel->regime().isEmpty());
    QVERIFY(!panel->headline().contains("falling"));
    window.stopAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 30000);
}

namespace {

std::vector<double> graphValues(const QCPGraph* graph) {
    std::vector<double> v;
    for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it)
        v.push_back(it->value);
    return v;
}

ps::StepMetrics record(int64_t step, std::initializer_list<std::pair<const char*, double>> values) {
    ps::StepMetrics m;
    m.step = step;
    for (const auto& [name, value] : values) m.set(name, value);
    return m;
}

// Accepts (or cancels) the next modal message box once it is up.
void answerNextMessageBox(QMessageBox::StandardButton button) {
    QTimer::singleShot(20, [button] {
        auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
        if (!box) {
            answerNextMessageBox(button);  // not up yet
            return;
        }
        box->button(button)->click();
    });
}

// A finished run in the store with known values: `steps` training steps, 3 SFT steps, and
// (optionally) one both-falling regime change at step 10.
int64_t storeRun(ps::RunStore& store, const std::string& name, const std::string& algorithm,
                 int steps, bool withRegime) {
    ps::RunInfo info;
    info.name = name;
    info.algorithm = algorithm;
    info.model = "builtin:tiny";
    info.config = {{"name", name}};
    info.resolved_config = {{"sft", {{"steps", 3}}}, {"train", {{"steps", steps}}}};
    const int64_t id = store.create_run(info);
    std::vector<ps::StepMetrics> batch;
    for (int s = 1; s <= 3; ++s) batch.push_back(record(s, {{"sft/loss", 2.0 - 0.1 * s}}));
    for (int s = 1; s <= steps; ++s) batch.push_back(trainingRecord(s));
    store.append_metrics(id, batch);
    if (withRegime)
        store.append_events(id, {regimeEvent("healthy", "both_falling", 10, 15,
                                              "Both rewards are falling: moving away.")});
    store.finish_run(id, ps::RunStatus::Completed, {{"rewards/chosen", 0.1}}, "", 1.0);
    return id;
}

}  // namespace

void TestGui::smoothingIsTensorBoardsDebiasedEma() {
    ps::ui::LiveMonitor monitor;
    monitor.resize(1000, 700);
    monitor.beginRun(0, 10);
    QCOMPARE(monitor.smoothing(), 0.6);
    monitor.appendMetrics({record(1, {{"rewards/chosen", 0.0}, {"eval/loss", 0.5}}),
                           record(2, {{"rewards/chosen", 1.0}})});
    monitor.refresh();
    QCPGraph* smoothed = monitor.smoothedGraph("rewards/chosen");
    QVERIFY(smoothed);
    QVERIFY(!monitor.smoothedGraph("eval/loss"));  // eval markers stay raw
    QCOMPARE(monitor.pointCount("rewards/chosen"), 2);
    // last = 0.6*last + 0.4*y; shown last / (1 - 0.6^n): 0 -> 0, then 0.4 / 0.64 = 0.625.
    auto v = graphValues(smoothed);
    QCOMPARE(int(v.size()), 2);
    QCOMPARE(v[0], 0.0);
    QVERIFY(std::abs(v[1] - 0.625) < 1e-12);
    // The raw values stay, faint.
    QCOMPARE(graphValues(monitor.rawGraph("rewards/chosen")), (std::vector<double>{0.0, 1.0}));
    QVERIFY(monitor.rawGraph("rewards/chosen")->pen().color().alpha() < 100);
    QCOMPARE(smoothed->pen().color().alpha(), 255);

    // The live path appends incrementally and agrees with a full recompute.
    monitor.appendMetrics({record(3, {{"rewards/chosen", 2.0}})});
    const auto expected = ps::ui::LiveMonitor::smoothSeries({0.0, 1.0, 2.0}, 0.6);
    v = graphValues(smoothed);
    QCOMPARE(int(v.size()), 3);
    QVERIFY(std::abs(v[2] - expected[2]) < 1e-12);
    // NaN is skipped, not folded into the average.
    const auto withNan = ps::ui::LiveMonitor::smoothSeries({0.0, std::nan(""), 1.0}, 0.6);
    QVERIFY(std::isnan(withNan[1]));
    QVERIFY(std::abs(withNan[2] - 0.625) < 1e-12);

    // The slider recomputes every smoothed curve at once.
    monitor.smoothingSlider()->setValue(0);
    QCOMPARE(monitor.smoothing(), 0.0);
    QCOMPARE(graphValues(smoothed), (std::vector<double>{0.0, 1.0, 2.0}));
    monitor.smoothingSlider()->setValue(90);
    v = graphValues(smoothed);
    QVERIFY(std::abs(v[1] - 0.1 / (1 - 0.81)) < 1e-9);
    QVERIFY(std::abs(v[2] - ps::ui::LiveMonitor::smoothSeries({0.0, 1.0, 2.0}, 0.9)[2]) < 1e-12);
    QCOMPARE(graphValues(monitor.rawGraph("eval/loss")), (std::vector<double>{0.5}));
}

void TestGui::crosshairListsTheValuesAtAStep() {
    ps::ui::LiveMonitor monitor;
    monitor.resize(1200, 800);
    monitor.show();
    QVERIFY(QTest::qWaitForWindowExposed(&monitor));
    monitor.beginRun(0, 20);
    std::vector<ps::StepMetrics> batch;
    for (int s = 1; s <= 20; ++s)
        batch.push_back(record(s, {{"rewards/chosen", 0.123456 * s},
                                   {"rewards/rejected", -0.0543219 * s},
                                   {"rewards/margins", 0.1777779 * s},
                                   {"loss", 0.6931472},
                                   {"rewards/accuracies", 0.75}}));
    batch[9].set("eval/rewards/chosen", 0.3333333);
    monitor.appendMetrics(batch);
    monitor.refresh();

    QCPAxisRect* loss = monitor.axisRect(2);
    const QPoint at(int(std::lround(loss->axis(QCPAxis::atBottom)->coordToPixel(10))),
                    loss->center().y());
    QTest::mouseMove(monitor.plot(), at);
    QTRY_VERIFY(monitor.crosshairVisible());
    QCOMPARE(monitor.crosshairStep(), 10.0);
    const QString text = monitor.crosshairText();
    for (const char* expected : {"step 10", "rewards/chosen: 1.235", "rewards/rejected: -0.5432",
                                 "rewards/margins: 1.778", "loss: 0.6931", "rewards/accuracies: 0.75",
                                 "eval/rewards/chosen: 0.3333"})
        QVERIFY2(text.contains(QLatin1String(expected)), qPrintable(expected + (" in:\n" + text)));
    QVERIFY2(text.contains("smoothed"), qPrintable(text));  // w = 0.6: both values shown
    // Elsewhere, the eval value is not listed.
    monitor.showCrosshairAt(4);
    QVERIFY(!monitor.crosshairText().contains("eval/"));
    QVERIFY(monitor.crosshairText().contains("rewards/chosen: 0.4938"));
    monitor.hideCrosshair();
    QVERIFY(!monitor.crosshairVisible());
}

void TestGui::stepAxesZoomTogether() {
    ps::ui::LiveMonitor monitor;
    monitor.resize(1000, 700);
    monitor.show();
    QVERIFY(QTest::qWaitForWindowExposed(&monitor));
    monitor.beginRun(0, 100);
    monitor.appendMetrics(trainingRecords(1, 100));
    monitor.refresh();
    monitor.axisRect(0)->axis(QCPAxis::atBottom)->setRange(20, 30);
    for (int i = 1; i < 4; ++i) {
        const QCPRange r = monitor.axisRect(i)->axis(QCPAxis::atBottom)->range();
        QCOMPARE(r.lower, 20.0);
        QCOMPARE(r.upper, 30.0);
    }
    // A wheel zoom on one panel stops following; a double-click follows the run again.
    QCPAxisRect* margin = monitor.axisRect(1);
    QWheelEvent wheel(QPointF(margin->center()), monitor.plot()->mapToGlobal(QPointF(margin->center())),
                      QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(monitor.plot(), &wheel);
    QVERIFY(!monitor.following());
    const QCPRange zoomed = monitor.axisRect(1)->axis(QCPAxis::atBottom)->range();
    QVERIFY(zoomed.size() < 10.0);
    QCOMPARE(monitor.axisRect(3)->axis(QCPAxis::atBottom)->range().lower, zoomed.lower);
    QTest::mouseDClick(monitor.plot(), Qt::LeftButton, {}, margin->center());
    QVERIFY(monitor.following());
    for (int i = 0; i < 4; ++i)
        QVERIFY(monitor.axisRect(i)->axis(QCPAxis::atBottom)->range().upper >= 100.0);
}

void TestGui::storedRunOpensInTheMonitor() {
    MainWindow window(storePath());
    const int64_t id = storeRun(*window.store(), "stored-dpo", "dpo", 30, true);
    storeRun(*window.store(), "other", "kto", 5, false);
    window.refreshRuns();
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::RunsView* runs = window.runsView();
    QCOMPARE(runs->runCount(), 2);

    // Double-click the run's row.
    runs->selectRun(id);
    QTableView* table = runs->table();
    const QModelIndex index = table->currentIndex().isValid()
                                  ? table->currentIndex()
                                  : table->selectionModel()->selectedRows().value(0);
    QVERIFY(index.isValid());
    // (Qt 6's mouseDClick sends no press first; the view wants the pressed row to match.)
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, table->visualRect(index).center());
    QTest::mouseDClick(table->viewport(), Qt::LeftButton, {}, table->visualRect(index).center());
    QTRY_COMPARE(window.openedRunId(), id);

    ps::ui::LiveMonitor* monitor = window.liveMonitor();
    QCOMPARE(monitor->pointCount("rewards/chosen"), 30);
    QCOMPARE(monitor->pointCount("rewards/rejected"), 30);
    QCOMPARE(monitor->pointCount("loss"), 30);
    QCOMPARE(monitor->pointCount("sft/loss"), 3);
    QCOMPARE(monitor->smoothedGraph("rewards/chosen")->dataCount(), 30);
    // SFT warm-up steps sit left of 0, as they did live.
    QCOMPARE(monitor->rawGraph("sft/loss")->data()->constBegin()->key, -2.0);
    QCOMPARE(int(bandsIn(window.livePlot(), monitor->rewardsAxisRect()).size()), 1);
    QCOMPARE(int(bandsIn(window.livePlot(), monitor->marginAxisRect()).size()), 1);
    QVERIFY2(window.diagnosisPanel()->headline().toLower().contains("falling"),
             qPrintable(window.diagnosisPanel()->headline()));

    // The Open action does the same for another run, dropping the first one's band.
    const int64_t other = window.store()->resolve_run("other").id;
    runs->selectRun(other);
    runs->openAction()->trigger();
    QCOMPARE(window.openedRunId(), other);
    QCOMPARE(monitor->pointCount("rewards/chosen"), 5);
    QVERIFY(bandsIn(window.livePlot(), monitor->rewardsAxisRect()).empty());
}

// Selecting a run in the Runs table (no double-click, no Open) shows its diagnosis: the stored
// run's retrospective verdict, computed off the GUI thread. trainingRecord's rewards fall from
// step 60 (chosen -0.008/step, rejected -0.018/step): a 120-step run ends both falling, a
// 40-step one never got there.
void TestGui::diagnosisFollowsTheSelectedRun() {
    MainWindow window(storePath());
    const int64_t falling = storeRun(*window.store(), "falls", "dpo", 120, false);
    const int64_t early = storeRun(*window.store(), "early", "dpo", 40, false);
    window.refreshRuns();
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::RunsView* runs = window.runsView();
    ps::ui::DiagnosisPanel* panel = window.diagnosisPanel();

    runs->selectRun(falling);
    QTRY_COMPARE(window.openedRunId(), falling);
    QTRY_VERIFY2(panel->headline().startsWith(QStringLiteral("Problem: both rewards are falling")),
                 qPrintable(panel->headline()));
    QCOMPARE(panel->severity(), QStringLiteral("problem"));
    QCOMPARE(panel->regime(), QStringLiteral("both_falling"));

    // Another click, another run's diagnosis.
    QTableView* table = runs->table();
    runs->selectRun(early);
    const QModelIndex index = table->selectionModel()->selectedRows().value(0);
    QVERIFY(index.isValid());
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, table->visualRect(index).center());
    QTRY_COMPARE(window.openedRunId(), early);
    QTRY_VERIFY2(panel->headline().startsWith(QStringLiteral("Fine: healthy throughout")), qPrintable(panel->headline()));
    QCOMPARE(panel->regime(), QStringLiteral("healthy"));

    // A refresh keeps the selection and opens nothing anew; selecting two runs opens neither.
    window.refreshRuns();
    QCOMPARE(window.openedRunId(), early);
    table->selectAll();
    QCOMPARE(window.openedRunId(), early);
}

// A live run's label changes come from core's LiveDiagnosis (the segmentation of the run so far):
// the headline is the latest event's (with its severity), the strip's last segment and the
// plot's last band are that event's regime from that event's since_step, also after a revision.
void TestGui::liveHeadlineStripAndBandsAgree() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::RunSession* session = window.runSession();
    ps::ui::DiagnosisPanel* panel = window.diagnosisPanel();
    ps::LiveDiagnosis live;
    std::vector<ps::RunEvent> all;
    for (int64_t first = 1; first <= 120; first += 20) {
        const std::vector<ps::StepMetrics> batch = trainingRecords(first, first + 19);
        std::vector<ps::RunEvent> events;
        for (const ps::StepMetrics& m : batch) {
            live.add(m);
            for (ps::RunEvent& e : live.take_events()) events.push_back(std::move(e));
        }
        all.insert(all.end(), events.begin(), events.end());
        emit session->metricsArrived(batch);
        if (!events.empty()) emit session->eventsArrived(events);
        emit session->tickFinished();
    }
    QVERIFY(!all.empty());
    const ps::RunEvent& last = all.back();
    QCOMPARE(last.data.at("to").get<std::string>(), std::string("both_falling"));
    const QString headline = QString::fromStdString(last.data.at("headline").get<std::string>());
    QVERIFY2(panel->headline().startsWith(headline), qPrintable(panel->headline()));
    QVERIFY(panel->headline().contains(QStringLiteral("live at step %1").arg(last.step)));
    QCOMPARE(panel->regime(), QStringLiteral("both_falling"));
    QCOMPARE(panel->explanation(), QString::fromStdString(last.message));
    const auto& segments = panel->regimeTimeline()->segments();
    QVERIFY(!segments.empty());
    QCOMPARE(segments.back().regime, QStringLiteral("both_falling"));
    QCOMPARE(segments.back().start, last.data.at("since_step").get<int64_t>());
    for (size_t i = 1; i < segments.size(); ++i) QVERIFY(segments[i].start > segments[i - 1].end - 1);
    const auto& stretches = window.liveMonitor()->regimeBands().stretches();
    QVERIFY(!stretches.empty());
    QCOMPARE(stretches.back().regime, QStringLiteral("both_falling"));
    QCOMPARE(stretches.back().start, last.data.at("since_step").get<int64_t>());

    // A revision back in time replaces what it covers: a healthy label from step 1 leaves one
    // segment and no band.
    ps::RunEvent revised = last;
    revised.data["from"] = "both_falling";
    revised.data["to"] = "healthy";
    revised.data["since_step"] = 1;
    emit session->eventsArrived({revised});
    emit session->tickFinished();
    QCOMPARE(int(panel->regimeTimeline()->segments().size()), 1);
    QCOMPARE(panel->regimeTimeline()->segments().front().regime, QStringLiteral("healthy"));
    QCOMPARE(int(window.liveMonitor()->regimeBands().stretches().size()), 1);
    QVERIFY(bandsIn(window.livePlot(), window.liveMonitor()->rewardsAxisRect()).empty());
}

void TestGui::runsFilterAndDelete() {
    MainWindow window(storePath());
    const int64_t a = storeRun(*window.store(), "baseline-dpo", "dpo", 5, false);
    const int64_t b = storeRun(*window.store(), "try-kto", "kto", 5, false);
    const int64_t c = storeRun(*window.store(), "lowlr", "dpo", 5, false);
    window.store()->set_tags_notes(c, "sweep,lr", "");
    window.refreshRuns();
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::RunsView* runs = window.runsView();
    QCOMPARE(runs->visibleRunCount(), 3);

    QTest::keyClicks(runs->filterEdit(), "kto");
    QCOMPARE(runs->visibleRunCount(), 1);
    runs->setFilterText("DPO");  // case-insensitive: name or algorithm
    QCOMPARE(runs->visibleRunCount(), 2);
    runs->setFilterText("sweep");  // tags
    QCOMPARE(runs->visibleRunCount(), 1);
    runs->setFilterText("completed");  // status
    QCOMPARE(runs->visibleRunCount(), 3);
    runs->setFilterText("nothing-like-this");
    QCOMPARE(runs->visibleRunCount(), 0);
    runs->filterEdit()->clear();
    QCOMPARE(runs->visibleRunCount(), 3);

    // Open one, then delete it: Cancel keeps it, Yes removes it from store, table and monitor.
    QVERIFY(window.openStoredRun(b));
    QVERIFY(window.liveMonitor()->totalPointCount() > 0);
    runs->selectRun(b);
    QCOMPARE(runs->selectedRunId(), b);
    answerNextMessageBox(QMessageBox::Cancel);
    runs->deleteAction()->trigger();
    QVERIFY(window.store()->find_run(b).has_value());
    QCOMPARE(runs->runCount(), 3);

    answerNextMessageBox(QMessageBox::Yes);
    runs->deleteAction()->trigger();
    QVERIFY(!window.store()->find_run(b).has_value());
    QCOMPARE(runs->runCount(), 2);
    QCOMPARE(runs->model()->rowOfRun(b), -1);
    QVERIFY(runs->model()->rowOfRun(a) >= 0);
    QCOMPARE(window.openedRunId(), int64_t(0));
    QCOMPARE(window.liveMonitor()->totalPointCount(), 0);
}

void TestGui::tagsNotesAndCloneRun() {
    MainWindow window(storePath());
    const int64_t a = storeRun(*window.store(), "tag-me", "dpo", 5, false);
    // The run's config as its user wrote it, with a relative data path; the resolved one is absolute.
    const QString config = writeConfig({{"max_grad_norm", 0.25}});
    QFile configFile(config);
    QVERIFY(configFile.open(QIODevice::ReadOnly));
    json written = json::parse(configFile.readAll().toStdString());
    json resolved = written;
    written["data"]["train"] = "data/pairs.jsonl";
    window.store()->finish_run(a, ps::RunStatus::Completed, {{"rewards/chosen", 0.1}}, "", 1.0);
    {
        ps::RunInfo info;
        info.name = "to-clone";
        info.algorithm = "kto";
        info.model = "builtin:tiny";
        info.dataset = resolved["data"]["train"].get<std::string>();
        written["objective"]["algorithm"] = "kto";
        written["objective"]["desirable_weight"] = 1.25;
        info.config = written;
        info.resolved_config = resolved;
        const int64_t b = window.store()->create_run(info);
        window.store()->finish_run(b, ps::RunStatus::Completed, json::object(), "", 1.0);
        window.refreshRuns();

        QVERIFY(window.cloneStoredRun(b));
        ps::ui::ExperimentForm* form = window.experimentForm();
        QCOMPARE(form->fieldText("name"), QStringLiteral("to-clone-clone"));
        QCOMPARE(form->fieldText("objective.algorithm"), QStringLiteral("kto"));
        QCOMPARE(form->fieldText("objective.desirable_weight"), QStringLiteral("1.25"));
        QCOMPARE(form->fieldText("train.max_grad_norm"), QStringLiteral("0.25"));
        // The relative path is replaced by the one the run resolved, so the clone runs.
        QCOMPARE(form->fieldText("data.train"), QString::fromStdString(resolved["data"]["train"].get<std::string>()));
        QVERIFY2(form->isValid(), qPrintable(form->validationMessage()));
        QVERIFY(form->filePath().isEmpty());  // a new, unsaved experiment
        QVERIFY(!window.cloneStoredRun(987654));
    }

    ps::ui::RunsView* runs = window.runsView();
    runs->selectRun(a);
    QVERIFY(runs->editTagsAction()->isEnabled());
    QVERIFY(runs->setTagsAndNotes(a, " baseline , lr-sweep,,baseline", "  beta too low?  "));
    const auto stored = window.store()->find_run(a);
    QCOMPARE(stored->tags, std::string("baseline, lr-sweep"));
    QCOMPARE(stored->notes, std::string("beta too low?"));
    const int row = runs->model()->rowOfRun(a);
    QCOMPARE(runs->model()->index(row, ps::ui::RunsModel::TagsColumn).data().toString(),
             QStringLiteral("baseline, lr-sweep"));
    runs->setFilterText("too low");  // notes
    QCOMPARE(runs->visibleRunCount(), 1);
    runs->setFilterText("lr-sweep");  // tags
    QCOMPARE(runs->visibleRunCount(), 1);
    runs->setFilterText("pairs.jsonl");  // dataset
    QCOMPARE(runs->visibleRunCount(), 1);
    runs->setFilterText(QString());
}

void TestGui::datasetTabFollowsTheForm() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig({})));
    // The summary is read on a pool thread and lands in the form and the Dataset tab.
    QTRY_VERIFY_WITH_TIMEOUT(window.experimentForm()->dataInfoText().contains("kept"), 10000);
    QVERIFY2(window.experimentForm()->dataInfoText().startsWith("trl"), qPrintable(window.experimentForm()->dataInfoText()));
    const auto& summary = window.datasetPage()->summary();
    QCOMPARE(QString::fromStdString(summary.path), dataPath_);
    QCOMPARE(summary.examples, summary.fit.kept + summary.fit.dropped_prompt_too_long);
    QVERIFY(summary.examples > 0);
    QCOMPARE(window.datasetPage()->table()->rowCount(), int(summary.preview.size()));
}

void TestGui::aboutListsVersions() {
    MainWindow window(storePath());
    const QString text = window.aboutText();
    QVERIFY(text.contains(QStringLiteral(PREFSTUDIO_VERSION)));
    QVERIFY(text.contains(QString::fromLatin1(qVersion())));
    // The libtorch row names its version and what it can train on.
    QVERIFY2(QRegularExpression(QStringLiteral("libtorch \\d+\\.\\d+\\.\\d+ \\((CPU only|CUDA, \\d+ GPUs?)\\), "
                                               "\\d+ CPU cores; train.device auto = (cpu|cuda:0)"))
                 .match(text).hasMatch(),
             qPrintable(text));
    QVERIFY(text.contains(QDir::toNativeSeparators(storePath()).toHtmlEscaped()));
    QCOMPARE(window.runAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_R));
    QCOMPARE(window.stopAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Period));

    // The status bar names the device a run would get and the memory it offers: for the CPU,
    // /proc/meminfo's MemAvailable, read here independently (within 25%: it moves).
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10}})));
    QLabel* device = nullptr;
    for (QLabel* l : window.statusBar()->findChildren<QLabel*>())
        if (l->text().startsWith(QStringLiteral("device: "))) device = l;
    QVERIFY(device);
    const QRegularExpressionMatch m =
        QRegularExpression(QStringLiteral("^device: (cpu|cuda:0) \\(auto\\) · ([0-9.]+) (MB|GB) available$")).match(device->text());
    QVERIFY2(m.hasMatch(), qPrintable(device->text()));
    if (m.captured(1) == QLatin1String("cpu")) {
        QFile meminfo(QStringLiteral("/proc/meminfo"));
        QVERIFY(meminfo.open(QIODevice::ReadOnly));
        double kib = 0;
        for (const QByteArray& line : meminfo.readAll().split('\n'))
            if (line.startsWith("MemAvailable:")) kib = line.mid(13).trimmed().split(' ').first().toDouble();
        const double shown = m.captured(2).toDouble() * (m.captured(3) == QLatin1String("GB") ? 1e9 : 1e6);
        QVERIFY2(std::abs(shown - kib * 1024) < 0.25 * kib * 1024,
                 qPrintable(QStringLiteral("%1 vs %2 bytes").arg(shown).arg(kib * 1024)));
    }
}

void TestGui::liveRunRowFollowsTheRun() {
    MainWindow window(storePath());
    const int64_t old = storeRun(*window.store(), "old", "dpo", 5, false);
    QVERIFY(window.loadExperiment(writeConfig({{"steps", 10000}})));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    clickRun(window);
    ps::ui::RunsView* runs = window.runsView();
    QTRY_VERIFY_WITH_TIMEOUT(window.lastRunId() > 0, 60000);
    const int64_t live = window.lastRunId();
    // Every ~2 s the table re-reads the store and shows the live run's newest rewards.
    QTRY_VERIFY_WITH_TIMEOUT(
        runs->model()->rowOfRun(live) >= 0 &&
            !runs->model()
                 ->data(runs->model()->index(runs->model()->rowOfRun(live), ps::ui::RunsModel::ChosenColumn))
                 .toString()
                 .isEmpty(),
        60000);
    QCOMPARE(runs->statusOfRun(live), QStringLiteral("running"));
    // The live run cannot be deleted, and no stored run replaces it in the monitor.
    runs->selectRun(live);
    QVERIFY(!runs->deleteAction()->isEnabled());
    QCOMPARE(runs->deleteSelectedRuns(), 0);
    QVERIFY(!window.openStoredRun(old));
    QVERIFY(window.liveMonitor()->pointCount("rewards/chosen") > 0);
    window.stopAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 30000);
    QVERIFY(runs->deleteAction()->isEnabled());
}

void TestGui::interruptedRunIsShownSo() {
    MainWindow window(storePath());
    const int64_t id = storeRun(*window.store(), "killed", "dpo", 7, false);
    // Left "running" by a process that has exited, as a kill -9 leaves it (owner set by SQL).
    QProcess gone;
    gone.start(QStringLiteral("true"), {});
    QVERIFY(gone.waitForStarted());
    const qint64 pid = gone.processId();
    QVERIFY(gone.waitForFinished());
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open(storePath().toUtf8().constData(), &db), SQLITE_OK);
    const std::string sql = "UPDATE runs SET status = 'running', owner_pid = " + std::to_string(pid) +
                            ", owner_start = owner_start || '0' WHERE id = " + std::to_string(id);
    QCOMPARE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    window.refreshRuns();
    ps::ui::RunsView* runs = window.runsView();
    QCOMPARE(runs->statusOfRun(id), QStringLiteral("interrupted"));
    const QModelIndex cell = runs->model()->index(runs->model()->rowOfRun(id), ps::ui::RunsModel::StatusColumn);
    const QString tip = runs->model()->data(cell, Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(QStringLiteral("Interrupted at step 7")) && tip.contains(QString::number(pid)), qPrintable(tip));
}

QTEST_MAIN(TestGui)


void TestGui::compareSelectedRunsOpensAComparison() {
    MainWindow window(storePath());
    const int64_t a = storeRun(*window.store(), "run-a", "dpo", 30, false);
    const int64_t b = storeRun(*window.store(), "run-b", "kto", 12, false);
    window.refreshRuns();
    // Fewer than two runs: no window, a hint in the status bar.
    QVERIFY(window.compareRuns({a}) == nullptr);
    ps::ui::CompareView* view = window.compareRuns({a, b});
    QVERIFY(view != nullptr);
    QVERIFY(view->graph(a, "rewards/chosen") != nullptr);
    QCOMPARE(view->graph(a, "rewards/chosen")->data()->size(), 30);
    QCOMPARE(view->graph(b, "rewards/chosen")->data()->size(), 12);
    QCOMPARE(window.compareAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C));
    view->close();
}

void TestGui::settingsRoundTripBetweenWindows() {
    const QString config = writeConfig({{"steps", 5}});
    QVERIFY(MainWindow::rememberedExperimentPath().isEmpty());
    QVERIFY(MainWindow::rememberedStorePath().isEmpty());
    QRect geometry;
    {
        MainWindow first(storePath());
        QVERIFY(first.loadExperiment(config));
        first.show();
        QVERIFY(QTest::qWaitForWindowExposed(&first));
        first.resize(777, 555);  // within the offscreen screen (800x600): a larger one is fitted to it
        auto* runsDock = first.findChild<QDockWidget*>(QStringLiteral("RunsDock"));
        QVERIFY(runsDock);
        runsDock->hide();
        QApplication::processEvents();
        geometry = first.geometry();
        first.close();  // saves
    }
    QCOMPARE(MainWindow::rememberedExperimentPath(), QFileInfo(config).absoluteFilePath());
    QCOMPARE(MainWindow::rememberedStorePath(), QFileInfo(storePath()).absoluteFilePath());

    MainWindow second(storePath());
    // The saved size comes back, fitted to the screen (issue #19: the offscreen screen is 800x600,
    // narrower than the window's minimum with the Samples tab).
    const QSize room = QGuiApplication::primaryScreen()->availableGeometry().size();
    QCOMPARE(second.width(), std::min(geometry.width(), room.width()));
    QVERIFY(second.height() == geometry.height() || second.height() <= room.height());
    auto* runsDock = second.findChild<QDockWidget*>(QStringLiteral("RunsDock"));
    QVERIFY(runsDock);
    QVERIFY(runsDock->isHidden());  // the dock layout came back too
    QVERIFY(!second.findChild<QDockWidget*>(QStringLiteral("ExperimentDock"))->isHidden());

    // A remembered file that is gone is not offered.
    QVERIFY(QFile::remove(config));
    QVERIFY(MainWindow::rememberedExperimentPath().isEmpty());
}

void TestGui::bigSeriesAreDrawnDecimated() {
    // 50k points: the full graphs keep every point (crosshair, counts) but are hidden; a
    // per-pixel-column min/max view of the visible range is drawn instead.
    ps::ui::LiveMonitor monitor;
    monitor.resize(1000, 700);
    monitor.show();
    QVERIFY(QTest::qWaitForWindowExposed(&monitor));
    constexpr int kPoints = 50000;
    std::vector<ps::StepMetrics> batch;
    for (int s = 1; s <= kPoints; ++s)
        batch.push_back(record(s, {{"rewards/chosen", std::sin(s * 0.01) + (s % 7) * 0.01},
                                   {"eval/loss", 0.5}}));  // eval markers are never decimated
    monitor.beginRun(0, kPoints);
    monitor.appendMetrics(batch);
    monitor.refresh();
    monitor.plot()->replot();  // the second replot sees the final layout width
    QCOMPARE(monitor.pointCount("rewards/chosen"), kPoints);
    QCPGraph* full = monitor.rawGraph("rewards/chosen");
    QVERIFY(!full->visible());
    QVERIFY(!monitor.smoothedGraph("rewards/chosen")->visible());
    QVERIFY(monitor.rawGraph("eval/loss")->visible());
    const int width = monitor.rewardsAxisRect()->width();
    bool foundFull = false;
    const QCPRange fullRange = full->getValueRange(foundFull);
    int views = 0;
    for (int i = 0; i < monitor.plot()->graphCount(); ++i) {
        QCPGraph* g = monitor.plot()->graph(i);
        if (!g->visible() || g->lineStyle() != QCPGraph::lsLine || g->dataCount() == 0) continue;
        ++views;
        QVERIFY2(g->dataCount() <= 2 * width + 4, qPrintable(QString::number(g->dataCount())));
        if (g->pen().color().alpha() == full->pen().color().alpha()) {  // the raw one
            bool found = false;
            const QCPRange r = g->getValueRange(found);
            QCOMPARE(r.lower, fullRange.lower);  // min and max of every column are kept
            QCOMPARE(r.upper, fullRange.upper);
        }
    }
    QCOMPARE(views, 2);  // raw + smoothed of rewards/chosen
    // The crosshair still reads the full data.
    monitor.showCrosshairAt(12345);
    QVERIFY(monitor.crosshairText().contains(QStringLiteral("rewards/chosen")));

    // Back to a small run: the full graphs are drawn again.
    monitor.beginRun(0, 10);
    monitor.appendMetrics({record(1, {{"rewards/chosen", 1.0}})});
    monitor.refresh();
    QVERIFY(full->visible());
}

#include "test_gui.moc"
