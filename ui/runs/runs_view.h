// The runs list: every run in the store with its status and final metrics. Reading the store
// here is brief (one query), so it happens on the GUI thread; the engine writes through its
// own StoreSink.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <QString>
#include <QWidget>

class QAction;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTableView;

namespace ps {
class RunStore;
}

namespace ps::ui {

class RunsModel;

class RunsView : public QWidget {
    Q_OBJECT
public:
    explicit RunsView(QWidget* parent = nullptr);

    void setStore(std::shared_ptr<RunStore> store);
    // Re-reads the runs from the store; a store error is shown in the view, never thrown.
    void refresh();
    // Selects and scrolls to a run (e.g. the one that just ended).
    void selectRun(int64_t runId);

    // Text filter over name, algorithm, model, dataset, status, tags and notes
    // (case-insensitive substring).
    void setFilterText(const QString& text);
    // Rows shown after filtering.
    int visibleRunCount() const;
    // The run ids of the selected rows; 0 / empty when none.
    int64_t selectedRunId() const;
    std::vector<int64_t> selectedRunIds() const;
    // The run that is training now: it cannot be deleted (0 = none).
    void setLiveRunId(int64_t runId) { liveRunId_ = runId; }

    // Asks for confirmation, deletes the selected runs from the store and refreshes. Returns
    // the number deleted. The confirmation is a QMessageBox (tests accept it through
    // QApplication::activeModalWidget()).
    int deleteSelectedRuns();
    // Emits openRequested for the selected run.
    void openSelectedRun();

    QLineEdit* filterEdit() const { return filter_; }
    QAction* openAction() const { return openAction_; }
    QAction* deleteAction() const { return deleteAction_; }
    QAction* cloneAction() const { return cloneAction_; }
    QAction* editTagsAction() const { return editTagsAction_; }
    QAction* exportClusterAction() const { return exportClusterAction_; }
    // Enabled for one selected run that did not complete and has a checkpoint (not the live run).
    QAction* resumeAction() const { return resumeAction_; }
    // Stores tags (comma-separated) and notes of a run and refreshes; false with the reason
    // shown in the view if the store refuses.
    bool setTagsAndNotes(int64_t runId, const QString& tags, const QString& notes);
    // Opens the tags and notes dialog for the selected run.
    void editSelectedTagsAndNotes();

    int runCount() const;
    // The status text ("completed", "stopped", ...) of the run with this id; empty if absent.
    QString statusOfRun(int64_t runId) const;
    RunsModel* model() const { return model_; }
    QTableView* table() const { return table_; }

signals:
    // The user asked to inspect a stored run (double-click or Open).
    void openRequested(qint64 runId);
    // Runs were deleted from the store.
    void runsDeleted(const std::vector<int64_t>& runIds);
    // The user asked for a new experiment from a stored run's configuration.
    void cloneRequested(qint64 runId);
    // The user asked to export a stored run's config for a cluster (TRL / LLaMA-Factory).
    void exportClusterRequested(qint64 runId);
    // The user asked to continue a stored run from its newest checkpoint.
    void resumeRequested(qint64 runId);

private:
    void updateActions();

    std::shared_ptr<RunStore> store_;
    RunsModel* model_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    QTableView* table_ = nullptr;
    QLabel* errorLabel_ = nullptr;
    QLineEdit* filter_ = nullptr;
    QAction* openAction_ = nullptr;
    QAction* deleteAction_ = nullptr;
    QAction* cloneAction_ = nullptr;
    QAction* editTagsAction_ = nullptr;
    QAction* exportClusterAction_ = nullptr;
    QAction* resumeAction_ = nullptr;
    int64_t liveRunId_ = 0;
};

}  // namespace ps::ui
