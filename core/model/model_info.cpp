#include "model/model_info.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "model/causal_lm.h"

namespace ps {

namespace {

ModelInfo from_shape(const std::string& source, const std::string& arch, const ModelShape& s) {
    ModelInfo info;
    info.source = source;
    info.architecture = arch;
    info.layers = s.num_layers;
    info.hidden_size = s.hidden_size;
    info.heads = s.num_heads;
    info.kv_heads = s.num_kv_heads;
    info.vocab_size = s.vocab_size;
    info.parameters = s.parameter_count();
    return info;
}

int64_t require_int(const nlohmann::json& j, const char* key, const std::string& file) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer())
        throw ModelError(file + ": '" + key + "' is missing or not an integer");
    return it->get<int64_t>();
}

}  // namespace

ModelInfo describe_model(const std::string& source) {
    if (source.rfind("builtin:", 0) == 0)
        return from_shape(source, "builtin (Qwen2-style)", builtin_shape(source.substr(8)));

    namespace fs = std::filesystem;
    const fs::path dir(source);
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw ModelError("model '" + source + "' is neither builtin:tiny/builtin:small nor a directory");
    const std::string file = (dir / "config.json").string();
    std::ifstream in(file);
    if (!in) throw ModelError(file + ": not found; a Hugging Face model directory has a config.json");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception& e) {
        throw ModelError(file + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    if (!j.is_object()) throw ModelError(file + ": expected a JSON object");
    const std::string type = j.value("model_type", std::string());
    if (type != "qwen2" && type != "qwen3" && type != "llama" && type != "mistral")
        throw ModelError(file + ": model_type '" + type +
                         "' is not supported (supported: qwen2, qwen3, llama, mistral)");
    ModelShape s;
    s.vocab_size = require_int(j, "vocab_size", file);
    s.hidden_size = require_int(j, "hidden_size", file);
    s.intermediate_size = require_int(j, "intermediate_size", file);
    s.num_layers = require_int(j, "num_hidden_layers", file);
    s.num_heads = require_int(j, "num_attention_heads", file);
    s.num_kv_heads = j.contains("num_key_value_heads") && j["num_key_value_heads"].is_number_integer()
                         ? j["num_key_value_heads"].get<int64_t>()
                         : s.num_heads;
    s.head_dim = j.contains("head_dim") && j["head_dim"].is_number_integer()
                     ? j["head_dim"].get<int64_t>()
                     : (s.num_heads > 0 ? s.hidden_size / s.num_heads : 0);
    s.tie_word_embeddings = j.value("tie_word_embeddings", false);
    s.attention_bias = type == "qwen2" ? true : j.value("attention_bias", false);
    s.qk_norm = type == "qwen3";
    try {
        s.validate();
    } catch (const ModelError& e) {
        throw ModelError(file + ": " + e.what());
    }
    return from_shape(source, type, s);
}

}  // namespace ps
