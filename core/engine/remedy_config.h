// A remedy applied to a run config: the config changes "clone with remedy" makes. Here, not in
// diagnose/, because the on-policy remedy points data.train at the file the engine makes for
// the experiment (engine/onpolicy_data.h names it after what decides the reference model).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/config/run_config.h"
#include "core/diagnose/remedies.h"

namespace ps {

// The config overrides a one-click remedy makes on `config`, as {"key.path": value}, values
// computed from the config (the learning rate is halved, beta tripled, ...). Throws ps::Error
// when the remedy is advice only or does not apply to the config's algorithm.
nlohmann::json remedy_overrides(const std::string& id, const RunConfig& config);

// `experiment` (run-config JSON as written) with the remedy's overrides set and its name
// suffix appended (once). `config` is the experiment parsed, for the relative values.
// Throws like remedy_overrides.
nlohmann::json apply_remedy(nlohmann::json experiment, const std::string& id, const RunConfig& config);

}  // namespace ps
