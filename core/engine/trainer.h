// The training pipeline behind run_training(): setup (data, model; run_setup.h) -> SFT warm-up
// -> frozen reference and its cached log-probs (reference_model.h) -> preference steps with
// evaluation and tracked pairs (train_loop.h, evaluator.h, pair_tracker.h) -> saving. Internal
// to core; callers outside core use core/engine/run_thread.h, which needs no torch headers.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/data/batching.h"
#include "core/data/preference_data.h"
#include "core/data/tokenize.h"
#include "core/text/tokenizer.h"
#include "core/model/causal_lm.h"
#include "core/model/device.h"
#include "core/objectives/logprobs.h"

namespace ps {

// Policy log-probs of a paired batch (rows 0..B-1 chosen, B..2B-1 rejected), one forward.
SequenceLogps forward_logps(CausalLM& model, const SequenceBatch& batch, const torch::Device& device);

// Per sequence, the sum of the final hidden states [N, T, H] over the positions that predict a
// completion token (position t-1 for each completion token t of `completion_mask` [N, T]), in
// float64: the S+ and S- of the CHES score (core/diagnose/pair_tracking.h). Returns [N, H].
torch::Tensor completion_hidden_sums(const torch::Tensor& hidden, const torch::Tensor& completion_mask);

class RunControl;

// The reference model exactly as a run of `config` builds it (same data preparation, seed,
// model and SFT warm-up), with the prompts it would train on: what on-policy sampling needs.
struct SamplingReference {
    CausalLM model{nullptr};
    std::shared_ptr<Tokenizer> tokenizer;
    torch::Device device{torch::kCPU};
    // Paired data only. `texts`: every pair of data.train (the train split, then the eval
    // split when it is drawn from data.train); `pairs`: those the length limits kept,
    // tokenized as for training (two rows a pair), pair i being texts[text_of[i]].
    std::vector<PreferencePair> texts;
    TokenRows pairs;
    std::vector<size_t> text_of;
    int64_t sft_steps = 0;
};

// Builds it on the calling thread; `sinks` see the SFT warm-up's progress and metrics.
// Throws ps::Error for bad input, ps::Cancelled when `control` asks to stop.
SamplingReference build_sampling_reference(const RunConfig& config, const std::vector<RunSink*>& sinks,
                                           RunControl& control);

}  // namespace ps
