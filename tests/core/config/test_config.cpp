// RunConfig: parsing, defaults, validation errors with field paths, overrides, round trip.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/common/errors.h"
#include "core/config/run_config.h"

using nlohmann::json;

class TestConfig : public QObject {
    Q_OBJECT

    static std::string error_of(const json& j) {
        try {
            ps::RunConfig::from_json(j);
        } catch (const ps::ConfigError& e) {
            return e.what();
        }
        return "no error";
    }
    static json minimal() { return json{{"data", {{"train", "x.jsonl"}}}}; }

private slots:
    void defaultsMatchDesign() {
        auto c = ps::RunConfig::from_json(minimal());
        QCOMPARE(c.model.source, std::string("builtin:tiny"));
        QCOMPARE(c.objective.algorithm, std::string("dpo"));
        QCOMPARE(c.objective.beta, 0.1);
        QCOMPARE(c.objective.gamma, 0.5);
        QCOMPARE(c.objective.cpo_alpha, 1.0);  // TRL's CPOConfig default
        QCOMPARE(c.train.steps, 300);
        QCOMPARE(c.train.batch_size, 8);
        QCOMPARE(c.train.learning_rate, 5e-4);
        QVERIFY(c.train.schedule == ps::LrSchedule::Cosine);
        QCOMPARE(c.data.max_length, 256);
        QCOMPARE(c.data.max_prompt_length, 128);
        QCOMPARE(c.data.eval_fraction, 0.1);
        QVERIFY(!c.data.eval.has_value());
    }

    void demoConfigParses() {
        const std::string root = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString();
        auto j = ps::read_config_json(root + "/experiments/demo-dpo.json");
        auto c = ps::RunConfig::from_json(j);
        QCOMPARE(c.name, std::string("demo-dpo"));
        QCOMPARE(c.objective.algorithm, std::string("dpo"));
        QVERIFY(c.sft.steps > 0);
    }

    void unknownKeyNamesTheField() {
        json j = minimal();
        j["train"] = {{"learning_rat", 1e-3}};
        QCOMPARE(error_of(j).substr(0, 26), std::string("train.learning_rat: unknow"));
        j = minimal();
        j["colour"] = "red";
        QVERIFY(error_of(j).rfind("colour: unknown key", 0) == 0);
    }

    void wrongTypesAndValues() {
        json j = minimal();
        j["train"] = {{"steps", "many"}};
        QCOMPARE(error_of(j), std::string("train.steps: must be a whole number, got a string \"many\""));
        j["train"] = {{"steps", 2.5}};
        QVERIFY(error_of(j).rfind("train.steps: must be a whole number", 0) == 0);
        j["train"] = {{"steps", 10.0}};  // a whole float is accepted
        QCOMPARE(ps::RunConfig::from_json(j).train.steps, 10);
        j["train"] = {{"learning_rate", 0}};
        QVERIFY(error_of(j).rfind("train.learning_rate: must be in (0, 1)", 0) == 0);
        j["train"] = json::object();
        j["objective"] = {{"algorithm", "ppo"}};
        QCOMPARE(error_of(j), std::string("objective.algorithm: 'ppo' is not one of: dpo, kto, orpo, simpo, cpo"));
        j["objective"] = {{"beta", -1}};
        QVERIFY(error_of(j).rfind("objective.beta: must be positive", 0) == 0);
        j["objective"] = json::object();
        j["data"]["max_prompt_length"] = 300;
        QVERIFY(error_of(j).rfind("data.max_prompt_length: must be at least 1 and below data.max_length (256)", 0) == 0);
        QVERIFY(error_of(json::array()).find("must be an object") != std::string::npos);
        QVERIFY(error_of(json{{"model", 3}}).rfind("model: must be an object", 0) == 0);
        QCOMPARE(error_of(json::object()), std::string("data.train: must name a preference dataset file (JSONL)"));
    }

    void loraSectionParsesAndValidates() {
        auto j = minimal();
        j["model"]["lora"] = {{"rank", 16}, {"alpha", 32}, {"target_modules", {"q_proj", "v_proj"}}};
        auto c = ps::RunConfig::from_json(j);
        QVERIFY(c.model.lora.has_value());
        QCOMPARE(c.model.lora->rank, 16);
        QCOMPARE(c.model.lora->alpha, 32.0);
        QCOMPARE(c.model.lora->dropout, 0.0);  // PEFT's default
        QCOMPARE(c.model.lora->target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
        // The resolved config lists every LoRA key, and reads back the same.
        auto again = ps::RunConfig::from_json(c.to_json());
        QCOMPARE(again.model.lora->target_modules.size(), size_t(2));
        QCOMPARE(c.to_json()["model"]["lora"]["rank"].get<int>(), 16);
        // An empty object takes the defaults: all seven linear layers, rank 8, alpha 16.
        j["model"]["lora"] = json::object();
        c = ps::RunConfig::from_json(j);
        QCOMPARE(c.model.lora->target_modules.size(), size_t(7));
        QCOMPARE(c.model.lora->rank, 8);
        j["model"]["lora"] = nullptr;
        QVERIFY(!ps::RunConfig::from_json(j).model.lora.has_value());

        j["model"]["lora"] = {{"rank", 0}};
        QVERIFY(error_of(j).find("model.lora.rank") != std::string::npos);
        j["model"]["lora"] = {{"target_modules", {"qproj"}}};
        QVERIFY(error_of(j).find("model.lora.target_modules") != std::string::npos);
        QVERIFY(error_of(j).find("'qproj'") != std::string::npos);
        j["model"]["lora"] = {{"ranks", 8}};
        QVERIFY(error_of(j).find("model.lora.ranks") != std::string::npos);
        j["model"]["lora"] = {{"dropout", 1.0}};
        QVERIFY(error_of(j).find("model.lora.dropout") != std::string::npos);
        j["model"]["lora"] = {{"target_modules", "q_proj"}};
        QVERIFY(error_of(j).find("an array of strings") != std::string::npos);
    }

    void overridesApplyToNestedKeys() {
        json j = minimal();
        ps::apply_override(j, "train.learning_rate=0.002");
        ps::apply_override(j, "objective.algorithm=simpo");
        ps::apply_override(j, "objective.beta=2");
        ps::apply_override(j, "data.eval=null");
        ps::apply_override(j, "name=\"with spaces\"");
        auto c = ps::RunConfig::from_json(j);
        QCOMPARE(c.train.learning_rate, 0.002);
        QCOMPARE(c.objective.algorithm, std::string("simpo"));
        QCOMPARE(c.objective.beta, 2.0);
        QCOMPARE(c.name, std::string("with spaces"));
        QVERIFY_THROWS_EXCEPTION(ps::ConfigError, ps::apply_override(j, "novalue"));
        QVERIFY_THROWS_EXCEPTION(ps::ConfigError, ps::apply_override(j, "name.sub=1"));
    }

    // Integers are range-checked before they narrow: -4294967295 is -(2^32 - 1), which an
    // unchecked int conversion wraps to 1 (one training step); 4294967300 = 2^32 + 4 wraps to 4.
    void integersOutOfRangeAreErrorsNotWrapped() {
        const char* cases[][2] = {{"train.steps=-4294967295", "train.steps"},
                                  {"train.batch_size=4294967300", "train.batch_size"},
                                  {"train.steps=18446744073709551615", "train.steps"},  // 2^64 - 1, unsigned in JSON
                                  {"train.eval_every=3e9", "train.eval_every"}};
        for (const auto& c : cases) {
            json j = minimal();
            ps::apply_override(j, c[0]);
            const std::string e = error_of(j);
            QVERIFY2(e.find(c[1]) != std::string::npos && e.find("whole number from") != std::string::npos, e.c_str());
        }
        // The largest int still parses (and then meets the field's own rule).
        json j = minimal();
        ps::apply_override(j, "train.steps=2147483647");
        QCOMPARE(ps::RunConfig::from_json(j).train.steps, 2147483647);
        ps::apply_override(j, "train.steps=-1");
        QVERIFY(error_of(j).find("train.steps") != std::string::npos);
    }

    void roundTripThroughJson() {
        json j = minimal();
        j["seed"] = 7;
        j["objective"] = {{"algorithm", "kto"}, {"desirable_weight", 1.33}};
        j["train"] = {{"schedule", "linear"}, {"grad_accum", 4}};
        auto a = ps::RunConfig::from_json(j);
        auto b = ps::RunConfig::from_json(a.to_json());
        QCOMPARE(a.to_json().dump(), b.to_json().dump());
        QCOMPARE(b.seed, int64_t(7));
        QCOMPARE(b.objective.desirable_weight, 1.33);
        QCOMPARE(b.train.grad_accum, 4);
        // Every section and key of the run-config contract (README: config reference) is present in the resolved config.
        auto r = a.to_json();
        for (const char* k : {"source", "tokenizer", "template", "dtype", "lora"}) QVERIFY(r["model"].contains(k));
        for (const char* k : {"train", "eval", "eval_fraction", "format", "max_length", "max_prompt_length"})
            QVERIFY(r["data"].contains(k));
        for (const char* k : {"algorithm", "beta", "loss_type", "label_smoothing", "sft_weight", "dpop_lambda",
                              "desirable_weight", "undesirable_weight", "gamma", "cpo_alpha"})
            QVERIFY(r["objective"].contains(k));
        for (const char* k : {"steps", "batch_size", "grad_accum", "learning_rate", "warmup_steps", "schedule",
                              "weight_decay", "max_grad_norm", "eval_every", "checkpoint_every", "keep_checkpoints", "device"})
            QVERIFY(r["train"].contains(k));
    }

    void cpoKeys() {
        json j = minimal();
        j["objective"] = {{"algorithm", "cpo"}, {"loss_type", "simpo"}, {"cpo_alpha", 0.5}, {"gamma", 0.7}, {"beta", 2.0}};
        auto c = ps::RunConfig::from_json(j);
        QCOMPARE(c.objective.algorithm, std::string("cpo"));
        QCOMPARE(c.objective.loss_type, std::string("simpo"));
        QCOMPARE(c.objective.cpo_alpha, 0.5);
        QCOMPARE(c.to_json()["objective"]["cpo_alpha"].get<double>(), 0.5);
        j["objective"]["cpo_alpha"] = -1;
        QVERIFY(error_of(j).rfind("objective.cpo_alpha: must be 0 or positive", 0) == 0);
        j["objective"]["cpo_alpha"] = 1;
        j["objective"]["loss_type"] = "robust";  // DPO's, not CPO's
        QVERIFY(error_of(j).rfind("objective.loss_type: unknown CPO loss type 'robust'", 0) == 0);
        j["objective"]["algorithm"] = "dpo";
        j["objective"]["loss_type"] = "simpo";  // CPO's, not DPO's
        QVERIFY(error_of(j).rfind("objective.loss_type: unknown DPO loss type 'simpo'", 0) == 0);
    }

    void invalidJsonReportsLineAndColumn() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("bad.json").toStdString();
        std::ofstream(path) << "{\n  \"name\": \"x\",\n  \"seed\": ,\n}\n";
        try {
            ps::read_config_json(path);
            QFAIL("no error");
        } catch (const ps::ConfigError& e) {
            QVERIFY2(std::string(e.what()).find("bad.json:3:11: invalid JSON") != std::string::npos, e.what());
        }
    }

    // Hostile input (issue #17, item 3): deep nesting, numbers past double, NUL in keys, huge values.
    static std::string read_error(const std::string& path, const std::vector<std::string>& overrides = {}) {
        try {
            ps::RunConfig::from_json(ps::read_config_json(path, overrides));
        } catch (const ps::ConfigError& e) {
            return e.what();
        }
        return "no error";
    }

    void deepNestingIsRefusedWithTheLimit() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("deep.json").toStdString();
        // 100,000 levels: parsing, dumping or destroying it recursively would overflow the stack.
        std::ofstream(path) << "{\"data\": {\"train\": \"x.jsonl\"},\n \"seed\": " << std::string(100000, '[')
                            << std::string(100000, ']') << "}";
        const std::string e = read_error(path);
        // The object is level 1, so the 64th '[' (line 2, column 10 + 63) is level 65.
        QVERIFY2(e.find("deep.json:2:73: nested deeper than 64 levels") != std::string::npos, e.c_str());
        QVERIFY(e.size() < 300);

        std::ofstream(path) << R"({"data": {"train": "x.jsonl"}})";
        const std::string deep = "train.steps=" + std::string(60000, '[') + std::string(60000, ']');
        const std::string o = read_error(path, {deep});
        QVERIFY2(o.rfind("train.steps: the value is nested deeper than 64 levels", 0) == 0, o.c_str());
        // 64 levels are read (and then refused for their type, quoting a cut value).
        const std::string ok = "train.steps=" + std::string(64, '[') + std::string(64, ']');
        const std::string t = read_error(path, {ok});
        QVERIFY2(t.rfind("train.steps: must be a whole number, got an array '[[[", 0) == 0, t.c_str());
    }

    void numberPastDoubleNamesFileLineAndField() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("big.json").toStdString();
        std::ofstream(path) << "{\n  \"data\": {\"train\": \"x.jsonl\"},\n  \"objective\": {\n    \"beta\": 1e309\n  }\n}\n";
        const std::string e = read_error(path);
        QVERIFY2(e.find("big.json:4:13: objective.beta: the number '1e309' is out of range for a double") != std::string::npos,
                 e.c_str());
        std::ofstream(path) << R"({"data": {"train": "x.jsonl"}})";
        const std::string o = read_error(path, {"objective.beta=1e309"});
        QVERIFY2(o.rfind("objective.beta: the value '1e309' is out of range for a double", 0) == 0, o.c_str());
    }

    void controlCharactersInKeysAreEscaped() {
        json j = minimal();
        j[std::string("s\0x", 3)] = 1;
        QCOMPARE(error_of(j).substr(0, 20), std::string("s\\x00x: unknown key "));
        j = minimal();
        j["train"]["\x1b[31mred\xc2\x9b"] = 1;  // ESC and the C1 CSI
        QCOMPARE(error_of(j).substr(0, 37), std::string("train.\\x1B[31mred\\x9B: unknown key (c"));
    }

    void badValuesAreQuotedCut() {
        json j = minimal();
        j["train"]["steps"] = std::string(50'000'000, 'x');
        const std::string e = error_of(j);
        // 200 bytes of the value, then its size.
        QCOMPARE(e, "train.steps: must be a whole number, got a string \"" + std::string(200, 'x') + "\"... (50000000 bytes)");
        j = minimal();
        j["objective"]["algorithm"] = std::string(1000, 'a') + "\x1b";
        const std::string a = error_of(j);
        QVERIFY2(a.find("'" + std::string(200, 'a') + "'... (1001 bytes) is not one of") != std::string::npos, a.c_str());
    }

    // Issue #17, item 6: refused at validation, not after the warm-up or inside the run.
    void unsupportedValuesFailValidation() {
        json j = minimal();
        j["model"]["dtype"] = "float16";
        j["train"]["device"] = "cpu";
        QVERIFY2(error_of(j).rfind("model.dtype: float16 cannot train on the CPU", 0) == 0, error_of(j).c_str());
        j["model"]["dtype"] = "bfloat16";
        QCOMPARE(error_of(j), std::string("no error"));
        j["train"]["device"] = "cuda";
        j["model"]["dtype"] = "float16";
        QCOMPARE(error_of(j), std::string("no error"));  // float16 on a GPU is fine

        j = minimal();
        j["train"]["max_grad_norm"] = 1e308;
        QVERIFY2(error_of(j).rfind("train.max_grad_norm: must be 0 (no clipping) or a norm up to 1e6", 0) == 0,
                 error_of(j).c_str());
        j["train"]["max_grad_norm"] = 1e6;
        QCOMPARE(error_of(j), std::string("no error"));

        j = minimal();
        j["data"]["eval"] = "";
        QCOMPARE(error_of(j), std::string("data.eval: must be a path or null, got \"\""));
        j["data"]["eval"] = nullptr;
        QCOMPARE(error_of(j), std::string("no error"));
    }

    void dataPathsResolveAgainstConfigDirectory() {
        QTemporaryDir dir;
        namespace fs = std::filesystem;
        fs::create_directories(dir.filePath("proj/experiments/data").toStdString());
        std::ofstream(dir.filePath("proj/experiments/data/d.jsonl").toStdString()) << "{}\n";
        std::ofstream(dir.filePath("proj/experiments/c.json").toStdString())
            << R"({"data": {"train": "experiments/data/d.jsonl"}})";
        // From an unrelated working directory, the path is found through the config's parents.
        auto c = ps::load_run_config(dir.filePath("proj/experiments/c.json").toStdString());
        QCOMPARE(fs::path(c.data.train), fs::weakly_canonical(dir.filePath("proj/experiments/data/d.jsonl").toStdString()));
        std::ofstream(dir.filePath("proj/experiments/c2.json").toStdString())
            << R"({"data": {"train": "experiments/data/missing.jsonl"}})";
        try {
            ps::load_run_config(dir.filePath("proj/experiments/c2.json").toStdString());
            QFAIL("no error");
        } catch (const ps::ConfigError& e) {
            QCOMPARE(e.field(), std::string("data.train"));
        }
    }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "test_config.moc"
