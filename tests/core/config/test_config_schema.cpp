// The config schema: every key of the run config has one spec (checked against a hand-written list
// of the contract's keys), its defaults, ranges and choices are the ones validation enforces, --set
// goes through it, which algorithms read a key comes from the algorithm table, and the README's
// config table is the schema's rendering (a difference names the first row that differs).
#include <QtTest>

#include <fstream>
#include <sstream>

#include "core/common/errors.h"
#include "core/config/config_schema.h"
#include "core/config/run_config.h"

using nlohmann::json;
using ps::FieldSpec;
using ps::FieldType;

namespace {

json minimal() { return json{{"data", {{"train", "x.jsonl"}}}}; }

std::string error_of(const json& j) {
    try {
        ps::RunConfig::from_json(j);
    } catch (const ps::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

const FieldSpec& spec(const char* path) {
    const FieldSpec* f = ps::find_field(path);
    if (!f) qFatal("no spec for %s", path);
    return *f;
}

}  // namespace

class TestConfigSchema : public QObject {
    Q_OBJECT

private slots:
    // The README's table between its markers is exactly what the schema renders.
    void readmeTableMatchesTheSchema() {
        const std::string root = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString();
        std::ifstream in(root + "/README.md");
        QVERIFY2(in, "cannot read README.md (PREFSTUDIO_SOURCE_DIR)");
        std::vector<std::string> readme;
        int first_line = 0, line_no = 0;
        bool inside = false, ended = false;
        for (std::string line; std::getline(in, line);) {
            ++line_no;
            if (line.rfind("<!-- config-reference: begin", 0) == 0) {
                inside = true;
                first_line = line_no + 1;
            } else if (line.rfind("<!-- config-reference: end", 0) == 0) {
                ended = inside;
                inside = false;
            } else if (inside) {
                readme.push_back(line);
            }
        }
        QVERIFY2(first_line > 0 && ended, "README.md has no <!-- config-reference: begin/end --> block");
        const std::vector<std::string> schema = lines_of(ps::config_reference_markdown());
        for (size_t i = 0; i < std::max(readme.size(), schema.size()); ++i) {
            const std::string r = i < readme.size() ? readme[i] : "(no row)";
            const std::string s = i < schema.size() ? schema[i] : "(no row)";
            if (r == s) continue;
            const std::string message = "README.md line " + std::to_string(first_line + int(i)) +
                                        " differs from the config schema (regenerate the table with "
                                        "`prefstudio-cli config-reference`):\n  README: " + r + "\n  schema: " + s;
            QFAIL(message.c_str());
        }
    }

    // Every key of the run config, written out by hand (README / DESIGN.md contract plus the keys
    // features added), has exactly one spec, in this order.
    void everyKeyHasOneSpec() {
        const std::vector<std::string> expected{
            "name", "seed",
            "model.source", "model.tokenizer", "model.template", "model.template_kwargs", "model.dtype", "model.lora", "model.lora.rank",
            "model.lora.alpha", "model.lora.dropout", "model.lora.target_modules",
            "data.train", "data.eval", "data.eval_fraction", "data.format", "data.max_length",
            "data.max_prompt_length", "data.truncation_mode", "data.group_by_length", "data.columns", "data.tags",
            "sft.steps", "sft.learning_rate",
            "objective.algorithm", "objective.beta", "objective.loss_type", "objective.label_smoothing",
            "objective.sft_weight", "objective.dpop_lambda", "objective.desirable_weight",
            "objective.undesirable_weight", "objective.gamma", "objective.reference_free", "objective.cpo_alpha",
            "train.steps", "train.batch_size", "train.grad_accum", "train.learning_rate", "train.warmup_steps",
            "train.schedule", "train.weight_decay", "train.max_grad_norm", "train.eval_every",
            "train.checkpoint_every", "train.keep_checkpoints", "train.device", "train.reference_logps", "train.threads",
            "train.save_dir", "train.overwrite_save_dir", "train.track_pairs", "train.answer_check",
            "train.gradient_checkpointing"};
        std::vector<std::string> keys;
        for (const FieldSpec& f : ps::config_schema())
            if (f.type != FieldType::Section || f.nullable) keys.push_back(f.path);
        QCOMPARE(keys, expected);
        for (const FieldSpec& f : ps::config_schema()) {
            if (f.type == FieldType::Section && !f.nullable) continue;  // model, data, ...: only their keys
            QVERIFY2(!f.help.empty(), f.path.c_str());
            if (f.type != FieldType::Section) QVERIFY2(!f.label.empty() && f.load && f.store, f.path.c_str());
        }
    }

    // Defaults as the README always gave them (DESIGN.md's contract), and the resolved config of
    // an empty-ish file holds each default at its path.
    void defaultsAreTheContracts() {
        QCOMPARE(spec("train.steps").default_value, json(300));
        QCOMPARE(spec("train.learning_rate").default_value, json(5e-4));
        QCOMPARE(spec("sft.learning_rate").default_value, json(1e-3));
        QCOMPARE(spec("objective.beta").default_value, json(0.1));
        QCOMPARE(spec("objective.gamma").default_value, json(0.5));
        QCOMPARE(spec("model.lora").default_value, json(nullptr));
        QCOMPARE(spec("model.lora.rank").default_value, json(8));  // PEFT's r
        QCOMPARE(spec("model.lora.alpha").default_value, json(16.0));
        QCOMPARE(spec("data.eval").default_value, json(nullptr));
        QVERIFY(spec("data.train").required);
        QCOMPARE(ps::default_text(spec("data.train")), std::string("required"));
        QCOMPARE(ps::default_text(spec("train.learning_rate")), std::string("`5e-4`"));
        QCOMPARE(ps::default_text(spec("train.schedule")), std::string("`\"cosine\"`"));
        QCOMPARE(ps::default_text(spec("model.lora.alpha")), std::string("`16.0`"));
        const json resolved = ps::RunConfig::from_json(minimal()).to_json();
        for (const FieldSpec& f : ps::config_schema()) {
            if (f.type == FieldType::Section || f.path.rfind("model.lora.", 0) == 0 || f.required) continue;
            json::json_pointer at("/" + QString::fromStdString(f.path).replace('.', '/').toStdString());
            QVERIFY2(resolved.contains(at) && resolved[at] == f.default_value, f.path.c_str());
        }
    }

    void choicesAndRanges() {
        QCOMPARE(spec("data.format").choices, (std::vector<std::string>{"auto", "trl", "sharegpt", "alpaca"}));
        QCOMPARE(spec("data.truncation_mode").choices, (std::vector<std::string>{"drop", "keep_end", "keep_start"}));
        QCOMPARE(spec("model.template").choices,
                 (std::vector<std::string>{"auto", "plain", "chatml", "qwen2.5", "llama3"}));
        QCOMPARE(spec("model.dtype").choices, (std::vector<std::string>{"auto", "float32", "bfloat16", "float16"}));
        QCOMPARE(spec("train.schedule").choices, (std::vector<std::string>{"cosine", "linear", "constant"}));
        QCOMPARE(spec("objective.algorithm").choices,
                 (std::vector<std::string>{"dpo", "kto", "orpo", "simpo", "cpo"}));
        QCOMPARE(ps::valid_values_text(spec("train.learning_rate")), std::string("(0, 1)"));
        QCOMPARE(ps::valid_values_text(spec("train.threads")), std::string("0 to 256"));
        QCOMPARE(ps::valid_values_text(spec("objective.label_smoothing")), std::string("[0, 0.5)"));
        QCOMPARE(ps::valid_values_text(spec("train.device")), std::string("`auto`, `cpu`, `cuda` or `cuda:N`"));
        QCOMPARE(ps::valid_values_text(spec("data.eval")), std::string("path or `null`"));
        // Integers know their member's C++ range (checked before narrowing).
        QCOMPARE(spec("train.steps").highest, int64_t(2147483647));
        QCOMPARE(spec("seed").highest, int64_t(9223372036854775807LL));
    }

    // Validation walks the specs: one step past each declared bound is an error naming the field
    // (objective keys: the algorithm table's check, with its own message).
    void validationEnforcesEachDeclaredRange() {
        int checked = 0;
        for (const FieldSpec& f : ps::config_schema()) {
            if ((f.type != FieldType::Integer && f.type != FieldType::Real) || (!f.minimum && !f.maximum)) continue;
            std::vector<double> outside;
            const double step = f.type == FieldType::Integer ? 1.0 : 1e-9;
            if (f.minimum) outside.push_back(f.minimum_exclusive ? *f.minimum : *f.minimum - step);
            if (f.maximum) outside.push_back(f.maximum_exclusive ? *f.maximum : *f.maximum + step);
            for (double v : outside) {
                json j = minimal();
                if (f.path.rfind("model.lora.", 0) == 0) j["model"]["lora"] = json::object();
                json value = f.type == FieldType::Integer ? json(int64_t(v)) : json(v);
                ps::apply_override(j, f.path + "=" + value.dump());
                const std::string e = error_of(j);
                QVERIFY2(e.rfind(f.path + ": ", 0) == 0, (f.path + " = " + value.dump() + ": " + e).c_str());
                ++checked;
            }
        }
        QVERIFY(checked >= 25);
        // Hand-picked: the values just inside are fine.
        json j = minimal();
        ps::apply_override(j, "train.threads=256");
        ps::apply_override(j, "data.eval_fraction=0");
        ps::apply_override(j, "objective.label_smoothing=0.499");
        QCOMPARE(error_of(j), std::string("no error"));
    }

    // Which algorithms read a key is the algorithm table's: its rows' parameters, and for
    // train.reference_logps the rows that have a reference model.
    void algorithmsComeFromTheTable() {
        using A = ps::Algorithm;
        QCOMPARE(spec("objective.gamma").algorithms, (std::vector<A>{A::Simpo, A::Cpo}));
        QCOMPARE(spec("objective.dpop_lambda").algorithms, (std::vector<A>{A::Dpo}));
        QCOMPARE(spec("objective.cpo_alpha").algorithms, (std::vector<A>{A::Cpo}));
        QCOMPARE(spec("objective.loss_type").algorithms, (std::vector<A>{A::Dpo, A::Cpo}));
        QCOMPARE(spec("train.reference_logps").algorithms, (std::vector<A>{A::Dpo, A::Kto}));
        QVERIFY(spec("train.steps").used_by(A::Orpo));
        QVERIFY(!spec("objective.desirable_weight").used_by(A::Dpo));
        QCOMPARE(ps::algorithms_text(spec("objective.beta")), std::string("all"));
        QCOMPARE(ps::algorithms_text(spec("objective.gamma")), std::string("simpo, cpo"));
    }

    // --set goes through the schema: unknown keys are named at once, text fields take the text.
    void overridesGoThroughTheSchema() {
        json j = minimal();
        try {
            ps::apply_override(j, "train.learning_rat=0.1");
            QFAIL("no error");
        } catch (const ps::ConfigError& e) {
            QCOMPARE(e.field(), std::string("train.learning_rat"));
        }
        ps::apply_override(j, "name=2024");  // a name, not the number 2024
        ps::apply_override(j, "data.columns.prompt=instruction");
        ps::apply_override(j, "model.lora.rank=4");
        ps::apply_override(j, "train.save_dir=null");
        auto c = ps::RunConfig::from_json(j);
        QCOMPARE(c.name, std::string("2024"));
        QCOMPARE(c.data.columns.at("prompt"), std::string("instruction"));
        QCOMPARE(c.model.lora->rank, 4);
        QCOMPARE(c.model.lora->alpha, 16.0);
        QVERIFY(!c.train.save_dir);
        // Over a null section: the section is switched on with its defaults.
        j["model"]["lora"] = nullptr;
        ps::apply_override(j, "model.lora.dropout=0.05");
        QCOMPARE(ps::RunConfig::from_json(j).model.lora->dropout, 0.05);
        ps::apply_override(j, "data.columns.colour=x");
        QVERIFY(error_of(j).rfind("data.columns.colour: unknown key (valid keys: prompt", 0) == 0);
        // -(2^32 - 1) would wrap to 1 in an int: an error naming the field instead.
        j = minimal();
        ps::apply_override(j, "train.steps=-4294967295");
        QVERIFY2(error_of(j).rfind("train.steps: must be a whole number from -2147483648 to 2147483647", 0) == 0,
                 error_of(j).c_str());
    }
};

QTEST_GUILESS_MAIN(TestConfigSchema)
#include "test_config_schema.moc"
