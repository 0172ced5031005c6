#include "ui/common/regime_events.h"

#include "core/common/metric_name.h"
#include "core/diagnose/diagnosis.h"

namespace ps::ui {

std::optional<RegimeChange> regimeChange(const RunEvent& e) {
    const std::optional<RegimeEvent> r = parse_regime_event(e);
    if (!r) return std::nullopt;
    RegimeChange c;
    c.regime = QString::fromStdString(r->to);
    c.since = r->since_step;
    c.declared = r->declared_step;
    c.message = QString::fromStdString(r->message);
    return c;
}

bool isTrainingRecord(const StepMetrics& m) {
    for (const auto& [name, value] : m.values)
        if (split_metric_name(name).phase != MetricPhase::Sft) return true;
    return false;
}

}  // namespace ps::ui
