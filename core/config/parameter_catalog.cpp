#include "config/parameter_catalog.h"

#include <cmath>
#include <map>
#include <sstream>

#include "common/errors.h"

namespace ps {

namespace {

using Kind = ParameterSpec::Kind;

ParameterSpec real(std::string path, std::string label, double def, std::optional<double> lo,
                   bool lo_excl, std::optional<double> hi, bool hi_excl, std::string tip,
                   std::string rec) {
    ParameterSpec s;
    s.path = std::move(path);
    s.label = std::move(label);
    s.kind = Kind::Real;
    s.default_value = def;
    s.minimum = lo;
    s.minimum_exclusive = lo_excl;
    s.maximum = hi;
    s.maximum_exclusive = hi_excl;
    s.tooltip = std::move(tip);
    s.recommendation = std::move(rec);
    return s;
}

ParameterSpec label_smoothing() {
    return real("objective.label_smoothing", "Label smoothing", 0.0, 0.0, false, 0.5, true,
                "Assumed share of flipped preference labels (conservative DPO); 0 trusts every label.",
                "0 for clean labels; 0.1-0.2 for noisy ones (cDPO).");
}

ParameterSpec sft_weight(const std::string& what) {
    return real("objective.sft_weight", "SFT weight", 0.0, 0.0, false, std::nullopt, false,
                "Adds this times the NLL of the chosen answer to the loss (" + what +
                    "), which keeps chosen likely.",
                "0 (off); 1.0 when chosen rewards fall (RPO).");
}

std::map<std::string, std::vector<ParameterSpec>> build() {
    std::map<std::string, std::vector<ParameterSpec>> t;
    {
        ParameterSpec loss;
        loss.path = "objective.loss_type";
        loss.label = "Loss";
        loss.kind = Kind::Choice;
        loss.default_choice = "sigmoid";
        loss.choices = {"sigmoid", "ipo", "hinge", "robust"};
        loss.tooltip = "sigmoid: DPO; ipo: squared loss on length-averaged log-ratios; hinge: SLiC; "
                       "robust: noise-robust DPO.";
        loss.recommendation = "sigmoid (the DPO paper).";
        ParameterSpec ref_free;
        ref_free.path = "objective.reference_free";
        ref_free.label = "Reference-free";
        ref_free.kind = Kind::Flag;
        ref_free.default_value = 0;
        ref_free.tooltip = "Compare against a uniform reference (reference log-probs 0) instead of the frozen model.";
        ref_free.recommendation = "Off: the reference is DPO's anchor.";
        t["dpo"] = {
            real("objective.beta", "Beta", 0.1, 0.0, true, std::nullopt, false,
                 "Strength of the KL anchor: higher keeps the policy closer to the reference.",
                 "0.1 (DPO paper); 0.01-0.5 is the usual range."),
            loss,
            label_smoothing(),
            sft_weight("RPO, TRL's rpo_alpha, LLaMA-Factory's pref_ftx"),
            real("objective.dpop_lambda", "DPO-Positive lambda", 0.0, 0.0, false, std::nullopt, false,
                 "Penalty when the chosen log-prob falls below the reference's (Smaug's DPOP).",
                 "0 (off); 50 in the Smaug paper when chosen rewards fall."),
            ref_free,
        };
    }
    t["kto"] = {
        real("objective.beta", "Beta", 0.1, 0.0, true, std::nullopt, false,
             "Strength of the KL anchor of each side's reward against the reference point.",
             "0.1 (KTO paper)."),
        real("objective.desirable_weight", "Desirable weight", 1.0, 0.0, true, std::nullopt, false,
             "Weight of the loss on desirable (chosen) examples.",
             "Keep desirable_weight x n_desirable / (undesirable_weight x n_undesirable) in [1, 4/3] (KTO paper)."),
        real("objective.undesirable_weight", "Undesirable weight", 1.0, 0.0, true, std::nullopt, false,
             "Weight of the loss on undesirable (rejected) examples.",
             "1.0; see the desirable weight for the ratio rule."),
    };
    t["orpo"] = {
        real("objective.beta", "Lambda", 0.1, 0.0, true, std::nullopt, false,
             "Weight of the odds-ratio term added to the SFT loss on chosen (ORPO's lambda).",
             "0.1 (ORPO paper, TRL's default)."),
    };
    t["simpo"] = {
        real("objective.beta", "Beta", 2.0, 0.0, true, std::nullopt, false,
             "Scale of the length-normalised reward difference.",
             "2.0-2.5 (SimPO paper); larger for instruct models (Gemma-2: 10)."),
        real("objective.gamma", "Gamma", 1.0, 0.0, false, std::nullopt, false,
             "Target reward margin: the loss wants beta x (avg_c - avg_r) above gamma.",
             "Set by the gamma/beta ratio: 0.5-0.8 in the SimPO paper's tuned configs."),
        label_smoothing(),
        sft_weight("CPO-SimPO"),
    };
    return t;
}

const std::map<std::string, std::vector<ParameterSpec>>& table() {
    static const auto t = build();
    return t;
}

std::string num(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

}  // namespace

const std::vector<std::string>& algorithms() {
    static const std::vector<std::string> a{"dpo", "kto", "orpo", "simpo"};
    return a;
}

std::string algorithm_summary(const std::string& algorithm) {
    if (algorithm == "dpo") return "DPO: raises the margin of chosen over rejected against a frozen reference model.";
    if (algorithm == "kto") return "KTO: pushes each answer up or down against a reference point; needs no pairs.";
    if (algorithm == "orpo") return "ORPO: SFT on chosen plus an odds-ratio penalty on rejected; no reference model.";
    if (algorithm == "simpo") return "SimPO: length-normalised margin with a target gap gamma; no reference model.";
    throw ConfigError("objective.algorithm", "unknown algorithm '" + algorithm + "'; valid: dpo, kto, orpo, simpo");
}

const std::vector<ParameterSpec>& objective_parameters(const std::string& algorithm) {
    auto it = table().find(algorithm);
    if (it == table().end())
        throw ConfigError("objective.algorithm", "unknown algorithm '" + algorithm + "'; valid: dpo, kto, orpo, simpo");
    return it->second;
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

std::vector<std::string> objective_advice(const ObjectiveConfig& o) {
    std::vector<std::string> advice;
    if (o.algorithm == "simpo") {
        const double ratio = o.gamma / o.beta;
        std::ostringstream s;
        s.precision(3);
        s << "SimPO gamma/beta = " << ratio << ".";
        if (o.beta < 1.0)
            s << " Beta " << o.beta << " is far below the paper's 2.0-2.5: the length-normalised "
                                       "rewards are small, so the loss barely moves.";
        if (ratio < 0.3 || ratio > 1.0) s << " The paper's tuned configs keep it in 0.5-0.8.";
        advice.push_back(s.str());
    } else if (o.algorithm == "kto") {
        // The engine's paired data has as many desirable as undesirable examples.
        const double ratio = o.desirable_weight / o.undesirable_weight;
        std::ostringstream s;
        s.precision(3);
        s << "KTO weight ratio (desirable x n / undesirable x n, equal counts) = " << ratio << ".";
        if (ratio < 1.0 || ratio > 4.0 / 3.0 + 1e-12) s << " The KTO paper recommends 1 to 4/3.";
        advice.push_back(s.str());
    } else if (o.algorithm == "dpo") {
        if (o.beta < 0.01 || o.beta > 1.0)
            advice.push_back("DPO beta " + num(o.beta) + " is outside the usual 0.01-1 (paper: 0.1).");
        if (o.label_smoothing > 0 && (o.loss_type == "hinge" || o.loss_type == "ipo"))
            advice.push_back("Label smoothing only affects the sigmoid and robust losses.");
    } else if (o.algorithm == "orpo") {
        if (o.beta > 1.0)
            advice.push_back("ORPO lambda " + num(o.beta) + " is large (paper: 0.1): the odds-ratio term will dominate the SFT loss.");
    }
    return advice;
}

}  // namespace ps
