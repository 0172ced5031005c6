// Stored runs as a table model: one row per run, newest first, with the final metrics a
// practitioner compares first. The compare view will reuse it.
#pragma once
#include <vector>

#include <QAbstractTableModel>

#include "core/store/run_store.h"

namespace ps::ui {

class RunsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        IdColumn,
        NameColumn,
        AlgorithmColumn,
        ModelColumn,
        DatasetColumn,
        StatusColumn,
        CreatedColumn,
        DurationColumn,
        ChosenColumn,
        RejectedColumn,
        MarginColumn,
        AccuracyColumn,
        TagsColumn,
        SourceColumn,  // imported runs: the tool's file they came from ("tensorboard: events...")
        ColumnCount
    };
    // Sort key for the proxy: numbers sort as numbers.
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit RunsModel(QObject* parent = nullptr);

    void setRuns(std::vector<StoredRun> runs);
    const StoredRun& run(int row) const { return runs_.at(size_t(row)); }
    int rowOfRun(int64_t id) const;  // -1 when absent
    // Overwrites a run's final metrics shown in the row (the live run's latest values, which
    // the store only records when the run ends). No-op when the run is absent.
    void setRunMetrics(int64_t id, const nlohmann::json& metrics);
    // The live run this process has paused: its status reads "paused" (the store says running).
    void setPausedRunId(int64_t id);
    int64_t pausedRunId() const { return pausedRunId_; }

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    int columnCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    std::vector<StoredRun> runs_;
    int64_t pausedRunId_ = 0;
};

}  // namespace ps::ui
