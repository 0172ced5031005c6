// Batched autoregressive decoding with a KV cache: greedy, temperature, top-k, top-p.
// Prompts of different lengths are left-padded; each row has its own rotary positions and
// a key mask, so a row's tokens are exactly what it would get alone.
#pragma once
#include <vector>

#include <torch/torch.h>

#include "core/model/causal_lm.h"
#include "core/model/generation_options.h"

namespace ps {

// Runs under NoGradGuard with the model in eval mode (its mode is restored afterwards).
// Each prompt needs at least one token.
std::vector<GeneratedSequence> generate_tokens(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                               const GenerationOptions& options);

// Temperature, then top-k, then top-p on float logits [B, V]: removed entries become -inf.
torch::Tensor filter_logits(const torch::Tensor& logits, double temperature, int top_k, double top_p);

}  // namespace ps
