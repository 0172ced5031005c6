#include "core/model/hf_config.h"

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "core/common/errors.h"
#include "core/common/user_text.h"

namespace ps {
namespace {

using nlohmann::json;

bool is_dir(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Reads typed values from config.json; a present key of the wrong type is an error naming it,
// null counts as absent (transformers writes e.g. "head_dim": null).
// `prefix` names the object the keys live in ("text_config." for gemma3's language model).
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
// More parameters than this no device holds (4 TB in float32): refused before any allocation.
constexpr double kMaxParameters = 1e12;

class Reader {
public:
    Reader(const json& j, std::string where, std::string prefix = "")
        : j_(j), where_(std::move(where)), prefix_(std::move(prefix)) {}

    bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

    int64_t integer(const char* key, int64_t fallback, int64_t min_value = 1) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_number_integer()) fail(key, "must be an integer");
        // Sizes and ids become int32-indexed tensor dimensions: refuse before narrowing or allocating.
        if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kMaxInt32))
            fail(key, "must be at most 2147483647 (an int32), got " + quote_json(v));
        const int64_t x = v.get<int64_t>();
        if (x < min_value) fail(key, "must be at least " + std::to_string(min_value));
        if (x > kMaxInt32) fail(key, "must be at most 2147483647 (an int32), got " + std::to_string(x));
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
        throw ModelError(where_ + ": \"" + prefix_ + key + "\" " + what);
    }

private:
    const json& j_;
    std::string where_, prefix_;
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

// bos/eos/pad token ids (an integer or a list) must name rows of the embedding: [0, vocab_size).
// A negative pad_token_id is "none" in some published configs (-1): the pad id is not read here.
void check_token_ids(const json& j, const Reader& r, const std::string& prefix, int64_t vocab_size) {
    if (!j.is_object()) return;
    for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
        if (!j.contains(key) || j.at(key).is_null()) continue;
        const json& v = j.at(key);
        if (std::string(key) == "pad_token_id" && v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)
            continue;
        const std::vector<json> ids = v.is_array() ? std::vector<json>(v.begin(), v.end()) : std::vector<json>{v};
        for (const json& id : ids)
            if (!id.is_number_integer() || (id.is_number_unsigned() ? id.get<uint64_t>() >= static_cast<uint64_t>(vocab_size)
                                                                      : id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab_size))
                r.fail(prefix + key, "must be a token id in [0, vocab_size = " + std::to_string(vocab_size) + "), got " +
                                         quote_json(id));
    }
}

// The sizes together must make a model some device can hold; refused here, naming the keys,
// rather than by the allocator with a C++ trace.
void check_model_size(const ModelShape& s, const std::string& where) {
    const double h = static_cast<double>(s.hidden_size);
    const double attn = h * static_cast<double>(s.head_dim) * static_cast<double>(2 * s.num_heads + 2 * s.num_kv_heads);
    const double mlp = 3 * h * static_cast<double>(s.intermediate_size);
    const double params = static_cast<double>(s.vocab_size) * h * (s.tie_word_embeddings ? 1 : 2) +
                          static_cast<double>(s.num_layers) * (attn + mlp);
    if (!(params <= kMaxParameters)) {
        char n[32];
        std::snprintf(n, sizeof n, "%.3g", params);
        throw ModelError(where + ": the sizes (vocab_size " + std::to_string(s.vocab_size) + ", hidden_size " +
                         std::to_string(s.hidden_size) + ", intermediate_size " + std::to_string(s.intermediate_size) +
                         ", num_hidden_layers " + std::to_string(s.num_layers) + ", num_attention_heads " +
                         std::to_string(s.num_heads) + ") make " + n +
                         " parameters, more than any device holds (limit 1e12); check config.json");
    }
}

// bos_token_id and eos_token_id (an int or a list) of one config level.
void read_special_ids(ModelShape& s, const json& j, const Reader& r) {
    if (r.has("bos_token_id") && j.at("bos_token_id").is_number_integer()) s.bos_token_id = j.at("bos_token_id").get<int64_t>();
    if (r.has("eos_token_id")) s.eos_token_ids = token_id_list(j.at("eos_token_id"));
}

// The shape's own checks, their message prefixed with the file; sizes that cannot fit refused.
ModelShape validated(ModelShape s, const std::string& where) {
    check_model_size(s, where);
    try {
        s.validate();
    } catch (const ModelError& e) {
        throw ModelError(where + ": " + e.what());
    }
    return s;
}

// A Gemma 3 language model: Gemma3TextConfig's keys in `j` (config.json itself for gemma3_text,
// its "text_config" for gemma3, then prefix = "text_config."), with that class's defaults.
// What transformers 5.25's Gemma3ForCausalLM computes and we reproduce: (1 + w) RMSNorms in
// float32, embeddings * sqrt(hidden_size), GeGLU with the tanh GELU, sandwich norms, q/k norms,
// scores * query_pre_attn_scalar^-0.5, per-layer sliding windows (layer_types, else every
// sliding_window_pattern-th layer full) whose rotary parameters are rope_parameters.sliding_attention
// (legacy rope_local_base_freq) while full layers use rope_parameters.full_attention (legacy
// rope_theta + rope_scaling), and final logit soft-capping.
ModelShape parse_gemma3_text(const json& j, const std::string& where, const std::string& prefix) {
    if (!j.is_object()) throw ModelError(where + ": \"" + prefix + "\" must be a JSON object");
    Reader r(j, where, prefix);
    if (r.has("quantization_config")) r.fail("quantization_config", "(quantized weights) is not supported; use the float16/bfloat16/float32 weights");
    const std::string act = r.string("hidden_activation", "gelu_pytorch_tanh");
    if (act != "gelu_pytorch_tanh")
        r.fail("hidden_activation", "'" + act + "' is not supported for Gemma 3 (only gelu_pytorch_tanh)");
    if (r.boolean("use_bidirectional_attention", false))
        r.fail("use_bidirectional_attention", "true is not supported (causal language models only)");
    // transformers 5.25's Gemma3Attention reads attn_logit_softcapping but never applies it (Gemma 2
    // does): neither computation would be certain to be what the checkpoint's author meant.
    if (r.has("attn_logit_softcapping"))
        r.fail("attn_logit_softcapping", "is not supported for Gemma 3 (transformers' Gemma 3 ignores it; released "
                                         "Gemma 3 configs set it to null)");

    ModelShape s;
    s.model_type = "gemma3_text";
    s.vocab_size = r.integer("vocab_size", 262208);
    s.hidden_size = r.integer("hidden_size", 2304);
    s.intermediate_size = r.integer("intermediate_size", 9216);
    s.num_layers = r.integer("num_hidden_layers", 26);
    s.num_heads = r.integer("num_attention_heads", 8);
    s.num_kv_heads = r.integer("num_key_value_heads", 4);
    s.head_dim = r.integer("head_dim", 256);
    s.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
    s.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
    s.max_position_embeddings = r.integer("max_position_embeddings", 131072);
    s.qk_norm = true;
    s.attention_bias = s.o_proj_bias = r.boolean("attention_bias", false);
    s.mlp_activation = "gelu_tanh";
    s.norm_plus_one = s.sandwich_norms = s.scale_embeddings = true;
    s.query_pre_attn_scalar = r.number("query_pre_attn_scalar", 256);
    if (!(s.query_pre_attn_scalar > 0)) r.fail("query_pre_attn_scalar", "must be positive");
    if (r.has("final_logit_softcapping")) {
        s.final_logit_softcapping = r.number("final_logit_softcapping", 0);
        if (!(s.final_logit_softcapping > 0)) r.fail("final_logit_softcapping", "must be positive or null");
    }

    if (r.has("layer_types")) {
        const json& lt = j.at("layer_types");
        if (!lt.is_array() || static_cast<int64_t>(lt.size()) != s.num_layers)
            r.fail("layer_types", "must list one attention kind per layer (" + std::to_string(s.num_layers) + ")");
        for (const auto& l : lt) {
            const std::string kind = l.is_string() ? l.get<std::string>() : "";
            if (kind != "sliding_attention" && kind != "full_attention")
                r.fail("layer_types", "entries must be sliding_attention or full_attention");
            s.layer_sliding.push_back(kind == "sliding_attention");
        }
    } else {
        // transformers: layer i slides unless (i + 1) is a multiple of the pattern (default 6).
        const int64_t pattern = r.integer("sliding_window_pattern", 6);
        for (int64_t i = 0; i < s.num_layers; ++i) s.layer_sliding.push_back((i + 1) % pattern != 0);
    }
    bool any_sliding = false;
    for (bool b : s.layer_sliding) any_sliding = any_sliding || b;
    if (any_sliding) {
        if (j.contains("sliding_window") && j.at("sliding_window").is_null())
            r.fail("sliding_window", "is null, but layer_types has sliding_attention layers");
        s.sliding_window = r.integer("sliding_window", 4096);
    }

    // Rotary parameters per layer kind, as Gemma3TextConfig.convert_rope_params_to_dict builds them.
    json full = json::object(), local = json::object();
    if (r.has("rope_parameters")) {
        const json& rp = j.at("rope_parameters");
        if (!rp.is_object()) r.fail("rope_parameters", "must be an object");
        for (auto it = rp.begin(); it != rp.end(); ++it) {
            // A flat rope_parameters ({"rope_type": ..., "rope_theta": ...}) is not applied to any
            // layer by transformers' Gemma 3; refusing it beats guessing what was meant.
            if (it.key() != "full_attention" && it.key() != "sliding_attention")
                r.fail("rope_parameters", "must hold \"full_attention\" and \"sliding_attention\" objects for Gemma 3 "
                                          "(found \"" + it.key() + "\")");
            if (it.value().is_null()) continue;
            if (!it.value().is_object()) r.fail("rope_parameters." + it.key(), "must be an object");
            (it.key() == "full_attention" ? full : local) = it.value();
        }
    }
    if (r.has("rope_scaling")) {
        const json& rs = j.at("rope_scaling");
        if (!rs.is_object()) r.fail("rope_scaling", "must be an object or null");
        full.update(rs);  // transformers: rope_scaling applies to the full-attention layers
    }
    Reader full_r(full, where, prefix + "rope_parameters.full_attention.");
    Reader local_r(local, where, prefix + "rope_parameters.sliding_attention.");
    s.rope_theta = full_r.number("rope_theta", r.number("rope_theta", 1000000.0));
    s.local_rope_theta = local_r.number("rope_theta", r.number("rope_local_base_freq", 10000.0));
    s.rope_scaling = parse_rope_scaling(full, where, prefix + "rope_parameters.full_attention");
    s.local_rope_scaling = parse_rope_scaling(local, where, prefix + "rope_parameters.sliding_attention");
    if (!(s.rope_theta > 0)) r.fail("rope_parameters.full_attention.rope_theta", "must be positive");
    if (!(s.local_rope_theta > 0)) r.fail("rope_parameters.sliding_attention.rope_theta", "must be positive");

    read_special_ids(s, j, r);
    return s;
}

}  // namespace

json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ModelError("cannot read '" + path + "'; check that the file exists and is readable");
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return parse_json_text(ss.str(), path);  // depth-limited; errors name line and key
    } catch (const JsonTextError& e) {
        if (e.kind() == JsonTextError::Kind::Syntax) throw ModelError(path + ": not valid JSON (" + e.what() + ")");
        throw ModelError(e.what());
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
    if (type == "gemma3_text" || type == "gemma3") {
        ModelShape s;
        if (type == "gemma3_text") {
            s = parse_gemma3_text(j, where, "");
        } else {
            // Gemma3ForConditionalGeneration: only its language model is read (vision_config and the
            // vision tower's weights are ignored; model_io skips them), as Gemma3ForCausalLM.
            if (r.has("quantization_config"))
                r.fail("quantization_config", "(quantized weights) is not supported; use the float16/bfloat16/float32 weights");
            const json empty = json::object();
            const json& tc = r.has("text_config") ? j.at("text_config") : empty;
            if (tc.is_object() && tc.contains("model_type") && tc.at("model_type") != "gemma3_text")
                r.fail("text_config.model_type", "must be gemma3_text");
            s = parse_gemma3_text(tc, where, "text_config.");
            // Gemma3ForConditionalGeneration ties by the outer key and never soft-caps its logits.
            if (tc.contains("final_logit_softcapping") && !tc.at("final_logit_softcapping").is_null())
                r.fail("text_config.final_logit_softcapping",
                       "is not supported in a gemma3 config (transformers' Gemma3ForConditionalGeneration ignores it "
                       "while Gemma3ForCausalLM applies it); set it to null");
            s.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
            s.model_type = "gemma3";
            read_special_ids(s, j, r);
            check_token_ids(tc, Reader(tc, where, "text_config."), "", s.vocab_size);
        }
        check_token_ids(j, r, "", s.vocab_size);
        return validated(std::move(s), where);
    }
    if (type != "llama" && type != "mistral" && type != "qwen2" && type != "qwen3")
        throw ModelError(where + ": model_type '" + type +
                         "' is not supported (supported: llama, mistral, qwen2, qwen3, gemma3_text, gemma3)");
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
    read_special_ids(s, j, r);
    check_token_ids(j, r, "", s.vocab_size);
    return validated(std::move(s), where);
}

std::string hf_model_type(const ModelShape& s) {
    if (!s.model_type.empty()) return s.model_type;
    if (s.qk_norm) return "qwen3";
    if (s.attention_bias && !s.o_proj_bias) return "qwen2";
    return "llama";
}

namespace {

json rope_json(double theta, const RopeScaling& rs) {
    json j = {{"rope_type", rs.type}, {"rope_theta", theta}};
    if (rs.type != "default") j["factor"] = rs.factor;
    if (rs.type == "llama3") {
        j["low_freq_factor"] = rs.low_freq_factor;
        j["high_freq_factor"] = rs.high_freq_factor;
        j["original_max_position_embeddings"] = rs.original_max_position_embeddings;
    }
    return j;
}

bool has_gemma_layers(const ModelShape& s) {
    return s.mlp_activation != "silu" || s.norm_plus_one || s.sandwich_norms || s.scale_embeddings ||
           s.query_pre_attn_scalar > 0 || s.final_logit_softcapping > 0 || !s.layer_sliding.empty();
}

// Gemma 3 is always written as the text-only Gemma3ForCausalLM (gemma3_text), also when it was read
// from a gemma3 (image-text) checkpoint: its text_config becomes the config, the vision part is gone.
json make_gemma3_config(const ModelShape& s, const std::string& torch_dtype, const json& original) {
    if (!s.qk_norm || !s.norm_plus_one || !s.sandwich_norms || !s.scale_embeddings || s.mlp_activation != "gelu_tanh" ||
        s.attention_bias != s.o_proj_bias || static_cast<int64_t>(s.layer_sliding.size()) != s.num_layers)
        throw ModelError("this model cannot be saved as gemma3_text: it lacks some of Gemma 3's layers");
    json j = original.is_object() ? original : json::object();
    if (j.value("model_type", "") == "gemma3") {
        json text = j.contains("text_config") && j["text_config"].is_object() ? j["text_config"] : json::object();
        for (const char* k : {"bos_token_id", "eos_token_id", "pad_token_id"})
            if (j.contains(k) && !text.contains(k)) text[k] = j[k];
        j = text;
    }
    // Legacy spellings transformers would merge into rope_parameters; ours is complete.
    for (const char* k : {"hidden_act", "rope_theta", "rope_local_base_freq", "rope_scaling", "sliding_window_pattern",
                          "_sliding_window_pattern"})
        j.erase(k);
    j["architectures"] = json::array({"Gemma3ForCausalLM"});
    j["model_type"] = "gemma3_text";
    j["vocab_size"] = s.vocab_size;
    j["hidden_size"] = s.hidden_size;
    j["intermediate_size"] = s.intermediate_size;
    j["num_hidden_layers"] = s.num_layers;
    j["num_attention_heads"] = s.num_heads;
    j["num_key_value_heads"] = s.num_kv_heads;
    j["head_dim"] = s.head_dim;
    j["hidden_activation"] = "gelu_pytorch_tanh";
    j["max_position_embeddings"] = s.max_position_embeddings;
    j["rms_norm_eps"] = s.rms_norm_eps;
    j["tie_word_embeddings"] = s.tie_word_embeddings;
    j["attention_bias"] = s.attention_bias;
    j["attention_dropout"] = 0.0;
    // Gemma3TextConfig declares it an int and refuses 256.0.
    const double qs = s.query_pre_attn_scalar > 0 ? s.query_pre_attn_scalar : static_cast<double>(s.head_dim);
    j["query_pre_attn_scalar"] = qs == std::floor(qs) ? json(static_cast<int64_t>(qs)) : json(qs);
    j["sliding_window"] = s.sliding_window > 0 ? json(s.sliding_window) : json(nullptr);
    json types = json::array();
    for (bool b : s.layer_sliding) types.push_back(b ? "sliding_attention" : "full_attention");
    j["layer_types"] = types;
    j["rope_parameters"] = {{"full_attention", rope_json(s.rope_theta, s.rope_scaling)},
                            {"sliding_attention", rope_json(s.local_rope_theta, s.local_rope_scaling)}};
    j["final_logit_softcapping"] = s.final_logit_softcapping > 0 ? json(s.final_logit_softcapping) : json(nullptr);
    j["attn_logit_softcapping"] = nullptr;
    j["use_bidirectional_attention"] = false;
    j["torch_dtype"] = torch_dtype;
    if (j.contains("dtype")) j["dtype"] = torch_dtype;  // transformers 5's name for it
    if (s.bos_token_id >= 0) j["bos_token_id"] = s.bos_token_id;
    if (s.eos_token_ids.size() == 1) j["eos_token_id"] = s.eos_token_ids[0];
    if (s.eos_token_ids.size() > 1) j["eos_token_id"] = s.eos_token_ids;
    if (!j.contains("use_cache")) j["use_cache"] = true;
    return j;
}

}  // namespace

json make_hf_config(const ModelShape& s, const std::string& torch_dtype, const json& original) {
    const std::string type = hf_model_type(s);
    if (type == "gemma3" || type == "gemma3_text") return make_gemma3_config(s, torch_dtype, original);
    if (has_gemma_layers(s)) throw ModelError("this model cannot be saved as " + type + ": it has Gemma 3's layers");
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
