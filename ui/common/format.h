// Small text formatters shared by the views.
#pragma once
#include <QString>
#include <nlohmann/json.hpp>

namespace ps::ui {

// "42 s", "3:07", "1:02:03"; "–" for a negative (unknown) duration.
QString formatDuration(double seconds);
// A metric value with 4 significant digits (formatNumber); empty for NaN / absent.
QString formatMetric(double value);
// A metric from a final-metrics object ({"rewards/chosen": 0.4, ...}); NaN when absent.
double metricValue(const nlohmann::json& metrics, const char* name);
// User text (notes, names, errors, dataset text) as a tooltip that shows it as written: Qt
// renders a tooltip that looks like HTML as HTML, so it is escaped (line breaks kept as <br>).
QString plainToolTip(const QString& text);
// The people-facing name of a run phase ("sft" -> "SFT warm-up").
QString phaseLabel(const QString& phase);

}  // namespace ps::ui

namespace ps::ui {

// "110.6k", "494M", "7.6B" (parameter counts).
QString formatCount(double count);
// "512 B", "1.8 MB", "7.9 GB" (decimal units, as memory estimates are rough anyway).
QString formatBytes(double bytes);

}  // namespace ps::ui

namespace ps::ui {

// A number for people: 4 significant digits without trailing zeros ("0.32", "0.6931", "12.35",
// "12346"), scientific with a short exponent outside [1e-3, 1e6) ("5.2e-7", "1.235e7"), and "0"
// for a value below `scale` * 1e-6 in magnitude, `scale` being the largest magnitude among the
// values shown with it (a margin of -5.2e-9 next to margins of 0.3 is float noise: "0"). Empty
// for NaN / infinite.
QString formatNumber(double value, double scale = 0.0);

}  // namespace ps::ui
