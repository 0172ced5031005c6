#include "ui/runs/runs_model.h"

#include <cmath>
#include <limits>

#include <QBrush>
#include <QDateTime>
#include <QFileInfo>
#include <QFont>

#include "ui/common/format.h"
#include "ui/common/metric_style.h"

namespace ps::ui {

namespace {

const char* metricOfColumn(int column) {
    switch (column) {
        case RunsModel::ChosenColumn: return "rewards/chosen";
        case RunsModel::RejectedColumn: return "rewards/rejected";
        case RunsModel::MarginColumn: return "rewards/margins";
        case RunsModel::AccuracyColumn: return "rewards/accuracies";
        default: return nullptr;
    }
}

QString localTime(const std::string& iso) {
    QDateTime t = QDateTime::fromString(QString::fromStdString(iso), Qt::ISODate);
    if (!t.isValid()) return QString::fromStdString(iso);
    return t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm"));
}

}  // namespace

RunsModel::RunsModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunsModel::setRuns(std::vector<StoredRun> runs) {
    beginResetModel();
    runs_ = std::move(runs);
    endResetModel();
}

int RunsModel::rowOfRun(int64_t id) const {
    for (size_t i = 0; i < runs_.size(); ++i)
        if (runs_[i].id == id) return int(i);
    return -1;
}

void RunsModel::setRunMetrics(int64_t id, const nlohmann::json& metrics) {
    const int row = rowOfRun(id);
    if (row < 0 || !metrics.is_object()) return;
    nlohmann::json& target = runs_[size_t(row)].final_metrics;
    if (!target.is_object()) target = nlohmann::json::object();
    target.update(metrics);
    emit dataChanged(index(row, ChosenColumn), index(row, AccuracyColumn));
}

int RunsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(runs_.size());
}

int RunsModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunsModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const StoredRun& run = runs_[size_t(index.row())];
    const int column = index.column();
    const QString status = pausedRunId_ != 0 && run.id == pausedRunId_ && run.status == RunStatus::Running
                               ? QStringLiteral("paused")
                               : QString::fromLatin1(to_string(run.status));

    if (const char* metric = metricOfColumn(column)) {
        double v = metricValue(run.final_metrics, metric);
        // Accuracy: the eval accuracy, as the CLI shows it (the last training batch's is noisy
        // and says less); the training value is in the tooltip.
        const double evalAccuracy = column == AccuracyColumn ? metricValue(run.final_metrics, "eval/rewards/accuracies")
                                                             : std::numeric_limits<double>::quiet_NaN();
        if (column == AccuracyColumn && role == Qt::ToolTipRole)
            return tr("eval accuracy %1; last training batch %2")
                .arg(formatMetric(evalAccuracy), formatMetric(v));
        if (std::isfinite(evalAccuracy)) v = evalAccuracy;
        if (role == Qt::DisplayRole) return formatMetric(v);
        if (role == SortRole) return std::isfinite(v) ? QVariant(v) : QVariant(-1e300);
        if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
        if (role == Qt::ForegroundRole && (column == ChosenColumn || column == RejectedColumn))
            return QBrush(metricColor(QString::fromLatin1(metric)).darker(115));
        return {};
    }

    switch (role) {
        case Qt::DisplayRole:
            switch (column) {
                case IdColumn: return QString::number(run.id);
                case NameColumn: return QString::fromStdString(run.name);
                case AlgorithmColumn: return QString::fromStdString(run.algorithm);
                case ModelColumn: return QString::fromStdString(run.model);
                case DatasetColumn: return QFileInfo(QString::fromStdString(run.dataset)).fileName();
                case TagsColumn: return QString::fromStdString(run.tags);
                case SourceColumn:
                    return run.imported() ? QStringLiteral("%1: %2").arg(QString::fromStdString(run.source_format),
                                                                          QFileInfo(QString::fromStdString(run.source_path)).fileName())
                                          : QString();
                case StatusColumn: return status;
                case CreatedColumn: return localTime(run.created_at);
                case DurationColumn:
                    return run.duration_s > 0 ? formatDuration(run.duration_s) : QString();
            }
            return {};
        case SortRole:
            switch (column) {
                case IdColumn: return qlonglong(run.id);
                case DurationColumn: return run.duration_s;
                case CreatedColumn: return QString::fromStdString(run.created_at);
                default: return data(index, Qt::DisplayRole);
            }
        case Qt::ForegroundRole:
            if (column == StatusColumn) return QBrush(statusColor(status).darker(115));
            return {};
        case Qt::FontRole:
            if (column == StatusColumn) {
                QFont f;
                f.setBold(true);
                return f;
            }
            return {};
        case Qt::ToolTipRole:
            // Errors, paths and notes are user text: plain, never rendered as HTML.
            if (column == StatusColumn && run.status == RunStatus::Interrupted)
                return plainToolTip(tr("Interrupted at step %1: the process that ran it (%2 on %3) is gone, killed "
                                       "or its machine stopped.")
                                        .arg(std::max<int64_t>(run.last_step, 0))
                                        .arg(run.owner.pid)
                                        .arg(QString::fromStdString(run.owner.host)));
            if (column == StatusColumn && !run.error.empty()) return plainToolTip(QString::fromStdString(run.error));
            if (column == SourceColumn && run.imported())
                return plainToolTip(tr("Imported from %1 (%2)").arg(QString::fromStdString(run.source_path),
                                                                    QString::fromStdString(run.source_format)));
            if (column == DatasetColumn && !run.dataset.empty()) return plainToolTip(QString::fromStdString(run.dataset));
            if ((column == NameColumn || column == TagsColumn) && !run.notes.empty())
                return plainToolTip(QString::fromStdString(run.notes));
            if (column == NameColumn && !run.dataset.empty())
                return plainToolTip(tr("data: %1").arg(QString::fromStdString(run.dataset)));
            return {};
        case Qt::TextAlignmentRole:
            if (column == IdColumn || column == DurationColumn)
                return int(Qt::AlignRight | Qt::AlignVCenter);
            return {};
    }
    return {};
}

QVariant RunsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole) {
        if (const char* metric = metricOfColumn(section))
            return section == AccuracyColumn
                       ? tr("Final eval reward accuracy of the run (the last training batch's in the cell's tooltip)")
                       : tr("Final %1 of the run").arg(QString::fromLatin1(metric));
        return {};
    }
    if (role != Qt::DisplayRole) return {};
    switch (section) {
        case IdColumn: return tr("ID");
        case NameColumn: return tr("Name");
        case AlgorithmColumn: return tr("Algorithm");
        case ModelColumn: return tr("Model");
        case DatasetColumn: return tr("Dataset");
        case TagsColumn: return tr("Tags");
        case SourceColumn: return tr("Source");
        case StatusColumn: return tr("Status");
        case CreatedColumn: return tr("Created");
        case DurationColumn: return tr("Duration");
        case ChosenColumn: return tr("Chosen");
        case RejectedColumn: return tr("Rejected");
        case MarginColumn: return tr("Margin");
        case AccuracyColumn: return tr("Accuracy");
    }
    return {};
}

}  // namespace ps::ui

namespace ps::ui {

void RunsModel::setPausedRunId(int64_t id) {
    if (id == pausedRunId_) return;
    pausedRunId_ = id;
    if (rowCount() > 0) emit dataChanged(index(0, StatusColumn), index(rowCount() - 1, StatusColumn));
}

}  // namespace ps::ui
