#include "core/model/model_source.h"

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "core/common/errors.h"
#include "core/model/hf_config.h"
#include "core/model/lora.h"
#include "core/text/byte_tokenizer.h"
#include "core/text/hf_tokenizer.h"

namespace fs = std::filesystem;

namespace ps {

LoadedModel load_model_source(const std::string& source, torch::Dtype dtype) {
    LoadedModel out;
    out.source = source;
    if (is_builtin_source(source)) {
        out.model = CausalLM(builtin_shape(source.substr(8)), /*init=*/true, dtype);
        return out;
    }
    if (!fs::is_directory(source))
        throw ModelError("model.source '" + source +
                         "' is neither builtin:tiny, builtin:small nor a Hugging Face model directory");
    if (const std::string base = adapter_base_source(source); !base.empty()) {
        if (base == source) {
            out.dir = source;
            out.hf_config = read_json_file((fs::path(source) / "config.json").string());
            out.model = load_hf_model(source, dtype);
        } else {
            if (!adapter_base_source(base).empty())
                throw ModelError("the LoRA adapter '" + source + "' names another adapter directory, '" + base +
                                 "', as its base; merge that one first");
            LoadedModel b = load_model_source(base, dtype);
            out.dir = b.dir;
            out.hf_config = b.hf_config;
            out.model = b.model;
        }
        load_lora_adapter(out.model, source);
        merge_lora(out.model);
        out.merged_adapter = true;
        return out;
    }
    out.dir = source;
    out.hf_config = read_json_file((fs::path(source) / "config.json").string());
    out.model = load_hf_model(source, dtype);
    return out;
}

std::unique_lock<std::mutex> lock_global_generator() {
    static std::mutex global_generator_mutex;
    return std::unique_lock<std::mutex>(global_generator_mutex);
}

LoadedModel load_model_source_seeded(const std::string& source, torch::Dtype dtype, uint64_t seed) {
    auto lock = lock_global_generator();
    torch::manual_seed(seed);
    return load_model_source(source, dtype);
}

std::string adapter_base_source(const std::string& dir) {
    const fs::path adapter_config = fs::path(dir) / "adapter_config.json";
    if (!fs::is_regular_file(adapter_config)) return "";
    if (fs::is_regular_file(fs::path(dir) / "config.json")) return dir;
    const nlohmann::json j = read_json_file(adapter_config.string());
    if (!j.is_object() || !j.contains("base_model_name_or_path") || !j["base_model_name_or_path"].is_string())
        throw ModelError(adapter_config.string() + ": base_model_name_or_path must name the base model");
    const std::string base = j["base_model_name_or_path"].get<std::string>();
    if (is_builtin_source(base) || fs::is_directory(base)) return base;
    if (fs::path(base).is_relative() && fs::is_directory(fs::path(dir) / base)) return (fs::path(dir) / base).string();
    throw ModelError(adapter_config.string() + ": the base model '" + base +
                     "' is not a local directory (PrefStudio does not download models)");
}

std::string source_tokenizer_dir(const std::string& source) {
    if (is_builtin_source(source)) return "";
    if (fs::is_directory(source) && !fs::is_regular_file(fs::path(source) / "tokenizer.json") &&
        !fs::is_regular_file(fs::path(source) / "config.json")) {
        if (const std::string base = adapter_base_source(source); !base.empty() && base != source)
            return source_tokenizer_dir(base);
    }
    const fs::path config = fs::path(source) / "config.json";
    if (fs::is_regular_file(config)) {
        const nlohmann::json j = read_json_file(config.string());
        if (j.is_object() && j.contains("prefstudio_tokenizer") && j["prefstudio_tokenizer"] == "byte") return "";
    }
    if (!fs::is_regular_file(fs::path(source) / "tokenizer.json"))
        throw ModelError("'" + source + "' has no tokenizer.json; PrefStudio reads Hugging Face tokenizers from "
                         "tokenizer.json (copy it from the original model) or use prefstudio-cli generate --ids");
    return source;
}

std::shared_ptr<Tokenizer> load_source_tokenizer(const std::string& source) {
    const std::string dir = source_tokenizer_dir(source);
    if (dir.empty()) return std::make_shared<ByteTokenizer>();
    return std::shared_ptr<Tokenizer>(load_hf_tokenizer(dir));
}

SaveOptions save_options_for(const LoadedModel& loaded) {
    SaveOptions o;
    o.original_config = loaded.hf_config;
    o.copy_files_from = loaded.dir;
    if (loaded.dir.empty()) {
        o.extra_config = {{"prefstudio_tokenizer", "byte"},
                          {"bos_token_id", ByteTokenizer::kBos},
                          {"eos_token_id", ByteTokenizer::kEos},
                          {"pad_token_id", ByteTokenizer::kPad}};
    }
    return o;
}

namespace {

void add_ids(std::vector<int64_t>& to, const nlohmann::json& v) {
    auto add = [&](const nlohmann::json& e) {
        if (e.is_number_integer() && std::find(to.begin(), to.end(), e.get<int64_t>()) == to.end())
            to.push_back(e.get<int64_t>());
    };
    if (v.is_array())
        for (const auto& e : v) add(e);
    else
        add(v);
}

}  // namespace

std::vector<int64_t> generation_stop_ids(const LoadedModel& loaded, const Tokenizer* tokenizer) {
    std::vector<int64_t> ids;
    if (tokenizer) ids.push_back(tokenizer->eos_id());
    for (int64_t id : loaded.model->shape().eos_token_ids) add_ids(ids, id);
    const std::string gen_config = loaded.dir + "/generation_config.json";
    if (!loaded.dir.empty() && std::filesystem::is_regular_file(gen_config)) {
        const nlohmann::json j = read_json_file(gen_config);
        if (j.is_object() && j.contains("eos_token_id")) add_ids(ids, j["eos_token_id"]);
    }
    return ids;
}

}  // namespace ps
