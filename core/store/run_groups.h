// Which stored runs are one experiment repeated, and their curves as one: runs whose configs
// differ only in a chosen key (by default `seed`) form a group, drawn as the mean over its runs
// at each step with a band (min-max or mean +/- standard deviation), as Aim and W&B group runs.
// Pure logic on resolved configs and metric series; the compare view draws it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ps {

// One leaf of a flattened config: `text` for people (strings without quotes), `canonical`
// (the JSON dump) for comparing, so "1" (a string) and 1 (a number) differ.
struct FlatConfigValue {
    std::string text;
    std::string canonical;
};

// Objects are walked to their leaves, joined with '.': {"objective": {"beta": 0.1}} gives
// "objective.beta" -> "0.1". Arrays of scalars (and empty arrays/objects) stay one value, shown
// as compact JSON; arrays holding objects or arrays are walked with "[i]" ("stages[0].lr").
// A non-object top level is one key, "".
std::map<std::string, FlatConfigValue> flatten_config(const nlohmann::json& config);

// Keys that name or place a run without changing what it computes (`name`, `train.save_dir`,
// checkpointing; for runs imported from other tools `output_dir`, `run_name`, `logging_dir`):
// they never keep two runs out of one group.
bool is_label_key(const std::string& flat_key);

// The flattened keys (label keys left out) whose values differ among `configs`, or that some
// config lacks; sorted. The keys a group can be formed over.
std::vector<std::string> differing_config_keys(const std::vector<nlohmann::json>& configs);

struct RunGroup {
    std::vector<size_t> members;  // indices into the configs passed in, ascending
    // The keys (and this group's values, "—" where it lacks the key) that tell the groups
    // apart: those differing among the groups' first members, label keys and the ignored key
    // left out. Empty when there is one group.
    std::vector<std::pair<std::string, std::string>> distinguishing;
    // The distinct values of the ignored key among the members, in member order ("—" for a
    // member without it).
    std::vector<std::string> ignored_values;
};

// Runs whose flattened configs are equal once the ignored key (and anything under it: "data"
// ignores "data.train" too) and the label keys are left out form one group. Groups come in the
// order of their first member. An empty `ignored_key` groups nothing: one group per run.
std::vector<RunGroup> group_runs(const std::vector<nlohmann::json>& configs, const std::string& ignored_key);

// A metric series of one run: values by step (non-finite values are skipped; of several values
// at one step the last counts).
struct StepSeries {
    std::vector<int64_t> steps;
    std::vector<double> values;
};

// A group's series, aligned on the step: at each step that any member logged, the mean over
// the members that logged it (count), their min and max, and the population standard
// deviation (sqrt(sum (v - mean)^2 / count); 0 for one value).
struct GroupSeries {
    std::vector<int64_t> steps;  // ascending, the union of the members' steps
    std::vector<double> mean, min, max, stddev;
    std::vector<int> count;
    int members = 0;             // members with at least one finite value
    bool ragged = false;         // some step lacks some of those members
};
GroupSeries aggregate_series(const std::vector<StepSeries>& members);

}  // namespace ps
