// Pure logic behind the compare view (no widgets): configs flattened to "a.b.c" keys, one row
// per key across runs with a "differs" flag (W&B / MLflow "diff only" tables),
// and summary statistics of a metric series.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/run_groups.h"

namespace ps::ui::compare {

// Flattened configs ("objective.beta" -> "0.1"): core's, which grouping runs reads too.
using FlatValue = FlatConfigValue;
inline std::map<std::string, FlatValue> flattenConfig(const nlohmann::json& config) { return flatten_config(config); }

struct ConfigRow {
    std::string key;
    std::vector<std::string> values;  // one per run; "" where `present` is false
    std::vector<bool> present;        // whether the run's config has the key
    bool differs = false;             // runs disagree, or some run lacks the key
};

// One row per key found in any config, sorted by key; columns follow `configs`' order.
std::vector<ConfigRow> buildConfigRows(const std::vector<nlohmann::json>& configs);
// The rows whose runs disagree.
std::vector<ConfigRow> differingRows(const std::vector<ConfigRow>& rows);

// Which way a metric improves: max for rewards/chosen, rewards/margins, rewards/accuracies;
// min for loss and rewards/rejected (the policy should push rejected answers down). Eval and
// SFT variants follow their base name; anything else counts as higher-is-better.
bool higherIsBetter(const std::string& metric);

struct SeriesSummary {
    bool valid = false;  // false when the series has no finite value
    double final = 0.0;  // the last finite value (highest step)
    double best = 0.0;
    double min = 0.0;
    double max = 0.0;
    int count = 0;       // finite values
};
// NaN and infinite values are skipped.
SeriesSummary summarize(const std::vector<double>& values, bool higherBetter);

// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF.
std::string csvField(const std::string& text);

}  // namespace ps::ui::compare
