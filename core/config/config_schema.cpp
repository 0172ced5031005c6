#include "core/config/config_schema.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/config/data_keys.h"
#include "core/text/chat_template.h"

namespace ps {

const char* const kUnknownKeyMessage =
    "unknown key (check the spelling; valid keys are listed in the README's config reference)";

namespace {

using nlohmann::json;

std::string join_path(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
}

std::string join(const std::vector<std::string>& items, const std::string& before = "",
                 const std::string& after = "") {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + before + i + after;
    return out;
}

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "a number";
    }
}

ConfigError type_error(const std::string& path, const char* want, const json& got) {
    return ConfigError(path, std::string("must be ") + want + ", got " + type_name(got) + " " + quote_json(got));
}

std::string num(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

// ---- Bindings: one per member type ----

template <typename T>
using Member = std::function<T&(RunConfig&)>;
using Names = std::map<std::string, std::string>;

template <typename T>
std::function<json(const RunConfig&)> loader(Member<T> m) {
    // The member is only read; the accessor is shared with `store`, hence non-const.
    return [m](const RunConfig& c) { return json(m(const_cast<RunConfig&>(c))); };
}

void bind(FieldSpec& f, Member<std::string> m) {
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (!v.is_string()) throw type_error(path, "a string", v);
        m(c) = v.get<std::string>();
    };
    f.load = loader(m);
}

void require_one_of(const std::string& value, const std::vector<std::string>& options, const std::string& field);

// A choice key held as an enum (run_config.h): its JSON spelling is choice_table<E>().
template <typename E>
void bind_choice(FieldSpec& f, Member<E> m) {
    f.choices = choice_names<E>();
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (!v.is_string()) throw type_error(path, "a string", v);
        const auto value = parse_choice<E>(v.get_ref<const std::string&>());
        if (!value) require_one_of(v.get<std::string>(), choice_names<E>(), path);
        m(c) = *value;
    };
    f.load = [m](const RunConfig& c) { return json(choice_name(m(const_cast<RunConfig&>(c)))); };
}
void bind(FieldSpec& f, Member<ModelDType> m) { bind_choice(f, m); }
void bind(FieldSpec& f, Member<TruncationMode> m) { bind_choice(f, m); }
void bind(FieldSpec& f, Member<LrSchedule> m) { bind_choice(f, m); }
void bind(FieldSpec& f, Member<ReferenceMode> m) { bind_choice(f, m); }
void bind(FieldSpec& f, Member<AnswerCheck> m) { bind_choice(f, m); }

void bind(FieldSpec& f, Member<std::optional<std::string>> m) {
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (v.is_null()) {
            m(c).reset();
            return;
        }
        if (!v.is_string()) throw type_error(path, "a string or null", v);
        m(c) = v.get<std::string>();
    };
    f.load = [m](const RunConfig& c) {
        const auto& v = m(const_cast<RunConfig&>(c));
        return v ? json(*v) : json(nullptr);
    };
}

void bind(FieldSpec& f, Member<double> m) {
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (!v.is_number()) throw type_error(path, "a number", v);
        const double d = v.get<double>();
        if (!std::isfinite(d)) throw ConfigError(path, "must be finite");
        m(c) = d;
    };
    f.load = loader(m);
}

void bind(FieldSpec& f, Member<bool> m) {
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (!v.is_boolean()) throw type_error(path, "true or false", v);
        m(c) = v.get<bool>();
    };
    f.load = loader(m);
}

// Range-checked before narrowing: -4294967295 must not become 1 in an int.
template <typename Int>
void bind_int(FieldSpec& f, Member<Int> m) {
    constexpr Int lo = std::numeric_limits<Int>::min();
    constexpr Int hi = std::numeric_limits<Int>::max();
    f.lowest = lo;
    f.highest = hi;
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        bool whole = false, in_range = false;
        if (v.is_number_unsigned()) {
            whole = true;
            in_range = v.get<uint64_t>() <= static_cast<uint64_t>(hi);
        } else if (v.is_number_integer()) {
            whole = true;
            const int64_t i = v.get<int64_t>();
            in_range = i >= static_cast<int64_t>(lo) && i <= static_cast<int64_t>(hi);
        } else if (v.is_number_float()) {
            const double d = v.get<double>();
            // Doubles hold every integer exactly up to 2^53; past that a whole-looking value
            // may not be the one written.
            whole = std::floor(d) == d && std::fabs(d) < 9e15;
            in_range = whole && d >= static_cast<double>(lo) && d <= static_cast<double>(hi);
        }
        if (!whole) throw type_error(path, "a whole number", v);
        if (!in_range)
            throw ConfigError(path, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                                        ", got " + quote_json(v));
        m(c) = v.is_number_float() ? static_cast<Int>(v.get<double>()) : v.get<Int>();
    };
    f.load = loader(m);
}
void bind(FieldSpec& f, Member<int> m) { bind_int(f, m); }
void bind(FieldSpec& f, Member<int64_t> m) { bind_int(f, m); }

void bind(FieldSpec& f, Member<std::vector<std::string>> m) {
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (!v.is_array()) throw type_error(path, "an array of strings", v);
        std::vector<std::string> out;
        for (const auto& e : v) {
            if (!e.is_string()) throw type_error(path, "an array of strings", v);
            out.push_back(e.get<std::string>());
        }
        m(c) = std::move(out);
    };
    f.load = loader(m);
}

// An object of field names whose keys are the spec's choices; null values are skipped
// (LLaMA-Factory writes null for unused columns).
void bind(FieldSpec& f, Member<Names> m) {
    f.store = [m, path = f.path, allowed = f.choices](RunConfig& c, const json& v) {
        if (v.is_null()) return;
        if (!v.is_object()) throw type_error(path, "an object of names", v);
        Names out;
        for (auto it = v.begin(); it != v.end(); ++it) {
            const std::string field = join_path(path, it.key());
            if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end())
                throw ConfigError(printable_key(field), "unknown key (valid keys: " + join(allowed) + ")");
            if (it->is_null()) continue;
            if (!it->is_string() || it->get_ref<const std::string&>().empty())
                throw ConfigError(field, std::string("must be a field name (a non-empty string), got ") + type_name(*it));
            out[it.key()] = it->get<std::string>();
        }
        m(c) = std::move(out);
    };
    f.load = loader(m);
}

// An object of any names to any JSON values (model.template_kwargs); null is the empty object.
void bind(FieldSpec& f, Member<json> m) {
    f.store = [m, path = f.path](RunConfig& c, const json& v) {
        if (v.is_null()) {
            m(c) = json::object();
            return;
        }
        if (!v.is_object()) throw type_error(path, "an object of names to JSON values", v);
        m(c) = v;
    };
    f.load = loader(m);
}

// ---- The table, row by row ----

// Builds one FieldSpec; the calls read like the row they make.
class Row {
public:
    Row(std::string path, FieldType type, std::string label = {}) {
        f_.path = std::move(path);
        f_.type = type;
        f_.label = std::move(label);
    }
    Row& help(std::string text) { f_.help = std::move(text); return *this; }
    Row& reference(std::string text) { f_.reference = std::move(text); return *this; }
    Row& at_least(double v, std::string rule) { f_.minimum = v; f_.rule = std::move(rule); return *this; }
    Row& above(double v, std::string rule) {
        at_least(v, std::move(rule));
        f_.minimum_exclusive = true;
        return *this;
    }
    Row& below(double v, bool exclusive) { f_.maximum = v; f_.maximum_exclusive = exclusive; return *this; }
    Row& choices(std::vector<std::string> c) { f_.choices = std::move(c); return *this; }
    Row& open(std::string other) { f_.open_choices = true; f_.other_values = std::move(other); return *this; }
    Row& note(std::string other) { f_.other_values = std::move(other); return *this; }
    Row& nullable() { f_.nullable = true; return *this; }
    Row& required() { f_.required = true; return *this; }
    Row& reserved() { f_.reserved = true; return *this; }
    Row& json_values() { f_.json_values = true; return *this; }
    Row& check(std::function<void(const RunConfig&)> fn) { f_.check = std::move(fn); return *this; }
    template <typename T>
    Row& member(Member<T> m) {
        bind(f_, std::move(m));
        return *this;
    }
    operator FieldSpec() const { return f_; }

private:
    FieldSpec f_;
};

void require(bool ok, const std::string& field, const std::string& message) {
    if (!ok) throw ConfigError(field, message);
}

#define PS_MEMBER(type, expr) Member<type>([](RunConfig & c) -> type& { return expr; })

FieldSpec section(const std::string& path) {
    FieldSpec f;
    f.path = path;
    f.type = FieldType::Section;
    return f;
}

// The README's words for the objective keys; ranges, members and who reads them come from the
// algorithm table.
struct ObjectiveText {
    const char* label;
    const char* help;
    const char* reference;
};
const std::map<std::string, ObjectiveText>& objective_texts() {
    static const std::map<std::string, ObjectiveText> texts{
        {"algorithm",
         {"Algorithm", "The preference objective; its parameters are below",
          "the preference objective (the algorithm table, `core/config/algorithm.h`, says per algorithm which keys "
          "below it reads, whether it needs a reference model and what its rewards mean)"}},
        {"beta",
         {"Beta", "Strength of the preference term; its meaning depends on the algorithm",
          "DPO/KTO beta (0.1); ORPO's lambda (0.1); SimPO's beta (2.0-2.5 recommended); CPO's beta (TRL 0.1; 2.0-2.5 "
          "with `loss_type` `simpo`)"}},
        {"loss_type",
         {"Loss", "The algorithm's loss variant",
          "DPO: `sigmoid`, `ipo` (token-averaged log-probs), `hinge`, `robust`; CPO (TRL `CPOTrainer`): `sigmoid`, "
          "`hinge` (summed log-probs), `ipo`, `simpo` (token-averaged; `simpo` is CPO-SimPO with margin `gamma`); "
          "the other algorithms do not read it"}},
        {"label_smoothing",
         {"Label smoothing", "Assumed share of flipped preference labels",
          "cDPO / robust DPO / SimPO / CPO label smoothing eps"}},
        {"sft_weight",
         {"SFT weight", "Weight of the NLL of the chosen answers added to the loss",
          "adds weight x token-mean NLL of chosen completions: RPO for DPO (TRL `rpo_alpha`, LLaMA-Factory "
          "`pref_ftx`), CPO-SimPO for SimPO"}},
        {"dpop_lambda",
         {"DPO-Positive lambda", "Penalty when the chosen log-prob falls below the reference's",
          "DPO-Positive: `beta * (logits - lambda * max(0, log ref(y_w) - log pi(y_w)))` inside the sigmoid"}},
        {"desirable_weight",
         {"Desirable weight", "Weight of the loss on desirable (chosen) examples",
          "KTO loss weight of desirable examples; keep (weight x count) desirable:undesirable in 1:1 to 4:3"}},
        {"undesirable_weight",
         {"Undesirable weight", "Weight of the loss on undesirable (rejected) examples",
          "KTO loss weight of undesirable examples"}},
        {"gamma",
         {"Gamma", "Target reward margin",
          "SimPO's absolute target margin (TRL `simpo_gamma`), also CPO's with `loss_type` `simpo`; the loss uses "
          "gamma/beta"}},
        {"reference_free",
         {"Reference-free", "Compare against a uniform reference instead of the frozen model",
          "DPO against a uniform reference (reference log-probs = 0); no reference model is built"}},
        {"cpo_alpha",
         {"NLL weight (alpha)", "Weight of the NLL of the chosen answers (CPO)",
          "weight of the token-mean NLL of the chosen completions added to the loss (TRL `cpo_alpha`); 0 leaves the "
          "preference loss alone"}},
    };
    return texts;
}

std::vector<FieldSpec> objective_rows() {
    std::vector<FieldSpec> rows;
    for (const ObjectiveField& of : objective_fields()) {
        const auto text = objective_texts().find(of.key);
        if (text == objective_texts().end()) throw std::logic_error("objective key '" + of.key + "' has no help");
        const std::string path = "objective." + of.key;
        FieldSpec f;
        f.path = path;
        f.label = text->second.label;
        f.help = text->second.help;
        f.reference = text->second.reference;
        f.checked_by_algorithm_table = true;
        f.minimum = of.minimum;
        f.maximum = of.maximum;
        f.minimum_exclusive = of.minimum_exclusive;
        f.maximum_exclusive = of.maximum_exclusive;
        switch (of.kind) {
            case ParameterSpec::Kind::Real:
                f.type = FieldType::Real;
                bind(f, Member<double>([m = of.real](RunConfig& c) -> double& { return c.objective.*m; }));
                break;
            case ParameterSpec::Kind::Choice:
                f.type = FieldType::Choice;
                bind(f, Member<std::string>([m = of.text](RunConfig& c) -> std::string& { return c.objective.*m; }));
                break;
            case ParameterSpec::Kind::Flag:
                f.type = FieldType::Flag;
                bind(f, Member<bool>([m = of.flag](RunConfig& c) -> bool& { return c.objective.*m; }));
                break;
        }
        // Who reads it: the rows whose parameters list it (the algorithm key: all of them).
        if (of.key == "algorithm") {
            for (Algorithm a : kAlgorithms) f.choices.push_back(algorithm_spec(a).name);
            // The whole objective section is the algorithm table's to check, in its order.
            f.check = [](const RunConfig& c) { validate_objective(c.objective); };
        } else {
            for (Algorithm a : kAlgorithms) {
                const AlgorithmSpec& row = algorithm_spec(a);
                for (const ParameterSpec& p : row.parameters)
                    if (p.path == path) f.algorithms.push_back(a);
                if (of.key == "loss_type")
                    for (LossType t : row.loss_types)
                        if (std::find(f.choices.begin(), f.choices.end(), loss_type_name(t)) == f.choices.end())
                            f.choices.push_back(loss_type_name(t));
            }
        }
        rows.push_back(std::move(f));
    }
    return rows;
}

std::vector<FieldSpec> build_schema() {
    using T = FieldType;
    static const std::vector<std::string> kLoraModules{"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                       "gate_proj", "up_proj", "down_proj"};
    std::vector<FieldSpec> s;
    auto add = [&s](FieldSpec f) { s.push_back(std::move(f)); };
    auto group = [&s](const std::string& name, size_t from) {
        for (size_t i = from; i < s.size(); ++i) s[i].group = name;
    };

    size_t from = s.size();
    add(Row("name", T::Text, "Name")
            .help("Run name shown in the runs list")
            .reference("label in the runs list")
            .check([](const RunConfig& c) { require(!c.name.empty(), "name", "must not be empty"); })
            .member(PS_MEMBER(std::string, c.name)));
    add(Row("seed", T::Integer, "Seed")
            .help("Random seed: same seed, same run")
            .reference("seeds weights, data order and split: same config and seed, same curve on CPU")
            .at_least(0, "must be 0 or positive")
            .member(PS_MEMBER(int64_t, c.seed)));
    group("Experiment", from);

    from = s.size();
    add(section("model"));
    add(Row("model.source", T::Choice, "Model")
            .choices({"builtin:tiny", "builtin:small"})
            .open("a Hugging Face model directory")
            .help("builtin:tiny, builtin:small, or a Hugging Face model directory (drag and drop works)")
            .reference(
                "`builtin:tiny` (64 wide, 2 layers), `builtin:small` (128 wide, 4 layers), or a Hugging Face model "
                "directory (model_type `llama`, `mistral`, `qwen2`, `qwen3`, `gemma3_text`, `gemma3` (text only); see \"Hugging Face models\" below), "
                "looked up like data paths. A LoRA adapter directory (`adapter_config.json`, as PEFT or a LoRA run's "
                "`train.save_dir` writes it) is its base (`base_model_name_or_path`, a local directory or "
                "`builtin:*` rebuilt from `seed`) with the adapter merged in")
            .check([](const RunConfig& c) {
                require(!c.model.source.empty(), "model.source",
                        "must be 'builtin:tiny' or a Hugging Face model directory");
                if (!is_builtin_source(c.model.source)) return;
                const std::string name = c.model.source.substr(8);
                if (name != "tiny" && name != "small")
                    throw ConfigError("model.source", quote_value(name) + " is not one of: tiny, small");
            })
            .member(PS_MEMBER(std::string, c.model.source)));
    add(Row("model.tokenizer", T::Path, "Tokenizer")
            .nullable()
            .reserved()
            .help("Reserved (built-in models use the byte-level tokenizer)")
            .reference("reserved (built-in models use the byte-level tokenizer)")
            .member(PS_MEMBER(std::optional<std::string>, c.model.tokenizer)));
    {
        std::vector<std::string> templates{"auto"};
        for (const auto& t : template_names()) templates.push_back(t);
        add(Row("model.template", T::Choice, "Chat template")
                .choices(templates)
                .help("Chat template for conversational data; auto: the model's own (plain for built-in models)")
                .reference("chat template for conversational data (see Datasets): `auto` (= `plain` for built-in "
                           "models; for a Hugging Face directory its own Jinja chat template, rendered as "
                           "transformers renders it, `plain` with a warning when it has none); a name overrides it")
                .member(PS_MEMBER(std::string, c.model.chat_template)));
    }
    add(Row("model.template_kwargs", T::Names, "Template arguments")
            .json_values()
            .help("Extra variables for the model's own chat template, e.g. {\"enable_thinking\": false}")
            .reference("extra variables for the model's own chat template (`model.template` auto on a Hugging Face "
                       "directory), as `apply_chat_template(..., **kwargs)` passes them: e.g. "
                       "`{\"enable_thinking\": false}` for Qwen3; they win over the standard ones "
                       "(`messages`, `bos_token`, ...). The named templates ignore them. "
                       "`--set model.template_kwargs.enable_thinking=false`")
            .member(PS_MEMBER(json, c.model.template_kwargs)));
    add(Row("model.dtype", T::Choice, "Dtype")
            .help("Weights and activations: auto (= float32), float32, bfloat16 or float16")
            .reference(
                "the dtype the model computes in (`auto` = `float32`; weights are converted on load). Training keeps "
                "float32 master weights: the optimizer updates float32 copies of the trainable parameters (or the "
                "float32 LoRA adapters themselves) and the model gets them back rounded, so small updates are not "
                "lost; log-probs, losses, softmax and RMSNorm reduce in float32. float16 has no loss scaling "
                "(gradients may underflow): prefer bfloat16. Half precision is for GPUs: float16 is refused on the CPU "
                "(libtorch has no float16 matrix products there; `train.device` `auto` is checked when the run or "
                "dry run resolves it), bfloat16 runs there but slowly")
            .check([](const RunConfig& c) {
                // train.device auto is resolved (and checked again) when the run or dry run starts.
                require(!(c.model.dtype == ModelDType::Float16 && c.train.device == "cpu"), "model.dtype",
                        "float16 cannot train on the CPU (libtorch has no float16 matrix products there); use "
                        "bfloat16 or float32 on the CPU, or float16 on a CUDA device");
            })
            .member(PS_MEMBER(ModelDType, c.model.dtype)));
    {
        FieldSpec lora = section("model.lora");
        lora.label = "LoRA";
        lora.nullable = true;
        lora.help = "Low-rank adapters (PEFT's LoRA) instead of full fine-tuning";
        lora.reference =
            "low-rank adapters as PEFT's LoRA (the keys below; `{}` takes their defaults). Each target layer "
            "computes W x + b + (alpha/rank) B A dropout(x) with A [rank, in] (kaiming-uniform) and B [out, rank] "
            "(zeros); the base weights are frozen and only A and B are in the optimizer. The reference model is the "
            "same model with its adapters switched off (no second copy of the weights). Dropout draws from the "
            "seeded generator (same seed, same curve). With `sft.steps`, the warm-up trains adapters too, which are "
            "then merged into the base (the reference is the warmed-up model, as without LoRA) and fresh adapters "
            "train the preference objective. `null`: full fine-tuning. See `experiments/demo-dpo-lora.json`";
        lora.present = [](const RunConfig& c) { return c.model.lora.has_value(); };
        lora.enable = [](RunConfig& c) { c.model.lora.emplace(); };
        lora.disable = [](RunConfig& c) { c.model.lora.reset(); };
        add(std::move(lora));
    }
    add(Row("model.lora.rank", T::Integer, "LoRA rank")
            .at_least(1, "must be between 1 and 4096 (8 or 16 are common)")
            .below(4096, false)
            .help("Train low-rank adapters of this rank on the linear layers instead of all weights")
            .reference("adapter rank (8 or 16 are common)")
            .member(PS_MEMBER(int, c.model.lora->rank)));
    add(Row("model.lora.alpha", T::Real, "LoRA alpha")
            .above(0, "must be positive (often twice the rank)")
            .help("Adapter scale: the update is (alpha / rank) B A x; often twice the rank")
            .reference("adapter scale: the update is (alpha / rank) B A x; often twice the rank")
            .member(PS_MEMBER(double, c.model.lora->alpha)));
    add(Row("model.lora.dropout", T::Real, "LoRA dropout")
            .at_least(0, "must be in [0, 1), e.g. 0.05")
            .below(1, true)
            .help("Dropout on the adapters' input, e.g. 0.05 (0: none)")
            .reference("dropout on the adapters' input (PEFT's `lora_dropout`)")
            .member(PS_MEMBER(double, c.model.lora->dropout)));
    add(Row("model.lora.target_modules", T::List, "LoRA layers")
            .choices(kLoraModules)
            .help("The linear layers that get adapters, comma-separated; all seven by default")
            .reference("the linear layers that get adapters (Hugging Face module names)")
            .check([](const RunConfig& c) {
                require(!c.model.lora->target_modules.empty(), "model.lora.target_modules",
                        "must name at least one layer (" + join(kLoraModules) + ")");
            })
            .member(PS_MEMBER(std::vector<std::string>, c.model.lora->target_modules)));
    group("Model", from);

    from = s.size();
    add(section("data"));
    add(Row("data.train", T::Path, "Train data")
            .required()
            .help("Preference data (JSONL with prompt, chosen, rejected)")
            .reference("preference data, JSON Lines or a JSON array, in any format of the Datasets section")
            .check([](const RunConfig& c) {
                require(!c.data.train.empty(), "data.train", "must name a preference dataset file (JSONL)");
            })
            .member(PS_MEMBER(std::string, c.data.train)));
    add(Row("data.eval", T::Path, "Eval data")
            .nullable()
            .help("A separate eval file; empty: hold out eval_fraction of the train data")
            .reference("separate eval file; otherwise `eval_fraction` of `train` is held out (seeded)")
            .check([](const RunConfig& c) {
                require(!c.data.eval || !c.data.eval->empty(), "data.eval", "must be a path or null, got \"\"");
            })
            .member(PS_MEMBER(std::optional<std::string>, c.data.eval)));
    add(Row("data.eval_fraction", T::Real, "Eval fraction")
            .at_least(0, "must be in [0, 1), e.g. 0.1")
            .below(1, true)
            .help("Share of the train data held out for evaluation when no eval file is given")
            .reference("share of `train` held out for evaluation when `eval` is null")
            .member(PS_MEMBER(double, c.data.eval_fraction)));
    add(Row("data.format", T::Choice, "Format")
            .choices(data_format_names())
            .help("auto: detected per record (one file holds one format); or trl, sharegpt, alpaca")
            .reference("`auto` (detected per record; one file holds one format), `trl`, `sharegpt` or `alpaca` "
                       "(LLaMA-Factory's `formatting`)")
            .member(PS_MEMBER(std::string, c.data.format)));
    add(Row("data.max_length", T::Integer, "Max length")
            .at_least(8, "must be at least 8 tokens")
            .help("Tokens of prompt + completion; longer completions are cut")
            .reference("tokens of prompt + completion; completions are cut at their end to fit (counted)")
            .member(PS_MEMBER(int, c.data.max_length)));
    add(Row("data.max_prompt_length", T::Integer, "Max prompt length")
            .at_least(1, "must be at least 1 and below data.max_length")
            .note("below `data.max_length`")
            .help("Tokens of the prompt; a longer prompt is handled as the prompt truncation says")
            .reference("tokens of the prompt (BOS, template tokens and generation prompt included); longer prompts "
                       "are handled by `truncation_mode`")
            .check([](const RunConfig& c) {
                require(c.data.max_prompt_length >= 1 && c.data.max_prompt_length < c.data.max_length,
                        "data.max_prompt_length",
                        "must be at least 1 and below data.max_length (" + std::to_string(c.data.max_length) + ")");
            })
            .member(PS_MEMBER(int, c.data.max_prompt_length)));
    add(Row("data.truncation_mode", T::Choice, "Prompt truncation")
            .help("A prompt over max prompt length: drop the example, or keep its end or start (counted)")
            .reference("a prompt over `max_prompt_length`: `drop` (the example is dropped and counted, never cut), "
                       "`keep_end` (TRL's default: keep its last tokens, where the question's end and the generation "
                       "prompt are; a leading BOS is kept) or `keep_start` (keep its first tokens). Counts are in "
                       "the run's data event and `prefstudio-cli data`")
            .member(PS_MEMBER(TruncationMode, c.data.truncation_mode)));
    add(Row("data.group_by_length", T::Flag, "Group by length")
            .help("Batches of examples of similar length (less padding); off: plain shuffled batches")
            .reference("batches of examples of similar length (Hugging Face's length-grouped sampler: mega-batches "
                       "of 50 batches sorted by length, batch order shuffled, seeded); the run log gives the padding "
                       "share with and without it. `false`: plain shuffled batches")
            .member(PS_MEMBER(bool, c.data.group_by_length)));
    add(Row("data.columns", T::Names, "Columns")
            .choices(data_column_keys())
            .help("Renamed fields as key=name, comma-separated (LLaMA-Factory's dataset_info.json columns)")
            .reference("renamed fields, LLaMA-Factory's dataset_info.json `columns`: `prompt` (TRL prompt / alpaca "
                       "instruction), `query` (alpaca input), `response` or `completion` (TRL completion / alpaca "
                       "output), `chosen`, `rejected`, `kto_tag` or `label`, `messages` (sharegpt conversations), "
                       "`system`, `history`; `null` values are ignored")
            .check([](const RunConfig& c) {
                const auto& cols = c.data.columns;
                require(!(cols.count("response") && cols.count("completion")), "data.columns.completion",
                        "'completion' and 'response' name the same column; give one");
                require(!(cols.count("kto_tag") && cols.count("label")), "data.columns.label",
                        "'label' and 'kto_tag' name the same column; give one");
            })
            .member(PS_MEMBER(Names, c.data.columns)));
    add(Row("data.tags", T::Names, "Sharegpt tags")
            .choices(data_tag_keys())
            .help("sharegpt message keys and role names as key=name, comma-separated (LLaMA-Factory's tags)")
            .reference("sharegpt message keys and role names, LLaMA-Factory's `tags` (default "
                       "`from`/`value`/`human`/`gpt`/`system`, or `role`/`content`/`user`/`assistant`/`system` when "
                       "messages have a `role`)")
            .member(PS_MEMBER(Names, c.data.tags)));
    group("Data", from);

    from = s.size();
    add(section("sft"));
    add(Row("sft.steps", T::Integer, "Steps")
            .at_least(0, "must be 0 (no warm-up) or positive")
            .help("Supervised steps on the chosen answers before preference training (0: none)")
            .reference("SFT warm-up steps on the chosen answers before preference training (the built-in model "
                       "starts random)")
            .member(PS_MEMBER(int, c.sft.steps)));
    add(Row("sft.learning_rate", T::Real, "Learning rate")
            .above(0, "must be in (0, 1), e.g. 1e-3")
            .below(1, true)
            .help("Learning rate of the warm-up")
            .reference("warm-up peak rate (cosine, 5% warmup)")
            .member(PS_MEMBER(double, c.sft.learning_rate)));
    group("SFT warm-up", from);

    from = s.size();
    add(section("objective"));
    for (FieldSpec& f : objective_rows()) add(std::move(f));
    group("Objective", from);

    from = s.size();
    add(section("train"));
    add(Row("train.steps", T::Integer, "Steps")
            .at_least(1, "must be at least 1")
            .help("Preference optimiser steps")
            .reference("preference optimiser steps")
            .member(PS_MEMBER(int, c.train.steps)));
    add(Row("train.batch_size", T::Integer, "Batch size")
            .at_least(1, "must be at least 1")
            .help("Pairs per micro-batch")
            .reference("pairs per micro-batch (chosen and rejected go through one forward)")
            .member(PS_MEMBER(int, c.train.batch_size)));
    add(Row("train.grad_accum", T::Integer, "Grad accumulation")
            .at_least(1, "must be at least 1")
            .help("Micro-batches per optimiser step (effective batch = batch size x this)")
            .reference("micro-batches per optimiser step")
            .member(PS_MEMBER(int, c.train.grad_accum)));
    add(Row("train.learning_rate", T::Real, "Learning rate")
            .above(0, "must be in (0, 1), e.g. 5e-4")
            .below(1, true)
            .help("Peak learning rate, e.g. 5e-4")
            .reference("AdamW peak rate")
            .member(PS_MEMBER(double, c.train.learning_rate)));
    add(Row("train.warmup_steps", T::Integer, "Warm-up steps")
            .at_least(0, "must be 0 or positive")
            .help("Linear learning-rate warm-up")
            .reference("linear warmup steps")
            .member(PS_MEMBER(int, c.train.warmup_steps)));
    add(Row("train.schedule", T::Choice, "Schedule")
            .help("Learning-rate decay after warm-up")
            .reference("learning-rate decay after warmup (Hugging Face's schedules)")
            .member(PS_MEMBER(LrSchedule, c.train.schedule)));
    add(Row("train.weight_decay", T::Real, "Weight decay")
            .at_least(0, "must be 0 or positive")
            .help("AdamW's decoupled weight decay (0: none)")
            .reference("AdamW decoupled weight decay")
            .member(PS_MEMBER(double, c.train.weight_decay)));
    add(Row("train.max_grad_norm", T::Real, "Max grad norm")
            .at_least(0, "must be 0 (no clipping) or a norm up to 1e6")
            .below(1e6, false)
            .help("Clip the gradient to this global norm (0: no clipping)")
            .reference("gradient clipping; 0 disables")
            .member(PS_MEMBER(double, c.train.max_grad_norm)));
    add(Row("train.eval_every", T::Integer, "Eval every")
            .at_least(0, "must be 0 (only at the end) or positive")
            .help("Steps between evaluations (0: only at the end)")
            .reference("eval every N steps (and always at the end); 0 = only at the end")
            .member(PS_MEMBER(int, c.train.eval_every)));
    add(Row("train.checkpoint_every", T::Integer, "Checkpoint every")
            .at_least(0, "must be 0 (no checkpoints) or positive")
            .help("Steps between checkpoints a killed run resumes from (0: none)")
            .reference("preference steps between checkpoints (weights or LoRA adapters, optimizer, RNG and data position) "
                       "in `<store>.checkpoints/<run id>/`, from which `prefstudio-cli run --resume RUN` continues; "
                       "0 = none. Removed when the run completes")
            .member(PS_MEMBER(int, c.train.checkpoint_every)));
    add(Row("train.keep_checkpoints", T::Integer, "Keep checkpoints")
            .at_least(1, "must be at least 1")
            .help("How many of the newest checkpoints are kept")
            .reference("the newest checkpoints kept; older ones are removed once a new one is whole")
            .member(PS_MEMBER(int, c.train.keep_checkpoints)));
    add(Row("train.device", T::Choice, "Device")
            .choices({"auto", "cpu", "cuda"})
            .open("`cuda:N`")
            .help("auto: CUDA when this libtorch has it and a GPU is present, else CPU; or cuda:N")
            .reference("`auto`: CUDA when this libtorch has it and a GPU is present, else the CPU (CUDA needs a CUDA "
                       "libtorch)")
            .check([](const RunConfig& c) {
                const std::string& d = c.train.device;
                require(d == "auto" || d == "cpu" || d == "cuda" || d.rfind("cuda:", 0) == 0, "train.device",
                        "must be auto, cpu, cuda or cuda:N");
            })
            .member(PS_MEMBER(std::string, c.train.device)));
    {
        FieldSpec f = Row("train.reference_logps", T::Choice, "Reference log-probs")
                          .help("cached: computed once before training (fast); on_the_fly: a reference forward "
                                "every step (less memory)")
                          .reference(
                              "`cached`: reference log-probs of every pair computed once before training (a step "
                              "then runs no reference forward), kept in memory and on disk in "
                              "`~/.cache/prefstudio/reference-logps/` (or `$XDG_CACHE_HOME`, "
                              "`$PREFSTUDIO_CACHE_DIR`) under a key of model, seed, SFT settings, data contents, "
                              "lengths and thread count, so a later run with the same reference (another beta or "
                              "algorithm) skips the pass (each file carries a checksum: a damaged one is "
                              "computed again, with a warning); `on_the_fly`: a reference forward every step")
                          .member(PS_MEMBER(ReferenceMode, c.train.reference_logps));
        // Only the algorithms with a reference model read it (the algorithm table says which).
        for (Algorithm a : kAlgorithms)
            if (algorithm_spec(a).reference != ReferenceUse::None) f.algorithms.push_back(a);
        add(std::move(f));
    }
    add(Row("train.threads", T::Integer, "CPU threads")
            .at_least(0, "must be 0 (auto) or a thread count up to 256")
            .below(256, false)
            .help("Threads for tensor maths; 0: all cores but one, so the studio stays responsive")
            .reference("CPU threads for tensor maths; 0 = all cores but one (keeps the studio responsive; "
                       "oversubscribing cores slows OpenMP many times over)")
            .member(PS_MEMBER(int, c.train.threads)));
    add(Row("train.save_dir", T::Path, "Save to")
            .nullable()
            .help("Directory the trained model is written to when the run completes; empty: not saved")
            .reference(
                "directory the trained policy is written to when the run completes: `config.json`, "
                "`model.safetensors` (the model's dtype) and the source directory's tokenizer files, loadable by "
                "transformers' `AutoModelForCausalLM.from_pretrained`; relative to the current directory. With "
                "`model.lora`: the adapter in PEFT's format instead, `adapter_config.json` "
                "(`base_model_name_or_path` = the source directory) and `adapter_model.safetensors` (keys "
                "`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`, ...), loadable by "
                "`PeftModel.from_pretrained`, plus the tokenizer files; after an SFT warm-up, also the warmed-up "
                "base (`config.json`, `model.safetensors`), which the adapter then names as its base. Studio runs "
                "of built-in models that leave it null get `<store name>-models/<run name>-<UTC time>/` next to the "
                "store (see Samples)")
            .check([](const RunConfig& c) {
                require(!c.train.save_dir || !c.train.save_dir->empty(), "train.save_dir",
                        "must be a directory path or null");
            })
            .member(PS_MEMBER(std::optional<std::string>, c.train.save_dir)));
    add(Row("train.overwrite_save_dir", T::Flag, "Overwrite save folder")
            .help("Let train.save_dir write over a non-empty folder that no PrefStudio run wrote")
            .reference("lets `train.save_dir` write over the model files of a non-empty folder that no PrefStudio run "
                       "wrote (a run marks its folder with `prefstudio-run.json`; a folder a run wrote is written "
                       "again without this). The folder of `model.source` is refused either way")
            .member(PS_MEMBER(bool, c.train.overwrite_save_dir)));
    add(Row("train.track_pairs", T::Integer, "Tracked pairs")
            .at_least(0, "must be 0 (no per-pair tracking) or a pair count up to 4096")
            .below(4096, false)
            .help("Eval pairs whose log-probs are recorded at every eval (per-pair evidence); 0: off")
            .reference("per-pair tracking: this many eval pairs (a fixed subset drawn with the run's seed; all of "
                       "them when the eval split is smaller; training pairs when there is no eval split) have their "
                       "policy log-probs recorded at step 0 and at every eval, and their CHES similarity measured "
                       "on the reference before training; 0 turns it off. Costs no extra forward for eval pairs "
                       "(they come from the eval pass), one forward of the subset at step 0; never changes the "
                       "training curve")
            .member(PS_MEMBER(int, c.train.track_pairs)));
    add(Row("train.answer_check", T::Choice, "Answer check")
            .help("Greedy answers to the tracked pairs' prompts at step 0 and every eval: the share equal to "
                  "the chosen answer, the rejected one, or neither. auto: on for built-in models")
            .reference("answer check: at step 0 and at every eval, the policy answers the prompts of the tracked "
                       "pairs (`train.track_pairs`) greedily (up to the longest of their answers + 4 tokens, "
                       "stopping at EOS), and each answer is counted as equal to the pair's chosen answer, its "
                       "rejected one, or neither: metrics `eval/answers/chosen`, `eval/answers/rejected`, "
                       "`eval/answers/other` (shares) and `eval/answers/prompts`, the answers themselves in an "
                       "`answers` event. It shows what the reward margin hides (a margin can grow while fewer "
                       "answers are right) and the diagnosis reports it. `auto`: on for built-in models, off for "
                       "Hugging Face models (generating every answer at every eval can cost more than the eval); "
                       "needs paired data and `train.track_pairs` > 0; never changes the training curve")
            .member(PS_MEMBER(AnswerCheck, c.train.answer_check)));
    add(Row("train.gradient_checkpointing", T::Flag, "Gradient checkpointing")
            .help("Keep only each decoder block's input and recompute its activations in the backward pass: less "
                  "memory, about one more forward per step")
            .reference("activation checkpointing per decoder block: a block keeps only its input in the forward "
                       "pass and runs again in the backward pass (random state replayed, so LoRA dropout draws the "
                       "same masks); same gradients, less activation memory, about one more forward of compute")
            .member(PS_MEMBER(bool, c.train.gradient_checkpointing)));
    group("Training", from);

    // Defaults are the struct's own initialisers (run_config.h), LoRA's with model.lora on.
    RunConfig defaults;
    defaults.model.lora.emplace();
    for (FieldSpec& f : s) {
        if (f.type == T::Section)
            f.default_value = f.nullable ? json(nullptr) : json::object();
        else
            f.default_value = f.load(defaults);
    }
    return s;
}

#undef PS_MEMBER

// Whether the field's nullable sections (model.lora) are on in `c`.
bool inside_present_sections(const FieldSpec& f, const RunConfig& c) {
    for (std::string p = f.parent(); !p.empty(); p = find_field(p)->parent()) {
        const FieldSpec* s = find_field(p);
        if (s->nullable && s->present && !s->present(c)) return false;
    }
    return true;
}

void read_object(const json& j, const std::string& path, RunConfig& c) {
    if (!j.is_object()) throw ConfigError(path, std::string("must be an object, got ") + type_name(j));
    std::set<std::string> known;
    for (const FieldSpec& f : config_schema()) {
        if (f.parent() != path) continue;
        const std::string key = f.key();
        known.insert(key);
        const auto it = j.find(key);
        if (it == j.end()) continue;
        if (f.type != FieldType::Section) {
            f.store(c, *it);
        } else if (f.nullable && it->is_null()) {
            f.disable(c);
        } else {
            if (f.nullable) f.enable(c);  // fresh defaults, then the file's keys
            read_object(*it, f.path, c);
        }
    }
    for (auto it = j.begin(); it != j.end(); ++it)
        if (!known.count(it.key())) throw ConfigError(printable_key(join_path(path, it.key())), kUnknownKeyMessage);
}

bool in_range(const FieldSpec& f, double v) {
    if (f.minimum && (f.minimum_exclusive ? !(v > *f.minimum) : !(v >= *f.minimum))) return false;
    if (f.maximum && (f.maximum_exclusive ? !(v < *f.maximum) : !(v <= *f.maximum))) return false;
    return true;
}

void require_one_of(const std::string& value, const std::vector<std::string>& options, const std::string& field) {
    if (std::find(options.begin(), options.end(), value) == options.end())
        throw ConfigError(field, quote_value(value) + " is not one of: " + join(options));
}

void set_at(json& j, const std::string& path, json value) {
    json* node = &j;
    std::stringstream ss(path);
    std::string part;
    std::vector<std::string> parts;
    while (std::getline(ss, part, '.')) parts.push_back(part);
    for (size_t i = 0; i + 1 < parts.size(); ++i) node = &(*node)[parts[i]];
    (*node)[parts.back()] = std::move(value);
}

// 5e-4 and 1e-3 as people write them; 0.1, 16.0 and 1.0 as the resolved JSON shows them.
std::string real_text(double v) {
    if (v != 0 && std::fabs(v) < 1e-2) {
        const int e = static_cast<int>(std::floor(std::log10(std::fabs(v))));
        const double m = v / std::pow(10.0, e);
        if (std::fabs(m - std::round(m)) < 1e-9) return num(std::round(m)) + "e" + std::to_string(e);
    }
    std::string t = num(v);
    if (t.find_first_of(".e") == std::string::npos) t += ".0";
    return t;
}

std::string range_text(const FieldSpec& f) {
    auto n = [](double v) { return num(v); };
    if (f.minimum && f.maximum) {
        if (f.type == FieldType::Integer) return n(*f.minimum) + " to " + n(*f.maximum);
        return (f.minimum_exclusive ? "(" : "[") + n(*f.minimum) + ", " + n(*f.maximum) +
               (f.maximum_exclusive ? ")" : "]");
    }
    if (f.minimum) return (f.minimum_exclusive ? "> " : ">= ") + n(*f.minimum);
    if (f.maximum) return (f.maximum_exclusive ? "< " : "<= ") + n(*f.maximum);
    return f.type == FieldType::Integer ? "whole number" : "number";
}

std::string cell(std::string text) {
    // A table cell is one line, and a bare '|' would end it.
    for (char& ch : text)
        if (ch == '\n') ch = ' ';
    std::string out;
    for (char ch : text) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
    return out;
}

}  // namespace

std::string FieldSpec::key() const {
    const auto dot = path.rfind('.');
    return dot == std::string::npos ? path : path.substr(dot + 1);
}

std::string FieldSpec::parent() const {
    const auto dot = path.rfind('.');
    return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

bool FieldSpec::used_by(Algorithm algorithm) const {
    return algorithms.empty() || std::find(algorithms.begin(), algorithms.end(), algorithm) != algorithms.end();
}

const std::vector<FieldSpec>& config_schema() {
    static const std::vector<FieldSpec> schema = build_schema();
    return schema;
}

const FieldSpec* find_field(const std::string& path) {
    for (const FieldSpec& f : config_schema())
        if (f.path == path) return &f;
    return nullptr;
}

void read_config(const json& j, RunConfig& config) { read_object(j, "", config); }

void validate_config(const RunConfig& c) {
    for (const FieldSpec& f : config_schema()) {
        if (f.type == FieldType::Section || !inside_present_sections(f, c)) continue;
        if (f.check) f.check(c);
        if (f.checked_by_algorithm_table) continue;
        const json v = f.load(c);
        if ((f.minimum || f.maximum) && v.is_number() && !in_range(f, v.get<double>()))
            throw ConfigError(f.path, f.rule.empty() ? "must be " + range_text(f) : f.rule);
        if (f.type == FieldType::Choice && !f.open_choices) require_one_of(v.get<std::string>(), f.choices, f.path);
        if (f.type == FieldType::List && !f.choices.empty())
            for (const auto& item : v) require_one_of(item.get<std::string>(), f.choices, f.path);
    }
}

json write_config(const RunConfig& c) {
    json j = json::object();
    for (const FieldSpec& f : config_schema()) {
        if (!inside_present_sections(f, c)) continue;
        if (f.type != FieldType::Section)
            set_at(j, f.path, f.load(c));
        else if (f.nullable && !f.present(c))
            set_at(j, f.path, nullptr);
        else
            set_at(j, f.path, json::object());
    }
    return j;
}

json override_value(const FieldSpec& spec, const std::string& text) {
    json value;
    try {
        value = parse_json_text(text, "--set " + spec.path);
    } catch (const JsonTextError& e) {
        // Bare words are strings (--set objective.algorithm=kto); too deep or out of range is not.
        if (e.kind() == JsonTextError::Kind::Syntax) return text;
        throw ConfigError(spec.path, e.kind() == JsonTextError::Kind::TooDeep
                                         ? "the value is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"
                                         : "the value " + quote_value(text, 40) + " is out of range for a double");
    }
    const bool textual = spec.type == FieldType::Text || spec.type == FieldType::Choice || spec.type == FieldType::Path;
    // A number or a boolean given to a text field is its text; null stays null (the field says
    // whether it takes one).
    if (textual && (value.is_number() || value.is_boolean())) return text;
    return value;
}

std::string valid_values_text(const FieldSpec& f) {
    std::string t;
    switch (f.type) {
        case FieldType::Integer:
        case FieldType::Real: t = range_text(f); break;
        case FieldType::Flag: t = "`true`, `false`"; break;
        case FieldType::Text: t = "text"; break;
        case FieldType::Path: t = "path"; break;
        case FieldType::Choice: t = join(f.choices, "`", "`"); break;
        case FieldType::List: t = "list of " + join(f.choices, "`", "`"); break;
        case FieldType::Names: t = f.json_values ? "object of names to JSON values" : "keys " + join(f.choices, "`", "`"); break;
        case FieldType::Section: t = "object"; break;
    }
    if (!f.other_values.empty()) t += (f.open_choices ? " or " : ", ") + f.other_values;
    if (f.checked_by_algorithm_table && f.type == FieldType::Choice && f.path != "objective.algorithm")
        t += " (per algorithm)";
    if (f.nullable) t += " or `null`";
    return t;
}

std::string default_text(const FieldSpec& f) {
    if (f.required) return "required";
    const json& d = f.default_value;
    if (d.is_number_float()) return "`" + real_text(d.get<double>()) + "`";
    return "`" + d.dump() + "`";
}

std::string algorithms_text(const FieldSpec& f) {
    if (f.algorithms.empty() || f.algorithms.size() == std::size(kAlgorithms)) return "all";
    std::vector<std::string> names;
    for (Algorithm a : f.algorithms) names.push_back(algorithm_spec(a).name);
    return join(names);
}

std::string config_reference_markdown() {
    std::string out = "| key | default | valid | used by | meaning |\n|---|---|---|---|---|\n";
    for (const FieldSpec& f : config_schema()) {
        if (f.type == FieldType::Section && !f.nullable) continue;  // model, data, ...: their keys are rows
        out += "| `" + f.path + "` | " + cell(default_text(f)) + " | " + cell(valid_values_text(f)) + " | " +
               algorithms_text(f) + " | " + cell(f.reference.empty() ? f.help : f.reference) + " |\n";
    }
    return out;
}

}  // namespace ps
