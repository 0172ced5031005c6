// prefstudio-cli as a user runs it: exit codes, one-line errors, run -> runs -> export.
#include <QtTest>

#include <nlohmann/json.hpp>

#include "core/config/config_schema.h"

#include <cmath>
#include <map>
#include "tests/common/cli_process.h"

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString cli_;
    QString db_;

    using Result = ps::test::CliResult;
    Result cli(const QStringList& args) { return ps::test::run_cli(cli_, args, 180000); }

private slots:
    void initTestCase() {
        cli_ = qEnvironmentVariable("PREFSTUDIO_CLI");
        QVERIFY2(QFileInfo::exists(cli_), "PREFSTUDIO_CLI must point at the built prefstudio-cli");
        db_ = dir_.filePath("runs.db");
    }

    void makeDataThenRunThenList() {
        auto data = dir_.filePath("arith.jsonl");
        auto r = cli({"make-data", "arith", "--out", data, "--count", "64", "--max-operand", "10"});
        QCOMPARE(r.code, 0);
        QFile f(data);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll().count('\n'), 64);

        QFile cfg(dir_.filePath("c.json"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write(R"({"name": "cli-run", "data": {"train": "arith.jsonl", "max_length": 32, "max_prompt_length": 16},
                     "sft": {"steps": 5}, "train": {"steps": 6, "batch_size": 4, "eval_every": 3}})");
        cfg.close();
        r = cli({"run", cfg.fileName(), "--db", db_, "--set", "seed=3"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("'cli-run' completed"));
        // Not a terminal: plain progress lines, no carriage-return redraws.
        QVERIFY(r.err.contains("step 11/11 train"));
        QVERIFY(!r.err.contains('\r'));

        r = cli({"runs", "--db", db_, "--json"});
        QCOMPARE(r.code, 0);
        auto runs = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0]["name"].get<std::string>(), std::string("cli-run"));
        QCOMPARE(runs[0]["status"].get<std::string>(), std::string("completed"));
        QVERIFY(runs[0]["final_metrics"].contains("rewards/margins"));

        r = cli({"runs", "--db", db_});
        QVERIFY(r.out.contains("cli-run"));
        QVERIFY(r.out.contains("completed"));

        r = cli({"export", "cli-run", "--db", db_, "--format", "csv"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.startsWith("metric,step,wall_time,value\n"));
        QCOMPARE(r.out.count(QRegularExpression("^loss,", QRegularExpression::MultilineOption)), 6);
        r = cli({"export", "1", "--db", db_, "--format", "json"});
        auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["metrics"]["loss"]["step"].size(), size_t(6));
        QCOMPARE(j["run"]["config"]["seed"].get<int>(), 3);  // the --set override is recorded
        QCOMPARE(j["run"]["config"]["train"]["device"].get<std::string>(), std::string("cpu"));  // "auto" resolved
        QVERIFY(j["run"]["config"]["train"]["threads"].get<int>() >= 1);
    }

    void evalScoresTheInitialModel() {
        // The initial policy is its own reference: every DPO logit is 0, so loss = log 2 and
        // both rewards are 0; log-probs are negative sums over completion tokens. A run of the
        // same config (with its SFT warm-up) first must not lend eval its cached reference.
        QCOMPARE(cli({"run", dir_.filePath("c.json"), "--db", db_}).code, 0);
        auto r = cli({"eval", dir_.filePath("c.json"), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        auto j = nlohmann::json::parse(r.out.toStdString());
        QVERIFY(std::fabs(j["loss"].get<double>() - std::log(2.0)) < 1e-6);
        QCOMPARE(j["rewards/chosen"].get<double>(), 0.0);
        QCOMPARE(j["rewards/accuracies"].get<double>(), 0.0);
        QVERIFY(j["logps/chosen"].get<double>() < 0);
        QVERIFY(j["pairs"].get<int>() > 0);
        // The off-policy check comes with the reference: shares are fractions of the pairs.
        const double share = j["offpolicy"]["share_chosen_far_less_likely"].get<double>();
        QVERIFY(share >= 0.0 && share <= 1.0);
        r = cli({"eval", dir_.filePath("c.json"), "--json", "--set", "objective.algorithm=orpo"});
        j = nlohmann::json::parse(r.out.toStdString());
        for (const char* k : {"log_odds_ratio", "log_odds_chosen", "nll_loss", "rewards/margins"}) QVERIFY2(j.contains(k), k);
        // CPO needs no reference: its rewards are beta x the summed log-probs (sigmoid loss); the
        // two float32 batch means differ by rounding only (float32 eps x a 64-pair sum < 1e-5).
        r = cli({"eval", dir_.filePath("c.json"), "--json", "--set", "objective.algorithm=cpo"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        j = nlohmann::json::parse(r.out.toStdString());
        QVERIFY(j.contains("nll_loss") && !j.contains("log_odds_ratio") && !j.contains("offpolicy"));
        const double logps = j["logps/chosen"].get<double>();
        QVERIFY2(std::fabs(j["rewards/chosen"].get<double>() - 0.1 * logps) <= 1e-5 * std::fabs(logps),
                 qPrintable(QString::fromStdString(j.dump())));
    }

    void dryRunPrintsTheEstimateAndStoresNothing() {
        // c.json: builtin:tiny, batch 4, max_length 32: 2 x 4 x 32 = 256 tokens per step; 109,056
        // float32 weights; 12,032 B of activations per token (test_memory derives it by hand).
        const QString db = dir_.filePath("dry.db");
        auto r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--json", "--db", db});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["device"].get<std::string>(), std::string("cpu"));
        QCOMPARE(j["memory"]["tokens_per_step"].get<int64_t>(), int64_t(256));
        std::map<std::string, int64_t> items;
        for (const auto& it : j["memory"]["items"]) items[it["key"].get<std::string>()] = it["bytes"].get<int64_t>();
        QCOMPARE(items["weights"], int64_t(436224));
        QCOMPARE(items["optimizer"], int64_t(872448));
        QCOMPARE(items["activations"], int64_t(12032) * 256);
        QVERIFY(j["memory"]["total_bytes"].get<int64_t>() >= items["weights"] + items["activations"]);
        QVERIFY(!QFileInfo::exists(db));  // nothing stored

        r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db, "--set", "data.max_length=64"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("512 tokens") && r.out.contains("Total (peak)") && r.out.contains("Activations"),
                 qPrintable(r.out));
        QVERIFY(!QFileInfo::exists(db));
    }

    void badInputExitsWithTwoAndOneLine() {
        QFile cfg(dir_.filePath("bad.json"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write(R"({"data": {"train": "arith.jsonl"}, "train": {"stepz": 3}})");
        cfg.close();
        auto r = cli({"run", cfg.fileName(), "--db", db_});
        QCOMPARE(r.code, 2);
        QCOMPARE(r.err.trimmed().count('\n'), 0);
        QVERIFY2(r.err.contains("train.stepz: unknown key"), qPrintable(r.err));
        r = cli({"run", cfg.fileName(), "--db", db_, "--set", "train.stepz"});
        QCOMPARE(r.code, 2);
        r = cli({"export", "no-such-run", "--db", db_});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("no-such-run"));
        r = cli({"frobnicate"});
        QCOMPARE(r.code, 2);
        r = cli({"run", "--help"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("--set"));
        // -(2^32 - 1) wraps to 1 in an int: exit 2 naming the field instead of a 1-step run.
        QFile good(dir_.filePath("good.json"));
        QVERIFY(good.open(QIODevice::WriteOnly));
        good.write(R"({"data": {"train": "arith.jsonl"}})");
        good.close();
        r = cli({"run", good.fileName(), "--db", db_, "--set", "train.steps=-4294967295"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("train.steps: must be a whole number from"), qPrintable(r.err));
        r = cli({"run", good.fileName(), "--db", db_, "--set", "train.learning_rat=0.1"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("train.learning_rat: unknown key"), qPrintable(r.err));
    }

    // The README's config table comes from here (test_config_schema compares the README with it).
    void configReferencePrintsTheSchema() {
        const auto r = cli({"config-reference"});
        QCOMPARE(r.code, 0);
        QCOMPARE(r.out.toStdString(), ps::config_reference_markdown());
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
