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
        // float32 weights; 12,032 B of activations per token with eager attention (Debian's
        // libtorch), 11,552 with fused attention (the torch wheel's); test_memory derives both by hand.
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
        const std::string kernel = j["memory"]["attention"].get<std::string>();
        QVERIFY2(kernel == "eager" || kernel == "fused", kernel.c_str());
        QCOMPARE(items["activations"], int64_t(kernel == "eager" ? 12032 : 11552) * 256);
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

    // Issue #17, item 3: hostile configs end in exit 2 and one short sentence, never a crash.
    void hostileConfigsExitWithTwoAndOneSentence() {
        QFile good(dir_.filePath("good.json"));
        QVERIFY(good.open(QIODevice::WriteOnly));
        good.write(R"({"data": {"train": "arith.jsonl"}})");
        good.close();
        // 60,000 levels in --set: the error message once recursed through them (rc 139).
        auto r = cli({"run", good.fileName(), "--db", db_, "--set",
                      "train.steps=" + QString(60000, '[') + QString(60000, ']')});
        QCOMPARE(r.code, 2);
        QCOMPARE(r.err.trimmed().count('\n'), 0);
        QVERIFY2(r.err.contains("train.steps: the value is nested deeper than 64 levels"), qPrintable(r.err.left(400)));

        QFile deep(dir_.filePath("deep.json"));
        QVERIFY(deep.open(QIODevice::WriteOnly));
        deep.write("{\"data\": {\"train\": \"arith.jsonl\"}, \"seed\": " + QByteArray(100000, '[') + QByteArray(100000, ']') +
                   "}");
        deep.close();
        r = cli({"run", deep.fileName(), "--db", db_});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("deep.json:1:") && r.err.contains("nested deeper than 64 levels"), qPrintable(r.err.left(400)));

        QFile big(dir_.filePath("big.json"));
        QVERIFY(big.open(QIODevice::WriteOnly));
        big.write("{\"data\": {\"train\": \"arith.jsonl\"},\n \"objective\": {\"beta\": 1e309}}");
        big.close();
        r = cli({"run", big.fileName(), "--db", db_});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("big.json:2:24: objective.beta: the number '1e309' is out of range"), qPrintable(r.err));

        QFile nul(dir_.filePath("nul.json"));
        QVERIFY(nul.open(QIODevice::WriteOnly));
        nul.write(R"({"data": {"train": "arith.jsonl"}, "s\u0000uffix": 1})");
        nul.close();
        r = cli({"run", nul.fileName(), "--db", db_});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("prefstudio-cli: s\\x00uffix: unknown key"), qPrintable(r.err));

        // A 100 kB value (Linux caps one argument at 128 kB) is quoted by its first 200 bytes and its size.
        r = cli({"run", good.fileName(), "--db", db_, "--set", "train.steps=" + QString(100'000, 'x')});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("got a string \"xxxxx") && r.err.contains("x\"... (100000 bytes)"), qPrintable(r.err.left(400)));
        QVERIFY(r.err.size() < 600);
    }

    // Issue #17, item 6: refused before training, naming the key.
    void unsupportedSetupsAreRefusedBeforeTraining() {
        // float16 on the CPU: libtorch has no float16 matmul there. The dry run must not say "Fits".
        auto r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db_, "--set", "model.dtype=float16",
                      "--set", "train.device=cpu"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("model.dtype: float16 cannot train on the CPU"), qPrintable(r.err));
        QVERIFY(!r.out.contains("Fits"));
        r = cli({"run", dir_.filePath("c.json"), "--db", db_, "--set", "train.max_grad_norm=1e308"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("train.max_grad_norm: must be 0 (no clipping) or a norm up to 1e6"), qPrintable(r.err));
        r = cli({"run", dir_.filePath("c.json"), "--db", db_, "--set", "data.eval=\"\""});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("data.eval: must be a path or null"), qPrintable(r.err));

        // config.json sizes: each an int32, together allocatable; token ids inside the vocabulary.
        QDir(dir_.path()).mkpath("hostile-model");
        const QString model_dir = dir_.filePath("hostile-model");
        auto write_config = [&](const QByteArray& extra) {
            QFile f(model_dir + "/config.json");
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 2, )" + extra + "}");
        };
        const QString source = "model.source=\"" + model_dir + "\"";
        write_config(R"("vocab_size": 1000000000000)");
        r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db_, "--set", source});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("config.json: \"vocab_size\" must be at most 2147483647 (an int32), got 1000000000000"),
                 qPrintable(r.err));
        QCOMPARE(r.err.trimmed().count('\n'), 0);
        // Each size fits an int32, but 2e9 layers of 36,864 parameters (attention 64 x 16 x 12, MLP 3 x 64 x 128)
        // are 7.4e13 parameters.
        write_config(R"("vocab_size": 1000, "num_hidden_layers": 2000000000)");
        r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db_, "--set", source});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("config.json: the sizes") && r.err.contains("num_hidden_layers 2000000000") &&
                     r.err.contains("more than any device holds"),
                 qPrintable(r.err));
        write_config(R"("vocab_size": 1000, "eos_token_id": 1000000000)");
        r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db_, "--set", source});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("\"eos_token_id\" must be a token id in [0, vocab_size = 1000), got 1000000000"),
                 qPrintable(r.err));
        // pad_token_id -1 is "none" in some published configs, and the pad id is not read: accepted.
        write_config(R"("vocab_size": 1000, "pad_token_id": -1)");
        r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db_, "--set", source});
        QVERIFY2(!r.err.contains("pad_token_id"), qPrintable(r.err));
        write_config(R"("vocab_size": 1000, "pad_token_id": 1000)");
        r = cli({"run", dir_.filePath("c.json"), "--dry-run", "--db", db_, "--set", source});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("\"pad_token_id\" must be a token id"), qPrintable(r.err));

        // An added token's id past 2^32 once wrapped (4294967301 -> 5).
        QFile tok(dir_.filePath("tokenizer.json"));
        QVERIFY(tok.open(QIODevice::WriteOnly));
        tok.write(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
                      "added_tokens": [{"id": 4294967301, "content": "<x>", "special": true}]})");
        tok.close();
        r = cli({"tokenize", "--tokenizer", tok.fileName(), "ab"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("tokenizer.json") && r.err.contains("added_tokens[0].id: the id of added token '<x>'") &&
                     r.err.contains("got 4294967301"),
                 qPrintable(r.err));
    }

    // Issue #17, items 5 and 8: beta = 1e300 overflows (the hint says so), and the run's name
    // with escape codes is listed escaped.
    void nanHintAndEscapedNames() {
        const QString db = dir_.filePath("nan.db");
        auto r = cli({"run", dir_.filePath("c.json"), "--db", db, "--set", "objective.beta=1e300", "--set",
                      QString("name=\x1b[31mred\x1b[0m")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("lower objective.beta") && !r.err.contains("raise objective.beta") &&
                     !r.err.contains("learning_rate"),
                 qPrintable(r.err));
        r = cli({"runs", "--db", db});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("\\x1B[31mred\\x1B[0m") && !r.out.contains('\x1b'), qPrintable(r.out));
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
