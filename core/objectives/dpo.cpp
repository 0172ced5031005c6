// DPO family (sigmoid/cDPO, robust, hinge, IPO, RPO, DPO-Positive), the dispatcher, config
// checks and the helpers the other objectives share.
#include <cmath>
#include <sstream>

#include "common/errors.h"
#include "objectives/objective.h"

namespace ps {

namespace objective_detail {

namespace {

std::string shape_of(const torch::Tensor& t) {
    std::ostringstream s;
    s << t.sizes();
    return s.str();
}

// A [B] tensor in the compute dtype on the device of `like`.
torch::Tensor to_compute(const torch::Tensor& t, const torch::Tensor& like, torch::ScalarType dt) {
    return t.to(like.device(), dt);
}

void check_vector(const torch::Tensor& t, int64_t n, const char* who, const char* name) {
    if (t.dim() != 1 || t.size(0) != n)
        throw Error(std::string(who) + ": " + name + " must have shape [" + std::to_string(n) +
                    "], got " + shape_of(t) + ".");
}

std::string fmt(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

void require_finite(double v, const char* field) {
    if (!std::isfinite(v)) throw ConfigError(field, "must be a finite number, got " + fmt(v) + ".");
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

void check_common(const ObjectiveConfig& c) {
    require_finite(c.beta, "objective.beta");
    if (!(c.beta > 0)) throw ConfigError("objective.beta", "must be greater than 0, got " + fmt(c.beta) + ".");
    require_finite(c.label_smoothing, "objective.label_smoothing");
    if (c.label_smoothing < 0 || c.label_smoothing >= 0.5)
        throw ConfigError("objective.label_smoothing",
                          "must be in [0, 0.5) (the assumed probability that a preference label "
                          "is flipped), got " + fmt(c.label_smoothing) + ".");
    require_finite(c.sft_weight, "objective.sft_weight");
    if (c.sft_weight < 0)
        throw ConfigError("objective.sft_weight", "must be 0 or greater, got " + fmt(c.sft_weight) + ".");
    require_finite(c.dpop_lambda, "objective.dpop_lambda");
    if (c.dpop_lambda < 0)
        throw ConfigError("objective.dpop_lambda", "must be 0 or greater, got " + fmt(c.dpop_lambda) + ".");
    require_finite(c.desirable_weight, "objective.desirable_weight");
    if (!(c.desirable_weight > 0))
        throw ConfigError("objective.desirable_weight",
                          "must be greater than 0, got " + fmt(c.desirable_weight) + ".");
    require_finite(c.undesirable_weight, "objective.undesirable_weight");
    if (!(c.undesirable_weight > 0))
        throw ConfigError("objective.undesirable_weight",
                          "must be greater than 0, got " + fmt(c.undesirable_weight) + ".");
    require_finite(c.gamma, "objective.gamma");
    if (c.gamma < 0) throw ConfigError("objective.gamma", "must be 0 or greater, got " + fmt(c.gamma) + ".");
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

}  // namespace objective_detail

using namespace objective_detail;

bool objective_needs_reference(const ObjectiveConfig& config) {
    if (config.algorithm == "dpo") return !config.reference_free;
    if (config.algorithm == "kto") return true;
    return false;  // orpo, simpo
}

const std::vector<std::string>& dpo_loss_types() {
    static const std::vector<std::string> types = {"sigmoid", "robust", "hinge", "ipo"};
    return types;
}

namespace {

void check_dpo_loss_type(const ObjectiveConfig& c) {
    for (const auto& t : dpo_loss_types())
        if (c.loss_type == t) return;
    throw ConfigError("objective.loss_type", "unknown DPO loss type '" + c.loss_type +
                                                 "'; valid: sigmoid, robust, hinge, ipo.");
}

}  // namespace

void validate_objective_config(const ObjectiveConfig& c) {
    if (c.algorithm != "dpo" && c.algorithm != "kto" && c.algorithm != "orpo" && c.algorithm != "simpo")
        throw ConfigError("objective.algorithm",
                          "unknown algorithm '" + c.algorithm + "'; valid: dpo, kto, orpo, simpo.");
    check_common(c);
    if (c.algorithm == "dpo") check_dpo_loss_type(c);
}

ObjectiveOutput dpo_objective(const PairedLogps& b, const ObjectiveConfig& c) {
    check_common(c);
    check_dpo_loss_type(c);
    const double beta = c.beta;
    const double eps = c.label_smoothing;
    const bool ipo = c.loss_type == "ipo";
    const Paired p = prepare_paired(b, "dpo_objective", ipo || c.sft_weight > 0, !c.reference_free);

    torch::Tensor pc = p.chosen, pr = p.rejected, qc = p.ref_chosen, qr = p.ref_rejected;
    if (ipo) {
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

    torch::Tensor losses;
    if (c.loss_type == "sigmoid") {
        losses = -torch::log_sigmoid(beta * logits) * (1.0 - eps) -
                 torch::log_sigmoid(-beta * logits) * eps;
    } else if (c.loss_type == "robust") {
        losses = (-torch::log_sigmoid(beta * logits) * (1.0 - eps) +
                  torch::log_sigmoid(-beta * logits) * eps) /
                 (1.0 - 2.0 * eps);
    } else if (c.loss_type == "hinge") {
        losses = torch::relu(1.0 - beta * logits);
    } else {  // ipo
        losses = (logits - 1.0 / (2.0 * beta)).pow(2);
    }
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

ObjectiveOutput paired_objective(const PairedLogps& batch, const ObjectiveConfig& config) {
    if (config.algorithm == "dpo") return dpo_objective(batch, config);
    if (config.algorithm == "orpo") return orpo_objective(batch, config);
    if (config.algorithm == "simpo") return simpo_objective(batch, config);
    if (config.algorithm == "kto")
        throw ConfigError("objective.algorithm",
                          "kto trains on unpaired examples; it has no paired objective (use "
                          "kto_objective).");
    throw ConfigError("objective.algorithm",
                      "unknown algorithm '" + config.algorithm + "'; valid: dpo, kto, orpo, simpo.");
}

}  // namespace ps
