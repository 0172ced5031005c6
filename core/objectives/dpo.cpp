// DPO family (sigmoid/cDPO, robust, hinge, IPO, RPO, DPO-Positive) and the helpers the other
// objectives share.
#include <cmath>
#include <sstream>

#include "core/common/errors.h"
#include "core/objectives/objective.h"

namespace ps {

namespace objective_detail {

std::string shape_of(const torch::Tensor& t) {
    std::ostringstream s;
    s << t.sizes();
    return s.str();
}

namespace {

// A [B] tensor in the compute dtype on the device of `like`.
torch::Tensor to_compute(const torch::Tensor& t, const torch::Tensor& like, torch::ScalarType dt) {
    return t.to(like.device(), dt);
}

void check_vector(const torch::Tensor& t, int64_t n, const char* who, const char* name) {
    if (t.dim() != 1 || t.size(0) != n)
        throw Error(std::string(who) + ": " + name + " must have shape [" + std::to_string(n) +
                    "], got " + shape_of(t) + ".");
}

}  // namespace

torch::ScalarType compute_dtype(const torch::Tensor& t) {
    const auto st = t.scalar_type();
    if (st == torch::kHalf || st == torch::kBFloat16) return torch::kFloat32;
    if (!c10::isFloatingType(st)) return torch::kFloat32;
    return st;
}

Paired prepare_paired(const PairedLogps& b, const char* who, bool need_tokens, bool use_ref) {
    if (!b.chosen.defined() || !b.rejected.defined())
        throw Error(std::string(who) + ": chosen and rejected log-probs are required.");
    if (b.chosen.dim() != 1 || b.chosen.size(0) == 0)
        throw Error(std::string(who) + ": chosen log-probs must have shape [B] with B > 0, got " +
                    shape_of(b.chosen) + ".");
    const int64_t n = b.chosen.size(0);
    check_vector(b.rejected, n, who, "rejected");
    const auto dt = compute_dtype(b.chosen);
    Paired p;
    p.chosen = b.chosen.to(dt);
    p.rejected = b.rejected.to(p.chosen.device(), dt);
    if (need_tokens && (!b.chosen_tokens.defined() || !b.rejected_tokens.defined()))
        throw Error(std::string(who) + ": completion token counts are required.");
    // A completion of zero tokens has a summed log-prob of 0; count it as one token so that
    // averages stay finite.
    if (b.chosen_tokens.defined()) {
        check_vector(b.chosen_tokens, n, who, "chosen_tokens");
        p.chosen_tokens = to_compute(b.chosen_tokens, p.chosen, dt).detach().clamp_min(1.0);
    }
    if (b.rejected_tokens.defined()) {
        check_vector(b.rejected_tokens, n, who, "rejected_tokens");
        p.rejected_tokens = to_compute(b.rejected_tokens, p.chosen, dt).detach().clamp_min(1.0);
    }
    if (use_ref && b.ref_chosen.defined() && b.ref_rejected.defined()) {
        check_vector(b.ref_chosen, n, who, "ref_chosen");
        check_vector(b.ref_rejected, n, who, "ref_rejected");
        p.ref_chosen = to_compute(b.ref_chosen, p.chosen, dt).detach();
        p.ref_rejected = to_compute(b.ref_rejected, p.chosen, dt).detach();
    } else {
        p.ref_chosen = torch::zeros({n}, p.chosen.options().requires_grad(false));
        p.ref_rejected = torch::zeros({n}, p.chosen.options().requires_grad(false));
    }
    return p;
}

torch::Tensor chosen_nll(const Paired& p) {
    return -p.chosen.sum() / p.chosen_tokens.sum();
}

void add_metric(ObjectiveOutput& out, const char* name, const torch::Tensor& scalar) {
    out.metrics.emplace_back(name, scalar.detach().to(torch::kCPU, torch::kFloat64).item<double>());
}

void add_paired_metrics(ObjectiveOutput& out, const torch::Tensor& rewards_chosen,
                        const torch::Tensor& rewards_rejected, const Paired& p) {
    torch::NoGradGuard no_grad;
    const torch::Tensor rc = rewards_chosen.detach();
    const torch::Tensor rr = rewards_rejected.detach();
    add_metric(out, "rewards/chosen", rc.mean());
    add_metric(out, "rewards/rejected", rr.mean());
    add_metric(out, "rewards/accuracies", (rc > rr).to(rc.scalar_type()).mean());
    add_metric(out, "rewards/margins", (rc - rr).mean());
    add_metric(out, "logps/chosen", p.chosen.detach().mean());
    add_metric(out, "logps/rejected", p.rejected.detach().mean());
}

torch::Tensor pair_losses(LossType type, const torch::Tensor& logits, const ObjectiveConfig& c) {
    const double beta = c.beta;
    const double eps = c.label_smoothing;
    // cDPO's label smoothing: with probability eps the pair's label is flipped.
    auto smoothed_sigmoid = [&](const torch::Tensor& z) {
        return -torch::log_sigmoid(beta * z) * (1.0 - eps) - torch::log_sigmoid(-beta * z) * eps;
    };
    switch (type) {
        case LossType::Sigmoid: return smoothed_sigmoid(logits);
        case LossType::Robust:
            return (-torch::log_sigmoid(beta * logits) * (1.0 - eps) + torch::log_sigmoid(-beta * logits) * eps) /
                   (1.0 - 2.0 * eps);
        case LossType::Hinge: return torch::relu(1.0 - beta * logits);
        case LossType::Ipo: return (logits - 1.0 / (2.0 * beta)).pow(2);
        // TRL: logits - gamma / beta, so that beta * logits = beta (pc - pr) - gamma.
        case LossType::Simpo: return smoothed_sigmoid(logits - c.gamma / beta);
    }
    throw Error("pair_losses: unknown loss type");
}

}  // namespace objective_detail

using namespace objective_detail;

ObjectiveOutput dpo_objective(const PairedLogps& b, const ObjectiveConfig& c) {
    check_objective_values(c);
    const LossType type = loss_type_of(c, Algorithm::Dpo);
    const bool averaged = loss_type_token_averaged(type);
    const double beta = c.beta;
    const Paired p = prepare_paired(b, "dpo_objective", averaged || c.sft_weight > 0, !c.reference_free);

    torch::Tensor pc = p.chosen, pr = p.rejected, qc = p.ref_chosen, qr = p.ref_rejected;
    if (averaged) {
        // TRL averages policy and reference log-probs over completion tokens for IPO.
        pc = pc / p.chosen_tokens;
        pr = pr / p.rejected_tokens;
        qc = qc / p.chosen_tokens;
        qr = qr / p.rejected_tokens;
    }
    const torch::Tensor chosen_logratios = pc - qc;
    const torch::Tensor rejected_logratios = pr - qr;
    torch::Tensor logits = chosen_logratios - rejected_logratios;
    if (c.dpop_lambda > 0) logits = logits - c.dpop_lambda * torch::relu(qc - pc);

    const torch::Tensor losses = pair_losses(type, logits, c);
    torch::Tensor loss = losses.mean();
    torch::Tensor nll;
    if (p.chosen_tokens.defined()) nll = chosen_nll(p);
    if (c.sft_weight > 0) loss = loss + c.sft_weight * nll;

    ObjectiveOutput out;
    out.loss = loss;
    add_paired_metrics(out, beta * chosen_logratios, beta * rejected_logratios, p);
    if (nll.defined()) add_metric(out, "nll_loss", nll);
    return out;
}

}  // namespace ps
