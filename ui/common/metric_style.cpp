#include "ui/common/metric_style.h"

#include <string>

#include "core/common/metric_name.h"
#include "ui/common/theme.h"

namespace ps::ui {

namespace {
MetricPhase phaseOf(const QString& metric) { return split_metric_name(metric.toStdString()).phase; }
}  // namespace

bool isEvalMetric(const QString& metric) { return phaseOf(metric) == MetricPhase::Eval; }
bool isSftMetric(const QString& metric) { return phaseOf(metric) == MetricPhase::Sft; }

QString baseMetricName(const QString& metric) {
    const std::string name = metric.toStdString();
    const std::string_view key = split_metric_name(name).key;
    return QString::fromUtf8(key.data(), int(key.size()));
}

QColor metricColor(const QString& metric) {
    if (isSftMetric(metric)) return colors::kWarmup;
    const QString base = baseMetricName(metric);
    if (base == QLatin1String("rewards/chosen") || base == QLatin1String("logps/chosen") ||
        base == QLatin1String("answers/chosen"))
        return colors::kChosen;
    if (base == QLatin1String("rewards/rejected") || base == QLatin1String("logps/rejected") ||
        base == QLatin1String("answers/rejected"))
        return colors::kRejected;
    if (base == QLatin1String("rewards/margins")) return colors::kMargin;
    // Black-ish curves would vanish on a dark background.
    if (base == QLatin1String("loss")) return paletteIsDark() ? QColor(0xd0, 0xd0, 0xd0) : colors::kLoss;
    if (base == QLatin1String("rewards/accuracies")) return colors::kAccuracy;
    return colors::kNeutral;
}

QColor regimeColor(const QString& regime) {
    if (regime == QLatin1String("both_falling")) return QColor(0xd6, 0x27, 0x28);       // red
    if (regime == QLatin1String("both_rising")) return QColor(0xe6, 0x9f, 0x00);        // amber
    if (regime == QLatin1String("margin_collapsing")) return QColor(0x80, 0x3d, 0xb8);  // purple
    if (regime == QLatin1String("diverging")) return QColor(0x40, 0x40, 0x40);          // dark grey
    if (regime == QLatin1String("healthy")) return colors::kChosen;
    return colors::kWarmup;
}

bool isProblemRegime(const QString& regime) {
    return regime == QLatin1String("both_falling") || regime == QLatin1String("both_rising") ||
           regime == QLatin1String("margin_collapsing") || regime == QLatin1String("diverging");
}

QString regimeShortLabel(const QString& regime) {
    QString text = regime;
    text.replace(QLatin1Char('_'), QLatin1Char(' '));
    return text;
}

QColor statusColor(const QString& status) {
    if (status == QLatin1String("completed")) return colors::kChosen;
    if (status == QLatin1String("failed")) return colors::kRejected;
    if (status == QLatin1String("stopped") || status == QLatin1String("interrupted")) return colors::kNeutral;
    if (status == QLatin1String("running") || status == QLatin1String("paused"))
        return colors::kMargin;
    return QColor(Qt::darkGray);
}

}  // namespace ps::ui
