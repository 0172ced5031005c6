// A decoder-only transformer with the Qwen2/Llama block structure: RMSNorm, rotary positions,
// grouped-query attention, SwiGLU MLP, tied or untied output. Parameter names match Hugging
// Face's ("model.layers.0.self_attn.q_proj.weight", ...) so checkpoints map one to one.
#pragma once
#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace ps {

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
    bool attention_bias = false;  // Qwen2: true (q, k, v projections)
    bool qk_norm = false;         // Qwen3: RMSNorm on each head's q and k

    int64_t parameter_count() const;
    void validate() const;  // throws ModelError naming the bad field
};

// "builtin:tiny" and "builtin:small" (the part after "builtin:"). Throws ModelError otherwise.
ModelShape builtin_shape(const std::string& name);

class RMSNormImpl : public torch::nn::Module {
public:
    RMSNormImpl(int64_t dim, double eps);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;

private:
    double eps_;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
public:
    explicit AttentionImpl(const ModelShape& s);
    // x [B, T, H]; cos, sin [T, head_dim]; mask [T, T] additive causal mask.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                          const torch::Tensor& mask);

private:
    ModelShape s_;
    torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
    RMSNorm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
public:
    explicit MlpImpl(const ModelShape& s);
    torch::Tensor forward(const torch::Tensor& x);

private:
    torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
public:
    explicit DecoderLayerImpl(const ModelShape& s);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                          const torch::Tensor& mask);

private:
    RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
    Attention self_attn{nullptr};
    Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// The stack without the output head (Hugging Face's Qwen2Model / LlamaModel).
class DecoderStackImpl : public torch::nn::Module {
public:
    explicit DecoderStackImpl(const ModelShape& s);
    torch::Tensor forward(const torch::Tensor& input_ids);  // final hidden states [B, T, H]
    torch::nn::Embedding embed_tokens{nullptr};

private:
    ModelShape s_;
    torch::nn::ModuleList layers{nullptr};
    RMSNorm norm{nullptr};
    torch::Tensor inv_freq_;
};
TORCH_MODULE(DecoderStack);

class CausalLMImpl : public torch::nn::Module {
public:
    explicit CausalLMImpl(const ModelShape& s);
    torch::Tensor forward(const torch::Tensor& input_ids);  // logits [B, T, V]
    torch::Tensor hidden_states(const torch::Tensor& input_ids);
    const ModelShape& shape() const { return s_; }

    // Hugging Face's initialisation: normal(0, 0.02) weights, zero biases, unit norms.
    void init_weights();

private:
    ModelShape s_;
    DecoderStack model{nullptr};
    torch::nn::Linear lm_head{nullptr};
};
TORCH_MODULE(CausalLM);

// A frozen copy with the same shape and weights (the reference model), on the same device.
CausalLM clone_frozen(const CausalLM& source);

}  // namespace ps
