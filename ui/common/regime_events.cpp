#include "common/regime_events.h"

namespace ps::ui {

namespace {

int64_t jsonStep(const nlohmann::json& data, const char* key, int64_t fallback) {
    auto it = data.find(key);
    return it != data.end() && it->is_number() ? it->get<int64_t>() : fallback;
}

}  // namespace

std::optional<RegimeChange> regimeChange(const RunEvent& e) {
    if (e.kind != "regime" || !e.data.is_object()) return std::nullopt;
    const auto to = e.data.find("to");
    if (to == e.data.end() || !to->is_string()) return std::nullopt;
    RegimeChange c;
    c.regime = QString::fromStdString(to->get<std::string>());
    c.since = jsonStep(e.data, "since_step", e.step);
    c.declared = jsonStep(e.data, "declared_step", e.step);
    c.message = QString::fromStdString(e.message);
    return c;
}

bool isTrainingRecord(const StepMetrics& m) {
    for (const auto& [name, value] : m.values)
        if (name.rfind("sft/", 0) != 0) return true;
    return false;
}

}  // namespace ps::ui
