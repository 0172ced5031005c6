#include "common/metric_style.h"

namespace ps::ui {

namespace {
const QString kEvalPrefix = QStringLiteral("eval/");
const QString kSftPrefix = QStringLiteral("sft/");
}  // namespace

bool isEvalMetric(const QString& metric) { return metric.startsWith(kEvalPrefix); }
bool isSftMetric(const QString& metric) { return metric.startsWith(kSftPrefix); }

QString baseMetricName(const QString& metric) {
    if (isEvalMetric(metric)) return metric.mid(kEvalPrefix.size());
    if (isSftMetric(metric)) return metric.mid(kSftPrefix.size());
    return metric;
}

QColor metricColor(const QString& metric) {
    if (isSftMetric(metric)) return colors::kWarmup;
    const QString base = baseMetricName(metric);
    if (base == QLatin1String("rewards/chosen") || base == QLatin1String("logps/chosen"))
        return colors::kChosen;
    if (base == QLatin1String("rewards/rejected") || base == QLatin1String("logps/rejected"))
        return colors::kRejected;
    if (base == QLatin1String("rewards/margins")) return colors::kMargin;
    if (base == QLatin1String("loss")) return colors::kLoss;
    if (base == QLatin1String("rewards/accuracies")) return colors::kAccuracy;
    return colors::kNeutral;
}

QColor statusColor(const QString& status) {
    if (status == QLatin1String("completed")) return colors::kChosen;
    if (status == QLatin1String("failed")) return colors::kRejected;
    if (status == QLatin1String("stopped")) return colors::kNeutral;
    if (status == QLatin1String("running") || status == QLatin1String("paused"))
        return colors::kMargin;
    return QColor(Qt::darkGray);
}

}  // namespace ps::ui
