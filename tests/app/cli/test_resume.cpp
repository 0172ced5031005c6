// Checkpoints and `prefstudio-cli run --resume` as a crashing machine would test them: a run
// killed with SIGKILL at a random step after its first checkpoint, then resumed, stores the
// same metrics table, bit for bit, as the same run never interrupted (same config, seed and
// one thread): DPO with full weights, and DPO with LoRA adapters (with dropout). Wall-clock metrics
// (tokens_per_second) are left out by name. Plus the refusals: unknown, completed and
// checkpoint-less runs, data and model files changed since the checkpoint.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "core/store/run_store.h"
#include "tests/common/cli_process.h"

namespace fs = std::filesystem;

class TestResume : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString cli_;

    using Result = ps::test::CliResult;
    Result cli(const QStringList& args) { return ps::test::run_cli(cli_, args, 300000); }

    QString path(const QString& name) { return dir_.filePath(name); }

    void write(const QString& name, const std::string& text) {
        std::ofstream(path(name).toStdString()) << text;
    }

    // Every stored metric but the wall-clock ones, as exported: name -> [step, value] rows.
    nlohmann::json metrics_table(const QString& db, int run) {
        const Result r = cli({"export", QString::number(run), "--db", db, "--format", "json"});
        if (r.code != 0) qWarning("%s", qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        nlohmann::json table = nlohmann::json::object();
        for (auto it = j["metrics"].begin(); it != j["metrics"].end(); ++it) {
            if (it.key().find("tokens_per_second") != std::string::npos) continue;
            table[it.key()] = {(*it)["step"], (*it)["value"]};
        }
        return table;
    }

    static int64_t stored_steps(const std::string& db) {
        try {
            ps::RunStore store(db);
            const auto loss = store.load_metric(1, "loss");
            return loss.steps.empty() ? 0 : loss.steps.back();
        } catch (const std::exception&) {
            return 0;  // not created yet
        }
    }

    // Starts `config` into `db`, kills it with SIGKILL once the store shows a step past
    // `kill_after` (a checkpoint exists by then), and returns the step it had stored.
    // With `live_resume`, a resume of the run is tried while it still runs (before the kill).
    int64_t run_and_kill(const QString& config, const QString& db, int64_t kill_after, Result* live_resume = nullptr) {
        QProcess p;
        p.start(cli_, {"run", config, "--db", db});
        if (!p.waitForStarted()) return -1;
        QElapsedTimer t;
        t.start();
        int64_t seen = 0;
        while (t.elapsed() < 240000 && p.state() == QProcess::Running) {
            seen = stored_steps(db.toStdString());
            if (seen > kill_after) break;
            QThread::msleep(20);
        }
        if (p.state() != QProcess::Running) return -1;  // finished before the kill: the test is not valid
        if (live_resume) {
            *live_resume = cli({"run", "--resume", "1", "--db", db});
            if (p.state() != QProcess::Running) return -1;
        }
        ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
        p.waitForFinished(30000);
        if (p.exitStatus() != QProcess::CrashExit) return -1;
        return seen;
    }

    void killResumeCompare(const QString& tag, const nlohmann::json& extra) {
        nlohmann::json config = {
            {"name", "resume-" + tag.toStdString()},
            {"seed", 5},
            {"data", {{"train", path("arith.jsonl").toStdString()}, {"max_length", 32}, {"max_prompt_length", 16}}},
            {"sft", {{"steps", 3}}},
            {"train", {{"steps", 400}, {"batch_size", 4}, {"eval_every", 25}, {"checkpoint_every", 20},
                       {"keep_checkpoints", 2}, {"threads", 1}, {"track_pairs", 4}}}};
        config.merge_patch(extra);
        write(tag + ".json", config.dump());
        const QString cfg = path(tag + ".json");

        const QString ref_db = path(tag + "-ref.db");
        Result r = cli({"run", cfg, "--db", ref_db});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        // A completed run keeps no checkpoint.
        QVERIFY(!fs::exists(ps::RunStore::checkpoint_folder(ref_db.toStdString(), 1)));

        // Killed at a random step between the first checkpoint and the end.
        const int64_t kill_after = 20 + QRandomGenerator::global()->bounded(230);  // 150 steps before the end at least
        const QString db = path(tag + ".db");
        Result live;
        const int64_t killed_at = run_and_kill(cfg, db, kill_after, &live);
        // Two processes never write one run: a live run is not resumed.
        QCOMPARE(live.code, 2);
        QVERIFY2(live.err.contains("is still running in process"), qPrintable(live.err));
        qInfo("%s: killed after step %lld (aimed past %lld)", qPrintable(tag), static_cast<long long>(killed_at),
              static_cast<long long>(kill_after));
        QVERIFY2(killed_at > 20, "the run finished or failed before it could be killed");
        const std::string folder = ps::RunStore::checkpoint_folder(db.toStdString(), 1);
        int checkpoints = 0;
        for (const auto& e : fs::directory_iterator(folder)) checkpoints += e.path().filename().string().rfind("step-", 0) == 0;
        // train.keep_checkpoints, plus the newest when the kill fell between its rename and the
        // removal of the oldest (a leftover .tmp-step-N folder does not count).
        QVERIFY2(checkpoints >= 1 && checkpoints <= 3, qPrintable(QString::number(checkpoints)));
        {
            ps::RunStore store(db.toStdString());
            const auto killed = store.find_run(1);
            QCOMPARE(killed->status, ps::RunStatus::Interrupted);  // killed: its owner is gone
            QVERIFY(killed->last_step >= killed_at);
        }

        r = cli({"run", "--resume", "1", "--db", db});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.err.contains("Resuming run 1"));
        QVERIFY(r.out.contains("completed"));
        {
            ps::RunStore store(db.toStdString());
            QCOMPARE(store.list_runs().size(), size_t(1));  // the same run, no second one
            QCOMPARE(store.find_run(1)->status, ps::RunStatus::Completed);
        }
        QVERIFY(!fs::exists(folder));

        const nlohmann::json want = metrics_table(ref_db, 1), got = metrics_table(db, 1);
        QVERIFY(want.contains("loss") && want.contains("eval/loss") && want.contains("sft/loss"));
        QCOMPARE(want["loss"][0].size(), size_t(400));
        for (auto it = want.begin(); it != want.end(); ++it) {
            QVERIFY2(got.contains(it.key()), it.key().c_str());
            // dump() prints doubles with 17 significant digits: equal text is equal bits.
            QVERIFY2(got[it.key()].dump() == it->dump(), it.key().c_str());
        }
        QCOMPARE(got.size(), want.size());
    }

private slots:
    void initTestCase() {
        cli_ = qEnvironmentVariable("PREFSTUDIO_CLI");
        QVERIFY2(QFileInfo::exists(cli_), "PREFSTUDIO_CLI must point at the built prefstudio-cli");
        const Result r = cli({"make-data", "arith", "--out", path("arith.jsonl"), "--count", "64", "--max-operand", "10"});
        QCOMPARE(r.code, 0);
    }

    void dpoKilledAndResumedIsBitIdentical() { killResumeCompare("dpo", nlohmann::json::object()); }

    void loraKilledAndResumedIsBitIdentical() {
        // LoRA dropout draws from the torch generator every step: its state must come back too.
        killResumeCompare("lora", {{"model", {{"source", "builtin:tiny"}, {"lora", {{"rank", 4}, {"alpha", 8}, {"dropout", 0.1}}}}}});
    }

    void refusals() {
        // Unknown run, completed run.
        Result r = cli({"run", "--resume", "7", "--db", path("dpo-ref.db")});
        QCOMPARE(r.code, 2);
        r = cli({"run", "--resume", "1", "--db", path("dpo-ref.db")});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("is completed"), qPrintable(r.err));
        r = cli({"run", "--resume", "1", path("dpo.json"), "--db", path("dpo-ref.db")});
        QCOMPARE(r.code, 2);  // --resume takes the config from the checkpoint

        // Killed again, then its data file changes: the reference key differs and the run
        // fails with why; without the checkpoint folder there is nothing to resume.
        const QString db = path("changed.db");
        const int64_t killed_at = run_and_kill(path("dpo.json"), db, 30);
        QVERIFY(killed_at > 20);
        std::ofstream(path("arith.jsonl").toStdString(), std::ios::app)
            << nlohmann::json{{"prompt", "1+1="}, {"chosen", "2"}, {"rejected", "3"}}.dump() << "\n";
        r = cli({"run", "--resume", "1", "--db", db});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("reference log-probs' key differs"), qPrintable(r.err));
        fs::remove_all(ps::RunStore::checkpoint_folder(db.toStdString(), 1));
        r = cli({"run", "--resume", "1", "--db", db});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("has no checkpoint"), qPrintable(r.err));
    }

    // A model directory whose files change after the checkpoint: refused before anything runs.
    void changedModelFilesAreRefused() {
        const QString model = path("model");
        Result r = cli({"save", "--model", "builtin:tiny", "--out", model});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        nlohmann::json config = nlohmann::json::parse(std::ifstream(path("dpo.json").toStdString()));
        config["model"] = {{"source", model.toStdString()}};
        write("model.json", config.dump());
        const QString db = path("model.db");
        QVERIFY(run_and_kill(path("model.json"), db, 30) > 20);
        std::ofstream(model.toStdString() + "/config.json", std::ios::app) << "\n";  // same model, other bytes
        r = cli({"run", "--resume", "1", "--db", db});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("changed since the checkpoint"), qPrintable(r.err));
        ps::RunStore store(db.toStdString());
        QCOMPARE(store.find_run(1)->status, ps::RunStatus::Interrupted);  // untouched
    }
};

QTEST_GUILESS_MAIN(TestResume)
#include "test_resume.moc"
