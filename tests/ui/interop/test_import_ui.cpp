// The studio with runs trained elsewhere, offscreen: a TensorBoard event file written piece by
// piece by another thread is followed in the live monitor and the live diagnosis like a native
// run; an output folder is imported, shows in the Runs table with its source and opens; what
// needs the model says it is not available. The files are the real ones of ../shared/real-runs;
// the expected counts are those of tests/fixtures/interop/expected.json.
#include <QAction>
#include <QApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QUrl>
#include <QDir>
#include <QSettings>
#include <QStandardPaths>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/store/run_store.h"
#include "ui/compare/compare_view.h"
#include "ui/diagnose/pair_browser.h"
#include "ui/live/diagnosis_panel.h"
#include "ui/live/live_monitor.h"
#include "ui/live/run_session.h"
#include "ui/main_window.h"
#include "ui/runs/runs_model.h"
#include "ui/runs/runs_view.h"

namespace fs = std::filesystem;
using ps::ui::MainWindow;

namespace {

std::string real_runs() {
    return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString() + "/../shared/real-runs";
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

class TestImportUi : public QObject {
    Q_OBJECT
    QTemporaryDir settingsDir_;
    QTemporaryDir dir_;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir_.path());
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
    }

    void followedRunShowsLikeANativeOne() {
        if (!fs::is_directory(real_runs())) QSKIP("../shared/real-runs is not beside the repository");
        const std::string events =
            real_runs() + "/22-cs245-qwen25-05b-dpo-corrupt1.0/runs/events.out.tfevents.1764181846.cs245.315811.0";
        const std::string bytes = slurp(events);
        const std::string out = dir_.filePath("follow-out").toStdString();
        fs::create_directories(out + "/runs/Nov26_18-30-46_cs245");
        const std::string path = out + "/runs/Nov26_18-30-46_cs245/" + fs::path(events).filename().string();
        std::ofstream(path, std::ios::binary).flush();

        MainWindow window(dir_.filePath("runs.db"));
        window.show();
        int finishedCount = 0;
        ps::RunStatus finishedStatus = ps::RunStatus::Created;
        connect(&window, &MainWindow::runFinished, this, [&](ps::RunStatus s) {
            ++finishedCount;
            finishedStatus = s;
        });
        QVERIFY(window.followRun(QString::fromStdString(out)));
        QVERIFY(window.isRunning());
        QVERIFY(window.runSession()->isFollowing());
        QVERIFY(!window.pauseAction()->isEnabled());  // another tool trains it: no pause
        std::atomic<bool> writing{true};
        std::thread writer([&] {
            for (size_t at = 0; at < bytes.size(); at += 30011) {  // cuts records in half
                std::ofstream(path, std::ios::binary | std::ios::app).write(bytes.data() + at,
                                                                            std::streamsize(std::min<size_t>(30011, bytes.size() - at)));
                std::this_thread::sleep_for(std::chrono::milliseconds(40));
            }
            writing = false;
        });
        // Live: points arrive while the file is still being written.
        QTRY_VERIFY_WITH_TIMEOUT(window.liveMonitor()->pointCount("rewards/chosen") > 0, 10000);
        const bool seenWhileWriting = writing.load();
        QTRY_COMPARE_WITH_TIMEOUT(finishedCount, 1, 30000);
        writer.join();
        QVERIFY(seenWhileWriting);
        QCOMPARE(finishedStatus, ps::RunStatus::Completed);
        QCOMPARE(window.liveMonitor()->pointCount("rewards/chosen"), 876);
        QCOMPARE(window.liveMonitor()->pointCount("loss"), 876);
        // The live diagnosis heard the detector's regime events.
        QVERIFY(!window.diagnosisPanel()->regime().isEmpty());
        const int64_t id = window.lastRunId();
        QVERIFY(id > 0);
        const ps::StoredRun run = *window.store()->find_run(id);
        QCOMPARE(run.source_format, std::string("tensorboard"));
        QCOMPARE(run.status, ps::RunStatus::Completed);
        QVERIFY(!window.store()->load_events(id).empty());
        // The Runs table names the source.
        ps::ui::RunsView* runs = window.runsView();
        runs->selectRun(id);
        const QModelIndex row = runs->table()->selectionModel()->selectedRows().value(0);
        QVERIFY(row.isValid());
        const QString source = row.siblingAtColumn(ps::ui::RunsModel::SourceColumn).data().toString();
        QVERIFY2(source.startsWith("tensorboard: events.out.tfevents."), qPrintable(source));
        // Pair tracking needs the model: not available for an imported run.
        QVERIFY(window.diagnosisPanel()->pairBrowser()->summary().contains("not available"));
    }

    void importedFolderOpensAndUpdates() {
        if (!fs::is_directory(real_runs())) QSKIP("../shared/real-runs is not beside the repository");
        MainWindow window(dir_.filePath("import.db"));
        const QString folder = QString::fromStdString(real_runs() + "/01-zephyr-7b-beta-dpo");
        const std::vector<int64_t> ids = window.importRuns(folder);
        QCOMPARE(ids.size(), size_t(1));
        QCOMPARE(window.openedRunId(), ids[0]);
        QCOMPARE(window.liveMonitor()->pointCount("rewards/chosen"), 582);
        QCOMPARE(window.liveMonitor()->pointCount("eval/rewards/chosen"), 58);
        QCOMPARE(window.store()->find_run(ids[0])->algorithm, std::string("dpo"));
        // Again: the same run, updated.
        QCOMPARE(window.importRuns(folder), ids);
        QCOMPARE(window.store()->list_runs().size(), size_t(1));
        // A folder with nothing to import: an error, no crash.
        const QString empty = dir_.filePath("nothing-here");
        QVERIFY(QDir().mkpath(empty));
        QVERIFY(window.importRuns(empty).empty());
        QVERIFY(window.importRunAction() && window.followRunAction());

        // Two imported runs compare like native ones: curves, summary and the diff of their
        // imported arguments (the two runs differ in output_dir, run_name, logging_dir, ...).
        const auto a = window.importRuns(QString::fromStdString(real_runs() + "/21-cs245-qwen25-05b-dpo-corrupt0.0"));
        const auto b = window.importRuns(QString::fromStdString(real_runs() + "/22-cs245-qwen25-05b-dpo-corrupt1.0"));
        QCOMPARE(a.size(), size_t(1));
        QCOMPARE(b.size(), size_t(1));
        ps::ui::CompareView* view = window.compareRuns({a[0], b[0]});
        QVERIFY(view);
        QVERIFY(view->configTable()->rowCount() > 0);
        bool outputDir = false;
        for (int r = 0; r < view->configTable()->rowCount(); ++r)
            if (view->configTable()->item(r, 0) && view->configTable()->item(r, 0)->text().contains("output_dir")) outputDir = true;
        QVERIFY(outputDir);
        view->close();
    }

    // A folder dropped on the window is imported (and opened).
    void droppedFolderIsImported() {
        if (!fs::is_directory(real_runs())) QSKIP("../shared/real-runs is not beside the repository");
        MainWindow window(dir_.filePath("drop.db"));
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(QString::fromStdString(real_runs() + "/17-r1distill32b-dpo-stage-llamafactory"))});
        const QPoint at = window.rect().center();
        QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&window, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&window, &drop);
        const auto runs = window.store()->list_runs();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].source_format, std::string("llamafactory_log"));
        QCOMPARE(window.openedRunId(), runs[0].id);
        QCOMPARE(window.liveMonitor()->pointCount("loss"), 202);
    }
};

QTEST_MAIN(TestImportUi)
#include "test_import_ui.moc"
