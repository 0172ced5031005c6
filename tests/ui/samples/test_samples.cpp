// The Samples tab end to end on the offscreen platform: a tiny built-in run trains in the
// studio (which keeps its weights next to the store), the panel answers the run's eval
// prompts and a typed one before and after training; the answers are checked against
// TextGenerator run here on model.source (same seed) and on the saved directory. Cancel, and
// a run without saved weights (explained, "after" left empty).
#include <QApplication>
#include <QDockWidget>
#include <QFile>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include "tests/common/arith_pairs.h"
#include "core/config/run_config.h"
#include "core/engine/run_thread.h"
#include "ui/main_window.h"
#include "core/model/text_generator.h"
#include "ui/samples/samples_panel.h"
#include "core/store/run_store.h"

using nlohmann::json;
using ps::ui::MainWindow;
using ps::ui::SamplesPanel;

class TestSamples : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void beforeAndAfterSideBySide();
    void runWithoutWeightsIsExplained();

private:
    QString writeConfig(const json& overrides);
    std::unique_ptr<QTemporaryDir> dir_;
    QTemporaryDir settingsDir_;
    QString dataPath_;
};

void TestSamples::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
    QSettings(QStringLiteral("PrefStudio"), QStringLiteral("PrefStudio")).clear();
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    dataPath_ = dir_->filePath("pairs.jsonl");
    QVERIFY(ps::test::write_arith_pairs(dataPath_.toStdString(), 30));
}

QString TestSamples::writeConfig(const json& overrides) {
    // A strong SFT warm-up: the trained model answers differently from the random one.
    json config = {{"name", "samples-test"},
                   {"seed", 3},
                   {"model", {{"source", "builtin:tiny"}}},
                   {"data", {{"train", dataPath_.toStdString()}, {"eval_fraction", 0.2}}},
                   {"sft", {{"steps", 30}, {"learning_rate", 3e-3}}},
                   {"objective", {{"algorithm", "dpo"}, {"beta", 0.1}}},
                   {"train", {{"steps", 6}, {"batch_size", 4}, {"eval_every", 0}, {"learning_rate", 1e-3},
                              {"warmup_steps", 1}}}};
    if (overrides.is_object()) config.merge_patch(overrides);
    const QString path = dir_->filePath(QString::fromStdString(config["name"].get<std::string>()) + ".json");
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) return QString();
    file.write(QByteArray::fromStdString(config.dump(2)));
    return path;
}

namespace {

std::vector<std::string> answers(const std::string& source, const std::vector<std::string>& prompts, int maxTokens,
                                 const std::string& chatTemplate) {
    ps::TextGeneratorOptions o;
    o.seed = 3;  // the run's seed: a built-in model's initial weights
    o.chat_template = chatTemplate;
    auto g = ps::TextGenerator::open(source, o);
    ps::GenerationOptions go;
    go.max_new_tokens = maxTokens;
    std::vector<std::string> out;
    for (const auto& r : g->generate(prompts, go)) out.push_back(r.completion);
    return out;
}

}  // namespace

void TestSamples::beforeAndAfterSideBySide() {
    const QString store = dir_->filePath("runs.db");
    MainWindow window(store);
    QVERIFY2(window.loadExperiment(writeConfig({})), qPrintable(window.loadError()));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.startRun();
    QVERIFY2(window.isRunning(), qPrintable(window.lastRunError()));
    QTRY_VERIFY_WITH_TIMEOUT(!window.isRunning(), 180000);
    QCOMPARE(window.runState(), QStringLiteral("completed"));
    const int64_t runId = window.lastRunId();

    // The studio kept the built-in model's weights next to the store and recorded where.
    SamplesPanel* panel = window.samplesPanel();
    QCOMPARE(panel->runId(), runId);
    const QString weights = panel->trainedDir();
    QVERIFY2(!weights.isEmpty(), qPrintable(panel->afterExplanation()));
    QVERIFY2(weights.startsWith(dir_->filePath("runs-models/samples-test-")), qPrintable(weights));
    QVERIFY(QFile::exists(weights + "/model.safetensors"));
    auto stored = window.store()->find_run(runId);
    QVERIFY(stored);
    QCOMPARE(QString::fromStdString(stored->resolved_config["train"]["save_dir"].get<std::string>()), weights);
    const json& written = stored->config["train"];  // the user's config keeps no save_dir of its own
    QVERIFY(!written.contains("save_dir") || written["save_dir"].is_null());

    // The first eval prompts (6 of 30 pairs are eval), plus a typed one.
    QSignalSpy loaded(panel, &SamplesPanel::promptsLoaded);
    panel->loadEvalPrompts(3);
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 30000);
    QCOMPARE(panel->prompts().size(), 3);
    panel->addPrompt(QStringLiteral("3+4="));
    QStringList prompts = panel->prompts();
    QCOMPARE(prompts.size(), 4);
    for (const QString& p : prompts) QVERIFY2(p.endsWith('='), qPrintable(p));

    SamplesPanel::Settings s;
    s.max_new_tokens = 6;
    s.temperature = 0.0;
    panel->setSettings(s);
    QSignalSpy finished(panel, &SamplesPanel::generationFinished);
    QVERIFY(panel->generate());
    QVERIFY(panel->isBusy());
    QVERIFY(!panel->generateButton()->isEnabled());
    QVERIFY(panel->cancelButton()->isEnabled());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    QCOMPARE(panel->progressBar()->value(), 8);

    // Reference: the core generator on model.source (run seed) and on the saved weights; the
    // run's template is plain (built-in model), whose prompts are the text as it is.
    std::vector<std::string> texts;
    for (const QString& p : prompts) texts.push_back(p.toStdString());
    const auto before = answers("builtin:tiny", texts, 6, "auto");
    const auto after = answers(weights.toStdString(), texts, 6, "plain");
    int differ = 0;
    for (int r = 0; r < 4; ++r) {
        QCOMPARE(panel->beforeText(r), QString::fromStdString(before[size_t(r)]));
        QCOMPARE(panel->afterText(r), QString::fromStdString(after[size_t(r)]));
        if (before[size_t(r)] != after[size_t(r)]) ++differ;
    }
    QVERIFY2(differ > 0, "training changed no answer");

    // The README screenshot of the tab (PREFSTUDIO_SAMPLES_SCREENSHOT=path.png).
    const QString shot = qEnvironmentVariable("PREFSTUDIO_SAMPLES_SCREENSHOT");
    if (!shot.isEmpty()) {
        window.resize(1500, 950);
        window.bottomTabs()->setCurrentWidget(panel);
        for (QDockWidget* dock : window.findChildren<QDockWidget*>())
            if (dock->objectName() == QLatin1String("RunsDock")) window.resizeDocks({dock}, {520}, Qt::Vertical);
        QTest::qWait(200);
        QVERIFY(window.grab().save(shot));
    }

    // Cancel: long answers, cancelled at once; the panel is ready again and says so.
    s.max_new_tokens = 3000;
    panel->setSettings(s);
    QVERIFY(panel->generate());
    QVERIFY(!panel->generate());  // one generation at a time
    QTest::mouseClick(panel->cancelButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 30000);
    QCOMPARE(finished.at(1).at(0).toBool(), false);
    QVERIFY(!panel->isBusy());
    QVERIFY(panel->generateButton()->isEnabled());
    QVERIFY2(panel->statusText().contains("cancelled"), qPrintable(panel->statusText()));

    // An edited prompt is typed text now: generation answers the new text.
    panel->table()->item(0, SamplesPanel::PromptColumn)->setText(QStringLiteral("1+1="));
    QCOMPARE(panel->prompts().at(0), QStringLiteral("1+1="));
    s.max_new_tokens = 4;
    panel->setSettings(s);
    QVERIFY(panel->generate());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 3, 60000);
    QCOMPARE(panel->beforeText(0), QString::fromStdString(answers("builtin:tiny", {"1+1="}, 4, "auto")[0]));
}

void TestSamples::runWithoutWeightsIsExplained() {
    // A run made outside the studio without train.save_dir (as the CLI does) has no weights.
    const QString store = dir_->filePath("plain.db");
    auto runStore = std::make_shared<ps::RunStore>(store.toStdString());
    ps::RunConfig config = ps::load_run_config(writeConfig({{"name", "cli-run"}, {"sft", {{"steps", 0}}},
                                                            {"train", {{"steps", 2}}}})
                                                   .toStdString());
    ps::StoreSink sink(runStore);
    ps::RunControl control;
    QCOMPARE(ps::run_training(config, config.to_json(), {&sink}, control), ps::RunStatus::Completed);
    sink.flush();

    MainWindow window(store);
    SamplesPanel* panel = window.samplesPanel();
    panel->showRun(sink.run_id());
    QVERIFY(panel->trainedDir().isEmpty());
    QVERIFY2(panel->afterExplanation().contains("train.save_dir"), qPrintable(panel->afterExplanation()));
    QVERIFY2(panel->statusText().contains("train.save_dir"), qPrintable(panel->statusText()));
    panel->setPrompts({QStringLiteral("2+5=")});
    SamplesPanel::Settings s;
    s.max_new_tokens = 5;
    panel->setSettings(s);
    QSignalSpy finished(panel, &SamplesPanel::generationFinished);
    QVERIFY(panel->generate());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    QCOMPARE(panel->beforeText(0), QString::fromStdString(answers("builtin:tiny", {"2+5="}, 5, "auto")[0]));
    QVERIFY(panel->afterText(0).isEmpty());
    QVERIFY2(panel->statusText().contains("before training only"), qPrintable(panel->statusText()));

    // A stopped run and weights that were deleted are explained too.
    ps::StoredRun stopped;
    stopped.status = ps::RunStatus::Stopped;
    QVERIFY(ps::ui::trainedWeightsOf(stopped, {}).problem.contains("stopped"));
    ps::RunEvent saved;
    saved.kind = "info";
    saved.data = {{"save_dir", dir_->filePath("gone").toStdString()}};
    QVERIFY(ps::ui::trainedWeightsOf(stopped, {saved}).problem.contains("not there any more"));
    ps::StoredRun hf;
    hf.status = ps::RunStatus::Completed;
    hf.resolved_config = {{"model", {{"source", "/models/Qwen2.5-0.5B-Instruct"}}}};
    const QString why = ps::ui::trainedWeightsOf(hf, {}).problem;
    QVERIFY2(why.contains("Hugging Face") && why.contains("train.save_dir"), qPrintable(why));
}

QTEST_MAIN(TestSamples)
#include "test_samples.moc"
