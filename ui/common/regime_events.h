// Reading the engine's regime-change events (kind "regime"; core's parse_regime_event) as Qt
// text, shared by the shaded bands on the plots, the regime timeline and the diagnosis panel,
// so all of them read the same stretches.
#pragma once
#include <cstdint>
#include <optional>

#include <QString>

#include "core/common/run_types.h"

namespace ps::ui {

struct RegimeChange {
    QString regime;     // the regime entered: "both_falling", ...
    int64_t since = 0;  // first step of the new stretch ("since_step")
    int64_t declared = 0;  // step at which the live diagnosis declared it ("declared_step")
    QString message;    // the change's explanation
};

// The change an event announces; nullopt for other events or malformed data.
std::optional<RegimeChange> regimeChange(const RunEvent& event);

// True when a record carries a preference-training metric (not only "sft/..." warm-up ones).
bool isTrainingRecord(const StepMetrics& record);

}  // namespace ps::ui
