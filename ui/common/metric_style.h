// Fixed colours and human labels for metrics, shared by every view so a curve looks the same
// in the live monitor, the runs table and (later) the compare view: chosen is always green,
// rejected always red.
#pragma once
#include <QColor>
#include <QString>

namespace ps::ui {

namespace colors {
inline const QColor kChosen{0x2c, 0xa0, 0x2c};    // green
inline const QColor kRejected{0xd6, 0x27, 0x28};  // red
inline const QColor kMargin{0x1f, 0x77, 0xb4};    // blue
inline const QColor kLoss{0x44, 0x44, 0x44};      // near-black
inline const QColor kAccuracy{0x94, 0x67, 0xbd};  // purple
inline const QColor kWarmup{0x99, 0x99, 0x99};    // grey: SFT warm-up
inline const QColor kNeutral{0xff, 0x7f, 0x0e};   // orange: anything else
}  // namespace colors

// The metric's name without the "eval/" or "sft/" prefix ("eval/rewards/chosen" -> "rewards/chosen").
QString baseMetricName(const QString& metric);
bool isEvalMetric(const QString& metric);
bool isSftMetric(const QString& metric);

// Colour of a metric, by its base name; eval and SFT variants share their training colour
// (SFT loss is grey so it is not mistaken for the preference loss).
QColor metricColor(const QString& metric);

// Colour of a diagnosed regime ("both_falling", ...; core/diagnose/regime.h), opaque;
// bands use it with a low alpha. Healthy is green, warming_up grey.
QColor regimeColor(const QString& regime);
// Whether a regime is a problem worth shading (both_falling, both_rising, margin_collapsing,
// diverging).
bool isProblemRegime(const QString& regime);
// Short people-facing name: "both_falling" -> "both falling".
QString regimeShortLabel(const QString& regime);

// Colour of a run status word ("completed", "failed", ...) for tables and the status bar.
QColor statusColor(const QString& status);

}  // namespace ps::ui
