// The architecture of a causal LM as plain numbers: what config.json says, without torch, so
// config readers, the CLI and the GUI can use it without tensor headers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ps {

// Rotary frequency scaling (config.json "rope_scaling"). Only the types that change the
// frequencies in a closed form are supported: Llama 3.1's "llama3" and "linear".
struct RopeScaling {
    std::string type = "default";  // default | linear | llama3
    double factor = 1.0;
    double low_freq_factor = 1.0;                 // llama3
    double high_freq_factor = 4.0;                // llama3
    int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelShape {
    int64_t vocab_size = 259;
    int64_t hidden_size = 64;
    int64_t intermediate_size = 176;
    int64_t num_layers = 2;
    int64_t num_heads = 4;
    int64_t num_kv_heads = 2;
    int64_t head_dim = 16;
    double rope_theta = 10000.0;
    double rms_norm_eps = 1e-6;
    bool tie_word_embeddings = true;
    bool attention_bias = false;  // Qwen2: true (q, k, v projections); Llama's attention_bias adds o too
    bool o_proj_bias = false;     // Llama with attention_bias: true
    bool qk_norm = false;         // Qwen3: RMSNorm on each head's q and k
    RopeScaling rope_scaling;
    // Mistral: a query attends only to the last `sliding_window` positions (itself included);
    // 0 = full causal attention.
    int64_t sliding_window = 0;
    int64_t max_position_embeddings = 2048;
    // Hugging Face model_type this shape is written as; empty for builtin models (saved as "llama").
    std::string model_type;
    std::vector<int64_t> eos_token_ids;  // config.json eos_token_id (int or list)
    int64_t bos_token_id = -1;           // -1 = none

    // Gemma 3 (model_type gemma3_text, or gemma3's text_config). All off for the Llama family.
    std::string mlp_activation = "silu";  // silu (SwiGLU) | gelu_tanh (GeGLU, tanh-approximated GELU)
    bool norm_plus_one = false;     // RMSNorm: normalised x * (1 + weight), in float32, then cast
    bool sandwich_norms = false;    // norms on the attention and MLP outputs too (post_attention_layernorm,
                                    // pre_feedforward_layernorm, post_feedforward_layernorm)
    bool scale_embeddings = false;  // embeddings * sqrt(hidden_size), the factor rounded to the model dtype
    double query_pre_attn_scalar = 0;    // attention scores * this^-0.5; 0 = head_dim (the usual scale)
    double final_logit_softcapping = 0;  // logits = c * tanh(logits / c); 0 = off
    // Per-layer attention kind: empty = every layer alike (sliding_window, if any, applies to all:
    // Mistral). Otherwise one entry per layer; true = a sliding-window layer, which uses
    // sliding_window and its own rotary parameters (local_rope_*), false = full causal attention
    // with rope_theta / rope_scaling.
    std::vector<bool> layer_sliding;
    double local_rope_theta = 10000.0;
    RopeScaling local_rope_scaling;

    bool is_sliding_layer(int64_t layer) const {
        return layer_sliding.empty() ? sliding_window > 0 : layer_sliding[static_cast<size_t>(layer)];
    }
    double attention_scale() const;

    int64_t parameter_count() const;
    void validate() const;  // throws ModelError naming the bad field
};

// "builtin:tiny" and "builtin:small" (the part after "builtin:"). Throws ModelError otherwise.
ModelShape builtin_shape(const std::string& name);

}  // namespace ps
