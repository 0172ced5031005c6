// Small text formatters shared by the views.
#pragma once
#include <QString>
#include <nlohmann/json.hpp>

namespace ps::ui {

// "42 s", "3:07", "1:02:03"; "–" for a negative (unknown) duration.
QString formatDuration(double seconds);
// A metric value with 4 significant digits; empty for NaN / absent.
QString formatMetric(double value);
// A metric from a final-metrics object ({"rewards/chosen": 0.4, ...}); NaN when absent.
double metricValue(const nlohmann::json& metrics, const char* name);
// The people-facing name of a run phase ("sft" -> "SFT warm-up").
QString phaseLabel(const QString& phase);

}  // namespace ps::ui
