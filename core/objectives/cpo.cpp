// CPO (Xu et al. 2024; TRL CPOTrainer): a DPO-style loss on the policy's own log-probs (no
// reference model) plus cpo_alpha times the NLL of the chosen answers. loss_type "simpo" is
// CPO-SimPO (SimPO's length-normalised margin gamma with the NLL term).
#include "core/common/errors.h"
#include "core/objectives/objective.h"

namespace ps {

using namespace objective_detail;

ObjectiveOutput cpo_objective(const PairedLogps& b, const ObjectiveConfig& c) {
    check_objective_values(c);
    const LossType type = loss_type_of(c, Algorithm::Cpo);
    const Paired p = prepare_paired(b, "cpo_objective", /*need_tokens=*/true, /*use_ref=*/false);

    // TRL averages the log-probs over completion tokens for ipo and simpo, sums them otherwise.
    torch::Tensor pc = p.chosen, pr = p.rejected;
    if (loss_type_token_averaged(type)) {
        pc = pc / p.chosen_tokens;
        pr = pr / p.rejected_tokens;
    }
    const torch::Tensor losses = pair_losses(type, pc - pr, c);
    const torch::Tensor nll = chosen_nll(p);

    ObjectiveOutput out;
    out.loss = losses.mean();
    if (c.cpo_alpha > 0) out.loss = out.loss + c.cpo_alpha * nll;
    add_paired_metrics(out, c.beta * pc, c.beta * pr, p);
    // TRL logs 0 here when cpo_alpha is 0 (it skips the term); the NLL itself is more telling.
    add_metric(out, "nll_loss", nll);
    return out;
}

}  // namespace ps
