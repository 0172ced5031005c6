#include "core/model/memory_estimate.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/common/errors.h"
#include "core/model/hf_config.h"

namespace ps {

namespace {

int64_t dtype_bytes(const std::string& dtype) { return dtype == "bfloat16" || dtype == "float16" ? 2 : 4; }

bool targets(const LoraConfig& lora, const std::string& module) {
    return std::find(lora.target_modules.begin(), lora.target_modules.end(), module) != lora.target_modules.end();
}

struct Linear {
    const char* name;
    int64_t in, out;
};

std::vector<Linear> block_linears(const ModelShape& s) {
    const int64_t h = s.hidden_size, q = s.num_heads * s.head_dim, kv = s.num_kv_heads * s.head_dim;
    return {{"q_proj", h, q},  {"k_proj", h, kv},  {"v_proj", h, kv},  {"o_proj", q, h},
            {"gate_proj", h, s.intermediate_size}, {"up_proj", h, s.intermediate_size},
            {"down_proj", s.intermediate_size, h}};
}

// Bytes the LoRA adapters of `linears` keep per token. Adapters are float32 over any base
// (lora.h): A's float32 output (rank values) is kept for B's gradient; A keeps its input for
// its own gradient, which over a 16-bit base is a float32 copy made per adapter (the layer's
// 16-bit input itself is counted by the caller when something else keeps it), and in float32
// the layer's input itself. Dropout adds its byte mask, and in float32 its output becomes A's
// input in place of the layer's.
int64_t adapters_saved_per_token(const LoraConfig& l, int64_t s, const std::vector<Linear>& linears) {
    int64_t b = 0;
    for (const Linear& lin : linears) {
        if (!targets(l, lin.name)) continue;
        b += 4 * l.rank;
        if (s < 4) b += 4 * lin.in;
        if (l.dropout > 0) b += lin.in * (1 + (s < 4 ? 0 : s));
    }
    return b;
}

// Bytes autograd keeps per token (one position of one row) for one decoder block.
// `s`: bytes of the model dtype; `T`: sequence length (the attention probabilities of a token
// are its row of the [T, T] matrix per head).
int64_t block_saved_per_token(const ModelShape& sh, const RunConfig& c, int64_t s, int64_t T, AttentionKernel attention) {
    const bool full = !c.model.lora;
    const bool half = s < 4;
    const int64_t H = sh.hidden_size, qd = sh.num_heads * sh.head_dim, kvd = sh.num_kv_heads * sh.head_dim;
    auto saved_input = [&](std::initializer_list<const char*> modules) {
        if (full) return true;
        if (half) return false;  // the adapters keep float32 copies instead (adapters_saved_per_token)
        for (const char* m : modules)
            if (targets(*c.model.lora, m)) return true;
        return false;
    };
    // RMSNorm: the float32 input (pow and the product keep it), the normalised value (kept for
    // the weight's gradient, so only when the weight trains); its output counts as the input
    // of the linear layers that read it.
    const int64_t norm = 4 * H + (full ? s * H : 0);
    int64_t b = (sh.sandwich_norms ? 4 : 2) * norm;  // Gemma: norms on the attention and MLP outputs too
    if (saved_input({"q_proj", "k_proj", "v_proj"})) b += s * H;  // input_layernorm output
    if (saved_input({"gate_proj", "up_proj"})) b += s * H;        // post_attention_layernorm output
    if (sh.qk_norm) b += (4 + (full ? s : 0)) * (qd + kvd);
    // q, k and v copied contiguous for the score and context matmuls (grouped-query attention
    // keeps k and v at kv_heads: causal_lm.cpp stacks the query heads instead of repeating
    // keys and values); the context made contiguous for o_proj.
    b += s * (qd + 2 * kvd);
    if (saved_input({"o_proj"})) b += s * qd;
    switch (attention) {
        case AttentionKernel::Eager:
            // Softmax probabilities in float32 (kept by softmax), and their cast back to a 16-bit
            // dtype (kept by the context matmul).
            b += sh.num_heads * T * (4 + (s < 4 ? s : 0));
            break;
        case AttentionKernel::Fused:
            // Flash attention keeps its output (beside the contiguous copy o_proj reads) and a
            // float32 log-sum-exp per head: nothing of size T.
            b += s * qd + 4 * sh.num_heads;
            break;
    }
    // SwiGLU: gate output (SiLU's input), SiLU output, up output, and their product.
    b += 3 * s * sh.intermediate_size;
    if (saved_input({"down_proj"})) b += s * sh.intermediate_size;
    if (!full) b += adapters_saved_per_token(*c.model.lora, s, block_linears(sh));
    return b;
}

// Bytes per token after the last block: the final norm (the float32 logits that the
// log-softmax reads are counted per scored token, see scored_per_row).
int64_t head_saved_per_token(const ModelShape& sh, const RunConfig& c, int64_t s) {
    const int64_t H = sh.hidden_size;
    // Full fine-tuning: float32 input, normalised value (for the norm's weight) and the output,
    // which the output head's matmul keeps for its weight's gradient.
    if (!c.model.lora) return 4 * H + 2 * s * H;
    // LoRA: the norm and the head are frozen; the output is kept only for an lm_head adapter.
    const LoraConfig& l = *c.model.lora;
    if (!targets(l, "lm_head")) return 4 * H;
    return 4 * H + (s < 4 ? 0 : s * H) + adapters_saved_per_token(l, s, {{"lm_head", H, sh.vocab_size}});
}

// Positions per row whose logits are computed: the trainer applies the head only to the
// positions that predict a completion token (logprobs.cpp). A row of max_length tokens whose
// prompt fills max_prompt_length scores the rest; without a usable prompt limit, all but the
// first position.
int64_t scored_per_row(const RunConfig& c) {
    const int64_t T = c.data.max_length, P = c.data.max_prompt_length;
    return P > 0 && P < T ? T - P : std::max<int64_t>(T - 1, 1);
}

void add(MemoryEstimate& e, const std::string& key, const std::string& label, int64_t bytes, const std::string& detail) {
    e.items.push_back({key, label, bytes, detail});
}

std::string count(int64_t n) {
    char buf[32];
    if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
    else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
    else if (n >= 1000) std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
    else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    return buf;
}

}  // namespace

int64_t lora_parameter_count(const ModelShape& shape, const LoraConfig& lora) {
    int64_t n = 0;
    for (const Linear& lin : block_linears(shape))
        if (targets(lora, lin.name)) n += shape.num_layers * lora.rank * (lin.in + lin.out);
    if (targets(lora, "lm_head")) n += lora.rank * (shape.hidden_size + shape.vocab_size);
    return n;
}

MemoryEstimate estimate_training_memory(const ModelShape& sh, const RunConfig& c, AttentionKernel attention) {
    MemoryEstimate e;
    e.attention = attention_kernel_name(attention);
    const bool fused = attention == AttentionKernel::Fused;
    e.dtype = choice_name(resolved_dtype(c.model.dtype));
    const int64_t s = dtype_bytes(e.dtype);
    const bool half = s < 4;
    e.lora = c.model.lora.has_value();
    e.gradient_checkpointing = c.train.gradient_checkpointing;
    e.parameters = sh.parameter_count();
    const int64_t adapters = e.lora ? lora_parameter_count(sh, *c.model.lora) : 0;
    e.trainable_parameters = e.lora ? adapters : e.parameters;
    const int64_t T = c.data.max_length;
    const int64_t rows = 2 * static_cast<int64_t>(c.train.batch_size);  // chosen + rejected
    e.tokens_per_step = rows * T;
    // Whether a reference is needed, and whether a step keeps it, is the algorithm table's.
    const AlgorithmSpec& algorithm = algorithm_spec(c.objective);
    const bool reference_every_step = algorithm.reference == ReferenceUse::EveryStep;
    e.reference_model = needs_reference(c.objective);
    e.reference_held_in_training = reference_in_every_step(c.objective, c.train.reference_logps);
    const int64_t P = e.parameters, N = e.trainable_parameters;

    // LoRA adapters are float32 over any base (lora.h), their own master weights.
    add(e, "weights", "Weights (" + e.dtype + (e.lora && half ? ", adapters float32" : "") + ")", P * s + adapters * 4,
        count(P) + " parameters x " + std::to_string(s) + " B" +
            (e.lora ? " + " + count(adapters) + " LoRA adapter parameters x 4 B" : ""));
    if (half && !e.lora)
        add(e, "master_weights", "Master weights (float32)", N * 4,
            count(N) + " trainable parameters x 4 B: the optimiser updates float32 copies");
    // The optimiser's parameters are float32 (the adapters, the master weights or the model
    // itself), and their gradients stay allocated between steps (zero_grad zeroes them). The
    // 16-bit gradients of a half-precision model appear during the backward pass as the
    // activations are freed, and go once added to the masters': they are not at the peak.
    add(e, "gradients", "Gradients (float32)", N * 4,
        count(N) + " trainable parameters x 4 B" + (half && !e.lora ? " (of the master weights)" : ""));
    add(e, "optimizer", "AdamW state (2 x float32)", N * 8, count(N) + " trainable parameters x 8 B");
    if (e.reference_model && !e.lora) {
        // The trainer clones the policy for the reference; for cached reference log-probs it
        // drops the copy once they are computed (unless the algorithm runs it every step: KTO).
        const std::string copy = "frozen copy of the weights (" + format_memory_bytes(P * s) + ")";
        add(e, "reference", "Reference model", e.reference_held_in_training ? P * s : 0,
            e.reference_held_in_training
                ? copy + ", kept in every step (" + (reference_every_step ? algorithm.title : "reference_logps on_the_fly") + ")"
                : copy + ", freed once the reference log-probs are cached: counted in the pass peak");
    } else if (e.reference_model) {
        add(e, "reference", "Reference model", 0, "the base model with the adapters disabled: no second copy");
    }

    const int64_t block = block_saved_per_token(sh, c, s, T, attention);
    const int64_t head = head_saved_per_token(sh, c, s);
    const int64_t logits = 4 * sh.vocab_size;  // per scored position
    const int64_t scored = rows * scored_per_row(c);
    int64_t per_token;
    std::string act_detail;
    if (e.gradient_checkpointing) {
        // Only each block's input is kept; the backward pass recomputes one block at a time.
        per_token = sh.num_layers * s * sh.hidden_size + block + head;
        act_detail = std::to_string(sh.num_layers) + " block inputs x " + std::to_string(s * sh.hidden_size) +
                     " B + one recomputed block " + std::to_string(block) + " B + final norm " + std::to_string(head) +
                     " B per token";
    } else {
        per_token = sh.num_layers * block + head;
        act_detail = std::to_string(sh.num_layers) + " blocks x " + std::to_string(block) + " B + final norm " +
                     std::to_string(head) + " B per token";
    }
    e.tokens_per_step = rows * T;
    act_detail += ", x " + count(e.tokens_per_step) + " tokens (2 x " + std::to_string(c.train.batch_size) + " x " +
                  std::to_string(T) + ")";
    add(e, "activations", "Activations", per_token * e.tokens_per_step, act_detail);
    add(e, "logits", "Logits (float32)", logits * scored,
        count(scored) + " scored positions (2 x " + std::to_string(c.train.batch_size) + " x " +
            std::to_string(scored_per_row(c)) + ": the completion after a max_prompt_length prompt) x " +
            count(sh.vocab_size) + " vocabulary x 4 B");
    // Backward working memory, at whichever point of the backward pass holds the most:
    //  - at the head, all saved activations are alive and the log-softmax's backward holds two
    //    more float32 logit-sized buffers (the gather's gradient scattered over the
    //    vocabulary, then log_softmax's fused gradient; logprobs.cpp);
    //  - at the last block's attention, the head, the logits and that block's MLP are freed
    //    and the gradients of its probabilities and scores (two float32 [heads, T, T]) live,
    //    for a 16-bit model beside their 16-bit forms (the softmax runs in float32).
    const int64_t scores = 4 * sh.num_heads * T;
    const int64_t head_work = 2 * logits * scored;
    const int64_t freed_before_attention =
        head + (e.gradient_checkpointing ? 0 : 4 * s * sh.intermediate_size + 4 * sh.hidden_size);
    // Fused attention's backward works block by block: its gradients of q, k and v instead.
    const int64_t kvd = sh.num_kv_heads * sh.head_dim;
    const int64_t attn_grad = fused ? s * (sh.num_heads * sh.head_dim + 2 * kvd)
                                    : 2 * scores + (s < 4 ? 2 * s * sh.num_heads * T : 0);
    const int64_t attn_work = (attn_grad - freed_before_attention) * e.tokens_per_step - logits * scored;
    // A no-gradient pass's working memory: at the logits (the float32 logits and the
    // log-softmax's shifted exponential of the scored positions, beside the last hidden
    // states; 16-bit logits are freed once cast, as measured), at one block's attention
    // (scores and probabilities beside q, k, v) or its MLP (gate, up, SiLU).
    const int64_t H = sh.hidden_size, qd = sh.num_heads * sh.head_dim;
    // Scores in the model's dtype (scale and mask fused into the matmul), float32 softmax, and
    // for a 16-bit model the probabilities cast back: 2 float32-sized [heads, T, T] at most.
    const int64_t pass_attention = (fused ? 0 : 2 * scores) + 6 * s * qd;
    const int64_t pass_mlp = 3 * s * sh.intermediate_size + 2 * s * H;
    auto pass_bytes = [&](int64_t pass_rows) {
        const int64_t tokens = pass_rows * T;
        const int64_t head_bytes =
            2 * logits * pass_rows * scored_per_row(c) + 2 * 4 * H * tokens;
        return std::max({head_bytes, pass_attention * tokens, pass_mlp * tokens});
    };
    // An algorithm that runs the reference every step (KTO) runs it and the policy without
    // gradients on the batch's mismatched pairs (as many rows as the step) after the forward,
    // while its activations are kept.
    const int64_t kl_work = reference_every_step ? pass_bytes(rows) : 0;
    const int64_t work = std::max({head_work, attn_work, kl_work});
    add(e, "backward", reference_every_step ? "Backward / KL pass working memory" : "Backward working memory", work,
        work == head_work  ? "log-softmax backward at the head: 2 float32 logit-sized buffers"
        : work == kl_work ? algorithm.title + "'s no-gradient pass on the mismatched pairs, beside the step's activations"
                          : fused ? "fused attention backward of the last block: the gradients of q, k and v, less what the head freed"
                                  : "attention backward of the last block: 2 float32 [heads, T, T] gradients, less what the head freed");
    for (const auto& it : e.items) e.step_peak_bytes += it.bytes;

    // Evaluation and reference passes run without gradients on batches of max(8, 2 x
    // batch_size) pairs.
    e.rows_per_pass = 2 * std::max<int64_t>(8, 2 * static_cast<int64_t>(c.train.batch_size));
    const int64_t pass_work = pass_bytes(e.rows_per_pass);
    int64_t persistent = 0;
    for (const auto& it : e.items)
        if (it.key != "activations" && it.key != "logits" && it.key != "backward") persistent += it.bytes;
    // The eval pass runs with the optimiser state (and a kept reference copy) alive.
    const int64_t eval_peak = persistent + pass_work;
    // The reference pass runs before the optimiser exists: the weights, the reference copy
    // (none under LoRA: the adapters are switched off) and the pass.
    const int64_t ref_peak = e.reference_model ? e.item_bytes("weights") + (e.lora ? 0 : P * s) + pass_work : 0;
    e.reference_pass_bytes = ref_peak;
    e.pass_peak_bytes = std::max(eval_peak, ref_peak);
    e.total_bytes = std::max(e.step_peak_bytes, e.pass_peak_bytes);
    if (e.total_bytes == e.step_peak_bytes) e.peak_phase = "training step";
    else e.peak_phase = eval_peak >= ref_peak ? "evaluation pass" : "reference pass";
    return e;
}

MemoryEstimate estimate_training_memory(const RunConfig& config, AttentionKernel attention) {
    const std::string& source = config.model.source;
    if (is_builtin_source(source)) return estimate_training_memory(builtin_shape(source.substr(8)), config, attention);
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(source, ec))
        throw ModelError("model '" + source + "' is neither builtin:tiny/builtin:small nor a directory");
    return estimate_training_memory(read_hf_config((fs::path(source) / "config.json").string()), config, attention);
}

int64_t MemoryEstimate::item_bytes(const std::string& key) const {
    for (const auto& it : items)
        if (it.key == key) return it.bytes;
    return 0;
}

nlohmann::json MemoryEstimate::to_json() const {
    nlohmann::json j;
    j["dtype"] = dtype;
    j["attention"] = attention;
    j["parameters"] = parameters;
    j["trainable_parameters"] = trainable_parameters;
    j["tokens_per_step"] = tokens_per_step;
    j["rows_per_pass"] = rows_per_pass;
    j["lora"] = lora;
    j["gradient_checkpointing"] = gradient_checkpointing;
    j["items"] = nlohmann::json::array();
    for (const auto& it : items)
        j["items"].push_back({{"key", it.key}, {"label", it.label}, {"bytes", it.bytes}, {"detail", it.detail}});
    j["step_peak_bytes"] = step_peak_bytes;
    j["pass_peak_bytes"] = pass_peak_bytes;
    j["total_bytes"] = total_bytes;
    j["peak_phase"] = peak_phase;
    return j;
}

std::string format_memory_bytes(int64_t bytes) {
    char buf[32];
    const double b = static_cast<double>(bytes);
    if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
    return buf;
}

std::string format_memory_table(const MemoryEstimate& e) {
    size_t width = 5;
    for (const auto& it : e.items) width = std::max(width, it.label.size());
    std::string out;
    char line[512];
    auto row = [&](const std::string& label, int64_t bytes, const std::string& detail) {
        std::snprintf(line, sizeof line, "  %-*s %12s  %s\n", static_cast<int>(width), label.c_str(),
                      format_memory_bytes(bytes).c_str(), detail.c_str());
        out += line;
    };
    for (const auto& it : e.items) row(it.label, it.bytes, it.detail);
    row("Training step peak", e.step_peak_bytes, "sum of the above");
    row("Eval/reference pass peak", e.pass_peak_bytes,
        "no gradients, " + std::to_string(e.rows_per_pass) + " rows per batch");
    row("Total (peak)", e.total_bytes, e.peak_phase);
    return out;
}

}  // namespace ps
