// The objective parameters of each algorithm, as the setup form presents them: which apply,
// their defaults, valid ranges, what they do and what the papers recommend. One table, so the
// form, the README and validation tell the same story.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "config/run_config.h"

namespace ps {

struct ParameterSpec {
    enum class Kind { Real, Choice, Flag };
    std::string path;   // run-config JSON path, "objective.beta"
    std::string label;  // "Beta", "Lambda (ORPO)"
    Kind kind = Kind::Real;
    double default_value = 0.0;         // Real and Flag (0/1)
    std::string default_choice;         // Choice
    std::vector<std::string> choices;   // Choice
    std::optional<double> minimum;      // Real: valid range, bounds as flagged below
    std::optional<double> maximum;
    bool minimum_exclusive = false;
    bool maximum_exclusive = false;
    std::string tooltip;         // one line: what it does
    std::string recommendation;  // what the papers use
};

// The algorithms the engine trains: dpo, kto, orpo, simpo.
const std::vector<std::string>& algorithms();
// One line on what the algorithm optimises.
std::string algorithm_summary(const std::string& algorithm);
// Throws ConfigError("objective.algorithm") for an unknown algorithm.
const std::vector<ParameterSpec>& objective_parameters(const std::string& algorithm);
// "[0, 0.5)", "> 0", "any" ...
std::string range_text(const ParameterSpec& spec);

// Advice on a valid config's objective values against the papers' recommendations
// (e.g. SimPO's gamma/beta ratio, KTO's weight rule). Empty when nothing stands out.
std::vector<std::string> objective_advice(const ObjectiveConfig& objective);

}  // namespace ps
