#include "core/engine/batch_objective.h"

#include <cmath>

#include "core/config/algorithm.h"
#include "core/engine/trainer.h"

namespace ps {

BatchObjective::BatchObjective(const RunConfig& config, RunSetup& setup, ReferenceModel& reference)
    : config_(config), setup_(setup), reference_(reference) {}

ScoredBatch BatchObjective::score(Split split, const std::vector<size_t>& groups) {
    const TokenRows& rows = setup_.rows(split);
    ScoredBatch s;
    s.batch = collate_groups(rows, groups, setup_.pad_id());
    s.policy = forward_logps(setup_.policy, s.batch, setup_.device);
    s.out = objective(s.policy, s.batch, split, groups);
    side_logits(s, rows, groups);
    return s;
}

ObjectiveOutput BatchObjective::objective(const SequenceLogps& lp, const SequenceBatch& batch, Split split,
                                          const std::vector<size_t>& groups) {
    const ObjectiveConfig& oc = config_.objective;
    switch (algorithm_spec(oc).data) {
        case DataKind::Paired: {  // rows 0..B-1 the chosen answers, B..2B-1 the rejected ones
            const int64_t B = static_cast<int64_t>(groups.size());
            PairedLogps p;
            p.chosen = lp.sum.narrow(0, 0, B);
            p.rejected = lp.sum.narrow(0, B, B);
            p.chosen_tokens = lp.tokens.narrow(0, 0, B);
            p.rejected_tokens = lp.tokens.narrow(0, B, B);
            if (needs_reference(oc)) {
                const torch::Tensor ref = reference_.row_logps(batch, split, groups);
                p.ref_chosen = ref.narrow(0, 0, B);
                p.ref_rejected = ref.narrow(0, B, B);
            }
            return paired_objective(p, oc);
        }
        case DataKind::Unpaired: {
            // KTO: each row is desirable or undesirable as labelled; the reference point z0
            // comes from the batch's mismatched pairs (prompt j with completion j-1), as TRL's
            // KTOTrainer builds them.
            const TokenRows& rows = setup_.rows(split);
            UnpairedLogps u;
            u.logps = lp.sum;
            u.tokens = lp.tokens;
            {
                torch::NoGradGuard no_grad;  // the reference and the reference point are constants
                u.ref_logps = reference_.row_logps(batch, split, groups);
                u.desirable = desirable_mask(rows, groups);
                const SequenceBatch kl_batch = collate_mismatched(rows, groups, setup_.pad_id());
                u.kl_logps = forward_logps(setup_.policy, kl_batch, setup_.device).sum;
                u.ref_kl_logps = reference_.forward(kl_batch).sum;
            }
            return kto_objective(u, oc);
        }
    }
    throw ConfigError("objective.algorithm", "unknown algorithm " + oc.algorithm);
}

torch::Tensor BatchObjective::desirable_mask(const TokenRows& rows, const std::vector<size_t>& groups) const {
    std::vector<uint8_t> d;
    for (const TokenRow* r : batch_rows(rows, groups)) d.push_back(r->desirable ? 1 : 0);
    return torch::from_blob(d.data(), {static_cast<int64_t>(d.size())}, torch::kUInt8).to(torch::kBool).to(setup_.device);
}

void BatchObjective::side_logits(ScoredBatch& s, const TokenRows& rows, const std::vector<size_t>& groups) const {
    torch::Tensor desirable;
    if (rows.rows_per_group == 2) {  // pairs: the desirable rows are the batch's first half
        const int64_t B = static_cast<int64_t>(groups.size());
        desirable = torch::cat({torch::ones({B}, torch::kBool), torch::zeros({B}, torch::kBool)});
    } else {
        desirable = desirable_mask(rows, groups);
    }
    const SideLogits l = side_mean_logits(s.policy.logits_sum.to(torch::kCPU), s.policy.tokens.to(torch::kCPU),
                                          desirable.to(torch::kCPU));
    s.logits_chosen = l.chosen;
    s.logits_rejected = l.rejected;
}

}  // namespace ps

