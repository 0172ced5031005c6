// What a preference algorithm is, in one table: its name, the data it trains on, whether and
// when it needs a reference model, what its rewards mean, its parameters (with defaults, ranges
// and the papers' values), its advice and which remedies apply to it. Every part of the
// studio that depends on the algorithm asks this table or switches on `Algorithm` (core
// compiles with -Werror=switch, so a new algorithm without its case does not build).
//
// Adding an algorithm: an enumerator (and its place in kAlgorithms) here, its row in
// algorithm.cpp, its objective file in objectives/ and its case in paired_objective
// (objectives/objective.h). New objective keys go into ObjectiveConfig and objective_fields().
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_choices.h"

namespace ps {

enum class Algorithm { Dpo, Kto, Orpo, Simpo, Cpo };
// Every algorithm, in the order the studio offers them.
inline constexpr Algorithm kAlgorithms[] = {Algorithm::Dpo, Algorithm::Kto, Algorithm::Orpo, Algorithm::Simpo,
                                            Algorithm::Cpo};

// What the objective trains on. Unpaired objectives (KTO) also take pairs, split into a
// desirable and an undesirable example each; paired ones cannot train on unpaired data.
enum class DataKind { Paired, Unpaired };

// Whether and when the reference model is needed.
enum class ReferenceUse {
    None,       // never (ORPO, SimPO, CPO): no reference model is built
    Cached,     // reference log-probs of the data, computed once before training (DPO); a
                // reference forward every step only with train.reference_logps "on_the_fly"
    EveryStep,  // also a reference forward in every step on inputs no cache holds (KTO: the
                // batch's mismatched pairs, beside a no-gradient policy pass, for its reference
                // point), so the reference model stays in memory while training
};

// What rewards/chosen and rewards/rejected mean.
enum class RewardKind {
    RelativeToReference,  // beta (log pi - log pi_ref): 0 at the start, the direction the policy moved
    PolicyLogProb,        // beta x the policy's own log-prob (no reference): negative from the start
};

// TRL's loss types (objective.loss_type; the name is the JSON string). Which of them an
// algorithm reads is its row's; SimPO's loss is "simpo" without being configurable.
enum class LossType { Sigmoid, Robust, Hinge, Ipo, Simpo };

// Config changes the diagnosis can suggest (diagnose/remedies.h words and applies them).
enum class RemedyKind { SftWeight, DpopLambda, LowerLearningRate, HigherBeta, SwitchToKto, OnPolicyRejected };

// The "objective" section of a run config (README: config reference): every key any algorithm
// reads; each algorithm's row says which apply. objective_fields() lists them for parsing.
struct ObjectiveConfig {
    std::string algorithm = "dpo";  // JSON name; algorithm_of() reads it
    double beta = 0.1;
    std::string loss_type = "sigmoid";  // JSON name; loss_type_of() reads it
    double label_smoothing = 0.0;
    double sft_weight = 0.0;
    double dpop_lambda = 0.0;
    double desirable_weight = 1.0;
    double undesirable_weight = 1.0;
    double gamma = 0.5;
    bool reference_free = false;  // DPO against a uniform reference (ref log-probs = 0)
    double cpo_alpha = 1.0;       // CPO: weight of the NLL of the chosen answers (TRL cpo_alpha)
};

// One parameter of an algorithm, as the setup form presents it.
struct ParameterSpec {
    enum class Kind { Real, Choice, Flag };
    std::string path;   // run-config JSON path, "objective.beta"
    std::string label;  // "Beta", "Lambda (ORPO)"
    Kind kind = Kind::Real;
    double default_value = 0.0;         // Real and Flag (0/1)
    std::string default_choice;         // Choice
    std::vector<std::string> choices;   // Choice
    std::optional<double> minimum;      // Real: valid range (the key's, objective_fields()),
    std::optional<double> maximum;      // bounds as flagged below
    bool minimum_exclusive = false;
    bool maximum_exclusive = false;
    std::string tooltip;         // one line: what it does
    std::string recommendation;  // what the papers use
};

struct AlgorithmSpec {
    Algorithm algorithm;
    std::string name;     // objective.algorithm in JSON: "dpo"
    std::string title;    // "DPO"
    std::string summary;  // one line on what it optimises
    DataKind data = DataKind::Paired;
    ReferenceUse reference = ReferenceUse::None;
    bool reference_optional = false;  // objective.reference_free drops the reference (DPO)
    RewardKind rewards = RewardKind::PolicyLogProb;
    // Log-probs averaged over completion tokens for every loss type (ORPO, SimPO); otherwise
    // summed unless the loss type averages (ipo).
    bool token_averaged = false;
    std::vector<LossType> loss_types;       // objective.loss_type values it reads; empty: none
    std::vector<ParameterSpec> parameters;  // its objective.* keys, in panel order
    // Advice on a valid config against the papers' recommendations; empty when nothing stands out.
    std::vector<std::string> (*advice)(const ObjectiveConfig&) = nullptr;
    std::vector<RemedyKind> remedies;  // the remedies that apply to it
};

// The row of an algorithm.
const AlgorithmSpec& algorithm_spec(Algorithm algorithm);
// The algorithm named `name` ("dpo"), nullopt for an unknown name.
std::optional<Algorithm> find_algorithm(const std::string& name);
// config.algorithm parsed: ConfigError("objective.algorithm", "'ppo' is not one of: dpo, ...").
Algorithm algorithm_of(const ObjectiveConfig& config);
const AlgorithmSpec& algorithm_spec(const ObjectiveConfig& config);
// "dpo, kto, orpo, simpo"
std::string algorithm_names();

// Whether the configured objective reads reference log-probs (its row, and for DPO
// objective.reference_free), so the engine builds a reference model only when needed.
bool needs_reference(const ObjectiveConfig& config);
// Whether the reference model is kept and run in every training step: the row says so
// (KTO), or train.reference_logps is on_the_fly. False when no reference is needed.
bool reference_in_every_step(const ObjectiveConfig& config, ReferenceMode reference_logps);
// Whether the rewards are relative to the reference (start at 0), or the policy's own
// log-probs times beta (reference-free algorithms and reference-free DPO).
bool rewards_relative_to_reference(const ObjectiveConfig& config);
// Whether the loss (and the rewards) use log-probs averaged over completion tokens.
bool token_averaged_logps(const ObjectiveConfig& config);
// One sentence on what rewards/chosen and rewards/rejected mean for this config.
std::string rewards_meaning(const ObjectiveConfig& config);

const std::string& loss_type_name(LossType type);
// ipo and simpo average log-probs over completion tokens (TRL).
bool loss_type_token_averaged(LossType type);
// config.loss_type as one of the loss types `algorithm` reads; ConfigError("objective.loss_type")
// naming the value and that algorithm's valid ones otherwise.
LossType loss_type_of(const ObjectiveConfig& config, Algorithm algorithm);

// One key of the run config's "objective" section: its JSON name, the ObjectiveConfig member
// it fills and, for numbers, the values it accepts (every algorithm alike).
struct ObjectiveField {
    std::string key;  // "beta" (objective.beta)
    ParameterSpec::Kind kind = ParameterSpec::Kind::Real;
    double ObjectiveConfig::*real = nullptr;        // Real
    std::string ObjectiveConfig::*text = nullptr;   // Choice
    bool ObjectiveConfig::*flag = nullptr;          // Flag
    std::optional<double> minimum, maximum;
    bool minimum_exclusive = false, maximum_exclusive = false;
    std::string hint;  // added to a range error: "DPO 0.1, SimPO 2.0, ORPO lambda 0.1"
};
const std::vector<ObjectiveField>& objective_fields();

// The numbers of the objective section in range (finite, within objective_fields()' bounds).
// Throws ConfigError("objective.<key>") for the first that is not. Every objective checks this.
void check_objective_values(const ObjectiveConfig& config);
// Everything the objectives need: a known algorithm, check_objective_values, and a loss type
// the algorithm reads (when it reads one). Throws ConfigError("objective.<key>").
void validate_objective(const ObjectiveConfig& config);

// The parameters of the algorithm named `algorithm`; ConfigError("objective.algorithm") when unknown.
const std::vector<ParameterSpec>& objective_parameters(const std::string& algorithm);
// "[0, 0.5)", "> 0", "any" ...
std::string range_text(const ParameterSpec& spec);
// The row's advice for a valid config; empty for an unknown algorithm.
std::vector<std::string> objective_advice(const ObjectiveConfig& config);
// Whether the remedy applies to the algorithm named `algorithm` ("" or an unknown name: yes).
bool remedy_applies(RemedyKind remedy, const std::string& algorithm);

}  // namespace ps
