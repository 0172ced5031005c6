#include "core/config/algorithm.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/common/errors.h"
#include "core/common/user_text.h"

namespace ps {

namespace {

using Kind = ParameterSpec::Kind;

constexpr LossType kLossTypes[] = {LossType::Sigmoid, LossType::Robust, LossType::Hinge, LossType::Ipo, LossType::Simpo};

std::string num(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

template <typename T, typename Name>
std::string join(const std::vector<T>& items, Name name) {
    std::string out;
    for (const T& item : items) out += (out.empty() ? "" : ", ") + name(item);
    return out;
}

// ---- The keys of the objective section ----

ObjectiveField real_field(std::string key, double ObjectiveConfig::*member, std::optional<double> lo, bool lo_excl,
                          std::optional<double> hi, bool hi_excl, std::string hint = {}) {
    ObjectiveField f;
    f.key = std::move(key);
    f.kind = Kind::Real;
    f.real = member;
    f.minimum = lo;
    f.minimum_exclusive = lo_excl;
    f.maximum = hi;
    f.maximum_exclusive = hi_excl;
    f.hint = std::move(hint);
    return f;
}

std::vector<ObjectiveField> build_fields() {
    ObjectiveField algorithm;
    algorithm.key = "algorithm";
    algorithm.kind = Kind::Choice;
    algorithm.text = &ObjectiveConfig::algorithm;
    ObjectiveField loss_type;
    loss_type.key = "loss_type";
    loss_type.kind = Kind::Choice;
    loss_type.text = &ObjectiveConfig::loss_type;
    ObjectiveField reference_free;
    reference_free.key = "reference_free";
    reference_free.kind = Kind::Flag;
    reference_free.flag = &ObjectiveConfig::reference_free;
    // Validation order: the first invalid key in this order is reported.
    return {
        algorithm,
        real_field("beta", &ObjectiveConfig::beta, 0.0, true, std::nullopt, false, "DPO 0.1, SimPO 2.0, ORPO lambda 0.1"),
        loss_type,
        real_field("label_smoothing", &ObjectiveConfig::label_smoothing, 0.0, false, 0.5, true,
                   "the assumed share of flipped preference labels"),
        real_field("sft_weight", &ObjectiveConfig::sft_weight, 0.0, false, std::nullopt, false),
        real_field("dpop_lambda", &ObjectiveConfig::dpop_lambda, 0.0, false, std::nullopt, false),
        real_field("desirable_weight", &ObjectiveConfig::desirable_weight, 0.0, true, std::nullopt, false),
        real_field("undesirable_weight", &ObjectiveConfig::undesirable_weight, 0.0, true, std::nullopt, false),
        real_field("gamma", &ObjectiveConfig::gamma, 0.0, false, std::nullopt, false, "SimPO margin, e.g. 0.5"),
        reference_free,
        real_field("cpo_alpha", &ObjectiveConfig::cpo_alpha, 0.0, false, std::nullopt, false, "CPO's NLL weight, e.g. 1.0"),
    };
}

const ObjectiveField& field(const std::string& key) {
    for (const ObjectiveField& f : objective_fields())
        if (f.key == key) return f;
    throw std::logic_error("no objective key '" + key + "'");
}

// "must be positive", "must be in [0, 0.5)", ...
std::string requirement(const ObjectiveField& f) {
    if (f.minimum && f.maximum)
        return "must be in " + std::string(f.minimum_exclusive ? "(" : "[") + num(*f.minimum) + ", " + num(*f.maximum) +
               (f.maximum_exclusive ? ")" : "]");
    if (f.minimum && *f.minimum == 0.0) return f.minimum_exclusive ? "must be positive" : "must be 0 or positive";
    if (f.minimum) return std::string("must be ") + (f.minimum_exclusive ? "> " : ">= ") + num(*f.minimum);
    if (f.maximum) return std::string("must be ") + (f.maximum_exclusive ? "< " : "<= ") + num(*f.maximum);
    return "must be a number";
}

bool in_range(const ObjectiveField& f, double v) {
    if (f.minimum && (f.minimum_exclusive ? !(v > *f.minimum) : !(v >= *f.minimum))) return false;
    if (f.maximum && (f.maximum_exclusive ? !(v < *f.maximum) : !(v <= *f.maximum))) return false;
    return true;
}

// ---- Parameters as the form shows them; ranges come from the key ----

ParameterSpec real(const std::string& key, std::string label, double def, std::string tip, std::string rec) {
    const ObjectiveField& f = field(key);
    ParameterSpec s;
    s.path = "objective." + key;
    s.label = std::move(label);
    s.kind = Kind::Real;
    s.default_value = def;
    s.minimum = f.minimum;
    s.minimum_exclusive = f.minimum_exclusive;
    s.maximum = f.maximum;
    s.maximum_exclusive = f.maximum_exclusive;
    s.tooltip = std::move(tip);
    s.recommendation = std::move(rec);
    return s;
}

ParameterSpec loss_choice(const std::vector<LossType>& types, std::string tip, std::string rec) {
    ParameterSpec s;
    s.path = "objective.loss_type";
    s.label = "Loss";
    s.kind = Kind::Choice;
    s.default_choice = loss_type_name(types.front());
    for (LossType t : types) s.choices.push_back(loss_type_name(t));
    s.tooltip = std::move(tip);
    s.recommendation = std::move(rec);
    return s;
}

ParameterSpec label_smoothing() {
    return real("label_smoothing", "Label smoothing", 0.0,
                "Assumed share of flipped preference labels (conservative DPO); 0 trusts every label.",
                "0 for clean labels; 0.1-0.2 for noisy ones (cDPO).");
}

ParameterSpec sft_weight(const std::string& what) {
    return real("sft_weight", "SFT weight", 0.0,
                "Adds this times the NLL of the chosen answer to the loss (" + what + "), which keeps chosen likely.",
                "0 (off); 1.0 when chosen rewards fall (RPO).");
}

// ---- Advice ----

std::optional<LossType> find_loss_type(const std::string& name) {
    for (LossType t : kLossTypes)
        if (loss_type_name(t) == name) return t;
    return std::nullopt;
}

std::vector<std::string> dpo_advice(const ObjectiveConfig& o) {
    std::vector<std::string> advice;
    if (o.beta < 0.01 || o.beta > 1.0)
        advice.push_back("DPO beta " + num(o.beta) + " is outside the usual 0.01-1 (paper: 0.1).");
    const auto type = find_loss_type(o.loss_type);
    if (o.label_smoothing > 0 && type && (*type == LossType::Hinge || *type == LossType::Ipo))
        advice.push_back("Label smoothing only affects the sigmoid and robust losses.");
    return advice;
}

std::vector<std::string> kto_advice(const ObjectiveConfig& o) {
    // The engine's paired data has as many desirable as undesirable examples.
    const double ratio = o.desirable_weight / o.undesirable_weight;
    std::ostringstream s;
    s.precision(3);
    s << "KTO weight ratio (desirable x n / undesirable x n, equal counts) = " << ratio << ".";
    if (ratio < 1.0 || ratio > 4.0 / 3.0 + 1e-12) s << " The KTO paper recommends 1 to 4/3.";
    return {s.str()};
}

std::vector<std::string> orpo_advice(const ObjectiveConfig& o) {
    if (o.beta > 1.0)
        return {"ORPO lambda " + num(o.beta) + " is large (paper: 0.1): the odds-ratio term will dominate the SFT loss."};
    return {};
}

std::vector<std::string> simpo_advice(const ObjectiveConfig& o) {
    const double ratio = o.gamma / o.beta;
    std::ostringstream s;
    s.precision(3);
    s << "SimPO gamma/beta = " << ratio << ".";
    if (o.beta < 1.0)
        s << " Beta " << o.beta << " is far below the paper's 2.0-2.5: the length-normalised "
                                   "rewards are small, so the loss barely moves.";
    if (ratio < 0.3 || ratio > 1.0) s << " The paper's tuned configs keep it in 0.5-0.8.";
    return {s.str()};
}

std::vector<std::string> cpo_advice(const ObjectiveConfig& o) {
    std::vector<std::string> advice;
    const auto type = find_loss_type(o.loss_type);
    if (type == LossType::Simpo) {
        std::ostringstream s;
        s.precision(3);
        s << "CPO-SimPO gamma/beta = " << o.gamma / o.beta << ".";
        if (o.beta < 1.0) s << " SimPO's length-normalised rewards want a beta of 2.0-2.5 (" << o.beta << " barely moves the loss).";
        advice.push_back(s.str());
    } else if (o.gamma != ObjectiveConfig{}.gamma) {
        advice.push_back("Gamma only affects the simpo loss type.");
    }
    if (o.label_smoothing > 0 && (type == LossType::Hinge || type == LossType::Ipo))
        advice.push_back("Label smoothing only affects the sigmoid and simpo losses.");
    if (o.cpo_alpha == 0)
        advice.push_back("cpo_alpha 0: no NLL term on the chosen answers, only the preference loss (no reference "
                         "holds the policy either).");
    return advice;
}

// ---- The rows ----

AlgorithmSpec make_row(Algorithm a) {
    AlgorithmSpec s;
    s.algorithm = a;
    switch (a) {
        case Algorithm::Dpo: {
            s.name = "dpo";
            s.title = "DPO";
            s.summary = "DPO: raises the margin of chosen over rejected against a frozen reference model.";
            s.data = DataKind::Paired;
            s.reference = ReferenceUse::Cached;
            s.reference_optional = true;
            s.rewards = RewardKind::RelativeToReference;
            s.loss_types = {LossType::Sigmoid, LossType::Ipo, LossType::Hinge, LossType::Robust};
            ParameterSpec ref_free;
            ref_free.path = "objective.reference_free";
            ref_free.label = "Reference-free";
            ref_free.kind = Kind::Flag;
            ref_free.default_value = 0;
            ref_free.tooltip = "Compare against a uniform reference (reference log-probs 0) instead of the frozen model.";
            ref_free.recommendation = "Off: the reference is DPO's anchor.";
            s.parameters = {
                real("beta", "Beta", 0.1, "Strength of the KL anchor: higher keeps the policy closer to the reference.",
                     "0.1 (DPO paper); 0.01-0.5 is the usual range."),
                loss_choice(s.loss_types,
                            "sigmoid: DPO; ipo: squared loss on length-averaged log-ratios; hinge: SLiC; "
                            "robust: noise-robust DPO.",
                            "sigmoid (the DPO paper)."),
                label_smoothing(),
                sft_weight("RPO, TRL's rpo_alpha, LLaMA-Factory's pref_ftx"),
                real("dpop_lambda", "DPO-Positive lambda", 0.0,
                     "Penalty when the chosen log-prob falls below the reference's (Smaug's DPOP).",
                     "0 (off); 50 in the Smaug paper when chosen rewards fall."),
                ref_free,
            };
            s.advice = dpo_advice;
            s.remedies = {RemedyKind::SftWeight,  RemedyKind::DpopLambda,  RemedyKind::LowerLearningRate,
                          RemedyKind::HigherBeta, RemedyKind::SwitchToKto, RemedyKind::OnPolicyRejected};
            return s;
        }
        case Algorithm::Kto:
            s.name = "kto";
            s.title = "KTO";
            s.summary = "KTO: pushes each answer up or down against a reference point; needs no pairs.";
            s.data = DataKind::Unpaired;
            s.reference = ReferenceUse::EveryStep;
            s.rewards = RewardKind::RelativeToReference;
            s.parameters = {
                real("beta", "Beta", 0.1, "Strength of the KL anchor of each side's reward against the reference point.",
                     "0.1 (KTO paper)."),
                real("desirable_weight", "Desirable weight", 1.0, "Weight of the loss on desirable (chosen) examples.",
                     "Keep desirable_weight x n_desirable / (undesirable_weight x n_undesirable) in [1, 4/3] (KTO paper)."),
                real("undesirable_weight", "Undesirable weight", 1.0,
                     "Weight of the loss on undesirable (rejected) examples.",
                     "1.0; see the desirable weight for the ratio rule."),
            };
            s.advice = kto_advice;
            // Its beta anchors to the reference; it is already what "switch to KTO" offers.
            s.remedies = {RemedyKind::LowerLearningRate, RemedyKind::HigherBeta, RemedyKind::OnPolicyRejected};
            return s;
        case Algorithm::Orpo:
            s.name = "orpo";
            s.title = "ORPO";
            s.summary = "ORPO: SFT on chosen plus an odds-ratio penalty on rejected; no reference model.";
            s.data = DataKind::Paired;
            s.reference = ReferenceUse::None;
            s.rewards = RewardKind::PolicyLogProb;
            s.token_averaged = true;
            s.parameters = {
                real("beta", "Lambda", 0.1,
                     "Weight of the odds-ratio term added to the SFT loss on chosen (ORPO's lambda).",
                     "0.1 (ORPO paper, TRL's default)."),
            };
            s.advice = orpo_advice;
            // Its beta is a loss weight, not an anchor; it already has an SFT term.
            s.remedies = {RemedyKind::LowerLearningRate, RemedyKind::SwitchToKto, RemedyKind::OnPolicyRejected};
            return s;
        case Algorithm::Simpo:
            s.name = "simpo";
            s.title = "SimPO";
            s.summary = "SimPO: length-normalised margin with a target gap gamma; no reference model.";
            s.data = DataKind::Paired;
            s.reference = ReferenceUse::None;
            s.rewards = RewardKind::PolicyLogProb;
            s.token_averaged = true;
            s.parameters = {
                real("beta", "Beta", 2.0, "Scale of the length-normalised reward difference.",
                     "2.0-2.5 (SimPO paper); larger for instruct models (Gemma-2: 10)."),
                real("gamma", "Gamma", 1.0, "Target reward margin: the loss wants beta x (avg_c - avg_r) above gamma.",
                     "Set by the gamma/beta ratio: 0.5-0.8 in the SimPO paper's tuned configs."),
                label_smoothing(),
                sft_weight("CPO-SimPO"),
            };
            s.advice = simpo_advice;
            // No reference to hold the policy to: raising beta is no anchor here.
            s.remedies = {RemedyKind::SftWeight, RemedyKind::LowerLearningRate, RemedyKind::SwitchToKto,
                          RemedyKind::OnPolicyRejected};
            return s;
        case Algorithm::Cpo:
            s.name = "cpo";
            s.title = "CPO";
            s.summary = "CPO: DPO's margin on the policy's own log-probs (no reference model) plus an NLL term "
                        "on chosen; loss simpo is CPO-SimPO.";
            s.data = DataKind::Paired;
            s.reference = ReferenceUse::None;
            s.rewards = RewardKind::PolicyLogProb;
            s.loss_types = {LossType::Sigmoid, LossType::Hinge, LossType::Ipo, LossType::Simpo};
            s.parameters = {
                real("beta", "Beta", 0.1, "Scale of the log-prob difference of chosen over rejected (no reference).",
                     "0.1 (TRL's default); 2.0-2.5 with the simpo loss."),
                loss_choice(s.loss_types,
                            "sigmoid: CPO; hinge: SLiC; ipo: squared loss on length-averaged log-probs; simpo: "
                            "SimPO's length-normalised margin gamma (CPO-SimPO).",
                            "sigmoid (the CPO paper); simpo for CPO-SimPO."),
                real("cpo_alpha", "NLL weight (alpha)", 1.0,
                     "Weight of the NLL of the chosen answers added to the loss: what keeps chosen likely.",
                     "1.0 (CPO paper, TRL's default); 0 with the simpo loss is plain SimPO."),
                real("gamma", "Gamma (simpo)", 0.5, "Target reward margin of the simpo loss (TRL's simpo_gamma).",
                     "0.5 (TRL's default); gamma/beta 0.5-0.8 in the SimPO paper."),
                label_smoothing(),
            };
            s.advice = cpo_advice;
            // No reference to hold the policy to; its NLL term is cpo_alpha, not sft_weight.
            s.remedies = {RemedyKind::LowerLearningRate, RemedyKind::SwitchToKto, RemedyKind::OnPolicyRejected};
            return s;
    }
    throw std::logic_error("algorithm without a row");
}

const std::vector<AlgorithmSpec>& rows() {
    static const std::vector<AlgorithmSpec> table = [] {
        std::vector<AlgorithmSpec> t;
        for (Algorithm a : kAlgorithms) t.push_back(make_row(a));
        return t;
    }();
    return table;
}

}  // namespace

const std::vector<ObjectiveField>& objective_fields() {
    static const std::vector<ObjectiveField> fields = build_fields();
    return fields;
}

const AlgorithmSpec& algorithm_spec(Algorithm algorithm) {
    for (const AlgorithmSpec& s : rows())
        if (s.algorithm == algorithm) return s;
    throw std::logic_error("algorithm missing from kAlgorithms");
}

std::optional<Algorithm> find_algorithm(const std::string& name) {
    for (const AlgorithmSpec& s : rows())
        if (s.name == name) return s.algorithm;
    return std::nullopt;
}

std::string algorithm_names() {
    return join(rows(), [](const AlgorithmSpec& s) { return s.name; });
}

Algorithm algorithm_of(const ObjectiveConfig& config) {
    if (auto a = find_algorithm(config.algorithm)) return *a;
    throw ConfigError("objective.algorithm", quote_value(config.algorithm) + " is not one of: " + algorithm_names());
}

const AlgorithmSpec& algorithm_spec(const ObjectiveConfig& config) { return algorithm_spec(algorithm_of(config)); }

bool needs_reference(const ObjectiveConfig& config) {
    const AlgorithmSpec& s = algorithm_spec(config);
    if (s.reference == ReferenceUse::None) return false;
    return !(s.reference_optional && config.reference_free);
}

bool reference_in_every_step(const ObjectiveConfig& config, ReferenceMode reference_logps) {
    return needs_reference(config) &&
           (algorithm_spec(config).reference == ReferenceUse::EveryStep || reference_logps == ReferenceMode::OnTheFly);
}

bool rewards_relative_to_reference(const ObjectiveConfig& config) {
    return algorithm_spec(config).rewards == RewardKind::RelativeToReference && needs_reference(config);
}

bool token_averaged_logps(const ObjectiveConfig& config) {
    const AlgorithmSpec& s = algorithm_spec(config);
    if (s.token_averaged) return true;
    return !s.loss_types.empty() && loss_type_token_averaged(loss_type_of(config, s.algorithm));
}

std::string rewards_meaning(const ObjectiveConfig& config) {
    const bool averaged = token_averaged_logps(config);
    const std::string over = averaged ? "averaged over its tokens" : "summed over its tokens";
    if (rewards_relative_to_reference(config))
        return "Rewards: beta x (log pi - log pi_ref) of each answer, " + over +
               ": 0 at the start, above 0 when the policy makes the answer more likely than the reference does.";
    return "Rewards: beta x the policy's own log-prob of each answer, " + over +
           " (no reference): below 0 from the start; read their change, not their sign.";
}

const std::string& loss_type_name(LossType type) {
    static const std::string sigmoid = "sigmoid", robust = "robust", hinge = "hinge", ipo = "ipo", simpo = "simpo";
    switch (type) {
        case LossType::Sigmoid: return sigmoid;
        case LossType::Robust: return robust;
        case LossType::Hinge: return hinge;
        case LossType::Ipo: return ipo;
        case LossType::Simpo: return simpo;
    }
    throw std::logic_error("loss type without a name");
}

bool loss_type_token_averaged(LossType type) {
    switch (type) {
        case LossType::Ipo:
        case LossType::Simpo: return true;
        case LossType::Sigmoid:
        case LossType::Robust:
        case LossType::Hinge: return false;
    }
    return false;
}

LossType loss_type_of(const ObjectiveConfig& config, Algorithm algorithm) {
    const AlgorithmSpec& s = algorithm_spec(algorithm);
    if (auto t = find_loss_type(config.loss_type))
        if (std::find(s.loss_types.begin(), s.loss_types.end(), *t) != s.loss_types.end()) return *t;
    throw ConfigError("objective.loss_type", "unknown " + s.title + " loss type '" + config.loss_type + "'; valid: " +
                                                 join(s.loss_types, [](LossType t) { return loss_type_name(t); }));
}

void check_objective_values(const ObjectiveConfig& config) {
    for (const ObjectiveField& f : objective_fields()) {
        if (f.kind != Kind::Real) continue;
        const double v = config.*f.real;
        const std::string path = "objective." + f.key;
        if (!std::isfinite(v)) throw ConfigError(path, "must be a finite number, got " + num(v));
        if (!in_range(f, v))
            throw ConfigError(path, requirement(f) + (f.hint.empty() ? "" : " (" + f.hint + ")") + ", got " + num(v));
    }
}

void validate_objective(const ObjectiveConfig& config) {
    const AlgorithmSpec& s = algorithm_spec(config);
    check_objective_values(config);
    // Only the algorithms that read a loss type check it.
    if (!s.loss_types.empty()) loss_type_of(config, s.algorithm);
}

const std::vector<ParameterSpec>& objective_parameters(const std::string& algorithm) {
    if (auto a = find_algorithm(algorithm)) return algorithm_spec(*a).parameters;
    throw ConfigError("objective.algorithm", "unknown algorithm '" + algorithm + "'; valid: " + algorithm_names());
}

std::string range_text(const ParameterSpec& s) {
    if (s.kind == Kind::Choice) {
        std::string out;
        for (const auto& c : s.choices) out += (out.empty() ? "" : ", ") + c;
        return out;
    }
    if (s.kind == Kind::Flag) return "on or off";
    if (s.minimum && s.maximum)
        return (s.minimum_exclusive ? "(" : "[") + num(*s.minimum) + ", " + num(*s.maximum) +
               (s.maximum_exclusive ? ")" : "]");
    if (s.minimum) return (s.minimum_exclusive ? "> " : ">= ") + num(*s.minimum);
    if (s.maximum) return (s.maximum_exclusive ? "< " : "<= ") + num(*s.maximum);
    return "any";
}

std::vector<std::string> objective_advice(const ObjectiveConfig& config) {
    const auto a = find_algorithm(config.algorithm);
    if (!a) return {};
    const AlgorithmSpec& s = algorithm_spec(*a);
    return s.advice ? s.advice(config) : std::vector<std::string>{};
}

bool remedy_applies(RemedyKind remedy, const std::string& algorithm) {
    const auto a = find_algorithm(algorithm);
    if (!a) return true;
    const auto& r = algorithm_spec(*a).remedies;
    return std::find(r.begin(), r.end(), remedy) != r.end();
}

}  // namespace ps
