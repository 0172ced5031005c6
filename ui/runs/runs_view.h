// The runs list: every run in the store with its status and final metrics. Reading the store
// here is brief (one query), so it happens on the GUI thread; the engine writes through its
// own StoreSink.
#pragma once
#include <memory>

#include <QString>
#include <QWidget>

class QLabel;
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

    int runCount() const;
    // The status text ("completed", "stopped", ...) of the run with this id; empty if absent.
    QString statusOfRun(int64_t runId) const;
    RunsModel* model() const { return model_; }
    QTableView* table() const { return table_; }

private:
    std::shared_ptr<RunStore> store_;
    RunsModel* model_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    QTableView* table_ = nullptr;
    QLabel* errorLabel_ = nullptr;
};

}  // namespace ps::ui
