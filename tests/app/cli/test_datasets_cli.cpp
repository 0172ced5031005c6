// `prefstudio-cli data` as a user runs it: summary as text and JSON, exit 2 with one line on
// stderr for a file with problems, settings from a run config, the tokenizer option.
#include <QtTest>

#include <nlohmann/json.hpp>
#include "tests/common/cli_process.h"

class TestDatasetsCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString cli_;

    using Result = ps::test::CliResult;
    Result cli(const QStringList& args) { return ps::test::run_cli(cli_, args, 60000); }
    static QString fixture(const char* name) {
        return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR") + "/tests/fixtures/datasets/" + name;
    }

private slots:
    void initTestCase() {
        cli_ = qEnvironmentVariable("PREFSTUDIO_CLI");
        QVERIFY2(QFileInfo::exists(cli_), "PREFSTUDIO_CLI must point at the built prefstudio-cli");
    }

    void jsonSummary() {
        auto r = cli({"data", fixture("trl_standard.jsonl"), "--json", "--max-prompt-length", "12", "--max-length", "64"});
        QCOMPARE(r.code, 0);
        auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["format"].get<std::string>(), std::string("trl-standard"));
        QCOMPARE(j["records"].get<int>(), 3);
        QCOMPARE(j["kept"].get<int>(), 2);
        QCOMPARE(j["dropped"]["prompt_too_long"].get<int>(), 1);
        // Byte tokens with BOS: prompts 11, 5, 19.
        QCOMPARE(j["token_lengths"]["prompt"]["max"].get<int>(), 19);
        QCOMPARE(j["token_lengths"]["prompt"]["p50"].get<int>(), 11);
        QCOMPARE(j["length_bias"]["rejected_longer"].get<int>(), 2);
        QCOMPARE(j["preview"].size(), size_t(3));
        QCOMPARE(j["preview"][2]["dropped"].get<bool>(), true);
        QCOMPARE(j["template"].get<std::string>(), std::string("plain"));
    }

    void textSummaryRendersWithTemplate() {
        auto r = cli({"data", fixture("dpo_en_demo.json"), "--template", "llama3", "--preview", "1"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("sharegpt-preference (JSON array)"), qPrintable(r.out));
        QVERIFY(r.out.contains("length bias: chosen longer than rejected in 50.0% of pairs"));
        QVERIFY(r.out.contains("--- record 1: prompt"));
        QVERIFY(r.out.contains("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a primary colour.<|eot_id|>"));
        QVERIFY(r.out.contains("[chosen]\nRed is a primary colour.<|eot_id|>\n"));
        QVERIFY(!r.out.contains("record 2:"));
    }

    void ktoSummary() {
        auto r = cli({"data", fixture("kto_en_demo.json"), "--json"});
        QCOMPARE(r.code, 0);
        auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["kind"].get<std::string>(), std::string("unpaired"));
        QCOMPARE(j["desirable"].get<int>(), 2);
        QCOMPARE(j["undesirable"].get<int>(), 1);
        QCOMPARE(j["preview"][1]["label"].get<bool>(), false);
    }

    void problemsExitTwo() {
        auto r = cli({"data", fixture("mixed_formats.jsonl")});
        QCOMPARE(r.code, 2);
        QVERIFY(r.out.contains("problems (a run stops on these)"));
        QVERIFY(r.out.contains("mixed_formats.jsonl:3: mixed formats"));
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY(r.err.startsWith("prefstudio-cli: "));
        QVERIFY(r.err.contains("has 2 problem(s); first: "));
        auto e = cli({"data", fixture("empty.jsonl"), "--json"});
        QCOMPARE(e.code, 2);
        QCOMPARE(nlohmann::json::parse(e.out.toStdString())["errors"][0]["message"].get<std::string>(),
                 std::string("the file is empty"));
    }

    void columnsFromOptionsAndConfig() {
        auto r = cli({"data", fixture("renamed_columns.jsonl"), "--column", "prompt=question", "--column", "chosen=good",
                      "--column", "rejected=bad", "--json"});
        QCOMPARE(r.code, 0);
        QCOMPARE(nlohmann::json::parse(r.out.toStdString())["examples"].get<int>(), 2);
        QFile cfg(dir_.filePath("run.json"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write(R"({"data": {"train": "x.jsonl", "columns": {"prompt": "question", "chosen": "good", "rejected": "bad"},
                      "max_prompt_length": 4, "truncation_mode": "keep_end"}})");
        cfg.close();
        r = cli({"data", fixture("renamed_columns.jsonl"), "--config", cfg.fileName(), "--json"});
        QCOMPARE(r.code, 0);
        auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["truncated"]["prompts"].get<int>(), 2);  // "2+2=" + BOS is 5 tokens > 4
        QCOMPARE(j["limits"]["truncation_mode"].get<std::string>(), std::string("keep_end"));
    }

    // With --config and no --tokenizer, the tokens are the config's model's (what its run trains
    // on), not the byte tokenizer's: the same counts as naming that tokenizer.
    void configModelsTokenizerByDefault() {
        const QString model = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR") + "/tests/fixtures/tokenizer/tiny_bytelevel";
        QFile cfg(dir_.filePath("hf-model.json"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write(QStringLiteral(R"({"model": {"source": "%1"}, "data": {"train": "x.jsonl"}})").arg(model).toUtf8());
        cfg.close();
        auto r = cli({"data", fixture("trl_standard.jsonl"), "--config", cfg.fileName(), "--json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QVERIFY2(j["tokenizer"].get<std::string>().find("tiny_bytelevel") != std::string::npos, j["tokenizer"].dump().c_str());
        auto named = cli({"data", fixture("trl_standard.jsonl"), "--tokenizer", model, "--json"});
        QCOMPARE(named.code, 0);
        const auto n = nlohmann::json::parse(named.out.toStdString());
        QCOMPARE(j["token_lengths"].dump(), n["token_lengths"].dump());
        auto byte = cli({"data", fixture("trl_standard.jsonl"), "--json"});
        QVERIFY(j["token_lengths"].dump() != nlohmann::json::parse(byte.out.toStdString())["token_lengths"].dump());
    }

    void badOptions() {
        auto r = cli({"data", fixture("trl_standard.jsonl"), "--tokenizer", "/models/qwen/tokenizer.json"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("/models/qwen/tokenizer.json") && r.err.contains("not found"), qPrintable(r.err));
        r = cli({"data", fixture("trl_standard.jsonl"), "--column", "answer=x"});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("--column: unknown key 'answer'"));
        r = cli({"data", fixture("trl_standard.jsonl"), "--template", "vicuna"});
        QCOMPARE(r.code, 2);
        r = cli({"data", "--help"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("--truncation-mode"));
    }
};

QTEST_GUILESS_MAIN(TestDatasetsCli)
#include "test_datasets_cli.moc"
