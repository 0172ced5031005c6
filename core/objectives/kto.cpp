// KTO (Ethayarajh et al. 2024; TRL KTOTrainer, loss_type "kto"): each completion's implied
// reward is judged against a reference point z0 (a batch KL estimate) instead of a margin.
#include <cmath>
#include <cstdio>

#include "core/common/errors.h"
#include "core/objectives/objective.h"

namespace ps {

using namespace objective_detail;

namespace {

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

}  // namespace

std::optional<std::string> kto_balance_warning(int64_t n_desirable, int64_t n_undesirable,
                                               const ObjectiveConfig& c) {
    const double d = c.desirable_weight * static_cast<double>(n_desirable);
    const double u = c.undesirable_weight * static_cast<double>(n_undesirable);
    const std::string counts = "(desirable_weight " + fmt(c.desirable_weight) + " x " +
                               std::to_string(n_desirable) + " desirable, undesirable_weight " +
                               fmt(c.undesirable_weight) + " x " + std::to_string(n_undesirable) +
                               " undesirable)";
    if (n_desirable == 0 || n_undesirable == 0)
        return "KTO batch has only " + std::string(n_desirable == 0 ? "undesirable" : "desirable") +
               " examples " + counts + ", so the loss pushes one way only; the KTO paper "
               "recommends a weighted desirable:undesirable balance between 1:1 and 4:3.";
    const double ratio = d / u;
    const double tol = 1e-9;
    if (ratio >= 1.0 - tol && ratio <= 4.0 / 3.0 + tol) return std::nullopt;
    return "KTO weighted desirable:undesirable balance is " + fmt(ratio) + ":1 " + counts +
           ", outside the 1:1 to 4:3 the KTO paper recommends; adjust objective.desirable_weight "
           "or objective.undesirable_weight.";
}

ObjectiveOutput kto_objective(const UnpairedLogps& b, const ObjectiveConfig& c) {
    check_objective_values(c);
    const double beta = c.beta;
    if (!b.logps.defined() || !b.ref_logps.defined() || !b.desirable.defined())
        throw Error("kto_objective: logps, ref_logps and desirable are required.");
    if (b.logps.dim() != 1 || b.logps.size(0) == 0)
        throw Error("kto_objective: logps must have shape [N] with N > 0, got " + shape_of(b.logps) + ".");
    const int64_t n = b.logps.size(0);
    if (b.ref_logps.dim() != 1 || b.ref_logps.size(0) != n || b.desirable.dim() != 1 ||
        b.desirable.size(0) != n)
        throw Error("kto_objective: ref_logps and desirable must have shape [" + std::to_string(n) +
                    "], got " + shape_of(b.ref_logps) + " and " + shape_of(b.desirable) + ".");
    const auto dt = compute_dtype(b.logps);
    const torch::Tensor pi = b.logps.to(dt);
    const auto opts = pi.options().requires_grad(false);
    const torch::Tensor ref = b.ref_logps.to(pi.device(), dt).detach();
    const torch::Tensor desirable = b.desirable.to(pi.device()).to(torch::kBool);

    ObjectiveOutput out;
    // Reference point z0: KL(pi || ref) estimated on mismatched prompt/completion pairs,
    // detached and clamped at 0 (TRL computes the KL completions under no_grad).
    const int64_t m = b.kl_logps.defined() ? b.kl_logps.numel() : 0;
    torch::Tensor kl = torch::zeros({}, opts);
    if (m >= 2) {
        if (!b.ref_kl_logps.defined() || b.ref_kl_logps.numel() != m)
            throw Error("kto_objective: ref_kl_logps must have " + std::to_string(m) +
                        " elements like kl_logps.");
        torch::NoGradGuard no_grad;
        kl = (b.kl_logps.detach().to(pi.device(), dt).reshape({-1}) -
              b.ref_kl_logps.detach().to(pi.device(), dt).reshape({-1}))
                 .mean()
                 .clamp_min(0.0);
    } else {
        out.warnings.push_back(
            "KTO needs at least 2 mismatched prompt/completion pairs to estimate its KL reference "
            "point but this batch has " + std::to_string(m) +
            ", so the reference point is 0 for this step (use a batch size of 2 or more).");
    }

    const torch::Tensor logratios = pi - ref;
    const torch::Tensor chosen_losses = 1.0 - torch::sigmoid(beta * (logratios - kl));
    const torch::Tensor rejected_losses = 1.0 - torch::sigmoid(beta * (kl - logratios));
    // TRL: cat(desirable_weight * chosen_losses, undesirable_weight * rejected_losses).mean().
    out.loss = torch::where(desirable, c.desirable_weight * chosen_losses,
                            c.undesirable_weight * rejected_losses)
                   .mean();

    torch::NoGradGuard no_grad;
    const torch::Tensor rewards = beta * logratios.detach();
    const torch::Tensor undesirable = desirable.logical_not();
    const int64_t n_d = desirable.sum().item<int64_t>();
    const int64_t n_u = n - n_d;
    add_metric(out, "kl", kl);
    torch::Tensor rc, rr;
    if (n_d > 0) {
        rc = rewards.masked_select(desirable);
        add_metric(out, "rewards/chosen", rc.mean());
        add_metric(out, "logps/chosen", pi.detach().masked_select(desirable).mean());
    }
    if (n_u > 0) {
        rr = rewards.masked_select(undesirable);
        add_metric(out, "rewards/rejected", rr.mean());
        add_metric(out, "logps/rejected", pi.detach().masked_select(undesirable).mean());
    }
    if (n_d > 0 && n_u > 0) {
        add_metric(out, "rewards/margins", rc.mean() - rr.mean());
        add_metric(out, "rewards/accuracies",
                   (rc.unsqueeze(1) > rr.unsqueeze(0)).to(dt).mean());
    }
    if (auto w = kto_balance_warning(n_d, n_u, c)) out.warnings.push_back(*w);
    return out;
}

}  // namespace ps
