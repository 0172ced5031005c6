#include "core/model/model_shape.h"

#include <cmath>

#include "core/common/errors.h"

namespace ps {

int64_t ModelShape::parameter_count() const {
    const int64_t h = hidden_size, d = head_dim;
    int64_t attn = h * num_heads * d + 2 * h * num_kv_heads * d + num_heads * d * h;
    if (attention_bias) attn += num_heads * d + 2 * num_kv_heads * d;
    if (o_proj_bias) attn += h;
    if (qk_norm) attn += 2 * d;
    const int64_t mlp = 3 * h * intermediate_size;
    const int64_t layer = attn + mlp + (sandwich_norms ? 4 : 2) * h;
    int64_t total = vocab_size * h + num_layers * layer + h;
    if (!tie_word_embeddings) total += vocab_size * h;
    return total;
}

double ModelShape::attention_scale() const {
    // transformers: query_pre_attn_scalar ** -0.5 (Gemma), else head_dim ** -0.5.
    return std::pow(query_pre_attn_scalar > 0 ? query_pre_attn_scalar : static_cast<double>(head_dim), -0.5);
}

void ModelShape::validate() const {
    auto req = [](bool ok, const char* field, const char* what) {
        if (!ok) throw ModelError(std::string("model shape: ") + field + " " + what);
    };
    req(vocab_size > 0, "vocab_size", "must be positive");
    req(hidden_size > 0, "hidden_size", "must be positive");
    req(intermediate_size > 0, "intermediate_size", "must be positive");
    req(num_layers > 0, "num_layers", "must be positive");
    req(num_heads > 0 && num_kv_heads > 0, "num_heads/num_kv_heads", "must be positive");
    req(num_heads % num_kv_heads == 0, "num_heads", "must be a multiple of num_kv_heads");
    req(head_dim > 0 && head_dim % 2 == 0, "head_dim", "must be positive and even (rotary pairs)");
    req(rope_theta > 0, "rope_theta", "must be positive");
    req(rms_norm_eps > 0, "rms_norm_eps", "must be positive");
    req(sliding_window >= 0, "sliding_window", "must be 0 (off) or positive");
    for (const RopeScaling* rs : {&rope_scaling, &local_rope_scaling}) {
        req(rs->factor > 0, "rope_scaling.factor", "must be positive");
        if (rs->type == "llama3") {
            req(rs->high_freq_factor > rs->low_freq_factor, "rope_scaling.high_freq_factor",
                "must be larger than low_freq_factor");
            req(rs->low_freq_factor > 0, "rope_scaling.low_freq_factor", "must be positive");
            req(rs->original_max_position_embeddings > 0, "rope_scaling.original_max_position_embeddings",
                "must be positive");
        } else {
            req(rs->type == "default" || rs->type == "linear", "rope_scaling.type", "must be default, linear or llama3");
        }
    }
    req(mlp_activation == "silu" || mlp_activation == "gelu_tanh", "mlp_activation", "must be silu or gelu_tanh");
    req(query_pre_attn_scalar >= 0, "query_pre_attn_scalar", "must be 0 (head_dim) or positive");
    req(final_logit_softcapping >= 0, "final_logit_softcapping", "must be 0 (off) or positive");
    req(local_rope_theta > 0, "local_rope_theta", "must be positive");
    req(layer_sliding.empty() || static_cast<int64_t>(layer_sliding.size()) == num_layers, "layer_sliding",
        "must be empty or name every layer");
    bool any_sliding = false;
    for (bool b : layer_sliding) any_sliding = any_sliding || b;
    req(!any_sliding || sliding_window > 0, "sliding_window", "must be positive when some layers use a sliding window");
}

ModelShape builtin_shape(const std::string& name) {
    ModelShape s;
    if (name == "tiny") return s;  // the defaults: ~110k parameters, trains in seconds on a CPU
    if (name == "small") {
        s.hidden_size = 128;
        s.intermediate_size = 352;
        s.num_layers = 4;
        s.num_heads = 4;
        s.num_kv_heads = 2;
        s.head_dim = 32;
        return s;
    }
    throw ModelError("unknown built-in model 'builtin:" + name + "' (choose builtin:tiny or builtin:small)");
}

}  // namespace ps
