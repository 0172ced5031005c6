// The frozen reference of a run that needs one (the algorithm table's ReferenceUse): a clone of
// the policy after its SFT warm-up, or under LoRA the policy itself with its adapters off; and
// its log-prob of every row of both splits, computed once before training (and kept on disk,
// core/engine/reference_cache.h) unless train.reference_logps is "on_the_fly".
#pragma once
#include <vector>

#include <torch/torch.h>

#include "core/config/run_config.h"
#include "core/data/batching.h"
#include "core/diagnose/offpolicy.h"
#include "core/engine/run_setup.h"
#include "core/engine/run_stream.h"
#include "core/objectives/logprobs.h"

namespace ps {

class ReferenceModel {
public:
    ReferenceModel(const RunConfig& config, RunSetup& setup, RunStream& stream);

    // Builds the reference when the algorithm needs one, caches the log-probs and reports how
    // off-policy the chosen answers are. Call after the SFT warm-up.
    void prepare();
    // A forward of the reference (no gradient is taken through it by the callers).
    SequenceLogps forward(const SequenceBatch& batch);
    // Reference log-probs of the rows of `groups` of `split` in collate_groups order: from the
    // cache, or a forward of `batch` (those rows, collated) when they are computed on the fly.
    torch::Tensor row_logps(const SequenceBatch& batch, Split split, const std::vector<size_t>& groups);
    // Over the training pairs, before any preference step (empty for unpaired data).
    const OffPolicyReport& off_policy() const { return off_policy_; }

private:
    bool on_the_fly() const { return config_.train.reference_logps == ReferenceMode::OnTheFly; }
    void compute(Split split);
    void report_off_policy();
    std::vector<float>& cache(Split split) { return split == Split::Eval ? eval_ : train_; }

    const RunConfig& config_;
    RunSetup& setup_;
    RunStream& stream_;
    CausalLM model_{nullptr};  // under LoRA the policy itself (forward turns its adapters off)
    std::vector<float> train_, eval_;  // per row, in TokenRows order
    OffPolicyReport off_policy_;
};

// Index batches over `n` items for the passes without gradients (evaluation, reference
// log-probs, tracking): consecutive, twice the training batch, at least 8.
std::vector<std::vector<size_t>> pass_batches(size_t n, const RunConfig& config);

}  // namespace ps
