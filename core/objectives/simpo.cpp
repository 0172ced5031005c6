// SimPO (Meng et al. 2024; TRL CPOTrainer loss_type "simpo"): length-normalised log-probs,
// target reward margin gamma, no reference model; optional CPO-style NLL term.
#include "core/common/errors.h"
#include "core/objectives/objective.h"

namespace ps {

using namespace objective_detail;

ObjectiveOutput simpo_objective(const PairedLogps& b, const ObjectiveConfig& c) {
    check_objective_values(c);
    const double beta = c.beta;
    const Paired p = prepare_paired(b, "simpo_objective", /*need_tokens=*/true, /*use_ref=*/false);

    const torch::Tensor pc = p.chosen / p.chosen_tokens;
    const torch::Tensor pr = p.rejected / p.rejected_tokens;
    const torch::Tensor losses = pair_losses(LossType::Simpo, pc - pr, c);
    const torch::Tensor nll = chosen_nll(p);

    ObjectiveOutput out;
    out.loss = losses.mean();
    if (c.sft_weight > 0) out.loss = out.loss + c.sft_weight * nll;
    add_paired_metrics(out, beta * pc, beta * pr, p);
    add_metric(out, "nll_loss", nll);
    return out;
}

}  // namespace ps
