#include "core/model/causal_lm.h"

#include <cmath>
#include <limits>

#include "core/common/errors.h"
#include "core/common/torch_compat.h"
#include "core/model/checkpoint.h"

namespace ps {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, bool init, torch::Dtype dtype, bool plus_one)
    : eps_(eps), plus_one_(plus_one) {
    weight = register_parameter("weight", init ? (plus_one ? torch::zeros({dim}) : torch::ones({dim}))
                                               : torch::empty({dim}, torch::dtype(dtype)));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
    // Normalise in float32 for half types, as Hugging Face does (float64 stays float64).
    const auto compute = x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto xf = x.to(compute);
    auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
    // Llama scales after casting back; Gemma scales by (1 + w) in float32 and casts last.
    if (plus_one_) return (xf * torch::rsqrt(var + eps_) * (1.0 + weight.to(compute))).to(x.scalar_type());
    return weight * (xf * torch::rsqrt(var + eps_)).to(x.scalar_type());
}

DenseImpl::DenseImpl(int64_t in, int64_t out, bool with_bias, bool init, torch::Dtype dtype) {
    if (init) {
        // torch::nn::Linear's own initialisation draws from the global generator; keeping that
        // draw keeps the weights of seeded built-in models what they always were.
        torch::nn::Linear linear(torch::nn::LinearOptions(in, out).bias(with_bias));
        weight = register_parameter("weight", linear->weight);
        if (with_bias) bias = register_parameter("bias", linear->bias);
    } else {
        weight = register_parameter("weight", torch::empty({out, in}, torch::dtype(dtype)));
        if (with_bias) bias = register_parameter("bias", torch::empty({out}, torch::dtype(dtype)));
    }
}

torch::Tensor DenseImpl::forward(const torch::Tensor& x) {
    auto y = torch::linear(x, weight, bias);
    if (!lora_A || !lora_on_->enabled) return y;
    // Dropout only while training; it draws from the global generator, which the trainer seeds.
    auto in = lora_dropout_ > 0 ? torch::dropout(x, lora_dropout_, is_training()) : x;
    auto delta = torch::linear(torch::linear(in.to(lora_A->weight.scalar_type()), lora_A->weight), lora_B->weight);
    return y + (delta * lora_scaling_).to(y.scalar_type());
}

void DenseImpl::attach_lora(int64_t rank, double alpha, double dropout, std::shared_ptr<LoraSwitch> on,
                            torch::Dtype dtype) {
    if (lora_A) throw ModelError("this layer already has a LoRA adapter");
    const int64_t in = weight.size(1), out = weight.size(0);
    auto a = std::make_shared<DenseImpl>(in, rank, false, false, dtype);
    auto b = std::make_shared<DenseImpl>(rank, out, false, false, dtype);
    {
        torch::NoGradGuard no_grad;
        a->weight.set_data(torch::empty({rank, in}, torch::TensorOptions().dtype(dtype).device(weight.device())));
        b->weight.set_data(torch::zeros({out, rank}, torch::TensorOptions().dtype(dtype).device(weight.device())));
        // PEFT: nn.init.kaiming_uniform_(lora_A, a=sqrt(5)), i.e. uniform(-1/sqrt(in), 1/sqrt(in)).
        torch::nn::init::kaiming_uniform_(a->weight, std::sqrt(5.0));
    }
    a->train(is_training());
    b->train(is_training());
    lora_A = register_module("lora_A", a);
    lora_B = register_module("lora_B", b);
    lora_scaling_ = alpha / static_cast<double>(rank);
    lora_dropout_ = dropout;
    lora_on_ = std::move(on);
}

void DenseImpl::detach_lora() {
    if (!lora_A) return;
    unregister_module("lora_A");
    unregister_module("lora_B");
    lora_A.reset();
    lora_B.reset();
    lora_on_.reset();
}

EmbedImpl::EmbedImpl(int64_t count, int64_t dim, bool init, torch::Dtype dtype) {
    if (init) {
        torch::nn::Embedding embedding(count, dim);  // same generator draw as before, see Dense
        weight = register_parameter("weight", embedding->weight);
    } else {
        weight = register_parameter("weight", torch::empty({count, dim}, torch::dtype(dtype)));
    }
}

torch::Tensor EmbedImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

namespace {

// x * cos + rotate_half(x) * sin, where rotate_half(x) = cat(-x2, x1) for the halves x1, x2 of
// the last dimension: the two halves of x * cos are updated in place with the other half of x,
// so neither the negation nor the concatenation is materialised.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const int64_t half = x.size(-1) / 2;
    auto out = x * cos;
    out.narrow(-1, 0, half).addcmul_(x.narrow(-1, half, half), sin.narrow(-1, 0, half), -1);
    out.narrow(-1, half, half).addcmul_(x.narrow(-1, 0, half), sin.narrow(-1, half, half));
    return out;
}

}  // namespace

AttentionKernel default_attention_kernel() {
    return torch_compat::has_fused_attention() ? AttentionKernel::Fused : AttentionKernel::Eager;
}

const char* attention_kernel_name(AttentionKernel k) {
    switch (k) {
    case AttentionKernel::Eager: return "eager";
    case AttentionKernel::Fused: return "fused";
    }
    return "?";
}

torch::Tensor rope_inv_freq(const ModelShape& s) { return rope_inv_freq(s.rope_theta, s.head_dim, s.rope_scaling); }

torch::Tensor rope_inv_freq(double theta, int64_t head_dim, const RopeScaling& rs) {
    auto inv_freq = 1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, torch::kFloat64) /
                                                static_cast<double>(head_dim));
    if (rs.type == "linear") return inv_freq / rs.factor;  // positions divided by the factor
    if (rs.type == "llama3") {
        // Llama 3.1: long wavelengths are slowed down by `factor`, short ones kept, and the band
        // in between interpolated smoothly (transformers' _compute_llama3_parameters).
        const double old_len = static_cast<double>(rs.original_max_position_embeddings);
        const double low_wavelen = old_len / rs.low_freq_factor;
        const double high_wavelen = old_len / rs.high_freq_factor;
        auto wavelen = 2.0 * M_PI / inv_freq;
        auto scaled = torch::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
        auto smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        auto smoothed = (1.0 - smooth) * scaled / rs.factor + smooth * scaled;
        auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
        return torch::where(medium, smoothed, scaled);
    }
    return inv_freq;
}

AttentionImpl::AttentionImpl(const ModelShape& s, bool init, torch::Dtype dtype) : s_(s) {
    q_proj = register_module("q_proj", Dense(s.hidden_size, s.num_heads * s.head_dim, s.attention_bias, init, dtype));
    k_proj = register_module("k_proj", Dense(s.hidden_size, s.num_kv_heads * s.head_dim, s.attention_bias, init, dtype));
    v_proj = register_module("v_proj", Dense(s.hidden_size, s.num_kv_heads * s.head_dim, s.attention_bias, init, dtype));
    o_proj = register_module("o_proj", Dense(s.num_heads * s.head_dim, s.hidden_size, s.o_proj_bias, init, dtype));
    if (s.qk_norm) {
        q_norm = register_module("q_norm", RMSNorm(s.head_dim, s.rms_norm_eps, init, dtype, s.norm_plus_one));
        k_norm = register_module("k_norm", RMSNorm(s.head_dim, s.rms_norm_eps, init, dtype, s.norm_plus_one));
    }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionInputs& in, int64_t layer) {
    const int64_t B = x.size(0), T = x.size(1), d = s_.head_dim;
    const int64_t heads = s_.num_heads, kv_heads = s_.num_kv_heads, rep = heads / kv_heads;
    const double scale = s_.attention_scale();
    auto q = q_proj(x).view({B, T, heads, d});
    auto k = k_proj(x).view({B, T, kv_heads, d});
    auto v = v_proj(x).view({B, T, kv_heads, d});
    if (s_.qk_norm) {
        q = q_norm(q);
        k = k_norm(k);
    }
    const auto softmax_dtype = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto softmax = [&](const torch::Tensor& scores) {
        return scores.scalar_type() == softmax_dtype ? torch::softmax(scores, -1)
                                                     : torch::softmax(scores, -1, softmax_dtype).to(q.scalar_type());
    };
    if (!in.cache && in.fused) {
        // Whole sequences, fused: [B, heads, T, d] views of the rotated [B, T, heads, d]; the
        // plain causal mask is the kernel's own flag, a sliding window comes as the additive mask.
        q = apply_rotary(q, in.cos_bthd, in.sin_bthd).transpose(1, 2);
        k = apply_rotary(k, in.cos_bthd, in.sin_bthd).transpose(1, 2);
        auto ctx = torch_compat::fused_attention(q, k, v.transpose(1, 2), in.mask, !in.mask.defined(), scale);
        return o_proj(ctx.transpose(1, 2).reshape({B, T, heads * d}));
    }
    if (!in.cache) {
        // Whole sequences: rotary on the [B, T, heads, d] layout (cos/sin [T, 1, d]). Grouped
        // query attention without repeating keys and values: the `rep` query heads that share a
        // key/value head (consecutive heads, as Hugging Face's repeat_kv) are stacked along the
        // rows, [B * kv_heads, rep * T, d], against the unrepeated keys; the scale and the
        // additive causal mask ([rep * T, T]) are fused into the score matmul.
        q = apply_rotary(q, in.cos_bthd, in.sin_bthd);
        k = apply_rotary(k, in.cos_bthd, in.sin_bthd);
        auto qg = q.view({B, T, kv_heads, rep, d}).permute({0, 2, 3, 1, 4}).reshape({B * kv_heads, rep * T, d});
        auto kg = k.transpose(1, 2).reshape({B * kv_heads, T, d});
        auto vg = v.transpose(1, 2).reshape({B * kv_heads, T, d});
        auto probs = softmax(torch::baddbmm(in.grouped_mask, qg, kg.transpose(1, 2), /*beta=*/1.0, /*alpha=*/scale));
        auto ctx = torch::bmm(probs, vg).view({B, kv_heads, rep, T, d}).permute({0, 3, 1, 2, 4});
        return o_proj(ctx.reshape({B, T, heads * d}));
    }
    q = q.transpose(1, 2);  // [B, heads, T, d]
    k = k.transpose(1, 2);
    v = v.transpose(1, 2);
    q = apply_rotary(q, in.cos, in.sin);
    k = apply_rotary(k, in.cos, in.sin);
    KVCache& c = *in.cache;
    c.k[layer].narrow(2, c.length, T).copy_(k);
    c.v[layer].narrow(2, c.length, T).copy_(v);
    k = c.k[layer].narrow(2, 0, c.length + T);
    v = c.v[layer].narrow(2, 0, c.length + T);
    if (in.fused) {
        // The kernel shares each key/value head among its query heads itself (no repeat).
        auto ctx = torch_compat::fused_attention(q, k, v, in.mask, /*causal=*/false, scale);
        return o_proj(ctx.transpose(1, 2).reshape({B, T, heads * d}));
    }
    if (rep > 1) {
        // Each key/value head serves `rep` consecutive query heads (Hugging Face's repeat_kv).
        k = k.repeat_interleave(rep, 1);
        v = v.repeat_interleave(rep, 1);
    }
    auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
    auto probs = softmax(scores + in.mask);
    auto out = torch::matmul(probs, v).transpose(1, 2).reshape({B, T, heads * d});
    return o_proj(out);
}

MlpImpl::MlpImpl(const ModelShape& s, bool init, torch::Dtype dtype) : gelu_(s.mlp_activation == "gelu_tanh") {
    gate_proj = register_module("gate_proj", Dense(s.hidden_size, s.intermediate_size, false, init, dtype));
    up_proj = register_module("up_proj", Dense(s.hidden_size, s.intermediate_size, false, init, dtype));
    down_proj = register_module("down_proj", Dense(s.intermediate_size, s.hidden_size, false, init, dtype));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
    auto gate = gate_proj(x);
    return down_proj((gelu_ ? torch::gelu(gate, "tanh") : torch::silu(gate)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelShape& s, bool init, torch::Dtype dtype) {
    self_attn = register_module("self_attn", Attention(s, init, dtype));
    mlp = register_module("mlp", Mlp(s, init, dtype));
    auto norm = [&](const char* name) {
        return register_module(name, RMSNorm(s.hidden_size, s.rms_norm_eps, init, dtype, s.norm_plus_one));
    };
    input_layernorm = norm("input_layernorm");
    post_attention_layernorm = norm("post_attention_layernorm");
    if (s.sandwich_norms) {
        pre_feedforward_layernorm = norm("pre_feedforward_layernorm");
        post_feedforward_layernorm = norm("post_feedforward_layernorm");
    }
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const AttentionInputs& in, int64_t layer) {
    if (pre_feedforward_layernorm) {
        auto h = x + post_attention_layernorm(self_attn(input_layernorm(x), in, layer));
        return h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)));
    }
    auto h = x + self_attn(input_layernorm(x), in, layer);
    return h + mlp(post_attention_layernorm(h));
}

DecoderStackImpl::DecoderStackImpl(const ModelShape& s, bool init, torch::Dtype dtype) : s_(s) {
    embed_tokens = register_module("embed_tokens", Embed(s.vocab_size, s.hidden_size, init, dtype));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < s.num_layers; ++i) layers->push_back(DecoderLayer(s, init, dtype));
    norm = register_module("norm", RMSNorm(s.hidden_size, s.rms_norm_eps, init, dtype, s.norm_plus_one));
    inv_freq_ = rope_inv_freq(s);
    if (!s.layer_sliding.empty()) local_inv_freq_ = rope_inv_freq(s.local_rope_theta, s.head_dim, s.local_rope_scaling);
}

torch::Tensor DecoderStackImpl::embed(const torch::Tensor& input_ids) {
    auto h = embed_tokens(input_ids);
    if (!s_.scale_embeddings) return h;
    // Gemma: the factor is a float32 tensor cast to the weights' dtype (in bfloat16 sqrt(3072) =
    // 55.43 becomes 55.5), as transformers' Gemma3TextScaledWordEmbedding does.
    const double f = std::sqrt(static_cast<double>(s_.hidden_size));
    if (h.scalar_type() == torch::kFloat64) return h * f;
    return h * torch::scalar_tensor(f, torch::TensorOptions().dtype(torch::kFloat32).device(h.device())).to(h.scalar_type());
}

torch::Tensor DecoderStackImpl::run_layers(torch::Tensor h, const LayerInputs& all) {
    int64_t i = 0;
    const bool checkpoint =
        gradient_checkpointing && is_training() && torch::GradMode::is_enabled() && !all.global.cache;
    for (const auto& layer : *layers) {
        auto* block = layer->as<DecoderLayer>();
        const AttentionInputs& in = all.for_layer(s_, i);
        if (!checkpoint) {
            h = block->forward(h, in, i++);
            continue;
        }
        std::vector<torch::Tensor> trainable;
        for (const auto& p : block->parameters())
            if (p.requires_grad()) trainable.push_back(p);
        const int64_t index = i++;
        h = checkpoint_block([block, in, index](const torch::Tensor& x) { return block->forward(x, in, index); }, h,
                             trainable);
    }
    return norm(h);
}

AttentionInputs DecoderStackImpl::sequence_inputs(const torch::Tensor& h, const torch::Tensor& inv_freq,
                                                  int64_t window) const {
    const int64_t T = h.size(1);
    const auto dev = h.device();
    // Rotary angles in float32 (as Hugging Face) or float64 for a float64 model.
    const auto angle_dtype = h.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto pos = torch::arange(T, torch::TensorOptions().dtype(angle_dtype).device(dev));
    auto freqs = torch::outer(pos, inv_freq.to(dev, angle_dtype));
    auto emb = torch::cat({freqs, freqs}, -1);
    AttentionInputs in;
    in.fused = attention == AttentionKernel::Fused;
    in.cos = emb.cos().to(h.scalar_type());
    in.sin = emb.sin().to(h.scalar_type());
    in.cos_bthd = in.cos.unsqueeze(1);  // [T, 1, d]: broadcast over heads
    in.sin_bthd = in.sin.unsqueeze(1);
    const bool windowed = window > 0 && window < T;
    if (in.fused && !windowed) return in;
    auto mask = torch::full({T, T}, -std::numeric_limits<float>::infinity(),
                            torch::TensorOptions().dtype(torch::kFloat32).device(dev))
                    .triu(1);
    if (windowed) {
        // Key j is visible from query i only when i - window < j <= i (Mistral, Gemma's local layers).
        mask = mask + torch::full({T, T}, -std::numeric_limits<float>::infinity(),
                                  torch::TensorOptions().dtype(torch::kFloat32).device(dev))
                          .tril(-window);
    }
    in.mask = mask.to(h.scalar_type());
    if (!in.fused) in.grouped_mask = in.mask.repeat({s_.num_heads / s_.num_kv_heads, 1});  // [rep * T, T]
    return in;
}

torch::Tensor DecoderStackImpl::forward(const torch::Tensor& input_ids) {
    auto h = embed(input_ids);
    LayerInputs in;
    const bool per_layer = !s_.layer_sliding.empty();
    in.global = sequence_inputs(h, inv_freq_, per_layer ? 0 : s_.sliding_window);
    if (per_layer) in.local = sequence_inputs(h, local_inv_freq_, s_.sliding_window);
    return run_layers(h, in);
}

AttentionInputs DecoderStackImpl::cached_inputs(const torch::Tensor& h, const torch::Tensor& positions,
                                                const torch::Tensor& key_valid, int64_t L,
                                                const torch::Tensor& inv_freq, int64_t window, KVCache& cache) const {
    const int64_t B = h.size(0), T = h.size(1), S = L + T;
    const auto dev = h.device();
    const auto angle_dtype = h.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto freqs = positions.to(dev, angle_dtype).unsqueeze(-1) * inv_freq.to(dev, angle_dtype);  // [B, T, d/2]
    auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                                     // [B, 1, T, d]
    AttentionInputs in;
    in.fused = attention == AttentionKernel::Fused;
    in.cos = emb.cos().to(h.scalar_type());
    in.sin = emb.sin().to(h.scalar_type());
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(dev);
    auto q_slot = torch::arange(L, S, opts).view({T, 1});
    auto k_slot = torch::arange(S, opts).view({1, S});
    auto allowed = (k_slot <= q_slot).view({1, 1, T, S}).logical_and(key_valid.to(dev).to(torch::kBool).view({B, 1, 1, S}));
    // The window counts cache slots, as transformers' masks count cache positions (left padding included).
    if (window > 0) allowed = allowed.logical_and((k_slot > q_slot - window).view({1, 1, T, S}));
    // A padding query sees at least itself, so its softmax stays finite (its output is unused).
    allowed = allowed.logical_or((k_slot == q_slot).view({1, 1, T, S}));
    in.mask = torch::zeros({B, 1, T, S}, torch::TensorOptions().dtype(torch::kFloat32).device(dev))
                  .masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity())
                  .to(h.scalar_type());
    in.cache = &cache;
    return in;
}

torch::Tensor DecoderStackImpl::forward_cached(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                               const torch::Tensor& key_valid, KVCache& cache) {
    const int64_t B = input_ids.size(0), T = input_ids.size(1), L = cache.length, S = L + T;
    if (S > cache.capacity)
        throw ModelError("KV cache full: " + std::to_string(S) + " positions for a cache of " +
                         std::to_string(cache.capacity));
    if (key_valid.size(0) != B || key_valid.size(1) != S)
        throw ModelError("forward_cached: key_valid must be [batch, cache length + new tokens]");
    auto h = embed(input_ids);
    LayerInputs in;
    const bool per_layer = !s_.layer_sliding.empty();
    in.global = cached_inputs(h, positions, key_valid, L, inv_freq_, per_layer ? 0 : s_.sliding_window, cache);
    if (per_layer) in.local = cached_inputs(h, positions, key_valid, L, local_inv_freq_, s_.sliding_window, cache);
    auto out = run_layers(h, in);
    cache.length = S;
    return out;
}

CausalLMImpl::CausalLMImpl(const ModelShape& s, bool init, torch::Dtype dtype) : s_(s), dtype_(dtype) {
    s.validate();
    model = register_module("model", DecoderStack(s, init, dtype));
    if (!s.tie_word_embeddings)
        lm_head = register_module("lm_head", Dense(s.hidden_size, s.vocab_size, false, init, dtype));
    if (init) {
        init_weights();
        if (dtype != torch::kFloat32) this->to(dtype);
    }
}

void CausalLMImpl::init_weights() {
    torch::NoGradGuard no_grad;
    for (auto& p : named_parameters()) {
        const std::string& name = p.key();
        auto& t = p.value();
        if (name.size() >= 5 && name.compare(name.size() - 4, 4, "bias") == 0)
            t.zero_();
        else if (name.find("norm") != std::string::npos)
            t.fill_(s_.norm_plus_one ? 0.0 : 1.0);  // Gemma's norms scale by (1 + w)
        else
            t.normal_(0.0, 0.02);
    }
}

void CausalLMImpl::set_attention_kernel(AttentionKernel k) {
    if (k == AttentionKernel::Fused && !torch_compat::has_fused_attention())
        throw ModelError("fused attention (scaled_dot_product_attention) needs libtorch 2.5 or later; this build has " +
                         torch_compat::libtorch_version() + ", which uses the eager attention");
    model->attention = k;
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& input_ids) { return model(input_ids); }

torch::Tensor CausalLMImpl::head(const torch::Tensor& h) {
    auto logits = lm_head ? lm_head(h) : torch::matmul(h, model->embed_tokens->weight.t());
    if (s_.final_logit_softcapping <= 0) return logits;
    // Gemma: c * tanh(logits / c), in the model dtype as transformers computes it.
    const double c = s_.final_logit_softcapping;
    return torch::tanh(logits / c) * c;
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids) { return head(model(input_ids)); }

torch::Tensor CausalLMImpl::forward_cached(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                           const torch::Tensor& key_valid, KVCache& cache) {
    return head(model->forward_cached(input_ids, positions, key_valid, cache));
}

KVCache CausalLMImpl::make_cache(int64_t batch, int64_t capacity) const {
    KVCache c;
    c.capacity = capacity;
    const auto& w = model->embed_tokens->weight;
    auto opts = torch::TensorOptions().dtype(w.scalar_type()).device(w.device());
    for (int64_t i = 0; i < s_.num_layers; ++i) {
        c.k.push_back(torch::zeros({batch, s_.num_kv_heads, capacity, s_.head_dim}, opts));
        c.v.push_back(torch::zeros({batch, s_.num_kv_heads, capacity, s_.head_dim}, opts));
    }
    return c;
}

CausalLM clone_frozen(const CausalLM& source) {
    auto src = source->named_parameters();
    const auto dtype = src.size() > 0 ? src.begin()->value().scalar_type() : source->dtype();
    // Uninitialised parameters are never touched: each gets a fresh copy of the source's
    // tensor on the source's device.
    CausalLM copy(source->shape(), /*init=*/false, dtype);
    copy->set_attention_kernel(source->attention_kernel());
    torch::NoGradGuard no_grad;
    for (auto& p : copy->named_parameters()) {
        p.value().set_data(src[p.key()].detach().clone());
        p.value().set_requires_grad(false);
    }
    copy->eval();
    return copy;
}

}  // namespace ps
