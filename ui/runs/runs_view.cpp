#include "runs/runs_view.h"

#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "runs/runs_model.h"
#include "store/run_store.h"

namespace ps::ui {

RunsView::RunsView(QWidget* parent) : QWidget(parent) {
    model_ = new RunsModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_);
    proxy_->setSortRole(RunsModel::SortRole);

    table_ = new QTableView(this);
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(RunsModel::IdColumn, Qt::DescendingOrder);  // newest first
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->hide();
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setSectionResizeMode(RunsModel::NameColumn, QHeaderView::Stretch);

    errorLabel_ = new QLabel(this);
    errorLabel_->setWordWrap(true);
    errorLabel_->setStyleSheet(QStringLiteral("color: #b71c1c;"));
    errorLabel_->hide();

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(errorLabel_);
    layout->addWidget(table_);
}

void RunsView::setStore(std::shared_ptr<RunStore> store) {
    store_ = std::move(store);
    refresh();
}

void RunsView::refresh() {
    if (!store_) {
        model_->setRuns({});
        return;
    }
    try {
        model_->setRuns(store_->list_runs());
        errorLabel_->hide();
    } catch (const std::exception& e) {
        errorLabel_->setText(tr("Cannot read the run store: %1").arg(QString::fromStdString(e.what())));
        errorLabel_->show();
    }
    table_->resizeColumnsToContents();
    table_->horizontalHeader()->setSectionResizeMode(RunsModel::NameColumn, QHeaderView::Stretch);
}

void RunsView::selectRun(int64_t runId) {
    const int row = model_->rowOfRun(runId);
    if (row < 0) return;
    const QModelIndex index = proxy_->mapFromSource(model_->index(row, 0));
    table_->selectRow(index.row());
    table_->scrollTo(index);
}

int RunsView::runCount() const { return model_->rowCount(); }

QString RunsView::statusOfRun(int64_t runId) const {
    const int row = model_->rowOfRun(runId);
    if (row < 0) return QString();
    return model_->data(model_->index(row, RunsModel::StatusColumn)).toString();
}

}  // namespace ps::ui
