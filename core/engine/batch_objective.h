// The configured algorithm on one batch of groups: the policy's forward over the batch's rows,
// the reference's log-probs when the algorithm's row needs them, and its loss. Paired
// algorithms see a pair's two rows as chosen and rejected; KTO sees every row as a desirable or
// undesirable example (pairs included: their chosen row desirable, their rejected row not).
#pragma once
#include <optional>
#include <utility>
#include <vector>

#include "core/config/run_config.h"
#include "core/data/batching.h"
#include "core/engine/reference_model.h"
#include "core/engine/run_setup.h"
#include "core/objectives/logprobs.h"
#include "core/objectives/objective.h"

namespace ps {

struct ScoredBatch {
    SequenceBatch batch;    // the rows, collate_groups order
    SequenceLogps policy;   // the policy's log-probs of those rows (carries grad in training)
    ObjectiveOutput out;    // the algorithm's loss and metrics
    // logits/chosen and logits/rejected: TRL's one mean over the completion positions of the
    // desirable and the undesirable rows (side_mean_logits); empty for a side the batch lacks.
    std::optional<double> logits_chosen, logits_rejected;
};

class BatchObjective {
public:
    BatchObjective(const RunConfig& config, RunSetup& setup, ReferenceModel& reference);
    ScoredBatch score(Split split, const std::vector<size_t>& groups);

private:
    ObjectiveOutput objective(const SequenceLogps& lp, const SequenceBatch& batch, Split split,
                              const std::vector<size_t>& groups);
    torch::Tensor desirable_mask(const TokenRows& rows, const std::vector<size_t>& groups) const;
    void side_logits(ScoredBatch& scored, const TokenRows& rows, const std::vector<size_t>& groups) const;

    const RunConfig& config_;
    RunSetup& setup_;
    ReferenceModel& reference_;
};

}  // namespace ps
