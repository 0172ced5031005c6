// The training pipeline behind run_training(): data -> model -> SFT warm-up -> frozen
// reference -> cached reference log-probs -> preference steps -> eval. Internal to core;
// callers outside core use engine/run_thread.h, which needs no torch headers.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/run_config.h"
#include "data/batching.h"
#include "model/causal_lm.h"
#include "objectives/logprobs.h"

namespace ps {

// "auto" -> CUDA when libtorch has it and a GPU is visible, else CPU. Throws TrainingError
// when a CUDA device is asked for and cannot be had.
torch::Device resolve_device(const std::string& requested);

// Policy log-probs of a paired batch (rows 0..B-1 chosen, B..2B-1 rejected), one forward.
SequenceLogps forward_logps(CausalLM& model, const SequenceBatch& batch, const torch::Device& device);

// Per sequence, the sum of the final hidden states [N, T, H] over the positions that predict a
// completion token (position t-1 for each completion token t of `completion_mask` [N, T]), in
// float64: the S+ and S- of the CHES score (core/diagnose/pair_tracking.h). Returns [N, H].
torch::Tensor completion_hidden_sums(const torch::Tensor& hidden, const torch::Tensor& completion_mask);

}  // namespace ps
