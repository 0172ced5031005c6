// ORPO (Hong et al. 2024; TRL ORPOTrainer): SFT loss plus lambda * -logsigmoid(log odds ratio)
// on token-averaged log-probs. No reference model.
#include <cmath>

#include "core/common/errors.h"
#include "core/objectives/objective.h"

namespace ps {

using namespace objective_detail;

namespace {

// log(1 - exp(x)) for x < 0, stably (Maechler 2012): log(-expm1(x)) near 0, log1p(-exp(x))
// further out. x is first clamped to at most kOrpoLog1mexpMax: an averaged log-prob of 0
// (probability 1, reachable in float32) would otherwise give log(0) = -inf and NaN gradients.
// Below the clamp the gradient is exact; above it (x in (-1e-12, 0]) log1mexp is constant.
// Each branch is evaluated on inputs clamped to its own range so that the branch torch::where
// discards has a finite gradient too (0 * inf would be NaN).
torch::Tensor log1mexp(const torch::Tensor& x_in) {
    const double ln2 = std::log(2.0);
    const torch::Tensor x = x_in.clamp_max(kOrpoLog1mexpMax);
    const torch::Tensor near = torch::log(-torch::expm1(x.clamp_min(-ln2)));
    const torch::Tensor far = torch::log1p(-torch::exp(x.clamp_max(-ln2)));
    return torch::where(x > -ln2, near, far);
}

}  // namespace

ObjectiveOutput orpo_objective(const PairedLogps& b, const ObjectiveConfig& c) {
    check_objective_values(c);
    const double beta = c.beta;  // ORPO's lambda
    const Paired p = prepare_paired(b, "orpo_objective", /*need_tokens=*/true, /*use_ref=*/false);

    const torch::Tensor pc = p.chosen / p.chosen_tokens;
    const torch::Tensor pr = p.rejected / p.rejected_tokens;
    const torch::Tensor log_odds = (pc - pr) - (log1mexp(pc) - log1mexp(pr));
    const torch::Tensor ratio = torch::log_sigmoid(log_odds);
    const torch::Tensor nll = chosen_nll(p);

    ObjectiveOutput out;
    out.loss = nll - beta * ratio.mean();
    add_paired_metrics(out, beta * pc, beta * pr, p);
    add_metric(out, "nll_loss", nll);
    add_metric(out, "log_odds_ratio", ratio.mean());
    add_metric(out, "log_odds_chosen", log_odds.mean());
    return out;
}

}  // namespace ps
