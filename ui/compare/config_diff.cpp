#include "ui/compare/config_diff.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/common/metric_name.h"

namespace ps::ui::compare {

namespace {

std::string baseName(const std::string& metric) { return std::string(split_metric_name(metric).key); }

}  // namespace

std::vector<ConfigRow> buildConfigRows(const std::vector<nlohmann::json>& configs) {
    std::vector<std::map<std::string, FlatValue>> flat;
    flat.reserve(configs.size());
    std::set<std::string> keys;
    for (const auto& config : configs) {
        flat.push_back(flattenConfig(config));
        for (const auto& [key, value] : flat.back()) keys.insert(key);
    }
    std::vector<ConfigRow> rows;
    rows.reserve(keys.size());
    for (const std::string& key : keys) {
        ConfigRow row;
        row.key = key;
        const std::string* first = nullptr;
        for (const auto& run : flat) {
            auto it = run.find(key);
            if (it == run.end()) {
                row.values.emplace_back();
                row.present.push_back(false);
                row.differs = true;
                continue;
            }
            row.values.push_back(it->second.text);
            row.present.push_back(true);
            if (!first) first = &it->second.canonical;
            else if (*first != it->second.canonical) row.differs = true;
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<ConfigRow> differingRows(const std::vector<ConfigRow>& rows) {
    std::vector<ConfigRow> out;
    std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
                 [](const ConfigRow& r) { return r.differs; });
    return out;
}

bool higherIsBetter(const std::string& metric) {
    const std::string base = baseName(metric);
    return !(base == "loss" || base == "rewards/rejected");
}

SeriesSummary summarize(const std::vector<double>& values, bool higherBetter) {
    SeriesSummary s;
    for (double v : values) {
        if (!std::isfinite(v)) continue;
        if (!s.valid) {
            s.min = s.max = v;
            s.valid = true;
        }
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
        s.final = v;
        ++s.count;
    }
    if (s.valid) s.best = higherBetter ? s.max : s.min;
    return s;
}

std::string csvField(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

}  // namespace ps::ui::compare
