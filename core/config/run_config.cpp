#include "core/config/run_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/common/errors.h"
#include "core/config/data_keys.h"
#include "core/text/chat_template.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ps {
namespace {

std::string join_path(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
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

// Reads one section of the config, remembering which keys it consumed so that the rest
// (typos, keys of another version) can be reported as unknown.
class Section {
public:
    Section(const json& j, std::string path) : j_(j), path_(std::move(path)) {
        if (!j_.is_object())
            throw ConfigError(path_, std::string("must be an object, got ") + type_name(j_));
    }

    void get(const char* key, std::string& out) {
        if (const json* v = take(key)) {
            if (!v->is_string()) throw type_error(key, "a string", *v);
            out = v->get<std::string>();
        }
    }
    void get(const char* key, std::optional<std::string>& out) {
        if (const json* v = take(key)) {
            if (v->is_null()) { out.reset(); return; }
            if (!v->is_string()) throw type_error(key, "a string or null", *v);
            out = v->get<std::string>();
        }
    }
    void get(const char* key, double& out) {
        if (const json* v = take(key)) {
            if (!v->is_number()) throw type_error(key, "a number", *v);
            out = v->get<double>();
            if (!std::isfinite(out)) throw ConfigError(join_path(path_, key), "must be finite");
        }
    }
    void get(const char* key, bool& out) {
        if (const json* v = take(key)) {
            if (!v->is_boolean()) throw type_error(key, "true or false", *v);
            out = v->get<bool>();
        }
    }
    // Range-checked before narrowing: -4294967295 must not become 1 in an int.
    template <typename Int>
    void get_int(const char* key, Int& out) {
        if (const json* v = take(key)) {
            constexpr auto lo = std::numeric_limits<Int>::min();
            constexpr auto hi = std::numeric_limits<Int>::max();
            bool whole = false, in_range = false;
            if (v->is_number_unsigned()) {
                whole = true;
                in_range = v->get<uint64_t>() <= static_cast<uint64_t>(hi);
            } else if (v->is_number_integer()) {
                whole = true;
                const int64_t i = v->get<int64_t>();
                in_range = i >= static_cast<int64_t>(lo) && i <= static_cast<int64_t>(hi);
            } else if (v->is_number_float()) {
                const double d = v->get<double>();
                // Doubles hold every integer exactly up to 2^53; past that a whole-looking value
                // may not be the one written.
                whole = std::floor(d) == d && std::fabs(d) < 9e15;
                in_range = whole && d >= static_cast<double>(lo) && d <= static_cast<double>(hi);
            }
            if (!whole) throw type_error(key, "a whole number", *v);
            if (!in_range)
                throw ConfigError(join_path(path_, key), "must be a whole number from " + std::to_string(lo) + " to " +
                                                             std::to_string(hi) + ", got " + v->dump());
            out = v->is_number_float() ? static_cast<Int>(v->get<double>()) : v->get<Int>();
        }
    }
    void get(const char* key, int& out) { get_int(key, out); }
    void get(const char* key, int64_t& out) { get_int(key, out); }
    // An object of string values (data.columns, data.tags); `allowed` lists its keys.
    void get_names(const char* key, std::map<std::string, std::string>& out, const std::vector<std::string>& allowed) {
        const json* v = take(key);
        if (!v || v->is_null()) return;
        if (!v->is_object()) throw type_error(key, "an object of names", *v);
        out.clear();
        for (auto it = v->begin(); it != v->end(); ++it) {
            const std::string field = join_path(join_path(path_, key), it.key());
            if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
                std::string list;
                for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                throw ConfigError(field, "unknown key (valid keys: " + list + ")");
            }
            if (it->is_null()) continue;  // LLaMA-Factory writes null for unused columns
            if (!it->is_string() || it->get_ref<const std::string&>().empty())
                throw ConfigError(field, std::string("must be a field name (a non-empty string), got ") + type_name(*it));
            out[it.key()] = it->get<std::string>();
        }
    }
    void get_strings(const char* key, std::vector<std::string>& out) {
        if (const json* v = take(key)) {
            if (!v->is_array()) throw type_error(key, "an array of strings", *v);
            out.clear();
            for (const auto& e : *v) {
                if (!e.is_string()) throw type_error(key, "an array of strings", *v);
                out.push_back(e.get<std::string>());
            }
        }
    }
    void get_json(const char* key, json& out) {
        if (const json* v = take(key)) out = *v;
    }
    const json* take_object(const char* key) { return take(key); }
    const std::string& path() const { return path_; }

    // Throws for the first key nobody asked for.
    void finish() const {
        for (auto it = j_.begin(); it != j_.end(); ++it)
            if (!used_.count(it.key()))
                throw ConfigError(join_path(path_, it.key()),
                                  "unknown key (check the spelling; valid keys are listed in the "
                                  "README's config reference)");
    }

private:
    const json* take(const char* key) {
        used_.insert(key);
        auto it = j_.find(key);
        return it == j_.end() ? nullptr : &*it;
    }
    ConfigError type_error(const char* key, const char* want, const json& got) const {
        return ConfigError(join_path(path_, key),
                           std::string("must be ") + want + ", got " + type_name(got) + " " + got.dump());
    }

    const json& j_;
    std::string path_;
    std::set<std::string> used_;
};

void require(bool ok, const std::string& field, const std::string& message) {
    if (!ok) throw ConfigError(field, message);
}

void require_one_of(const std::string& value, std::initializer_list<const char*> options,
                    const std::string& field) {
    std::string list;
    for (const char* o : options) {
        if (value == o) return;
        list += (list.empty() ? "" : ", ") + std::string(o);
    }
    throw ConfigError(field, "'" + value + "' is not one of: " + list);
}

void require_one_of(const std::string& value, const std::vector<std::string>& options, const std::string& field) {
    std::string list;
    for (const std::string& o : options) {
        if (value == o) return;
        list += (list.empty() ? "" : ", ") + o;
    }
    throw ConfigError(field, "'" + value + "' is not one of: " + list);
}

}  // namespace

RunConfig RunConfig::from_json(const json& j) {
    RunConfig c;
    Section root(j, "");
    root.get("name", c.name);
    root.get("seed", c.seed);

    auto section = [&](const char* key, auto&& read) {
        if (const json* v = root.take_object(key)) {
            Section s(*v, key);
            read(s);
            s.finish();
        }
    };
    section("model", [&](Section& s) {
        s.get("source", c.model.source);
        s.get("tokenizer", c.model.tokenizer);
        s.get("template", c.model.chat_template);
        s.get("dtype", c.model.dtype);
        if (const json* v = s.take_object("lora"); v && !v->is_null()) {
            Section l(*v, "model.lora");
            LoraConfig lora;
            l.get("rank", lora.rank);
            l.get("alpha", lora.alpha);
            l.get("dropout", lora.dropout);
            l.get_strings("target_modules", lora.target_modules);
            l.finish();
            c.model.lora = lora;
        }
    });
    section("data", [&](Section& s) {
        s.get("train", c.data.train);
        s.get("eval", c.data.eval);
        s.get("eval_fraction", c.data.eval_fraction);
        s.get("format", c.data.format);
        s.get("max_length", c.data.max_length);
        s.get("max_prompt_length", c.data.max_prompt_length);
        s.get("truncation_mode", c.data.truncation_mode);
        s.get("group_by_length", c.data.group_by_length);
        s.get_names("columns", c.data.columns, data_column_keys());
        s.get_names("tags", c.data.tags, data_tag_keys());
    });
    section("sft", [&](Section& s) {
        s.get("steps", c.sft.steps);
        s.get("learning_rate", c.sft.learning_rate);
    });
    section("objective", [&](Section& s) {
        for (const ObjectiveField& f : objective_fields()) {
            switch (f.kind) {
                case ParameterSpec::Kind::Real: s.get(f.key.c_str(), c.objective.*f.real); break;
                case ParameterSpec::Kind::Choice: s.get(f.key.c_str(), c.objective.*f.text); break;
                case ParameterSpec::Kind::Flag: s.get(f.key.c_str(), c.objective.*f.flag); break;
            }
        }
    });
    section("train", [&](Section& s) {
        s.get("steps", c.train.steps);
        s.get("batch_size", c.train.batch_size);
        s.get("grad_accum", c.train.grad_accum);
        s.get("learning_rate", c.train.learning_rate);
        s.get("warmup_steps", c.train.warmup_steps);
        s.get("schedule", c.train.schedule);
        s.get("weight_decay", c.train.weight_decay);
        s.get("max_grad_norm", c.train.max_grad_norm);
        s.get("eval_every", c.train.eval_every);
        s.get("checkpoint_every", c.train.checkpoint_every);
        s.get("device", c.train.device);
        s.get("reference_logps", c.train.reference_logps);
        s.get("threads", c.train.threads);
        s.get("save_dir", c.train.save_dir);
        s.get("track_pairs", c.train.track_pairs);
        s.get("gradient_checkpointing", c.train.gradient_checkpointing);
    });
    root.finish();
    c.validate();
    return c;
}

void RunConfig::validate() const {
    require(!name.empty(), "name", "must not be empty");
    require(seed >= 0, "seed", "must be 0 or positive");

    require(!model.source.empty(), "model.source",
            "must be 'builtin:tiny' or a Hugging Face model directory");
    if (model.source.rfind("builtin:", 0) == 0)
        require_one_of(model.source.substr(8), {"tiny", "small"}, "model.source");
    require_one_of(model.chat_template, {"auto", "plain", "chatml", "qwen2.5", "llama3"}, "model.template");
    require_one_of(model.dtype, {"auto", "float32", "bfloat16", "float16"}, "model.dtype");
    if (model.lora) {
        const LoraConfig& l = *model.lora;
        require(l.rank >= 1 && l.rank <= 4096, "model.lora.rank", "must be between 1 and 4096 (8 or 16 are common)");
        require(l.alpha > 0.0, "model.lora.alpha", "must be positive (often twice the rank)");
        require(l.dropout >= 0.0 && l.dropout < 1.0, "model.lora.dropout", "must be in [0, 1), e.g. 0.05");
        require(!l.target_modules.empty(), "model.lora.target_modules",
                "must name at least one layer (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
        for (const auto& m : l.target_modules)
            require_one_of(m, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
                           "model.lora.target_modules");
    }

    require(!data.train.empty(), "data.train", "must name a preference dataset file (JSONL)");
    require(data.eval_fraction >= 0.0 && data.eval_fraction < 1.0, "data.eval_fraction",
            "must be in [0, 1), e.g. 0.1");
    require_one_of(data.format, data_format_names(), "data.format");
    require_one_of(data.truncation_mode, truncation_mode_names(), "data.truncation_mode");
    require(!(data.columns.count("response") && data.columns.count("completion")), "data.columns.completion",
            "'completion' and 'response' name the same column; give one");
    require(!(data.columns.count("kto_tag") && data.columns.count("label")), "data.columns.label",
            "'label' and 'kto_tag' name the same column; give one");
    require(data.max_length >= 8, "data.max_length", "must be at least 8 tokens");
    require(data.max_prompt_length >= 1 && data.max_prompt_length < data.max_length,
            "data.max_prompt_length", "must be at least 1 and below data.max_length (" +
                                          std::to_string(data.max_length) + ")");

    require(sft.steps >= 0, "sft.steps", "must be 0 (no warm-up) or positive");
    require(sft.learning_rate > 0.0 && sft.learning_rate < 1.0, "sft.learning_rate",
            "must be in (0, 1), e.g. 1e-3");

    validate_objective(objective);

    require(train.steps >= 1, "train.steps", "must be at least 1");
    require(train.batch_size >= 1, "train.batch_size", "must be at least 1");
    require(train.grad_accum >= 1, "train.grad_accum", "must be at least 1");
    require(train.learning_rate > 0.0 && train.learning_rate < 1.0, "train.learning_rate",
            "must be in (0, 1), e.g. 5e-4");
    require(train.warmup_steps >= 0, "train.warmup_steps", "must be 0 or positive");
    require_one_of(train.schedule, {"cosine", "linear", "constant"}, "train.schedule");
    require(train.weight_decay >= 0.0, "train.weight_decay", "must be 0 or positive");
    require(train.max_grad_norm >= 0.0, "train.max_grad_norm", "must be 0 (no clipping) or positive");
    require(train.eval_every >= 0, "train.eval_every", "must be 0 (only at the end) or positive");
    require(train.checkpoint_every >= 0, "train.checkpoint_every", "must be 0 or positive");
    require(train.device == "auto" || train.device == "cpu" || train.device == "cuda" ||
                train.device.rfind("cuda:", 0) == 0,
            "train.device", "must be auto, cpu, cuda or cuda:N");
    require_one_of(train.reference_logps, {"cached", "on_the_fly"}, "train.reference_logps");
    require(train.threads >= 0 && train.threads <= 256, "train.threads", "must be 0 (auto) or a thread count up to 256");
    require(!train.save_dir || !train.save_dir->empty(), "train.save_dir", "must be a directory path or null");
    require(train.track_pairs >= 0 && train.track_pairs <= 4096, "train.track_pairs",
            "must be 0 (no per-pair tracking) or a pair count up to 4096");
}

json RunConfig::to_json() const {
    json j;
    j["name"] = name;
    j["seed"] = seed;
    j["model"] = {{"source", model.source},
                  {"tokenizer", model.tokenizer ? json(*model.tokenizer) : json(nullptr)},
                  {"template", model.chat_template},
                  {"dtype", model.dtype},
                  {"lora", model.lora ? json{{"rank", model.lora->rank},
                                             {"alpha", model.lora->alpha},
                                             {"dropout", model.lora->dropout},
                                             {"target_modules", model.lora->target_modules}}
                                       : json(nullptr)}};
    j["data"] = {{"train", data.train},
                 {"eval", data.eval ? json(*data.eval) : json(nullptr)},
                 {"eval_fraction", data.eval_fraction},
                 {"format", data.format},
                 {"max_length", data.max_length},
                 {"max_prompt_length", data.max_prompt_length},
                 {"truncation_mode", data.truncation_mode},
                 {"group_by_length", data.group_by_length},
                 {"columns", data.columns},
                 {"tags", data.tags}};
    j["sft"] = {{"steps", sft.steps}, {"learning_rate", sft.learning_rate}};
    j["objective"] = json::object();
    for (const ObjectiveField& f : objective_fields()) {
        json& v = j["objective"][f.key];
        switch (f.kind) {
            case ParameterSpec::Kind::Real: v = objective.*f.real; break;
            case ParameterSpec::Kind::Choice: v = objective.*f.text; break;
            case ParameterSpec::Kind::Flag: v = objective.*f.flag; break;
        }
    }
    j["train"] = {{"steps", train.steps},
                  {"batch_size", train.batch_size},
                  {"grad_accum", train.grad_accum},
                  {"learning_rate", train.learning_rate},
                  {"warmup_steps", train.warmup_steps},
                  {"schedule", train.schedule},
                  {"weight_decay", train.weight_decay},
                  {"max_grad_norm", train.max_grad_norm},
                  {"eval_every", train.eval_every},
                  {"checkpoint_every", train.checkpoint_every},
                  {"device", train.device},
                  {"reference_logps", train.reference_logps},
                  {"threads", train.threads},
                  {"save_dir", train.save_dir ? json(*train.save_dir) : json(nullptr)},
                  {"track_pairs", train.track_pairs},
                  {"gradient_checkpointing", train.gradient_checkpointing}};
    return j;
}

void apply_override(json& j, const std::string& assignment) {
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw ConfigError("", "--set expects key.path=value, got '" + assignment + "'");
    std::string path = assignment.substr(0, eq);
    std::string text = assignment.substr(eq + 1);
    json value;
    try {
        value = json::parse(text);
    } catch (const json::exception&) {
        value = text;  // bare words are strings: --set objective.algorithm=kto
    }
    json* node = &j;
    std::stringstream ss(path);
    std::string part, walked;
    std::vector<std::string> parts;
    while (std::getline(ss, part, '.')) parts.push_back(part);
    for (size_t i = 0; i < parts.size(); ++i) {
        if (parts[i].empty()) throw ConfigError(path, "--set has an empty key part");
        walked = join_path(walked, parts[i]);
        if (!node->is_object()) throw ConfigError(walked, "--set cannot descend into a non-object");
        if (i + 1 == parts.size()) {
            (*node)[parts[i]] = value;
        } else {
            if (!node->contains(parts[i])) (*node)[parts[i]] = json::object();
            node = &(*node)[parts[i]];
        }
    }
}

json read_config_json(const std::string& path, const std::vector<std::string>& overrides) {
    std::ifstream in(path);
    if (!in) throw ConfigError("", "cannot read config file '" + path + "'");
    json j;
    try {
        j = json::parse(in);
    } catch (const json::parse_error& e) {
        // nlohmann reports the byte offset; turn it into line:column for people.
        std::ifstream again(path);
        std::string text((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
        size_t line = 1, col = 1;
        for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
            if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
        }
        std::string what = e.what();
        auto pos = what.find("parse error");
        throw ConfigError("", path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                                  ": invalid JSON (" + (pos == std::string::npos ? what : what.substr(pos)) + ")");
    }
    for (const auto& o : overrides) apply_override(j, o);
    return j;
}

std::string resolve_data_path(const std::string& path, const std::string& config_dir,
                              const std::string& field) {
    fs::path p(path);
    if (p.is_absolute()) {
        if (fs::exists(p)) return p.lexically_normal().string();
        throw ConfigError(field, "file '" + path + "' does not exist");
    }
    std::vector<fs::path> tried;
    tried.push_back(fs::current_path() / p);
    if (!config_dir.empty()) {
        for (fs::path dir = fs::absolute(config_dir); ; dir = dir.parent_path()) {
            tried.push_back(dir / p);
            if (dir == dir.root_path() || dir.parent_path() == dir) break;
        }
    }
    for (const auto& t : tried)
        if (fs::exists(t)) return fs::weakly_canonical(t).string();
    std::string hint;
    if (p.filename() == "arith-dpo.jsonl")
        hint = " (generate the demo data with `prefstudio-cli make-data arith --out " + path + "`)";
    throw ConfigError(field, "file '" + path + "' not found in the current directory or next to the "
                             "config file" + hint);
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
    json j = read_config_json(path, overrides);
    RunConfig c = RunConfig::from_json(j);
    std::string dir = fs::absolute(path).parent_path().string();
    c.data.train = resolve_data_path(c.data.train, dir, "data.train");
    if (c.data.eval) c.data.eval = resolve_data_path(*c.data.eval, dir, "data.eval");
    // A model directory is looked up like a data file; an output directory is taken as given
    // (relative to the current directory) and made absolute so the run records where it went.
    if (c.model.source.rfind("builtin:", 0) != 0) c.model.source = resolve_data_path(c.model.source, dir, "model.source");
    if (c.train.save_dir) c.train.save_dir = fs::absolute(*c.train.save_dir).lexically_normal().string();
    return c;
}

}  // namespace ps
