#include "core/config/run_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/config/config_schema.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ps {

template <>
const std::vector<std::pair<ModelDType, std::string>>& choice_table<ModelDType>() {
    static const std::vector<std::pair<ModelDType, std::string>> t{{ModelDType::Auto, "auto"},
                                                                   {ModelDType::Float32, "float32"},
                                                                   {ModelDType::BFloat16, "bfloat16"},
                                                                   {ModelDType::Float16, "float16"}};
    return t;
}
template <>
const std::vector<std::pair<TruncationMode, std::string>>& choice_table<TruncationMode>() {
    static const std::vector<std::pair<TruncationMode, std::string>> t{
        {TruncationMode::Drop, "drop"}, {TruncationMode::KeepEnd, "keep_end"}, {TruncationMode::KeepStart, "keep_start"}};
    return t;
}
template <>
const std::vector<std::pair<LrSchedule, std::string>>& choice_table<LrSchedule>() {
    static const std::vector<std::pair<LrSchedule, std::string>> t{
        {LrSchedule::Cosine, "cosine"}, {LrSchedule::Linear, "linear"}, {LrSchedule::Constant, "constant"}};
    return t;
}
template <>
const std::vector<std::pair<ReferenceMode, std::string>>& choice_table<ReferenceMode>() {
    static const std::vector<std::pair<ReferenceMode, std::string>> t{{ReferenceMode::Cached, "cached"},
                                                                      {ReferenceMode::OnTheFly, "on_the_fly"}};
    return t;
}

template <>
const std::vector<std::pair<AnswerCheck, std::string>>& choice_table<AnswerCheck>() {
    static const std::vector<std::pair<AnswerCheck, std::string>> t{
        {AnswerCheck::Auto, "auto"}, {AnswerCheck::On, "on"}, {AnswerCheck::Off, "off"}};
    return t;
}

bool is_builtin_source(const std::string& source) { return source.rfind("builtin:", 0) == 0; }

bool answer_check_enabled(AnswerCheck setting, const std::string& model_source) {
    switch (setting) {
        case AnswerCheck::On: return true;
        case AnswerCheck::Off: return false;
        case AnswerCheck::Auto: return is_builtin_source(model_source);
    }
    return false;
}

ModelDType resolved_dtype(ModelDType requested) {
    return requested == ModelDType::Auto ? ModelDType::Float32 : requested;
}

// The schema (config_schema.h) does the work: one spec per key says how it is read, checked and
// written.
RunConfig RunConfig::from_json(const json& j) {
    RunConfig c;
    read_config(j, c);
    c.validate();
    return c;
}

void RunConfig::validate() const { validate_config(*this); }

json RunConfig::to_json() const { return write_config(*this); }

void apply_override(json& j, const std::string& assignment) {
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw ConfigError("", "--set expects key.path=value, got " + quote_value(assignment));
    std::string path = assignment.substr(0, eq);
    std::string text = assignment.substr(eq + 1);
    std::vector<std::string> parts;
    {
        std::stringstream ss(path);
        std::string part;
        while (std::getline(ss, part, '.')) parts.push_back(part);
        if (path.back() == '.') parts.push_back("");
    }
    for (const auto& p : parts)
        if (p.empty()) throw ConfigError(printable_key(path), "--set has an empty key part");
    // Through the schema: the key must be one, and its value is read as that field's kind.
    json value;
    if (const FieldSpec* spec = find_field(path)) {
        value = override_value(*spec, text);
    } else {
        // A key inside an object of names (data.columns.prompt); parsing checks which keys it takes.
        const FieldSpec* parent = find_field(path.substr(0, path.rfind('.')));
        if (parts.size() < 2 || !parent || parent->type != FieldType::Names) throw ConfigError(printable_key(path), kUnknownKeyMessage);
        FieldSpec name;
        name.type = parent->json_values ? FieldType::Names : FieldType::Text;  // JSON values stay JSON
        name.nullable = true;
        name.path = path;
        value = override_value(name, text);
    }
    json* node = &j;
    std::string walked;
    for (size_t i = 0; i < parts.size(); ++i) {
        walked = walked.empty() ? parts[i] : walked + "." + parts[i];
        if (node->is_null()) *node = json::object();  // --set model.lora.rank=4 over "lora": null
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
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError("", "cannot read config file " + quote_value(path));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json j;
    try {
        // Depth-limited, and a number out of double's range names its line and key.
        j = parse_json_text(text, path);
    } catch (const JsonTextError& e) {
        throw ConfigError("", e.what());
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
    if (!is_builtin_source(c.model.source)) c.model.source = resolve_data_path(c.model.source, dir, "model.source");
    if (c.train.save_dir) c.train.save_dir = fs::absolute(*c.train.save_dir).lexically_normal().string();
    return c;
}

}  // namespace ps
