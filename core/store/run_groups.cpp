#include "core/store/run_groups.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace ps {

namespace {

bool isScalarArray(const nlohmann::json& value) {
    return std::all_of(value.begin(), value.end(), [](const nlohmann::json& v) { return !v.is_structured(); });
}

void flattenInto(const nlohmann::json& value, const std::string& prefix, std::map<std::string, FlatConfigValue>& out) {
    if (value.is_object() && !value.empty()) {
        for (auto it = value.begin(); it != value.end(); ++it)
            flattenInto(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
        return;
    }
    if (value.is_array() && !value.empty() && !isScalarArray(value)) {
        for (size_t i = 0; i < value.size(); ++i) flattenInto(value[i], prefix + "[" + std::to_string(i) + "]", out);
        return;
    }
    FlatConfigValue flat;
    flat.canonical = value.dump();
    flat.text = value.is_string() ? value.get<std::string>() : flat.canonical;
    out[prefix] = std::move(flat);
}

// `key` is `ignored` or lies under it ("data" covers "data.train" and "data.columns[0]").
bool under(const std::string& key, const std::string& ignored) {
    if (ignored.empty() || key.compare(0, ignored.size(), ignored) != 0) return false;
    return key.size() == ignored.size() || key[ignored.size()] == '.' || key[ignored.size()] == '[';
}

using Flat = std::map<std::string, FlatConfigValue>;

// The config as compared for grouping: label keys and the ignored key left out.
std::map<std::string, std::string> signature(const Flat& flat, const std::string& ignored) {
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : flat)
        if (!is_label_key(key) && !under(key, ignored)) out.emplace(key, value.canonical);
    return out;
}

constexpr const char* kAbsent = "—";

}  // namespace

std::map<std::string, FlatConfigValue> flatten_config(const nlohmann::json& config) {
    Flat out;
    if (config.is_null()) return out;
    flattenInto(config, "", out);
    return out;
}

bool is_label_key(const std::string& key) {
    static const std::set<std::string> kLabels{
        "name", "train.save_dir", "train.overwrite_save_dir", "train.checkpoint_every", "train.keep_checkpoints",
        // Transformers' TrainingArguments of an imported run: where and under which name it logged.
        "output_dir", "run_name", "logging_dir"};
    return kLabels.count(key) > 0;
}

std::vector<std::string> differing_config_keys(const std::vector<nlohmann::json>& configs) {
    std::vector<Flat> flat;
    std::set<std::string> keys;
    for (const auto& config : configs) {
        flat.push_back(flatten_config(config));
        for (const auto& entry : flat.back()) keys.insert(entry.first);
    }
    std::vector<std::string> out;
    for (const std::string& key : keys) {
        if (is_label_key(key)) continue;
        const std::string* first = nullptr;
        bool differs = false;
        for (const Flat& f : flat) {
            auto it = f.find(key);
            if (it == f.end()) { differs = true; break; }
            if (!first) first = &it->second.canonical;
            else if (*first != it->second.canonical) { differs = true; break; }
        }
        if (differs) out.push_back(key);
    }
    return out;
}

std::vector<RunGroup> group_runs(const std::vector<nlohmann::json>& configs, const std::string& ignored_key) {
    std::vector<Flat> flat;
    flat.reserve(configs.size());
    for (const auto& config : configs) flat.push_back(flatten_config(config));

    std::vector<RunGroup> groups;
    std::vector<std::map<std::string, std::string>> signatures;  // one per group
    for (size_t i = 0; i < flat.size(); ++i) {
        auto sig = signature(flat[i], ignored_key);
        size_t g = groups.size();
        if (!ignored_key.empty())
            for (size_t j = 0; j < signatures.size(); ++j)
                if (signatures[j] == sig) { g = j; break; }
        if (g == groups.size()) {
            groups.emplace_back();
            signatures.push_back(std::move(sig));
        }
        RunGroup& group = groups[g];
        group.members.push_back(i);
        std::string value = kAbsent;
        if (!ignored_key.empty()) {
            // The ignored key's value; a key with parts underneath ("data") is its parts' dump.
            std::string joined;
            for (const auto& [key, v] : flat[i])
                if (under(key, ignored_key)) joined += (joined.empty() ? "" : ", ") + v.text;
            if (!joined.empty()) value = joined;
        }
        if (std::find(group.ignored_values.begin(), group.ignored_values.end(), value) == group.ignored_values.end())
            group.ignored_values.push_back(value);
    }

    // What tells the groups apart: the keys on which their signatures differ.
    if (groups.size() > 1) {
        std::set<std::string> keys;
        for (const auto& sig : signatures)
            for (const auto& entry : sig) keys.insert(entry.first);
        for (const std::string& key : keys) {
            bool differs = false;
            const std::string* first = nullptr;
            for (const auto& sig : signatures) {
                auto it = sig.find(key);
                if (it == sig.end()) { differs = true; break; }
                if (!first) first = &it->second;
                else if (*first != it->second) { differs = true; break; }
            }
            if (!differs) continue;
            for (size_t g = 0; g < groups.size(); ++g) {
                const Flat& rep = flat[groups[g].members.front()];
                auto it = rep.find(key);
                groups[g].distinguishing.emplace_back(key, it == rep.end() ? kAbsent : it->second.text);
            }
        }
    }
    return groups;
}

GroupSeries aggregate_series(const std::vector<StepSeries>& members) {
    // Each member's finite values by step, the last at a repeated step.
    std::vector<std::map<int64_t, double>> byStep;
    std::set<int64_t> steps;
    for (const StepSeries& s : members) {
        std::map<int64_t, double> m;
        for (size_t i = 0; i < s.steps.size() && i < s.values.size(); ++i)
            if (std::isfinite(s.values[i])) m[s.steps[i]] = s.values[i];
        if (m.empty()) continue;
        for (const auto& entry : m) steps.insert(entry.first);
        byStep.push_back(std::move(m));
    }
    GroupSeries out;
    out.members = int(byStep.size());
    for (int64_t step : steps) {
        std::vector<double> v;
        for (const auto& m : byStep) {
            auto it = m.find(step);
            if (it != m.end()) v.push_back(it->second);
        }
        double sum = 0.0;
        for (double x : v) sum += x;
        const double mean = sum / double(v.size());
        double ss = 0.0;
        for (double x : v) ss += (x - mean) * (x - mean);
        out.steps.push_back(step);
        out.mean.push_back(mean);
        out.min.push_back(*std::min_element(v.begin(), v.end()));
        out.max.push_back(*std::max_element(v.begin(), v.end()));
        out.stddev.push_back(std::sqrt(ss / double(v.size())));
        out.count.push_back(int(v.size()));
        if (int(v.size()) < out.members) out.ragged = true;
    }
    return out;
}

}  // namespace ps
