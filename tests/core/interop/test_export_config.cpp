// The cluster export (core/interop/export_config.h): every key of a full config is mapped or
// listed for every algorithm; the YAML parses back (yaml-cpp here, PyYAML in check_exports.py) to
// the hand-written settings of tests/fixtures/export/cases.json; the committed exports are what
// the exporter writes now; data formats become the right dataset_info.json entries; the CLI's
// errors are one sentence with exit code 2.
#include <QtTest>

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/common/errors.h"
#include "core/config/algorithm.h"
#include "core/config/run_config.h"
#include "core/interop/export_config.h"

using nlohmann::json;
using namespace ps;

namespace {

std::string source_dir() { return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR", ".").toStdString(); }
std::string fixture(const std::string& name) { return source_dir() + "/tests/fixtures/" + name; }

json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    return json::parse(in);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A YAML node as JSON, reading scalars as YAML 1.2's core schema does; quoted scalars stay strings.
json to_json(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Null: return nullptr;
        case YAML::NodeType::Sequence: {
            json a = json::array();
            for (const auto& e : n) a.push_back(to_json(e));
            return a;
        }
        case YAML::NodeType::Map: {
            json o = json::object();
            for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
            return o;
        }
        case YAML::NodeType::Scalar: {
            const std::string s = n.Scalar();
            if (n.Tag() == "!") return s;  // quoted
            if (s == "true") return true;
            if (s == "false") return false;
            if (s == "null" || s == "~") return nullptr;
            char* end = nullptr;
            const long long i = std::strtoll(s.c_str(), &end, 10);
            if (!s.empty() && *end == '\0') return static_cast<int64_t>(i);
            const double d = std::strtod(s.c_str(), &end);
            if (!s.empty() && *end == '\0') return d;
            return s;
        }
        default: return nullptr;
    }
}

json parse_yaml(const std::string& text) { return to_json(YAML::Load(text)); }

json case_config(const json& cases, const json& c) {
    json config = cases["base"];
    config.merge_patch(c["config"]);
    config["name"] = c["name"];
    return config;
}

std::string yaml_path_of(const json& cases, const std::string& name, const std::string& target) {
    return cases["yaml_dir"].get<std::string>() + "/" + name + "." + target + ".yaml";
}

// A config with every key set away from its default where that is allowed (float16 on a cuda
// device: float16 on the CPU is refused at validation).
json full_config(const std::string& algorithm, const std::string& loss_type, bool lora) {
    json j = {{"name", "full"},
              {"seed", 3},
              {"model", {{"source", "/models/m"}, {"tokenizer", "/models/m/tokenizer.json"}, {"template", "chatml"},
                         {"dtype", "float16"}}},
              {"data", {{"train", "/data/t.jsonl"}, {"eval", "/data/e.jsonl"}, {"eval_fraction", 0.2}, {"format", "trl"},
                        {"max_length", 128}, {"max_prompt_length", 64}, {"truncation_mode", "keep_start"},
                        {"group_by_length", false}, {"columns", {{"chosen", "good"}}}, {"tags", {{"role_tag", "r"}}}}},
              {"sft", {{"steps", 10}, {"learning_rate", 1e-4}}},
              {"objective", {{"algorithm", algorithm}, {"beta", 0.2}, {"label_smoothing", 0.1}, {"sft_weight", 0.5},
                             {"dpop_lambda", 5.0}, {"desirable_weight", 1.2}, {"undesirable_weight", 0.9},
                             {"gamma", 0.7}, {"cpo_alpha", 0.3}}},
              {"train", {{"steps", 20}, {"batch_size", 2}, {"grad_accum", 3}, {"learning_rate", 1e-5},
                         {"warmup_steps", 2}, {"schedule", "linear"}, {"weight_decay", 0.01}, {"max_grad_norm", 0.5},
                         {"eval_every", 5}, {"checkpoint_every", 10}, {"device", "cuda"}, {"reference_logps", "on_the_fly"},
                         {"threads", 2}, {"save_dir", "/out/full"}, {"track_pairs", 8}, {"gradient_checkpointing", true}}}};
    if (!loss_type.empty()) j["objective"]["loss_type"] = loss_type;
    if (lora) j["model"]["lora"] = {{"rank", 4}, {"alpha", 8}, {"dropout", 0.1}, {"target_modules", {"q_proj"}}};
    return j;
}

}  // namespace

class TestExportConfig : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void yamlFloatsReadBackExactly() {
        // Hand-written: PyYAML needs the "." (it reads "5e-07" as a string) and a signed exponent.
        QCOMPARE(yaml_float(0.1), std::string("0.1"));
        QCOMPARE(yaml_float(5e-7), std::string("5.0e-07"));
        QCOMPARE(yaml_float(2.0), std::string("2.0"));
        QCOMPARE(yaml_float(0.0), std::string("0.0"));
        QCOMPARE(yaml_float(1e20), std::string("1.0e+20"));
        QCOMPARE(yaml_float(1.33), std::string("1.33"));
        QCOMPARE(yaml_float(0.1 + 0.2), std::string("0.30000000000000004"));
        QCOMPARE(yaml_float(-2.5e-5), std::string("-2.5e-05"));
    }

    void keyPathsAreTheConfigLeaves() {
        RunConfig c;
        c.data.train = "/d.jsonl";
        const auto paths = config_key_paths(c.to_json());
        const std::set<std::string> set(paths.begin(), paths.end());
        QCOMPARE(set.size(), paths.size());
        for (const char* p : {"name", "seed", "model.source", "model.lora", "data.columns", "data.tags", "objective.beta",
                              "train.gradient_checkpointing", "sft.steps"})
            QVERIFY2(set.count(p), p);
        QVERIFY(!set.count("model"));
        QVERIFY(!set.count("data.columns.chosen"));
    }

    // The contract: no key of our resolved config is dropped silently, for every algorithm, loss
    // type, with and without LoRA, for both targets.
    void everyKeyIsMappedOrListed_data() {
        QTest::addColumn<QString>("algorithm");
        QTest::addColumn<QString>("loss");
        QTest::addColumn<bool>("lora");
        for (bool lora : {false, true}) {
            for (Algorithm a : kAlgorithms) {
                const AlgorithmSpec& s = algorithm_spec(a);
                std::vector<std::string> losses;
                for (LossType t : s.loss_types) losses.push_back(loss_type_name(t));
                if (losses.empty()) losses.push_back("");
                for (const std::string& l : losses)
                    QTest::newRow((s.name + "-" + (l.empty() ? "none" : l) + (lora ? "-lora" : "")).c_str())
                        << QString::fromStdString(s.name) << QString::fromStdString(l) << lora;
            }
        }
    }
    void everyKeyIsMappedOrListed() {
        QFETCH(QString, algorithm);
        QFETCH(QString, loss);
        QFETCH(bool, lora);
        const RunConfig config = RunConfig::from_json(full_config(algorithm.toStdString(), loss.toStdString(), lora));
        const auto paths = config_key_paths(config.to_json());
        int exported = 0;
        for (ExportTarget target : {ExportTarget::Trl, ExportTarget::LlamaFactory}) {
            ConfigExport e;
            try {
                e = export_config(config, target, {dir_.filePath("x.yaml").toStdString()});
            } catch (const ConfigError& err) {
                // Only LLaMA-Factory refuses, and only objectives it has no loss for.
                QVERIFY2(target == ExportTarget::LlamaFactory, err.what());
                QVERIFY2(err.field() == "objective.loss_type" || err.field() == "data.train", err.what());
                continue;
            }
            ++exported;
            QCOMPARE(e.keys.size(), paths.size());
            for (size_t i = 0; i < paths.size(); ++i) {
                const ExportedKey& k = e.keys[i];
                QCOMPARE(k.path, paths[i]);
                const std::string where = std::string(to_string(target)) + " " + k.path;
                QVERIFY2(!k.unknown, ("not mapped nor listed: " + where).c_str());
                QVERIFY2(!k.targets.empty() || !k.note.empty(), ("no target and no reason: " + where).c_str());
                // ... and the file says so in its comments.
                const bool listed = e.text.find("#   " + k.path + " -> ") != std::string::npos ||
                                    e.text.find("#   " + k.path + ": ") != std::string::npos ||
                                    e.text.find("#   " + k.path + " [TRAINS DIFFERENTLY]") != std::string::npos;
                QVERIFY2(listed, ("not in the comments: " + where).c_str());
            }
            // What this config sets that neither tool has shows up as a warning, in the file too.
            bool sft_warned = false, dpop_warned = false;
            for (const std::string& w : e.warnings) {
                sft_warned |= w.rfind("sft.steps:", 0) == 0;
                dpop_warned |= w.rfind("objective.dpop_lambda:", 0) == 0;
                QVERIFY2(e.text.find(w) != std::string::npos, w.c_str());
            }
            QVERIFY(sft_warned);
            QCOMPARE(dpop_warned, algorithm == "dpo");
            // The settings parse back from the text exactly.
            QCOMPARE(parse_yaml(e.text).dump(), e.settings.dump());
        }
        QVERIFY(exported >= 1);
    }

    // Hand-written expectations per algorithm (tests/fixtures/export/cases.json), and the committed
    // exports beside them are what the exporter writes now.
    void casesMatchHandWrittenSettings_data() {
        QTest::addColumn<int>("index");
        QTest::addColumn<QString>("target");
        const json cases = read_json(fixture("export/cases.json"));
        for (size_t i = 0; i < cases["cases"].size(); ++i)
            for (const char* t : {"trl", "llamafactory"})
                QTest::newRow((cases["cases"][i]["name"].get<std::string>() + "." + t).c_str())
                    << static_cast<int>(i) << QString(t);
    }
    void casesMatchHandWrittenSettings() {
        QFETCH(int, index);
        QFETCH(QString, target);
        const json cases = read_json(fixture("export/cases.json"));
        const json& c = cases["cases"][index];
        const std::string name = c["name"], t = target.toStdString();
        const json& want = c[t];
        const RunConfig config = RunConfig::from_json(case_config(cases, c));
        const ExportTarget tgt = *find_export_target(t);
        const std::string yaml_path = yaml_path_of(cases, name, t);
        const std::string committed = fixture("export/" + name + "." + t + ".yaml");
        if (want.contains("error")) {
            try {
                export_config(config, tgt, {yaml_path});
                QFAIL("expected a refusal");
            } catch (const ConfigError& e) {
                QCOMPARE(e.field(), want["error"].get<std::string>());
                QVERIFY(std::string(e.what()).find("--to trl") != std::string::npos);
            }
            QVERIFY(!QFileInfo::exists(QString::fromStdString(committed)));
            return;
        }
        const ConfigExport e = export_config(config, tgt, {yaml_path});
        QCOMPARE(e.trainer, want["trainer"].get<std::string>());
        const json parsed = parse_yaml(e.text);
        QCOMPARE(parsed.dump(), e.settings.dump());
        json expect = cases["common"][t];
        expect.merge_patch(want["expect"]);
        for (auto it = expect.begin(); it != expect.end(); ++it) {
            QVERIFY2(parsed.contains(it.key()), ("missing " + it.key()).c_str());
            const json& got = parsed[it.key()];
            if (it->is_number_float() || got.is_number_float())
                QVERIFY2(got.is_number() && got.get<double>() == it->get<double>(),
                         (it.key() + ": " + got.dump() + " != " + it->dump()).c_str());
            else
                QVERIFY2(got == *it, (it.key() + ": " + got.dump() + " != " + it->dump()).c_str());
        }
        for (const auto& key : want["absent"]) QVERIFY2(!parsed.contains(key.get<std::string>()), key.dump().c_str());
        if (want.contains("dataset_info")) QCOMPARE(e.dataset_info.dump(), want["dataset_info"].dump());

        if (qEnvironmentVariableIsSet("PREFSTUDIO_WRITE_EXPORT_FIXTURES")) {
            std::ofstream(committed, std::ios::binary) << e.text;
            if (tgt == ExportTarget::LlamaFactory)
                std::ofstream(fixture("export/" + name + ".dataset_info.json")) << e.dataset_info.dump(2) << "\n";
        }
        QCOMPARE(read_text(committed), e.text);
        if (tgt == ExportTarget::LlamaFactory)
            QCOMPARE(read_json(fixture("export/" + name + ".dataset_info.json")).dump(), e.dataset_info.dump());
    }

    void dataFormatsBecomeDatasetInfoEntries_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("algorithm");
        QTest::addColumn<QString>("columns");  // data.columns as JSON
        QTest::addColumn<QString>("entry");    // the expected entry, hand-written (file_name added)
        QTest::newRow("sharegpt from/value") << "dpo_en_demo.json" << "dpo" << "{}"
            << R"({"formatting":"sharegpt","ranking":true,"columns":{"messages":"conversations","chosen":"chosen","rejected":"rejected"}})";
        QTest::newRow("sharegpt kto role/content") << "kto_en_demo.json" << "kto" << "{}"
            << R"({"formatting":"sharegpt","columns":{"messages":"messages","kto_tag":"label"},"tags":{"role_tag":"role","content_tag":"content","user_tag":"user","assistant_tag":"assistant","system_tag":"system"}})";
        QTest::newRow("alpaca ranking") << "alpaca_ranking.json" << "dpo" << "{}"
            << R"({"ranking":true,"columns":{"prompt":"instruction","query":"input","chosen":"chosen","rejected":"rejected","system":"system","history":"history"}})";
        QTest::newRow("trl standard") << "trl_standard.jsonl" << "orpo" << "{}"
            << R"({"ranking":true,"columns":{"prompt":"prompt","chosen":"chosen","rejected":"rejected"}})";
        QTest::newRow("trl unpaired") << "trl_unpaired.jsonl" << "kto" << "{}"
            << R"({"columns":{"prompt":"prompt","response":"completion","kto_tag":"label"}})";
        QTest::newRow("renamed columns") << "renamed_columns.jsonl" << "dpo"
            << R"({"prompt":"question","chosen":"good","rejected":"bad"})"
            << R"({"ranking":true,"columns":{"prompt":"question","chosen":"good","rejected":"bad"}})";
    }
    void dataFormatsBecomeDatasetInfoEntries() {
        QFETCH(QString, file);
        QFETCH(QString, algorithm);
        QFETCH(QString, columns);
        QFETCH(QString, entry);
        json j = {{"name", "fmt"}, {"data", {{"train", fixture("datasets/" + file.toStdString())}}},
                  {"objective", {{"algorithm", algorithm.toStdString()}}}};
        j["data"]["columns"] = json::parse(columns.toStdString());
        const RunConfig config = RunConfig::from_json(j);
        const ConfigExport e = export_config(config, ExportTarget::LlamaFactory, {"/x/fmt.yaml"});
        json want = json::parse(entry.toStdString());
        want["file_name"] = fixture("datasets/" + file.toStdString());
        QCOMPARE(e.dataset_info["fmt_train"].dump(), want.dump());
        for (const std::string& w : e.warnings) QVERIFY2(w.find("could not be read") == std::string::npos, w.c_str());
        // TRL reads only its own formats: LLaMA-Factory's are a warning there.
        const ConfigExport trl = export_config(config, ExportTarget::Trl);
        bool format_warned = false;
        for (const std::string& w : trl.warnings) format_warned |= w.rfind("data.format:", 0) == 0;
        QCOMPARE(format_warned, file.startsWith("dpo_en") || file.startsWith("kto_en") || file.startsWith("alpaca"));
    }

    // LLaMA-Factory wraps every prompt in its template; PrefStudio renders messages with
    // model.template and uses text examples verbatim (its "empty" template).
    void llamaFactoryTemplates() {
        auto template_for = [](const std::string& file, const std::string& tmpl) {
            const RunConfig c = RunConfig::from_json({{"name", "t"},
                                                      {"model", {{"template", tmpl}}},
                                                      {"data", {{"train", fixture("datasets/" + file)}}}});
            return parse_yaml(export_config(c, ExportTarget::LlamaFactory, {"/x/t.yaml"}).text)["template"]
                .get<std::string>();
        };
        QCOMPARE(template_for("dpo_en_demo.json", "llama3"), std::string("llama3"));
        QCOMPARE(template_for("dpo_en_demo.json", "qwen2.5"), std::string("qwen"));
        QCOMPARE(template_for("dpo_en_demo.json", "chatml"), std::string("chatml"));
        QCOMPARE(template_for("alpaca_ranking.json", "auto"), std::string("empty"));  // builtin:tiny is plain
        QCOMPARE(template_for("trl_standard.jsonl", "llama3"), std::string("empty"));
    }

    // A JSON Lines file over 8 MB is judged by its first lines; the sample copy is removed.
    void largeFilesAreSampled() {
        const std::string path = dir_.filePath("big-unpaired.jsonl").toStdString();
        {
            std::ofstream out(path);
            const std::string pad(200, 'x');
            for (int i = 0; i < 45000; ++i)
                out << json{{"prompt", "p" + std::to_string(i) + pad}, {"completion", "c"}, {"label", i % 2 == 0}}.dump()
                    << "\n";
        }
        QVERIFY(QFileInfo(QString::fromStdString(path)).size() > (8 << 20));
        const RunConfig config = RunConfig::from_json(
            {{"name", "big"}, {"data", {{"train", path}}}, {"objective", {{"algorithm", "kto"}}}});
        const ConfigExport e = export_config(config, ExportTarget::LlamaFactory, {"/x/big.yaml"});
        QCOMPARE(e.dataset_info["big_train"]["columns"].dump(),
                 json({{"prompt", "prompt"}, {"response", "completion"}, {"kto_tag", "label"}}).dump());
        const QStringList left = QDir(QDir::tempPath()).entryList({"prefstudio-export-sample-*"});
        QVERIFY2(left.isEmpty(), qPrintable(left.join(' ')));
    }

    void formatsLlamaFactoryCannotReadAreRefused() {
        for (const char* file : {"trl_conversational.jsonl", "trl_implicit_prompt.jsonl"}) {
            const RunConfig config = RunConfig::from_json(
                {{"name", "x"}, {"data", {{"train", fixture(std::string("datasets/") + file)}}}});
            try {
                export_config(config, ExportTarget::LlamaFactory, {"/x/x.yaml"});
                QFAIL(file);
            } catch (const ConfigError& e) {
                QCOMPARE(e.field(), std::string("data.train"));
            }
            export_config(config, ExportTarget::Trl);  // TRL reads both
        }
        // KTO on pairs: LLaMA-Factory's KTO needs kto_tag examples.
        const RunConfig kto = RunConfig::from_json({{"name", "x"},
                                                    {"data", {{"train", fixture("datasets/trl_standard.jsonl")}}},
                                                    {"objective", {{"algorithm", "kto"}}}});
        QVERIFY_THROWS_EXCEPTION(ConfigError, export_config(kto, ExportTarget::LlamaFactory, {"/x/x.yaml"}));
        QVERIFY_THROWS_EXCEPTION(ConfigError,
                                 export_config(RunConfig::from_json({{"name", "x"}, {"data", {{"train", "/d.jsonl"}}},
                                                                     {"objective", {{"reference_free", true}}}}),
                                               ExportTarget::LlamaFactory));
    }

    void writesDatasetInfoBesideAndKeepsOtherEntries() {
        const QString sub = dir_.filePath("lf");
        QVERIFY(QDir().mkpath(sub));
        const std::string yaml = (sub + "/run.yaml").toStdString();
        const std::string info_path = (sub + "/dataset_info.json").toStdString();
        std::ofstream(info_path) << R"({"mine": {"file_name": "a.json"}})";
        const RunConfig config = RunConfig::from_json(
            {{"name", "w"}, {"data", {{"train", fixture("datasets/dpo_en_demo.json")}}}});
        const ConfigExport e = export_config(config, ExportTarget::LlamaFactory, {yaml});
        const auto written = write_config_export(e, yaml);
        QCOMPARE(written.size(), size_t(2));
        const json info = read_json(info_path);
        QVERIFY(info.contains("mine"));
        QCOMPARE(info["w_train"]["formatting"].get<std::string>(), std::string("sharegpt"));
        const json parsed = parse_yaml(read_text(yaml));
        QCOMPARE(parsed["dataset_dir"].get<std::string>(), sub.toStdString());
        QCOMPARE(parsed["dataset"].get<std::string>(), std::string("w_train"));
        QVERIFY_THROWS_EXCEPTION(Error, write_config_export(e, "/nonexistent-dir/run.yaml"));
    }

    void storedRunConfigs() {
        RunConfig c;
        c.name = "stored";
        c.data.train = "/d.jsonl";
        c.objective.algorithm = "simpo";
        StoredRun run;
        run.id = 4;
        run.name = "stored";
        run.resolved_config = c.to_json();
        QCOMPARE(stored_run_config(run).to_json().dump(), c.to_json().dump());
        run.resolved_config = {{"learning_rate", 5e-7}, {"beta", 0.1}};  // another tool's arguments
        try {
            stored_run_config(run);
            QFAIL("expected a refusal");
        } catch (const ConfigError& e) {
            QVERIFY(std::string(e.what()).find("run 4 'stored' was not trained from a PrefStudio run config") !=
                    std::string::npos);
        }
    }

    // prefstudio-cli export-config as a user runs it.
    void cli() {
        const QString cli = qEnvironmentVariable("PREFSTUDIO_CLI");
        if (!QFileInfo::exists(cli)) QSKIP("PREFSTUDIO_CLI is not set");
        struct R { int code; QString out, err; };
        auto run = [&](const QStringList& args) {
            QProcess p;
            p.start(cli, args);
            if (!p.waitForFinished(180000)) return R{-1, "", "timeout"};
            return R{p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
        };
        auto one_sentence = [](const R& r, const char* contains) {
            const QString line = r.err.trimmed();
            return r.code == 2 && !line.contains('\n') && line.contains(contains);
        };
        const QString data = dir_.filePath("arith.jsonl");
        R r = run({"make-data", "arith", "--out", data, "--count", "32", "--max-operand", "10"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QString cfg = dir_.filePath("exp.json");
        {
            QFile f(cfg);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QString(R"({"name": "cli-exp", "data": {"train": "%1", "max_length": 32, "max_prompt_length": 16},
                               "sft": {"steps": 0}, "train": {"steps": 3, "batch_size": 2, "eval_every": 0}})")
                        .arg(data)
                        .toUtf8());
        }
        r = run({"export-config", dir_.filePath("missing.json"), "--to", "trl"});
        QVERIFY2(one_sentence(r, "does not exist"), qPrintable(r.err));
        r = run({"export-config", "no-such-run", "--to", "trl", "--db", dir_.filePath("none.db")});
        QVERIFY2(one_sentence(r, "neither a config file nor a stored run"), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(dir_.filePath("none.db")));
        r = run({"export-config", cfg, "--to", "axolotl"});
        QVERIFY2(one_sentence(r, "unknown --to 'axolotl'"), qPrintable(r.err));
        r = run({"export-config", cfg, "--to", "trl", "-o", "/nonexistent-dir/x.yaml"});
        QVERIFY2(one_sentence(r, "cannot write '/nonexistent-dir/x.yaml'"), qPrintable(r.err));

        // Standard output, then a file with dataset_info.json beside it.
        r = run({"export-config", cfg, "--to", "trl"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        json trl = parse_yaml(r.out.toStdString());
        QCOMPARE(trl["max_steps"].get<int>(), 3);
        QCOMPARE(trl["datasets"][0]["data_files"].get<std::string>(), QDir::cleanPath(data).toStdString());
        const QString out = dir_.filePath("lf/exp.yaml");
        QVERIFY(QDir().mkpath(dir_.filePath("lf")));
        r = run({"export-config", cfg, "--to", "llamafactory", "-o", out});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("launch: llamafactory-cli train exp.yaml"));
        QVERIFY(r.out.contains("follow: prefstudio-cli import runs/cli-exp --follow"));
        json lf = parse_yaml(read_text(out.toStdString()));
        QCOMPARE(lf["stage"].get<std::string>(), std::string("dpo"));
        QVERIFY(read_json(dir_.filePath("lf/dataset_info.json").toStdString()).contains("cli-exp_train"));

        // A stored run: its resolved config.
        const QString db = dir_.filePath("runs.db");
        r = run({"run", cfg, "--db", db});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = run({"export-config", "cli-exp", "--db", db, "--to", "trl"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        trl = parse_yaml(r.out.toStdString());
        QCOMPARE(trl["max_steps"].get<int>(), 3);
        QCOMPARE(trl["per_device_train_batch_size"].get<int>(), 2);
        QVERIFY(r.err.contains("warning: model.source builtin:tiny is PrefStudio's own model"));
    }
};

QTEST_GUILESS_MAIN(TestExportConfig)
#include "test_export_config.moc"
