// How much memory a run needs before it starts: weights, float32 master weights, gradients,
// AdamW state, the reference model, and the activations our forward keeps for the backward
// pass, item by item. Torch-free: the CLI's `run --dry-run` and the setup form use it.
//
// The activation counts follow what autograd saves in core/model/causal_lm.cpp's forward and
// core/objectives/logprobs.cpp (per decoder block: both RMSNorms' float32 input, normalised
// value and output; the contiguous q, k and v (k and v at the key/value heads, not
// repeated), the attention context; the float32 softmax probabilities [heads, T, T]; the
// MLP's gate, SiLU, up and product), times the tokens of a step: 2 x batch_size x max_length
// (chosen and rejected rows, padded to max_length at worst); then the float32 logits [vocab]
// of the positions that predict a completion token: max_length - max_prompt_length per row.
// LoRA adapters are float32 over any base (model/lora.h): their weights, gradients and saved
// values count 4 B. Checked against the measured peak of live tensor bytes while the real
// trainer runs, in float32, bfloat16, LoRA, checkpointing and KTO configurations, by
// tests/bench/bench_memory.cpp (BENCHMARKS.md) and tests/core/model/test_memory.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/run_config.h"
#include "core/model/attention_kernel.h"
#include "core/model/model_shape.h"

namespace ps {

struct MemoryItem {
    std::string key;     // stable name for --json: "weights", "gradients", ...
    std::string label;   // what the table shows
    int64_t bytes = 0;
    std::string detail;  // how it was counted
};

struct MemoryEstimate {
    std::string dtype;  // resolved: float32 | bfloat16 | float16
    std::string attention;  // the attention kernel counted: "eager" | "fused" (attention_kernel.h)
    int64_t parameters = 0;            // of the base model
    int64_t trainable_parameters = 0;  // all of them, or the LoRA adapters'
    int64_t tokens_per_step = 0;       // 2 x batch_size x max_length
    int64_t rows_per_pass = 0;         // rows of an eval / reference batch (no gradients)
    bool lora = false;
    bool gradient_checkpointing = false;
    bool reference_model = false;            // the objective reads reference log-probs
    bool reference_held_in_training = false;  // KTO or train.reference_logps on_the_fly
    // The training step's peak, item by item; `total_bytes` is their sum or, when larger, the
    // peak of an evaluation / reference pass (items with key "pass_*" replace the step's
    // activations then; see `peak_phase`).
    std::vector<MemoryItem> items;
    int64_t step_peak_bytes = 0;  // persistent state + step activations + backward working memory
    int64_t pass_peak_bytes = 0;  // persistent state + a no-gradient pass's working memory
    int64_t reference_pass_bytes = 0;  // the reference log-probs pass before training (0: none)
    int64_t total_bytes = 0;      // max of both
    std::string peak_phase;       // "training step" or "evaluation pass" / "reference pass"

    int64_t item_bytes(const std::string& key) const;  // 0 when absent
    nlohmann::json to_json() const;
};

// From the model's shape and the run config (model.dtype, model.lora, data.max_length,
// train.batch_size, train.gradient_checkpointing, objective, train.reference_logps), for the
// attention kernel the run will use (this libtorch's default: eager on 1.13, fused on 2.x).
MemoryEstimate estimate_training_memory(const ModelShape& shape, const RunConfig& config,
                                        AttentionKernel attention = default_attention_kernel());
// Reads the shape from config.model.source (builtin:<name> or an HF directory's config.json);
// throws ModelError like describe_model.
MemoryEstimate estimate_training_memory(const RunConfig& config, AttentionKernel attention = default_attention_kernel());

// Parameters of the LoRA adapters `lora` adds to `shape` (A [rank, in] + B [out, rank] per
// targeted linear layer and decoder block; "lm_head" targets the output head).
int64_t lora_parameter_count(const ModelShape& shape, const LoraConfig& lora);

// "1.23 GiB", "456.0 MiB", "12.3 KiB", "17 B".
std::string format_memory_bytes(int64_t bytes);
// The breakdown as an aligned text table with a total line.
std::string format_memory_table(const MemoryEstimate& estimate);

}  // namespace ps
