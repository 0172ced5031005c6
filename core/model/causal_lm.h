// A decoder-only transformer with the Qwen2/Llama block structure: RMSNorm, rotary positions,
// grouped-query attention, SwiGLU MLP, tied or untied output; and Gemma 3's variations of it
// (ModelShape's Gemma fields: (1 + w) norms, sandwich norms, GeGLU, scaled embeddings, per-layer
// sliding windows with their own rotary parameters, logit soft-capping). Parameter names match
// Hugging Face's ("model.layers.0.self_attn.q_proj.weight", ...) so checkpoints map one to one.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/model/attention_kernel.h"
#include "core/model/model_shape.h"

namespace ps {

// Keys and values of every layer for incremental decoding. Slots 0..length-1 are filled; a
// row's left padding occupies slots too and is excluded through the key mask.
struct KVCache {
    std::vector<torch::Tensor> k, v;  // per layer [B, kv_heads, capacity, head_dim]
    int64_t length = 0;
    int64_t capacity = 0;
};

class RMSNormImpl : public torch::nn::Module {
public:
    // plus_one: Gemma's norm, x_normalised * (1 + weight) computed in float32 (weight starts at 0).
    RMSNormImpl(int64_t dim, double eps, bool init = true, torch::Dtype dtype = torch::kFloat32,
                bool plus_one = false);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;

private:
    double eps_;
    bool plus_one_;
};
TORCH_MODULE(RMSNorm);

// Switches shared by every adapter of one model (model/lora.h): the reference forward turns them
// off for a while, so the base model is the reference without a second copy of its weights.
struct LoraSwitch {
    bool enabled = true;
};

// y = x W^T (+ b) with parameters "weight" [out, in] and "bias" [out], like torch::nn::Linear,
// but able to start without initialising its weights (a checkpoint overwrites them anyway).
// With a low-rank adapter attached (PEFT's LoRA): y = x W^T + b + s * B(A(dropout(x))), with
// submodules "lora_A" (weight [rank, in]) and "lora_B" (weight [out, rank]), s = alpha / rank.
// The adapter computes in its own dtype (float32 master weights over a half-precision base).
class DenseImpl : public torch::nn::Module {
public:
    DenseImpl(int64_t in, int64_t out, bool bias, bool init, torch::Dtype dtype);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight, bias;

    // A: kaiming-uniform (a = sqrt(5)) from the global generator, B: zeros, as PEFT does.
    void attach_lora(int64_t rank, double alpha, double dropout, std::shared_ptr<LoraSwitch> on, torch::Dtype dtype);
    void detach_lora();
    bool has_lora() const { return lora_A != nullptr; }
    double lora_scaling() const { return lora_scaling_; }
    std::shared_ptr<DenseImpl> lora_A, lora_B;

private:
    double lora_scaling_ = 0.0;
    double lora_dropout_ = 0.0;
    std::shared_ptr<LoraSwitch> lora_on_;
};
TORCH_MODULE(Dense);

class EmbedImpl : public torch::nn::Module {
public:
    EmbedImpl(int64_t count, int64_t dim, bool init, torch::Dtype dtype);
    torch::Tensor forward(const torch::Tensor& ids);
    torch::Tensor weight;
};
TORCH_MODULE(Embed);


// Rotary angles and the attention mask one forward shares across layers.
struct AttentionInputs {
    torch::Tensor cos, sin;  // [T, d] or [B, 1, T, d]
    torch::Tensor mask;      // additive, broadcastable to [B, heads, T, keys]
    // Whole sequences only (no cache): cos/sin as [T, 1, d] and the mask repeated for the
    // query heads that share a key/value head, [heads / kv_heads * T, T].
    // Fused whole sequences without a sliding window need no mask (causal flag); grouped_mask
    // is made for the eager kernel only.
    torch::Tensor cos_bthd, sin_bthd, grouped_mask;
    KVCache* cache = nullptr;
    bool fused = false;
};

// What one forward shares with its layers: the inputs of the full-attention layers and, for
// models with per-layer sliding windows (Gemma 3), those of the sliding-window layers (their own
// rotary angles and the windowed mask).
struct LayerInputs {
    AttentionInputs global, local;
    const AttentionInputs& for_layer(const ModelShape& s, int64_t layer) const {
        return !s.layer_sliding.empty() && s.is_sliding_layer(layer) ? local : global;
    }
};

class AttentionImpl : public torch::nn::Module {
public:
    AttentionImpl(const ModelShape& s, bool init, torch::Dtype dtype);
    torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& in, int64_t layer);

private:
    ModelShape s_;
    Dense q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
    RMSNorm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
public:
    MlpImpl(const ModelShape& s, bool init, torch::Dtype dtype);
    torch::Tensor forward(const torch::Tensor& x);

private:
    Dense gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
    bool gelu_ = false;
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
public:
    DecoderLayerImpl(const ModelShape& s, bool init, torch::Dtype dtype);
    torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& in, int64_t layer);

private:
    RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
    // Gemma's sandwich norms: post_attention_layernorm then normalises the attention output, and
    // these two wrap the MLP.
    RMSNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};
    Attention self_attn{nullptr};
    Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// The stack without the output head (Hugging Face's Qwen2Model / LlamaModel).
class DecoderStackImpl : public torch::nn::Module {
public:
    DecoderStackImpl(const ModelShape& s, bool init, torch::Dtype dtype);
    torch::Tensor forward(const torch::Tensor& input_ids);  // final hidden states [B, T, H]
    // Recompute each block's activations in the backward pass instead of keeping them (only
    // while training with gradients on; see model/checkpoint.h).
    bool gradient_checkpointing = false;
    AttentionKernel attention = default_attention_kernel();
    // Incremental: see CausalLMImpl::forward_cached.
    torch::Tensor forward_cached(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                 const torch::Tensor& key_valid, KVCache& cache);
    Embed embed_tokens{nullptr};

private:
    torch::Tensor embed(const torch::Tensor& input_ids);
    torch::Tensor run_layers(torch::Tensor h, const LayerInputs& in);
    AttentionInputs sequence_inputs(const torch::Tensor& h, const torch::Tensor& inv_freq, int64_t window) const;
    AttentionInputs cached_inputs(const torch::Tensor& h, const torch::Tensor& positions, const torch::Tensor& key_valid,
                                  int64_t L, const torch::Tensor& inv_freq, int64_t window, KVCache& cache) const;
    ModelShape s_;
    torch::nn::ModuleList layers{nullptr};
    RMSNorm norm{nullptr};
    torch::Tensor inv_freq_;        // float64 [head_dim / 2], rope scaling applied
    torch::Tensor local_inv_freq_;  // the sliding-window layers' (Gemma 3), when the shape has per-layer kinds
};
TORCH_MODULE(DecoderStack);

class CausalLMImpl : public torch::nn::Module {
public:
    // init = false leaves the weights uninitialised (memory is not even touched): for models
    // whose weights are loaded from a checkpoint next. `dtype` is the parameters' dtype.
    explicit CausalLMImpl(const ModelShape& s, bool init = true, torch::Dtype dtype = torch::kFloat32);
    torch::Tensor forward(const torch::Tensor& input_ids);  // logits [B, T, V]
    torch::Tensor hidden_states(const torch::Tensor& input_ids);
    // The output head on hidden states [..., hidden]: logits [..., V] (tied or lm_head, then the
    // shape's final_logit_softcapping).
    torch::Tensor head(const torch::Tensor& h);
    // Incremental forward for generation. input_ids [B, T] follow the cache's `length` slots;
    // positions [B, T] are their rotary positions (a left-padded row starts at 0 after its
    // padding); key_valid [B, length + T] bool marks real tokens (false for padding). Appends
    // the new keys/values to the cache and returns logits [B, T, V].
    torch::Tensor forward_cached(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                 const torch::Tensor& key_valid, KVCache& cache);
    KVCache make_cache(int64_t batch, int64_t capacity) const;
    const ModelShape& shape() const { return s_; }
    torch::Dtype dtype() const { return dtype_; }
    void set_gradient_checkpointing(bool on) { model->gradient_checkpointing = on; }
    bool gradient_checkpointing() const { return model->gradient_checkpointing; }
    // Throws ModelError for Fused where this libtorch lacks it (torch_compat::has_fused_attention).
    void set_attention_kernel(AttentionKernel k);
    AttentionKernel attention_kernel() const { return model->attention; }
    // The adapters' shared switch; null while the model has no adapter (model/lora.h).
    std::shared_ptr<LoraSwitch> lora_switch;

    // Hugging Face's initialisation: normal(0, 0.02) weights, zero biases, unit norms.
    void init_weights();

private:
    ModelShape s_;
    torch::Dtype dtype_;
    DecoderStack model{nullptr};
    Dense lm_head{nullptr};
};
TORCH_MODULE(CausalLM);

// Rotary inverse frequencies (float64, [head_dim / 2]) with the shape's rope scaling applied,
// as transformers' rope initialisation functions compute them.
torch::Tensor rope_inv_freq(const ModelShape& s);
torch::Tensor rope_inv_freq(double theta, int64_t head_dim, const RopeScaling& scaling);

// A frozen copy with the same shape and weights (the reference model), on the same device.
CausalLM clone_frozen(const CausalLM& source);

}  // namespace ps
