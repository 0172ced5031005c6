// Issue #19, the studio as a practitioner uses it: the wheel, small screens, Run only when the
// experiment can run, the modified marker and save prompt, clones that say what they changed,
// the first-start screen, and the smaller items (theme, paused, dataset, regime strip, advice,
// objective panels, samples, nll legend). Offscreen; the tiny built-in model, data written here.
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QWheelEvent>

#include <memory>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

#include "tests/common/arith_pairs.h"
#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "ui/common/format.h"
#include "ui/common/theme.h"
#include "ui/common/wheel_guard.h"
#include "ui/data/dataset_page.h"
#include "ui/diagnose/regime_timeline.h"
#include "ui/experiment/experiment_form.h"
#include "ui/live/diagnosis_panel.h"
#include "ui/live/live_monitor.h"
#include "ui/live/run_controls.h"
#include "ui/main_window.h"
#include "ui/runs/runs_model.h"
#include "ui/samples/samples_panel.h"

using nlohmann::json;
using ps::ui::MainWindow;

class TestStudioLayout : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void wheelLeavesUnfocusedFieldsAndScrolls();
    void windowFitsSmallScreens();
    void plotsKeepReadableHeight();
    void runDisabledForFolderThatIsNoModel();
    void modifiedMarkerAndSave();
    void savePromptGuardsUnsavedWork();
    void freshStartIsNotAnError();
    void firstStartScreen();
    void cloneWithRemedyNamesAndHighlights();
    void plotsFollowThemeAtOnce();
    void pausedReadsPaused();
    void datasetTabFollowsCorrectedPath();
    void regimeStripLabelsWarmUp();
    void diagnosisHeadlineIsNotClipped();
    void adviceIsReadable();
    void objectivePanelsLeaveNoGap();
    void samplesShowExpectedAnswer();
    void cutUtf8ShowsNoReplacementCharacter();
    void nllLegendFollowsSftWeight();

private:
    QString writeConfig(const json& overrides = json::object(), const QString& fileName = "exp.json");
    QString storePath() const { return dir_->filePath("runs.db"); }
    QTemporaryDir settingsDir_;
    std::unique_ptr<QTemporaryDir> dir_;
    QString dataPath_;
};

void TestStudioLayout::initTestCase() {
    QVERIFY(settingsDir_.isValid());
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir_.path());
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
}

void TestStudioLayout::init() {
    QSettings(QStringLiteral("PrefStudio"), QStringLiteral("PrefStudio")).clear();
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    dataPath_ = dir_->filePath("pairs.jsonl");
    QVERIFY(ps::test::write_arith_pairs(dataPath_.toStdString(), 20));
}

QString TestStudioLayout::writeConfig(const json& overrides, const QString& fileName) {
    json config = {{"name", "layout-test"},
                   {"seed", 0},
                   {"model", {{"source", "builtin:tiny"}}},
                   {"data", {{"train", dataPath_.toStdString()}}},
                   {"objective", {{"algorithm", "dpo"}, {"beta", 0.1}}},
                   {"train", {{"steps", 10}, {"batch_size", 4}, {"eval_every", 5}}}};
    config.merge_patch(overrides);
    const QString path = dir_->filePath(fileName);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) return QString();
    file.write(QByteArray::fromStdString(config.dump(2)));
    return path;
}

namespace {

// One notch down over `w`, delivered as the window system would (QApplication::notify passes an
// ignored wheel event on to the parents).
void wheelDown(QWidget* w) {
    const QPointF local(w->width() / 2.0, w->height() / 2.0);
    QWheelEvent event(local, w->mapToGlobal(local), QPoint(), QPoint(0, -120), Qt::NoButton, Qt::NoModifier,
                      Qt::NoScrollPhase, false);
    QApplication::sendEvent(w, &event);
}

// The same notch as a real (spontaneous) wheel event travels: QApplication::notify hands an
// event a widget ignored to its parent, and so on up; Qt does not do this for a synthetic event,
// so the walk is done here. Returns the widget that took it (nullptr: none).
QWidget* wheelDownThroughParents(QWidget* w) {
    QPointF local(w->width() / 2.0, w->height() / 2.0);
    for (QWidget* target = w; target; target = target->parentWidget()) {
        QWheelEvent event(local, target->mapToGlobal(local), QPoint(), QPoint(0, -120), Qt::NoButton,
                          Qt::NoModifier, Qt::NoScrollPhase, false);
        QApplication::sendEvent(target, &event);
        if (event.isAccepted()) return target;
        if (target->isWindow()) break;
        local = target->mapToParent(local);
    }
    return nullptr;
}

QScrollArea* enclosingScrollArea(QWidget* w) {
    for (QWidget* p = w->parentWidget(); p; p = p->parentWidget())
        if (auto* area = qobject_cast<QScrollArea*>(p)) return area;
    return nullptr;
}

}  // namespace

void TestStudioLayout::wheelLeavesUnfocusedFieldsAndScrolls() {
    MainWindow window(storePath());
    QVERIFY2(window.loadExperiment(writeConfig()), qPrintable(window.loadError()));
    window.resize(1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::ExperimentForm* form = window.experimentForm();

    // A spin box of the setup form, without focus: its value stays, the form scrolls.
    auto* steps = qobject_cast<QSpinBox*>(form->fieldEditor(QStringLiteral("train.steps")));
    QVERIFY(steps);
    QScrollArea* area = enclosingScrollArea(steps);
    QVERIFY(area);
    QVERIFY2(area->verticalScrollBar()->maximum() > 0, "the form should be taller than a 720 px window");
    area->verticalScrollBar()->setValue(0);
    area->ensureWidgetVisible(steps);
    const int scrolledBefore = area->verticalScrollBar()->value();
    QVERIFY(!steps->hasFocus());
    const int value = steps->value();
    wheelDown(steps);
    QCOMPARE(steps->value(), value);
    // The field ignores the notch, so it travels up to the scroll area's viewport: the form
    // scrolls, the value stays.
    QWidget* taker = wheelDownThroughParents(steps);
    QCOMPARE(taker, area->viewport());
    QCOMPARE(steps->value(), value);
    QVERIFY2(area->verticalScrollBar()->value() > scrolledBefore,
             qPrintable(QStringLiteral("%1 -> %2").arg(scrolledBefore).arg(area->verticalScrollBar()->value())));

    // A combo box (one notch switched dpo -> kto in issue #19).
    auto* algorithm = qobject_cast<QComboBox*>(form->fieldEditor(QStringLiteral("objective.algorithm")));
    QVERIFY(algorithm);
    const QString chosen = algorithm->currentText();
    wheelDown(algorithm);
    QCOMPARE(algorithm->currentText(), chosen);
    QCOMPARE(form->fieldText(QStringLiteral("objective.algorithm")), QStringLiteral("dpo"));

    // Everywhere in the studio, not only the form: any spin box in a scroll area.
    QScrollArea other;
    auto* inner = new QWidget;
    inner->setMinimumHeight(2000);
    auto* spin = new QSpinBox(inner);
    spin->setRange(0, 100);
    spin->setValue(50);
    auto* edit = new QLineEdit(inner);  // the field with focus; the spin box has none
    edit->move(0, 60);
    other.setWidget(inner);
    other.resize(200, 200);
    other.show();
    QVERIFY(QTest::qWaitForWindowExposed(&other));
    other.activateWindow();
    edit->setFocus();
    QTRY_VERIFY(edit->hasFocus());
    // Qt would give a wheel-focus field the focus before the wheel: none of them take it.
    QCOMPARE(spin->focusPolicy(), Qt::StrongFocus);
    QVERIFY((algorithm->focusPolicy() & Qt::WheelFocus) != Qt::WheelFocus);
    wheelDown(spin);
    QCOMPARE(spin->value(), 50);

    // A focused field still takes the wheel.
    other.activateWindow();
    spin->setFocus();
    QTRY_VERIFY(spin->hasFocus());
    wheelDown(spin);
    QCOMPARE(spin->value(), 49);
}

void TestStudioLayout::windowFitsSmallScreens() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig()));
    // Its minimum fits 1280x720 with room for a title bar: the fitted window shows every edge.
    const QSize minimum = window.minimumSizeHint().expandedTo(window.minimumSize());

    QVERIFY2(minimum.width() <= 1280 && minimum.height() <= 720 - 40,
             qPrintable(QStringLiteral("minimum %1x%2").arg(minimum.width()).arg(minimum.height())));

    for (const QRect& screen : {QRect(0, 0, 1280, 720), QRect(0, 0, 1366, 768), QRect(1920, 0, 1280, 720)}) {
        // A saved geometry larger than the screen, and one off it.
        window.setGeometry(100, 80, 1920, 1200);
        window.fitToScreen(screen);
        QVERIFY2(screen.contains(window.geometry()), qPrintable(QStringLiteral("%1,%2 %3x%4").arg(window.x()).arg(window.y())
                                                                    .arg(window.width()).arg(window.height())));
        window.setGeometry(5000, 3000, 800, 600);
        window.fitToScreen(screen);
        QVERIFY(screen.contains(window.geometry()));
        QCOMPARE(window.size(), QSize(800, 600));  // a window that fits keeps its size
    }

    // At 1280x720 the status bar and the right edge are inside the window.
    window.setGeometry(0, 0, 1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QApplication::processEvents();
    QCOMPARE(window.size(), QSize(1280, 720));
    const QRect status = window.statusBar()->geometry();
    QVERIFY2(status.bottom() < window.height() && status.height() > 0, "status bar cut off");
    QVERIFY(window.centralWidget()->geometry().right() < window.width());
    for (QDockWidget* dock : window.findChildren<QDockWidget*>())
        if (dock->isVisible()) QVERIFY2(dock->geometry().right() < window.width(), qPrintable(dock->objectName()));
}

void TestStudioLayout::plotsKeepReadableHeight() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig()));
    window.setGeometry(0, 0, 1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QApplication::processEvents();
    QCustomPlot* plot = window.livePlot();
    // Four rows of panels, each at least the readable minimum: the area scrolls instead.
    QVERIFY(plot->height() >= 4 * ps::ui::LiveMonitor::kMinimumRowHeight);
    QVERIFY(enclosingScrollArea(plot));
    plot->replot();
    for (QCPAxisRect* rect : plot->axisRects()) {
        // Tick labels (4 per axis) need about a line each apart: far more than a squashed 40 px.
        const int line = QFontMetrics(rect->axis(QCPAxis::atLeft)->tickLabelFont()).height();
        QVERIFY2(rect->height() >= 4 * line, qPrintable(QStringLiteral("axis rect %1 px").arg(rect->height())));
    }
}

void TestStudioLayout::runDisabledForFolderThatIsNoModel() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig()));
    QVERIFY(window.runAction()->isEnabled());
    // A folder with files, but no config.json: not a model.
    QTemporaryDir folder;
    QFile readme(folder.filePath("README.md"));
    QVERIFY(readme.open(QIODevice::WriteOnly));
    readme.write("not a model\n");
    readme.close();
    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("model.source"), folder.path()));
    QVERIFY(!window.runAction()->isEnabled());
    QCOMPARE(window.experimentForm()->invalidField(), QStringLiteral("model.source"));
    QVERIFY2(window.runAction()->toolTip().contains(QStringLiteral("config.json")), qPrintable(window.runAction()->toolTip()));
    // The reason is also a visible line next to Run.
    QVERIFY2(window.runControls()->problem().contains(QStringLiteral("config.json")),
             qPrintable(window.runControls()->problem()));
    // Back to a model: Run again.
    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("model.source"), QStringLiteral("builtin:tiny")));
    QVERIFY(window.runAction()->isEnabled());
    QVERIFY(window.runControls()->problem().isEmpty());
}

void TestStudioLayout::modifiedMarkerAndSave() {
    MainWindow window(storePath());
    const QString path = writeConfig();
    QVERIFY(window.loadExperiment(path));
    auto* dock = window.findChild<QDockWidget*>(QStringLiteral("ExperimentDock"));
    QVERIFY(dock);
    QVERIFY(!window.experimentForm()->isModified());
    QVERIFY(!window.windowTitle().contains('*'));
    QVERIFY(!dock->windowTitle().contains('*'));
    QVERIFY(dock->windowTitle().contains(QStringLiteral("layout-test")));

    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("train.steps"), QStringLiteral("12")));
    QVERIFY(window.experimentForm()->isModified());
    QVERIFY2(window.windowTitle().startsWith('*'), qPrintable(window.windowTitle()));
    QVERIFY2(dock->windowTitle().endsWith(QStringLiteral(" *")), qPrintable(dock->windowTitle()));

    // Editing back to the saved value is no change.
    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("train.steps"), QStringLiteral("10")));
    QVERIFY(!window.windowTitle().contains('*'));

    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("train.steps"), QStringLiteral("12")));
    QVERIFY(window.saveExperiment());
    QVERIFY(!window.experimentForm()->isModified());
    QVERIFY(!window.windowTitle().contains('*'));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(json::parse(file.readAll().toStdString())["train"]["steps"].get<int>(), 12);
}

void TestStudioLayout::savePromptGuardsUnsavedWork() {
    MainWindow window(storePath());
    const QString path = writeConfig();
    QVERIFY(window.loadExperiment(path));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    int asked = 0;
    int answer = QMessageBox::Cancel;
    window.setSavePrompt([&](const QString& question) {
        ++asked;
        return answer;
    });
    // Not modified: quitting asks nothing.
    QVERIFY(window.maybeSaveExperiment());
    QCOMPARE(asked, 0);

    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("train.steps"), QStringLiteral("13")));
    // Cancel keeps the window open and the edit.
    QVERIFY(!window.close());
    QCOMPARE(asked, 1);
    QVERIFY(window.isVisible());
    QCOMPARE(window.experimentForm()->fieldText(QStringLiteral("train.steps")), QStringLiteral("13"));
    // Save writes the file, then the window may close.
    answer = QMessageBox::Save;
    QVERIFY(window.maybeSaveExperiment());
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(json::parse(file.readAll().toStdString())["train"]["steps"].get<int>(), 13);
    // Discard lets it go without writing.
    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("train.steps"), QStringLiteral("14")));
    answer = QMessageBox::Discard;
    QVERIFY(window.close());
    QCOMPARE(asked, 3);
}

void TestStudioLayout::freshStartIsNotAnError() {
    // No experiment remembered: a blank new one, which needs a data file, but is not shown as an
    // error (no red message, no red field) until the user edits it.
    MainWindow window(storePath());
    ps::ui::ExperimentForm* form = window.experimentForm();
    QVERIFY(!form->isValid());
    QVERIFY(!window.runAction()->isEnabled());
    auto* message = form->findChild<QLabel*>(QStringLiteral("messageLabel"));
    QVERIFY(message);
    QVERIFY2(!message->styleSheet().contains(QStringLiteral("#c62828")), qPrintable(message->styleSheet()));
    QWidget* field = form->fieldEditor(form->invalidField());
    QVERIFY(field);
    QVERIFY(!field->styleSheet().contains(QStringLiteral("#c62828")));
    // An edit makes it the user's work: now a problem is shown as one.
    QVERIFY(form->setFieldText(QStringLiteral("train.steps"), QStringLiteral("37")));
    QVERIFY(message->styleSheet().contains(QStringLiteral("#c62828")));
}

void TestStudioLayout::firstStartScreen() {
    MainWindow window(storePath());
    QVERIFY(window.isWelcomeShown());
    // It offers the demo, opening an experiment, importing and following a run.
    QStringList buttons;
    for (QAbstractButton* b : window.welcomePage()->findChildren<QAbstractButton*>()) buttons << b->text();
    const QString all = buttons.join('|');
    for (const char* what : {"demo", "experiment", "Import", "Follow"})
        QVERIFY2(all.contains(QLatin1String(what)), qPrintable(all));
    window.setDemoPath(writeConfig({}, "demo.json"));
    auto* demo = window.welcomePage()->findChild<QAbstractButton*>(QStringLiteral("welcomeDemo"));
    QVERIFY(demo && demo->isEnabled());
    demo->click();
    QVERIFY(!window.isWelcomeShown());
    QCOMPARE(window.experimentForm()->filePath(), dir_->filePath("demo.json"));

    // A store with runs, or an experiment loaded, shows the studio itself.
    MainWindow second(storePath());
    QVERIFY(second.loadExperiment(writeConfig()));
    QVERIFY(!second.isWelcomeShown());
}

void TestStudioLayout::cloneWithRemedyNamesAndHighlights() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig()));
    window.cloneWithRemedy();  // the default remedy: objective.sft_weight = 1 (RPO)
    ps::ui::ExperimentForm* form = window.experimentForm();
    QVERIFY(form->filePath().isEmpty());
    QCOMPARE(form->fieldText(QStringLiteral("objective.sft_weight")).toDouble(), 1.0);
    // Named: a new name, and a visible line with what changed; the field is highlighted.
    QVERIFY(form->experimentName() != QStringLiteral("layout-test"));
    QVERIFY(form->highlightedFields().contains(QStringLiteral("objective.sft_weight")));
    QVERIFY2(form->changesText().contains(QStringLiteral("objective.sft_weight")), qPrintable(form->changesText()));
    QVERIFY(form->fieldEditor(QStringLiteral("objective.sft_weight"))->styleSheet().contains(QStringLiteral("#f9a825")));
    QVERIFY(!form->highlightedFields().contains(QStringLiteral("train.steps")));
    // Unsaved work: marked, and never silently lost.
    QVERIFY(form->isModified());
    QVERIFY(window.windowTitle().startsWith('*'));
    int asked = 0;
    window.setSavePrompt([&](const QString&) {
        ++asked;
        return int(QMessageBox::Cancel);
    });
    QVERIFY(!window.maybeSaveExperiment());
    QCOMPARE(asked, 1);
    window.setSavePrompt([](const QString&) { return int(QMessageBox::Discard); });
}

void TestStudioLayout::plotsFollowThemeAtOnce() {
    MainWindow window(storePath());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    for (const char* theme : {"dark", "light", "dark", "light"}) {
        window.setTheme(QString::fromLatin1(theme));
        // One switch, no waiting for a second one: the plot has the theme's colours now.
        QCPAxis* axis = window.livePlot()->axisRect(0)->axis(QCPAxis::atLeft);
        QCOMPARE(axis->basePen().color().rgb(), QApplication::palette().color(QPalette::WindowText).rgb());
        QCOMPARE(axis->tickLabelColor(), QApplication::palette().color(QPalette::WindowText));
    }
    QCOMPARE(ps::ui::paletteIsDark(), false);
}

void TestStudioLayout::pausedReadsPaused() {
    ps::ui::RunControls controls(new QAction(nullptr), new QAction(nullptr), new QAction(nullptr));
    ps::RunProgress p;
    p.phase = "train";
    p.step = 3;
    p.total_steps = 10;
    controls.showProgress(p);
    QVERIFY(!controls.progressBar()->format().startsWith(QStringLiteral("Paused")));
    controls.setPaused(true);
    QVERIFY2(controls.progressBar()->format().startsWith(QStringLiteral("Paused")), qPrintable(controls.progressBar()->format()));
    controls.showProgress(p);  // a late progress report keeps it
    QVERIFY(controls.progressBar()->format().startsWith(QStringLiteral("Paused")));
    controls.setPaused(false);
    QVERIFY(!controls.progressBar()->format().startsWith(QStringLiteral("Paused")));

    ps::ui::RunsModel model;
    ps::StoredRun run;
    run.id = 7;
    run.name = "live";
    run.status = ps::RunStatus::Running;
    model.setRuns({run});
    const QModelIndex status = model.index(0, ps::ui::RunsModel::StatusColumn);
    QCOMPARE(model.data(status).toString(), QStringLiteral("running"));
    model.setPausedRunId(7);
    QCOMPARE(model.data(status).toString(), QStringLiteral("paused"));
    model.setPausedRunId(0);
    QCOMPARE(model.data(status).toString(), QStringLiteral("running"));
}

void TestStudioLayout::datasetTabFollowsCorrectedPath() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig()));
    ps::ui::DatasetPage* page = window.datasetPage();
    QTRY_COMPARE_WITH_TIMEOUT(QString::fromStdString(page->summary().path), dataPath_, 20000);
    QVERIFY(page->summary().fit.kept > 0);
    // A bad path: the tab says so instead of showing the old file.
    const QString bad = dir_->filePath("missing.jsonl");
    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("data.train"), bad));
    QVERIFY(page->summary().path.empty());
    QVERIFY2(page->summaryLabel()->text().contains(QStringLiteral("missing.jsonl")), qPrintable(page->summaryLabel()->text()));
    // Corrected: read again.
    QVERIFY(window.experimentForm()->setFieldText(QStringLiteral("data.train"), dataPath_));
    QTRY_COMPARE_WITH_TIMEOUT(QString::fromStdString(page->summary().path), dataPath_, 20000);
    QVERIFY(!page->summaryLabel()->text().contains(QStringLiteral("missing.jsonl")));
}

void TestStudioLayout::regimeStripLabelsWarmUp() {
    ps::ui::RegimeTimeline strip;
    strip.resize(600, strip.sizeHint().height());
    ps::RunEvent healthy;
    healthy.kind = "regime";
    healthy.step = 30;
    healthy.message = "Both rewards move apart.";
    healthy.data = {{"from", "warming_up"}, {"to", "healthy"}, {"since_step", 20}, {"declared_step", 30}};
    std::vector<ps::RunEvent> events{healthy};
    strip.replaceEvents(events);
    std::vector<ps::StepMetrics> batch(1);
    batch[0].step = 200;
    batch[0].set("loss", 0.5);
    strip.appendMetrics(batch);
    QCOMPARE(int(strip.segments().size()), 2);
    QCOMPARE(strip.segments()[0].regime, QStringLiteral("warming_up"));
    // The warm-up stretch (steps 1-19 of 200) carries a label that fits it.
    const QRect warm = strip.segmentRect(0);
    bool labelled = false;
    for (const QString& label : ps::ui::RegimeTimeline::segmentLabels(QStringLiteral("warming_up")))
        labelled = labelled || strip.fontMetrics().horizontalAdvance(label) + 6 <= warm.width();
    QVERIFY2(labelled, qPrintable(QStringLiteral("warm-up stretch %1 px").arg(warm.width())));
    // Each stretch has a tooltip with its steps and what it means.
    QVERIFY(strip.toolTipAt(warm.center()).contains(QStringLiteral("1–19")));
    QVERIFY(strip.toolTipAt(strip.segmentRect(1).center()).contains(QStringLiteral("Both rewards move apart.")));
}

// The headline of the demo's diagnosis (four lines at 1280 wide) in the low bottom dock of a
// 1280x720 window: each wrapped text gets the height its text needs, and the tab scrolls.
void TestStudioLayout::diagnosisHeadlineIsNotClipped() {
    MainWindow window(storePath());
    QVERIFY(window.loadExperiment(writeConfig()));
    window.setGeometry(0, 0, 1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ps::ui::DiagnosisPanel* panel = window.diagnosisPanel();
    QVERIFY(panel);
    ps::RunEvent e;
    e.kind = "regime";
    e.step = 146;
    e.message = "Both rewards fall: the chosen answers lose likelihood while the margin grows.";
    const std::string headline =
        "Problem: likelihood displacement; healthy at the end (steps 146-300); chosen ended at -0.591 ± 0.025, "
        "below the reference (0): the chosen answers lost likelihood (likelihood displacement: 0.591 of chosen "
        "lost for a margin of 0.432, which grows only because rejected fell further); rejected ended at "
        "-1.022 ± 0.028, below the reference.";
    e.data = {{"from", "healthy"}, {"to", "both_falling"}, {"since_step", 120}, {"declared_step", 146},
              {"headline", headline}, {"severity", "problem"}};
    panel->appendEvents({e});
    auto* label = panel->findChild<QLabel*>(QStringLiteral("DiagnosisHeadline"));
    QVERIFY(label);
    QVERIFY(label->text().startsWith(QStringLiteral("Problem: likelihood displacement")));
    QScrollArea* area = enclosingScrollArea(panel);
    QVERIFY(area);
    for (QTabWidget* tabs : window.findChildren<QTabWidget*>())
        if (tabs->indexOf(area) >= 0) tabs->setCurrentWidget(area);
    QTRY_VERIFY(area->isVisible());
    QVERIFY2(area->viewport()->height() < 400, qPrintable(QString::number(area->viewport()->height())));
    // Its height follows its text at its width: no clipped first or last line.
    QTRY_VERIFY2(label->height() >= label->heightForWidth(label->width()),
                 qPrintable(QStringLiteral("%1 px for %2 px of text at %3 px wide")
                                .arg(label->height())
                                .arg(label->heightForWidth(label->width()))
                                .arg(label->width())));
    QVERIFY(label->heightForWidth(label->width()) > 2 * label->fontMetrics().height());  // it does wrap
    // What does not fit scrolls.
    QVERIFY(area->verticalScrollBar()->maximum() > 0);
}

void TestStudioLayout::adviceIsReadable() {
    ps::ui::ExperimentForm form;
    auto* advice = form.findChild<QLabel*>(QStringLiteral("adviceLabel"));
    QVERIFY(advice);
    QVERIFY(!advice->styleSheet().contains(QStringLiteral("italic")));
    QVERIFY(!advice->styleSheet().contains(QStringLiteral("mid")));
    QVERIFY(!advice->font().italic());
    QCOMPARE(advice->palette().color(QPalette::WindowText), form.palette().color(QPalette::WindowText));
}

void TestStudioLayout::objectivePanelsLeaveNoGap() {
    ps::ui::ExperimentForm form;
    auto* panels = form.findChild<QStackedWidget*>();
    QVERIFY(panels);
    QVERIFY(form.setFieldText(QStringLiteral("objective.algorithm"), QStringLiteral("dpo")));
    const int dpo = panels->currentWidget()->sizeHint().height();
    for (const char* algorithm : {"kto", "orpo"}) {
        QVERIFY(form.setFieldText(QStringLiteral("objective.algorithm"), QString::fromLatin1(algorithm)));
        const int own = panels->currentWidget()->sizeHint().height();
        QVERIFY2(own < dpo, algorithm);  // the short panels (otherwise no gap to test)
        // The stack is as tall as the shown panel, not the tallest one.
        QVERIFY2(panels->sizeHint().height() <= own + 2,
                 qPrintable(QStringLiteral("%1: stack %2 px, panel %3 px").arg(algorithm).arg(panels->sizeHint().height()).arg(own)));
    }
}

void TestStudioLayout::samplesShowExpectedAnswer() {
    ps::ui::SamplesPanel panel;
    QFile file(writeConfig());
    QVERIFY(file.open(QIODevice::ReadOnly));
    const json j = json::parse(file.readAll().toStdString());
    panel.showExperiment(ps::RunConfig::from_json(j));
    QSignalSpy loaded(&panel, &ps::ui::SamplesPanel::promptsLoaded);
    panel.loadEvalPrompts(3);
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 30000);
    QTableWidget* table = panel.table();
    QVERIFY(table->rowCount() >= 1);
    QCOMPARE(table->horizontalHeaderItem(ps::ui::SamplesPanel::ExpectedColumn)->text(), QStringLiteral("Expected (chosen)"));
    // The data written in init() pairs "a+b=" with the chosen answer a+b.
    for (int row = 0; row < table->rowCount(); ++row) {
        const QString prompt = table->item(row, ps::ui::SamplesPanel::PromptColumn)->text();
        const QStringList ab = prompt.chopped(1).split('+');
        QCOMPARE(ab.size(), 2);
        QCOMPARE(table->item(row, ps::ui::SamplesPanel::ExpectedColumn)->text(),
                 QString::number(ab[0].toInt() + ab[1].toInt()));
    }
}

void TestStudioLayout::cutUtf8ShowsNoReplacementCharacter() {
    using ps::ui::displayUtf8;
    // "é" is C3 A9, "€" E2 82 AC, "😀" F0 9F 98 80: cut after their first bytes at the end.
    QCOMPARE(displayUtf8("caf\xC3\xA9"), QStringLiteral("café"));
    QCOMPARE(displayUtf8("caf\xC3"), QStringLiteral("caf"));
    QCOMPARE(displayUtf8("5 \xE2\x82"), QStringLiteral("5 "));
    QCOMPARE(displayUtf8("x\xF0\x9F\x98"), QStringLiteral("x"));
    QCOMPARE(displayUtf8("x\xF0\x9F\x98\x80"), QString::fromUtf8("x\xF0\x9F\x98\x80"));
    // A stray byte inside the text is shown as bytes, not as U+FFFD.
    QCOMPARE(displayUtf8("a\xFF" "b"), QStringLiteral("a\\xFFb"));
    QCOMPARE(displayUtf8("a\xC3(b"), QStringLiteral("a\\xC3(b"));
    // A tokenizer that already decoded a cut character to U+FFFD at the end.
    QCOMPARE(displayUtf8("ok\xEF\xBF\xBD"), QStringLiteral("ok"));
    for (const char* s : {"caf\xC3", "5 \xE2\x82", "a\xFF" "b", "ok\xEF\xBF\xBD"})
        QVERIFY(!displayUtf8(s).contains(QChar(0xFFFD)));
}

void TestStudioLayout::nllLegendFollowsSftWeight() {
    ps::ui::LiveMonitor monitor;
    monitor.setNllInLoss(false);
    QVERIFY(!monitor.curveLabel(QStringLiteral("nll_loss")).contains(QStringLiteral("SFT term")));
    QVERIFY(!monitor.curveLabel(QStringLiteral("nll_loss")).isEmpty());
    monitor.setNllInLoss(true);
    QCOMPARE(monitor.curveLabel(QStringLiteral("nll_loss")), QStringLiteral("nll (SFT term)"));
}

QTEST_MAIN(TestStudioLayout)
#include "test_studio_layout.moc"
