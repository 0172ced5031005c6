#include "core/model/hf_config.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "core/common/errors.h"

namespace ps {
namespace {

using nlohmann::json;

bool is_dir(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Reads typed values from config.json; a present key of the wrong type is an error naming it,
// null counts as absent (transformers writes e.g. "head_dim": null).
class Reader {
public:
    Reader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

    bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

    int64_t integer(const char* key, int64_t fallback, int64_t min_value = 1) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_number_integer()) fail(key, "must be an integer");
        const int64_t x = v.get<int64_t>();
        if (x < min_value) fail(key, "must be at least " + std::to_string(min_value));
        return x;
    }
    double number(const char* key, double fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_number()) fail(key, "must be a number");
        return v.get<double>();
    }
    bool boolean(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_boolean()) fail(key, "must be true or false");
        return v.get<bool>();
    }
    std::string string(const char* key, const std::string& fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_string()) fail(key, "must be a string");
        return v.get<std::string>();
    }
    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw ModelError(where_ + ": \"" + key + "\" " + what);
    }

private:
    const json& j_;
    std::string where_;
};

RopeScaling parse_rope_scaling(const json& rs, const std::string& where, const std::string& key) {
    RopeScaling out;
    if (!rs.is_object()) throw ModelError(where + ": \"" + key + "\" must be an object or null");
    Reader r(rs, where);
    std::string type = r.string("rope_type", r.string("type", "default"));
    if (type == "default") return out;
    if (type != "linear" && type != "llama3")
        throw ModelError(where + ": " + key + " type '" + type +
                         "' is not supported (supported: default, linear, llama3); remove it to use the model "
                         "within its original context length");
    out.type = type;
    out.factor = r.number("factor", 1.0);
    if (!(out.factor > 0)) r.fail(key + ".factor", "must be positive");
    if (type == "llama3") {
        out.low_freq_factor = r.number("low_freq_factor", 1.0);
        out.high_freq_factor = r.number("high_freq_factor", 4.0);
        out.original_max_position_embeddings = r.integer("original_max_position_embeddings", 8192);
    }
    return out;
}

std::vector<int64_t> token_id_list(const json& v) {
    std::vector<int64_t> out;
    if (v.is_number_integer()) out.push_back(v.get<int64_t>());
    if (v.is_array())
        for (const auto& e : v)
            if (e.is_number_integer()) out.push_back(e.get<int64_t>());
    return out;
}

}  // namespace

json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ModelError("cannot read '" + path + "'; check that the file exists and is readable");
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return json::parse(ss.str());
    } catch (const json::exception& e) {
        throw ModelError(path + ": not valid JSON (" + std::string(e.what()) + ")");
    }
}

ModelShape read_hf_config(const std::string& path) {
    const std::string file = is_dir(path) ? path + "/config.json" : path;
    return parse_hf_config(read_json_file(file), file);
}

ModelShape parse_hf_config(const json& j, const std::string& where) {
    if (!j.is_object()) throw ModelError(where + ": config.json must be a JSON object");
    Reader r(j, where);
    const std::string type = r.string("model_type", "");
    if (type.empty()) throw ModelError(where + ": \"model_type\" is missing; a Hugging Face config.json names its model_type");
    if (type != "llama" && type != "mistral" && type != "qwen2" && type != "qwen3")
        throw ModelError(where + ": model_type '" + type +
                         "' is not supported (supported: llama, mistral, qwen2, qwen3)");
    if (r.has("quantization_config"))
        throw ModelError(where + ": quantized checkpoints (\"quantization_config\") are not supported; use the "
                                 "float16/bfloat16/float32 weights");
    const std::string act = r.string("hidden_act", "silu");
    if (act != "silu")
        throw ModelError(where + ": hidden_act '" + act + "' is not supported (only silu, the SwiGLU MLP)");
    if (r.boolean("mlp_bias", false))
        throw ModelError(where + ": \"mlp_bias\": true is not supported (MLP projections without bias only)");

    // Class defaults of transformers' configs, used when a key is absent.
    ModelShape s;
    s.model_type = type;
    const bool qwen = type == "qwen2" || type == "qwen3";
    s.vocab_size = r.integer("vocab_size", qwen ? 151936 : 32000);
    s.hidden_size = r.integer("hidden_size", 4096);
    s.intermediate_size = r.integer("intermediate_size", type == "mistral" ? 14336 : (qwen ? 22016 : 11008));
    s.num_layers = r.integer("num_hidden_layers", 32);
    s.num_heads = r.integer("num_attention_heads", 32);
    s.num_kv_heads = r.integer("num_key_value_heads", type == "mistral" ? 8 : s.num_heads);
    if (s.hidden_size % s.num_heads != 0 && !r.has("head_dim"))
        r.fail("hidden_size", "must be a multiple of num_attention_heads when head_dim is not given");
    s.head_dim = r.integer("head_dim", type == "qwen3" ? 128 : s.hidden_size / s.num_heads);
    s.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
    s.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    s.max_position_embeddings =
        r.integer("max_position_embeddings", type == "llama" ? 2048 : (type == "mistral" ? 4096 * 32 : 32768));

    // Rotary: transformers 4.x writes rope_theta + rope_scaling, 5.x rope_parameters.
    s.rope_theta = r.number("rope_theta", 10000.0);
    if (r.has("rope_parameters")) {
        const json& rp = j.at("rope_parameters");
        if (!rp.is_object()) r.fail("rope_parameters", "must be an object");
        Reader rr(rp, where);
        s.rope_theta = rr.number("rope_theta", s.rope_theta);
        s.rope_scaling = parse_rope_scaling(rp, where, "rope_parameters");
    }
    if (r.has("rope_scaling")) s.rope_scaling = parse_rope_scaling(j.at("rope_scaling"), where, "rope_scaling");

    if (type == "qwen2") {
        s.attention_bias = true;  // Qwen2 always has q/k/v biases, never an o_proj bias
    } else if (type == "qwen3") {
        s.qk_norm = true;
        s.attention_bias = s.o_proj_bias = r.boolean("attention_bias", false);
    } else if (type == "llama") {
        s.attention_bias = s.o_proj_bias = r.boolean("attention_bias", false);
    }

    // Sliding windows: Mistral applies its window to every layer (reproduced in the mask);
    // Qwen's per-layer windows are off in every released Qwen2.5/Qwen3 config and not reproduced.
    if (type == "mistral") {
        s.sliding_window = r.integer("sliding_window", 4096, 0);
    } else if (qwen && r.boolean("use_sliding_window", false)) {
        throw ModelError(where + ": \"use_sliding_window\": true is not supported for " + type +
                         " (full attention only); set it to false");
    }
    if (r.has("layer_types") && type != "mistral") {
        const json& lt = j.at("layer_types");
        if (lt.is_array())
            for (const auto& l : lt)
                if (!l.is_string() || l.get<std::string>() != "full_attention")
                    throw ModelError(where + ": layer_types other than full_attention are not supported for " + type);
    }
    if (r.has("bos_token_id") && j.at("bos_token_id").is_number_integer())
        s.bos_token_id = j.at("bos_token_id").get<int64_t>();
    if (r.has("eos_token_id")) s.eos_token_ids = token_id_list(j.at("eos_token_id"));

    try {
        s.validate();
    } catch (const ModelError& e) {
        throw ModelError(where + ": " + e.what());
    }
    return s;
}

std::string hf_model_type(const ModelShape& s) {
    if (!s.model_type.empty()) return s.model_type;
    if (s.qk_norm) return "qwen3";
    if (s.attention_bias && !s.o_proj_bias) return "qwen2";
    return "llama";
}

json make_hf_config(const ModelShape& s, const std::string& torch_dtype, const json& original) {
    const std::string type = hf_model_type(s);
    if (type == "qwen2" && (!s.attention_bias || s.o_proj_bias || s.qk_norm))
        throw ModelError("this model cannot be saved as qwen2: qwen2 has q/k/v biases, no o_proj bias, no q/k norm");
    if (type == "qwen3" && (!s.qk_norm || s.attention_bias != s.o_proj_bias))
        throw ModelError("this model cannot be saved as qwen3: qwen3 has q/k norms and all-or-no attention biases");
    if ((type == "llama" || type == "mistral") && (s.qk_norm || s.attention_bias != s.o_proj_bias))
        throw ModelError("this model cannot be saved as " + type + ": it has q/k norms or only some attention biases");
    if (type == "mistral" && s.attention_bias) throw ModelError("this model cannot be saved as mistral: it has attention biases");

    json j = original.is_object() ? original : json::object();
    static const char* arch[][2] = {{"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"},
                                    {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"}};
    for (const auto& a : arch)
        if (type == a[0]) j["architectures"] = json::array({a[1]});
    j["model_type"] = type;
    j["vocab_size"] = s.vocab_size;
    j["hidden_size"] = s.hidden_size;
    j["intermediate_size"] = s.intermediate_size;
    j["num_hidden_layers"] = s.num_layers;
    j["num_attention_heads"] = s.num_heads;
    j["num_key_value_heads"] = s.num_kv_heads;
    j["head_dim"] = s.head_dim;
    j["hidden_act"] = "silu";
    j["max_position_embeddings"] = s.max_position_embeddings;
    j["rms_norm_eps"] = s.rms_norm_eps;
    j["tie_word_embeddings"] = s.tie_word_embeddings;
    j.erase("rope_parameters");  // transformers 5 key; we write the 4.x pair, which 5.x also reads
    j["rope_theta"] = s.rope_theta;
    if (s.rope_scaling.type == "default") {
        j["rope_scaling"] = nullptr;
    } else {
        json rs = {{"rope_type", s.rope_scaling.type}, {"factor", s.rope_scaling.factor}};
        if (s.rope_scaling.type == "llama3") {
            rs["low_freq_factor"] = s.rope_scaling.low_freq_factor;
            rs["high_freq_factor"] = s.rope_scaling.high_freq_factor;
            rs["original_max_position_embeddings"] = s.rope_scaling.original_max_position_embeddings;
        }
        j["rope_scaling"] = rs;
    }
    if (type == "llama" || type == "qwen3") j["attention_bias"] = s.attention_bias;
    if (type == "llama") j["mlp_bias"] = false;
    if (type == "qwen2" || type == "qwen3") j["use_sliding_window"] = false;
    if (type == "mistral") j["sliding_window"] = s.sliding_window > 0 ? json(s.sliding_window) : json(nullptr);
    j["attention_dropout"] = 0.0;
    j["torch_dtype"] = torch_dtype;
    if (j.contains("dtype")) j["dtype"] = torch_dtype;  // transformers 5's name for it
    if (s.bos_token_id >= 0) j["bos_token_id"] = s.bos_token_id;
    if (s.eos_token_ids.size() == 1) j["eos_token_id"] = s.eos_token_ids[0];
    if (s.eos_token_ids.size() > 1) j["eos_token_id"] = s.eos_token_ids;
    if (!j.contains("use_cache")) j["use_cache"] = true;
    return j;
}

}  // namespace ps
