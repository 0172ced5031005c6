// On-policy rejected answers (make-data onpolicy, the "clone with remedy" data): the file keeps
// every prompt and chosen answer in order, its rejected answers are what the run's reference
// model says (checked against generation from an independently opened model), and bad input,
// unpaired data and cancellation are clear errors that leave no file behind.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/data/make_data.h"
#include "core/data/preference_data.h"
#include "core/diagnose/remedies.h"
#include "core/engine/onpolicy_data.h"
#include "core/engine/remedy_config.h"
#include "core/engine/run_thread.h"
#include "core/model/text_generator.h"
#include "core/text/utf8.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<json> read_jsonl(const std::string& path) {
    std::vector<json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool digits_only(const std::string& s) {
    if (s.empty() || s.size() > 4) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

}  // namespace

class TestOnPolicy : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::string data_;

    ps::RunConfig config(int sft_steps, int64_t seed = 3) const {
        json j = {{"name", "onpolicy"},
                  {"seed", seed},
                  {"model", {{"source", "builtin:tiny"}}},
                  {"data", {{"train", data_}, {"max_length", 32}, {"max_prompt_length", 16}, {"eval_fraction", 0.1}}},
                  {"sft", {{"steps", sft_steps}, {"learning_rate", 3e-3}}},
                  {"train", {{"steps", 1}, {"batch_size", 16}, {"threads", 1}}}};
        return ps::RunConfig::from_json(j);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        data_ = (dir_.path() + "/arith.jsonl").toStdString();
        ps::ArithDataOptions o;
        o.count = 60;
        o.seed = 5;
        ps::write_preference_jsonl(ps::make_arith_pairs(o), data_);
    }

    // Without SFT warm-up the reference is the untrained builtin model of the config's seed:
    // the sampled answers must equal what a separately opened TextGenerator of that model
    // samples for the prompt ids written out by hand (<bos> = 257, then the prompt's bytes),
    // with the generation seed the options document (first try, one batch: seed * 1000003).
    void sampledAnswersAreTheReferenceModels() {
        const ps::RunConfig c = config(0);
        ps::OnPolicyOptions o;
        o.out = (dir_.path() + "/sampled.jsonl").toStdString();
        o.temperature = 1.0;
        o.max_new_tokens = 4;
        o.seed = 2;
        o.batch_size = 64;  // every prompt in one batch
        ps::RunControl control;
        const ps::OnPolicyReport r = ps::make_onpolicy_data(c, o, control);
        QCOMPARE(r.pairs, size_t(60));
        QCOMPARE(r.skipped_by_limits, size_t(0));
        QCOMPARE(r.reference_sft_steps, int64_t(0));
        QCOMPARE(r.sampled + r.kept_original, size_t(60));
        QCOMPARE(r.sampled, size_t(60));  // a random model does not say the right sum

        const auto original = read_jsonl(data_);
        const auto made = read_jsonl(o.out);
        QCOMPARE(made.size(), original.size());
        ps::TextGeneratorOptions go;
        go.seed = 3;  // the config's seed: the builtin model's weights
        auto gen = ps::TextGenerator::open("builtin:tiny", go);
        std::vector<std::vector<int64_t>> prompts;
        for (const auto& rec : original) {
            std::vector<int64_t> ids{257};
            for (unsigned char ch : rec["prompt"].get<std::string>()) ids.push_back(ch);
            prompts.push_back(ids);
        }
        ps::GenerationOptions g;
        g.max_new_tokens = 4;
        g.temperature = 1.0;
        g.seed = 2 * 1000003ULL;
        const auto expected = gen->generate_ids(prompts, g);
        size_t first_try = 0, distinct = 0;
        std::set<std::string> answers;
        for (size_t i = 0; i < original.size(); ++i) {
            // Prompts and chosen answers unchanged, in the file's order.
            QCOMPARE(made[i]["prompt"], original[i]["prompt"]);
            QCOMPARE(made[i]["chosen"], original[i]["chosen"]);
            const std::string rejected = made[i]["rejected"].get<std::string>();
            QVERIFY(rejected != original[i]["chosen"].get<std::string>());
            answers.insert(rejected);
            const std::string want = ps::utf8_lossy(expected[i].completion);
            const bool blank = want.find_first_not_of(" \t\r\n") == std::string::npos;
            if (blank || want == original[i]["chosen"].get<std::string>()) continue;  // sampled again later
            QCOMPARE(rejected, want);
            ++first_try;
        }
        distinct = answers.size();
        QVERIFY(first_try >= 55);
        QVERIFY2(distinct >= 40, qPrintable(QString("only %1 distinct answers").arg(distinct)));
        // Another sampling seed, other answers.
        o.seed = 3;
        o.out = (dir_.path() + "/sampled-seed3.jsonl").toStdString();
        ps::make_onpolicy_data(c, o, control);
        QVERIFY(read_all(o.out) != read_all((dir_.path() + "/sampled.jsonl").toStdString()));
    }

    // After the SFT warm-up the reference speaks arithmetic: its sampled answers are numbers
    // (the untrained model's are random bytes), never the chosen answer, and the same
    // options give the same file.
    void warmedUpReferenceAnswersLikeTheData() {
        const ps::RunConfig c = config(150);
        ps::OnPolicyOptions o;
        o.out = (dir_.path() + "/warm.jsonl").toStdString();
        o.seed = 11;
        ps::RunControl control;
        std::vector<std::string> phases;
        int64_t last_sft = 0;
        const auto r = ps::make_onpolicy_data(c, o, control, [&](const std::string& phase, int64_t done, int64_t total) {
            if (phases.empty() || phases.back() != phase) phases.push_back(phase);
            if (phase == "reference") {
                QCOMPARE(total, int64_t(150));
                last_sft = done;
            }
        });
        QCOMPARE(r.reference_sft_steps, int64_t(150));
        QCOMPARE(last_sft, int64_t(150));
        QVERIFY(phases.size() >= 2);
        QCOMPARE(phases[0], std::string("reference"));
        QCOMPARE(phases[1], std::string("sample"));
        // The longest answer of the data, in bytes (sums below 100 plus plausible wrong ones).
        const auto original = read_jsonl(data_);
        size_t longest = 0;
        for (const auto& rec : original)
            longest = std::max({longest, rec["chosen"].get<std::string>().size(), rec["rejected"].get<std::string>().size()});
        QCOMPARE(static_cast<size_t>(r.max_new_tokens), longest);

        const auto made = read_jsonl(o.out);
        size_t numbers = 0, sampled = 0;
        for (size_t i = 0; i < made.size(); ++i) {
            const std::string rej = made[i]["rejected"].get<std::string>();
            if (rej == original[i]["rejected"].get<std::string>()) continue;
            ++sampled;
            QVERIFY(rej != made[i]["chosen"].get<std::string>());
            if (digits_only(rej)) ++numbers;
        }
        // A sampled answer may happen to be the original wrong sum (then it looks unchanged).
        QVERIFY(sampled <= r.sampled && sampled + 6 >= r.sampled);
        QVERIFY(r.sampled >= 50);
        QVERIFY2(numbers * 10 >= sampled * 8, qPrintable(QString("%1 of %2 sampled answers are numbers").arg(numbers).arg(sampled)));

        ps::OnPolicyOptions again = o;
        again.out = (dir_.path() + "/warm2.jsonl").toStdString();
        ps::make_onpolicy_data(c, again, control);
        QCOMPARE(read_all(again.out), read_all(o.out));
    }

    // The command line writes the same file as the API for the same config and options, and
    // reports what it did; bad input is exit code 2 with one line on stderr.
    void commandLineMatchesTheApi() {
        const QString cli = qEnvironmentVariable("PREFSTUDIO_CLI");
        QVERIFY2(QFileInfo::exists(cli), "PREFSTUDIO_CLI must point at the built prefstudio-cli");
        const ps::RunConfig c = config(40);
        const QString configPath = dir_.filePath("exp.json");
        {
            std::ofstream f(configPath.toStdString());
            f << c.to_json().dump(2);
        }
        ps::OnPolicyOptions o;
        o.out = (dir_.path() + "/api.jsonl").toStdString();
        o.seed = 9;
        ps::RunControl control;
        const auto r = ps::make_onpolicy_data(c, o, control);

        const QString out = dir_.filePath("cli.jsonl");
        QProcess p;
        p.start(cli, {"make-data", "onpolicy", "--config", configPath, "--out", out, "--seed", "9", "--json"});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const json report = json::parse(p.readAllStandardOutput().toStdString());
        QCOMPARE(report["pairs"].get<size_t>(), size_t(60));
        QCOMPARE(report["sampled"].get<size_t>(), r.sampled);
        QCOMPARE(report["reference_sft_steps"].get<int64_t>(), int64_t(40));
        QCOMPARE(read_all(out.toStdString()), read_all(o.out));

        p.start(cli, {"make-data", "onpolicy", "--out", out});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(QString::fromUtf8(p.readAllStandardError()).contains("--config"));
        p.start(cli, {"make-data", "onpolicy", "--config", configPath, "--out", out, "--set", "data.max_length=4"});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(QString::fromUtf8(p.readAllStandardError()).contains("data.max_length"));
    }

    // LLaMA-Factory sharegpt in, TRL conversational out: the prompt's messages (system and
    // earlier turns included) and the chosen message kept, the rejected one sampled; the file
    // reads back as TRL with the remedy's overrides.
    void conversationalDataStayConversational() {
        const std::string source = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString();
        ps::RunConfig c = config(0);
        c.data.train = source + "/tests/fixtures/datasets/dpo_en_demo.json";
        c.data.format = "sharegpt";
        c.data.max_length = 512;
        c.data.max_prompt_length = 256;
        c.data.eval_fraction = 0.0;
        ps::OnPolicyOptions o;
        o.out = (dir_.path() + "/conversational.jsonl").toStdString();
        o.max_new_tokens = 8;
        ps::RunControl control;
        const auto r = ps::make_onpolicy_data(c, o, control);
        QCOMPARE(r.pairs, size_t(2));
        const auto made = read_jsonl(o.out);
        QCOMPARE(made.size(), size_t(2));
        QCOMPARE(made[0]["prompt"], json::parse(R"([{"role": "user", "content": "Name a primary colour."}])"));
        QCOMPARE(made[0]["chosen"], json::parse(R"([{"role": "assistant", "content": "Red is a primary colour."}])"));
        QCOMPARE(made[0]["rejected"].size(), size_t(1));
        QCOMPARE(made[0]["rejected"][0]["role"].get<std::string>(), std::string("assistant"));
        QVERIFY(made[0]["rejected"][0]["content"].get<std::string>() != "Green, obviously.");
        json e = ps::apply_remedy(c.to_json(), "on_policy_rejected", c);
        e["data"]["train"] = o.out;
        const ps::RunConfig cloned = ps::RunConfig::from_json(e);
        QCOMPARE(cloned.data.format, std::string("auto"));
        ps::DataOptions d;
        const auto back = ps::read_preference_file(o.out, d);
        QCOMPARE(back.pairs.size(), size_t(2));
        QVERIFY(back.pairs[0].conversational);
        QCOMPARE(back.pairs[0].prompt_messages.size(), size_t(1));
    }

    void badInputIsAClearError() {
        ps::RunControl control;
        ps::OnPolicyOptions o;
        o.out = (dir_.path() + "/bad.jsonl").toStdString();
        o.samples = 0;
        try {
            ps::make_onpolicy_data(config(0), o, control);
            QFAIL("no error for --samples 0");
        } catch (const ps::ConfigError& e) {
            QCOMPARE(e.field(), std::string("--samples"));
        }
        // Unpaired KTO examples have no rejected answer to replace.
        const std::string kto = (dir_.path() + "/kto.jsonl").toStdString();
        {
            std::ofstream f(kto);
            for (int i = 0; i < 10; ++i)
                f << json{{"prompt", std::to_string(i) + "+1="}, {"completion", std::to_string(i + 1)}, {"label", i % 2 == 0}}.dump()
                  << "\n";
        }
        ps::RunConfig c = config(0);
        c.data.train = kto;
        c.objective.algorithm = "kto";
        o.samples = 4;
        try {
            ps::make_onpolicy_data(c, o, control);
            QFAIL("no error for unpaired data");
        } catch (const ps::DataError& e) {
            QVERIFY2(std::string(e.what()).find("unpaired") != std::string::npos, e.what());
        }
        QVERIFY(!fs::exists(o.out));
    }

    void cancellingLeavesNoFile() {
        ps::RunControl control;
        control.request_stop();
        ps::OnPolicyOptions o;
        o.out = (dir_.path() + "/cancelled.jsonl").toStdString();
        QVERIFY_THROWS_EXCEPTION(ps::Cancelled, ps::make_onpolicy_data(config(20), o, control));
        QVERIFY(!fs::exists(o.out));
        QVERIFY(!fs::exists(o.out + ".tmp"));
    }

    // The remedy points data.train at the file the studio makes for this experiment; a config
    // with that override reads the file make_onpolicy_data wrote there.
    void remedyUsesTheDefaultPath() {
        const ps::RunConfig c = config(0);
        const std::string path = ps::remedy_overrides("on_policy_rejected", c)["data.train"].get<std::string>();
        QCOMPARE(fs::path(path).parent_path(), fs::path(data_).parent_path());
        QCOMPARE(path, ps::default_onpolicy_path(c));
        ps::OnPolicyOptions o;
        o.out = path;
        ps::RunControl control;
        ps::make_onpolicy_data(c, o, control);
        json e = c.to_json();
        e = ps::apply_remedy(e, "on_policy_rejected", c);
        QCOMPARE(e["name"].get<std::string>(), std::string("onpolicy-onpolicy"));
        const ps::RunConfig cloned = ps::RunConfig::from_json(e);
        QCOMPARE(cloned.data.train, path);
        QCOMPARE(read_jsonl(cloned.data.train).size(), size_t(60));
    }
};

QTEST_GUILESS_MAIN(TestOnPolicy)
#include "test_onpolicy.moc"
