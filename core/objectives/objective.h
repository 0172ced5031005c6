// Preference objectives as pure functions: per-sequence log-probs in, loss and metrics out.
// Semantics follow TRL (DPOTrainer, KTOTrainer, ORPOTrainer, CPOTrainer with loss_type
// "simpo") unless a paper says otherwise. Metric names are TRL's (README: metric reference).
//
// Every objective works in the dtype of its inputs (float16/bfloat16 inputs are computed in
// float32), keeps the autograd graph of the policy log-probs, treats reference log-probs as
// constants, and yields a finite loss and finite gradients for any finite input, including
// extreme log-probs (-1e4) and log-probs of ~0. Metrics are batch means as doubles:
//   rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies,
//   logps/chosen, logps/rejected (SUMMED log-probs, batch mean, whatever the loss used),
//   nll_loss (DPO always, ORPO, SimPO, CPO), log_odds_ratio, log_odds_chosen (ORPO), kl (KTO).
// The trainer adds loss, grad_norm, learning_rate, logits/*, tokens_per_second itself.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/common/errors.h"
#include "core/config/run_config.h"

namespace ps {

// Paired batch of B examples. Log-probs are summed over completion tokens only.
struct PairedLogps {
    torch::Tensor chosen;           // [B] policy, carries grad
    torch::Tensor rejected;         // [B] policy, carries grad
    torch::Tensor chosen_tokens;    // [B] completion token counts, float
    torch::Tensor rejected_tokens;  // [B]
    torch::Tensor ref_chosen;       // [B] frozen reference; undefined for reference-free runs
    torch::Tensor ref_rejected;     // [B]
};

// Unpaired batch of N examples for KTO.
struct UnpairedLogps {
    torch::Tensor logps;         // [N] policy, summed over completion tokens, carries grad
    torch::Tensor tokens;        // [N]
    torch::Tensor ref_logps;     // [N]
    torch::Tensor desirable;     // [N] bool
    torch::Tensor kl_logps;      // [M] policy log-probs of mismatched prompt/completion pairs
    torch::Tensor ref_kl_logps;  // [M] reference log-probs of the same mismatched pairs
};

struct ObjectiveOutput {
    torch::Tensor loss;  // scalar, the quantity to minimise
    std::vector<std::pair<std::string, double>> metrics;  // batch means, TRL names
    std::vector<std::string> warnings;                   // e.g. KTO batch too small
};

// Every objective first checks the config's numbers (check_objective_values in
// config/algorithm.h: beta > 0, label_smoothing in [0, 0.5), ...) and throws
// ps::ConfigError("objective.<field>") for the first it cannot use; those that read a loss type
// check it against their row's. Whether an objective needs reference log-probs, and what its
// rewards mean, is the algorithm table's (needs_reference, rewards_meaning).

// DPO family (algorithm "dpo"). h = (pi_c - pi_r) - (ref_c - ref_r), ref = 0 when
// reference_free or when the reference tensors are undefined.
//   sigmoid: -logsigmoid(beta h)(1-eps) - logsigmoid(-beta h) eps      (DPO; cDPO for eps > 0)
//   robust:  (-logsigmoid(beta h)(1-eps) + logsigmoid(-beta h) eps) / (1 - 2 eps)
//   hinge:   relu(1 - beta h)                                           (SLiC; eps unused)
//   ipo:     (h - 1/(2 beta))^2 with token-AVERAGED log-probs (TRL)      (eps unused)
// dpop_lambda > 0 (DPO-Positive, Smaug): h -> h - lambda * relu(ref_c - pi_c), for every loss
// type, on the log-prob kind the loss uses. sft_weight > 0 (RPO, TRL rpo_alpha): + sft_weight
// * nll, nll = -sum(pi_c) / sum(chosen_tokens). Rewards beta*(pi - ref), averaged for ipo.
// chosen_tokens/rejected_tokens are needed for ipo and sft_weight > 0 only; without
// chosen_tokens the nll_loss metric is left out.
ObjectiveOutput dpo_objective(const PairedLogps& batch, const ObjectiveConfig& config);

// KTO (TRL KTOTrainer, loss_type "kto"). z0 = max(0, mean(kl_logps - ref_kl_logps)),
// detached; r = pi - ref; desirable: 1 - sigmoid(beta (r - z0)), undesirable:
// 1 - sigmoid(beta (z0 - r)); loss = mean over all N of weight * loss. With fewer than two
// mismatched pairs (M < 2) z0 = 0 and a warning. Metrics: kl; rewards/chosen, logps/chosen
// over desirable examples and rewards/rejected, logps/rejected over undesirable ones, each
// left out when its side is empty; rewards/margins = rewards/chosen - rewards/rejected and
// rewards/accuracies = fraction of (desirable, undesirable) pairs of the batch whose
// desirable reward is the higher (an unpaired analogue; TRL logs no KTO accuracy), both only
// when both sides are present. Warns (kto_balance_warning) when the batch's weighted balance
// is outside 1:1..4:3.
ObjectiveOutput kto_objective(const UnpairedLogps& batch, const ObjectiveConfig& config);

// The KTO paper's advice as a warning sentence: (desirable_weight * n_desirable) :
// (undesirable_weight * n_undesirable) should lie within 1:1 and 4:3. nullopt when it does.
// The trainer may call this on the whole data set as well as kto_objective on each batch.
std::optional<std::string> kto_balance_warning(int64_t n_desirable, int64_t n_undesirable,
                                               const ObjectiveConfig& config);

// ORPO (TRL ORPOTrainer); beta is ORPO's lambda. With token-averaged pc, pr:
// log_odds = (pc - pr) - (log1mexp(pc) - log1mexp(pr)), log1mexp(x) = log(1 - exp(x));
// loss = nll - beta * mean(logsigmoid(log_odds)). Averaged log-probs are clamped to at most
// kOrpoLog1mexpMax before log1mexp (a completion of probability 1 would give log(0)).
// Rewards beta*pc, beta*pr (averaged). Needs chosen_tokens and rejected_tokens.
inline constexpr double kOrpoLog1mexpMax = -1e-12;
ObjectiveOutput orpo_objective(const PairedLogps& batch, const ObjectiveConfig& config);

// SimPO (TRL CPOTrainer loss_type "simpo"): z = beta (pc - pr) - gamma with token-averaged
// log-probs; loss = mean(-logsigmoid(z)(1-eps) - logsigmoid(-z) eps) + sft_weight * nll when
// sft_weight > 0 (CPO-SimPO). Rewards beta*pc, beta*pr. Reference log-probs are ignored.
ObjectiveOutput simpo_objective(const PairedLogps& batch, const ObjectiveConfig& config);

// CPO (Xu et al. 2024; TRL CPOTrainer), no reference model: z = pc - pr with log-probs summed
// for sigmoid/hinge and token-averaged for ipo/simpo; loss = mean(pair_losses(loss_type, z))
// + cpo_alpha * nll (simpo: the sigmoid loss on beta z - gamma, CPO-SimPO). Rewards beta*pc,
// beta*pr (as the loss used them); nll_loss always (TRL logs 0 when cpo_alpha is 0).
ObjectiveOutput cpo_objective(const PairedLogps& batch, const ObjectiveConfig& config);

// The paired objective config.algorithm names. ConfigError("objective.algorithm") for an
// unknown algorithm or an unpaired one (KTO: use kto_objective).
inline ObjectiveOutput paired_objective(const PairedLogps& batch, const ObjectiveConfig& config) {
    const Algorithm algorithm = algorithm_of(config);
    switch (algorithm) {
        case Algorithm::Dpo: return dpo_objective(batch, config);
        case Algorithm::Orpo: return orpo_objective(batch, config);
        case Algorithm::Simpo: return simpo_objective(batch, config);
        case Algorithm::Cpo: return cpo_objective(batch, config);
        case Algorithm::Kto: break;
    }
    throw ConfigError("objective.algorithm", config.algorithm + " trains on unpaired examples; it has no paired "
                                             "objective (use kto_objective).");
}

namespace objective_detail {
// Shared by the objective sources; not part of the contract.
struct Paired {
    torch::Tensor chosen, rejected;                // compute dtype, policy graph kept
    torch::Tensor chosen_tokens, rejected_tokens;  // compute dtype, >= 1; may be undefined
    torch::Tensor ref_chosen, ref_rejected;        // compute dtype, detached; zeros if none
};
torch::ScalarType compute_dtype(const torch::Tensor& t);
std::string shape_of(const torch::Tensor& t);  // "[2, 3]", for error messages
// Checks shapes ([B], B > 0, all alike) and converts. `who` names the caller in errors.
Paired prepare_paired(const PairedLogps& b, const char* who, bool need_tokens, bool use_ref);
torch::Tensor chosen_nll(const Paired& p);  // -sum(chosen) / sum(chosen_tokens)
// Per-pair losses of TRL's loss types on logits = chosen minus rejected log-probs (or
// log-ratios), already token-averaged where the type averages. eps = label_smoothing:
//   sigmoid: -logsigmoid(beta z)(1-eps) - logsigmoid(-beta z) eps
//   robust:  (-logsigmoid(beta z)(1-eps) + logsigmoid(-beta z) eps) / (1 - 2 eps)
//   hinge:   relu(1 - beta z)      ipo: (z - 1/(2 beta))^2
//   simpo:   sigmoid on z - gamma/beta, i.e. on beta z - gamma
torch::Tensor pair_losses(LossType type, const torch::Tensor& logits, const ObjectiveConfig& c);
void add_paired_metrics(ObjectiveOutput& out, const torch::Tensor& rewards_chosen,
                        const torch::Tensor& rewards_rejected, const Paired& p);
void add_metric(ObjectiveOutput& out, const char* name, const torch::Tensor& scalar);
}  // namespace objective_detail

}  // namespace ps
