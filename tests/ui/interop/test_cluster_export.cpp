// "Export for Cluster…" in the studio: the dialog on an experiment (TRL, then LLaMA-Factory with
// its dataset_info.json), a target that cannot train the objective, and the two entry points of
// the main window (a stored run from the Runs table, the form's experiment from the File menu).
#include <QAction>
#include <QFile>
#include <QMenuBar>
#include <QSettings>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/config/run_config.h"
#include "core/store/run_store.h"
#include "ui/experiment/experiment_form.h"
#include "ui/interop/cluster_export_dialog.h"
#include "ui/main_window.h"
#include "ui/runs/runs_view.h"

using nlohmann::json;
using ps::ExportTarget;
using ps::ui::ClusterExportDialog;

namespace {
std::string data_file() {
    return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR", ".").toStdString() + "/tests/fixtures/datasets/trl_standard.jsonl";
}
ps::RunConfig config_of(const json& objective) {
    return ps::RunConfig::from_json({{"name", "gui-export"}, {"data", {{"train", data_file()}}}, {"objective", objective}});
}
}  // namespace

class TestClusterExport : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QTemporaryDir settings_;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settings_.path());
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settings_.path());
    }

    void dialogWritesTrlThenLlamaFactory() {
        ClusterExportDialog dialog(config_of({{"algorithm", "dpo"}, {"sft_weight", 1.0}}), "the current experiment");
        QCOMPARE(dialog.target(), ExportTarget::Trl);
        QVERIFY(dialog.path().endsWith("gui-export.trl.yaml"));
        QVERIFY(dialog.canExport());
        dialog.setPath(dir_.filePath("gui-export.trl.yaml"));
        QVERIFY(dialog.exportNow(false));
        QVERIFY(QFile::exists(dir_.filePath("gui-export.trl.yaml")));
        QVERIFY(dialog.confirmationText().contains(dir_.filePath("gui-export.trl.yaml")));
        QVERIFY(dialog.confirmationText().contains("trl dpo --config gui-export.trl.yaml"));
        QVERIFY(dialog.confirmationText().contains("prefstudio-cli import runs/gui-export --follow"));

        // Switching the target renames the suggested file with it.
        dialog.setTarget(ExportTarget::LlamaFactory);
        QCOMPARE(dialog.path(), dir_.filePath("gui-export.llamafactory.yaml"));
        QVERIFY(dialog.exportNow(false));
        QVERIFY(QFile::exists(dir_.filePath("gui-export.llamafactory.yaml")));
        QVERIFY(QFile::exists(dir_.filePath("dataset_info.json")));
        QVERIFY(dialog.confirmationText().contains("llamafactory-cli train gui-export.llamafactory.yaml"));
        QVERIFY(dialog.confirmationText().contains(dir_.filePath("dataset_info.json")));
    }

    void refusedTargetDisablesExport() {
        ClusterExportDialog dialog(config_of({{"algorithm", "cpo"}, {"loss_type", "hinge"}}), "x");
        QVERIFY(dialog.canExport());  // TRL has CPO
        dialog.setTarget(ExportTarget::LlamaFactory);
        QVERIFY(!dialog.canExport());
        QVERIFY2(dialog.notesText().contains("LLaMA-Factory has no CPO hinge loss"), qPrintable(dialog.notesText()));
        QVERIFY(!dialog.exportNow(false));
    }

    void unwritableFileIsShownNotThrown() {
        ClusterExportDialog dialog(config_of({{"algorithm", "orpo"}}), "x");
        dialog.setPath("/nonexistent-dir/x.trl.yaml");
        QVERIFY(!dialog.exportNow(false));
        QVERIFY(dialog.result() != QDialog::Accepted);
    }

    void mainWindowEntryPoints() {
        const QString db = dir_.filePath("runs.db");
        int64_t native = 0, foreign = 0;
        {
            ps::RunStore store(db.toStdString());
            ps::RunInfo info;
            info.name = "stored-kto";
            info.algorithm = "kto";
            info.resolved_config = config_of({{"algorithm", "kto"}}).to_json();
            native = store.create_run(info);
            ps::RunInfo other;
            other.name = "from-trl";
            other.resolved_config = {{"learning_rate", 5e-7}, {"beta", 0.1}};
            foreign = store.create_run(other);
        }
        ps::ui::MainWindow window(db);
        // The Runs table's context menu and the File menu carry the actions.
        QVERIFY(window.runsView()->table()->actions().contains(window.runsView()->exportClusterAction()));
        bool inFileMenu = false;
        for (QAction* menu : window.menuBar()->actions())
            if (menu->menu() && menu->text().contains("File"))
                inFileMenu = menu->menu()->actions().contains(window.exportClusterAction());
        QVERIFY(inFileMenu);

        ClusterExportDialog* dialog = window.exportRunForCluster(native, false);
        QVERIFY(dialog);
        dialog->setPath(dir_.filePath("stored.trl.yaml"));
        QVERIFY(dialog->exportNow(false));
        std::ifstream in(dir_.filePath("stored.trl.yaml").toStdString());
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        QVERIFY(text.find("trl kto --config stored.trl.yaml") != std::string::npos);

        // A run trained elsewhere has no PrefStudio config: said, not crashed.
        QVERIFY(!window.exportRunForCluster(foreign, false));

        window.experimentForm()->setExperiment(config_of({{"algorithm", "simpo"}}).to_json());
        ClusterExportDialog* fromForm = window.exportExperimentForCluster(false);
        QVERIFY(fromForm);
        fromForm->setPath(dir_.filePath("form.trl.yaml"));
        QVERIFY(fromForm->exportNow(false));
        QVERIFY(fromForm->confirmationText().contains("examples/scripts/cpo.py"));
    }
};

QTEST_MAIN(TestClusterExport)
#include "test_cluster_export.moc"
