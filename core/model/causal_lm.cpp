#include "model/causal_lm.h"

#include <cmath>
#include <limits>

#include "common/errors.h"

namespace ps {

int64_t ModelShape::parameter_count() const {
    const int64_t h = hidden_size, d = head_dim;
    int64_t attn = h * num_heads * d + 2 * h * num_kv_heads * d + num_heads * d * h;
    if (attention_bias) attn += num_heads * d + 2 * num_kv_heads * d;
    if (qk_norm) attn += 2 * d;
    const int64_t mlp = 3 * h * intermediate_size;
    const int64_t layer = attn + mlp + 2 * h;
    int64_t total = vocab_size * h + num_layers * layer + h;
    if (!tie_word_embeddings) total += vocab_size * h;
    return total;
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

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
    weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
    // Normalise in float32 for half types, as Hugging Face does (float64 stays float64).
    auto xf = x.scalar_type() == torch::kFloat64 ? x : x.to(torch::kFloat32);
    auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
    return weight * (xf * torch::rsqrt(var + eps_)).to(x.scalar_type());
}

namespace {

torch::Tensor rotate_half(const torch::Tensor& x) {
    const int64_t half = x.size(-1) / 2;
    auto x1 = x.narrow(-1, 0, half);
    auto x2 = x.narrow(-1, half, half);
    return torch::cat({-x2, x1}, -1);
}

}  // namespace

AttentionImpl::AttentionImpl(const ModelShape& s) : s_(s) {
    using torch::nn::LinearOptions;
    q_proj = register_module("q_proj", torch::nn::Linear(LinearOptions(s.hidden_size, s.num_heads * s.head_dim).bias(s.attention_bias)));
    k_proj = register_module("k_proj", torch::nn::Linear(LinearOptions(s.hidden_size, s.num_kv_heads * s.head_dim).bias(s.attention_bias)));
    v_proj = register_module("v_proj", torch::nn::Linear(LinearOptions(s.hidden_size, s.num_kv_heads * s.head_dim).bias(s.attention_bias)));
    o_proj = register_module("o_proj", torch::nn::Linear(LinearOptions(s.num_heads * s.head_dim, s.hidden_size).bias(false)));
    if (s.qk_norm) {
        q_norm = register_module("q_norm", RMSNorm(s.head_dim, s.rms_norm_eps));
        k_norm = register_module("k_norm", RMSNorm(s.head_dim, s.rms_norm_eps));
    }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& mask) {
    const int64_t B = x.size(0), T = x.size(1), d = s_.head_dim;
    auto q = q_proj(x).view({B, T, s_.num_heads, d});
    auto k = k_proj(x).view({B, T, s_.num_kv_heads, d});
    auto v = v_proj(x).view({B, T, s_.num_kv_heads, d}).transpose(1, 2);
    if (s_.qk_norm) {
        q = q_norm(q);
        k = k_norm(k);
    }
    q = q.transpose(1, 2);  // [B, heads, T, d]
    k = k.transpose(1, 2);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    const int64_t rep = s_.num_heads / s_.num_kv_heads;
    if (rep > 1) {
        // Each key/value head serves `rep` consecutive query heads (Hugging Face's repeat_kv).
        k = k.repeat_interleave(rep, 1);
        v = v.repeat_interleave(rep, 1);
    }
    auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));
    scores = scores + mask;
    const auto softmax_dtype = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto probs = torch::softmax(scores.to(softmax_dtype), -1).to(q.scalar_type());
    auto out = torch::matmul(probs, v).transpose(1, 2).reshape({B, T, s_.num_heads * d});
    return o_proj(out);
}

MlpImpl::MlpImpl(const ModelShape& s) {
    using torch::nn::LinearOptions;
    gate_proj = register_module("gate_proj", torch::nn::Linear(LinearOptions(s.hidden_size, s.intermediate_size).bias(false)));
    up_proj = register_module("up_proj", torch::nn::Linear(LinearOptions(s.hidden_size, s.intermediate_size).bias(false)));
    down_proj = register_module("down_proj", torch::nn::Linear(LinearOptions(s.intermediate_size, s.hidden_size).bias(false)));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
    return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelShape& s) {
    self_attn = register_module("self_attn", Attention(s));
    mlp = register_module("mlp", Mlp(s));
    input_layernorm = register_module("input_layernorm", RMSNorm(s.hidden_size, s.rms_norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(s.hidden_size, s.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin, const torch::Tensor& mask) {
    auto h = x + self_attn(input_layernorm(x), cos, sin, mask);
    return h + mlp(post_attention_layernorm(h));
}

DecoderStackImpl::DecoderStackImpl(const ModelShape& s) : s_(s) {
    embed_tokens = register_module("embed_tokens", torch::nn::Embedding(s.vocab_size, s.hidden_size));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < s.num_layers; ++i) layers->push_back(DecoderLayer(s));
    norm = register_module("norm", RMSNorm(s.hidden_size, s.rms_norm_eps));
    inv_freq_ = 1.0 / torch::pow(s.rope_theta, torch::arange(0, s.head_dim, 2, torch::kFloat64) / static_cast<double>(s.head_dim));
}

torch::Tensor DecoderStackImpl::forward(const torch::Tensor& input_ids) {
    const int64_t T = input_ids.size(1);
    auto h = embed_tokens(input_ids);
    const auto dev = h.device();
    // Rotary angles in float32 (as Hugging Face) or float64 for a float64 model.
    const auto angle_dtype = h.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto pos = torch::arange(T, torch::TensorOptions().dtype(angle_dtype).device(dev));
    auto freqs = torch::outer(pos, inv_freq_.to(dev, angle_dtype));
    auto emb = torch::cat({freqs, freqs}, -1);
    auto cos = emb.cos().to(h.scalar_type());
    auto sin = emb.sin().to(h.scalar_type());
    auto mask = torch::full({T, T}, -std::numeric_limits<float>::infinity(),
                            torch::TensorOptions().dtype(torch::kFloat32).device(dev))
                    .triu(1)
                    .to(h.scalar_type());
    for (const auto& layer : *layers) h = layer->as<DecoderLayer>()->forward(h, cos, sin, mask);
    return norm(h);
}

CausalLMImpl::CausalLMImpl(const ModelShape& s) : s_(s) {
    s.validate();
    model = register_module("model", DecoderStack(s));
    if (!s.tie_word_embeddings)
        lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(s.hidden_size, s.vocab_size).bias(false)));
    init_weights();
}

void CausalLMImpl::init_weights() {
    torch::NoGradGuard no_grad;
    for (auto& p : named_parameters()) {
        const std::string& name = p.key();
        auto& t = p.value();
        if (name.size() >= 5 && name.compare(name.size() - 4, 4, "bias") == 0)
            t.zero_();
        else if (name.find("norm") != std::string::npos)
            t.fill_(1.0);
        else
            t.normal_(0.0, 0.02);
    }
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& input_ids) { return model(input_ids); }

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids) {
    auto h = model(input_ids);
    if (lm_head) return lm_head(h);
    return torch::matmul(h, model->embed_tokens->weight.t());
}

CausalLM clone_frozen(const CausalLM& source) {
    CausalLM copy(source->shape());
    torch::NoGradGuard no_grad;
    auto src = source->named_parameters();
    auto dev = src.size() > 0 ? src.begin()->value().device() : torch::Device(torch::kCPU);
    copy->to(dev);
    for (auto& p : copy->named_parameters()) {
        p.value().copy_(src[p.key()]);
        p.value().set_requires_grad(false);
    }
    copy->eval();
    return copy;
}

}  // namespace ps
