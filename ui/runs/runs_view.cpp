#include "ui/runs/runs_view.h"

#include <QAction>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QPlainTextEdit>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/runs/runs_model.h"
#include "core/store/resume_run.h"
#include "core/store/run_store.h"

namespace ps::ui {

namespace {

// Filters on the run's name, algorithm, model, dataset, status, tags and notes.
class RunsFilterProxy : public QSortFilterProxyModel {
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    void setText(const QString& text) {
        text_ = text.trimmed();
        invalidateFilter();
    }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& parent) const override {
        if (text_.isEmpty()) return true;
        auto* model = static_cast<const RunsModel*>(sourceModel());
        if (sourceRow < 0 || sourceRow >= model->rowCount()) return false;
        const StoredRun& run = model->run(sourceRow);
        for (const QString& field :
             {QString::fromStdString(run.name), QString::fromStdString(run.algorithm),
              QString::fromStdString(run.model), QString::fromStdString(run.dataset),
              QString::fromLatin1(to_string(run.status)), QString::fromStdString(run.tags),
              QString::fromStdString(run.notes)})
            if (field.contains(text_, Qt::CaseInsensitive)) return true;
        return false;
    }

private:
    QString text_;
};

}  // namespace

RunsView::RunsView(QWidget* parent) : QWidget(parent) {
    model_ = new RunsModel(this);
    proxy_ = new RunsFilterProxy(this);
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
    errorLabel_->setTextFormat(Qt::PlainText);  // error text
    errorLabel_->setWordWrap(true);
    errorLabel_->setStyleSheet(QStringLiteral("color: #b71c1c;"));
    errorLabel_->hide();

    filter_ = new QLineEdit(this);
    filter_->setObjectName(QStringLiteral("runsFilter"));
    filter_->setPlaceholderText(tr("Filter by name, algorithm, model, dataset, status, tag or note…"));
    filter_->setClearButtonEnabled(true);
    connect(filter_, &QLineEdit::textChanged, this, &RunsView::setFilterText);

    openAction_ = new QAction(tr("&Open Run"), this);
    openAction_->setToolTip(tr("Show the selected stored run's curves and diagnosis (double-click a row)"));
    connect(openAction_, &QAction::triggered, this, &RunsView::openSelectedRun);
    deleteAction_ = new QAction(tr("&Delete Run…"), this);
    deleteAction_->setShortcut(QKeySequence::Delete);
    deleteAction_->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    deleteAction_->setToolTip(tr("Delete the selected runs from the store (Del)"));
    connect(deleteAction_, &QAction::triggered, this, [this] { deleteSelectedRuns(); });
    cloneAction_ = new QAction(tr("&Clone Run"), this);
    cloneAction_->setToolTip(tr("A new experiment with the selected run's configuration"));
    connect(cloneAction_, &QAction::triggered, this, [this] {
        if (const int64_t id = selectedRunId()) emit cloneRequested(id);
    });
    editTagsAction_ = new QAction(tr("&Tags and Notes…"), this);
    editTagsAction_->setToolTip(tr("Label the selected run (tags are comma-separated) and write notes"));
    connect(editTagsAction_, &QAction::triggered, this, &RunsView::editSelectedTagsAndNotes);
    exportClusterAction_ = new QAction(tr("&Export for Cluster…"), this);
    exportClusterAction_->setToolTip(tr("Write the selected run's config as a TRL or LLaMA-Factory YAML, with "
                                        "multi-GPU launch lines"));
    connect(exportClusterAction_, &QAction::triggered, this, [this] {
        if (const int64_t id = selectedRunId()) emit exportClusterRequested(id);
    });
    resumeAction_ = new QAction(tr("&Resume Run"), this);
    resumeAction_->setToolTip(tr("Continue the selected run from its newest checkpoint (train.checkpoint_every): "
                                 "for a run that was killed, failed or stopped"));
    connect(resumeAction_, &QAction::triggered, this, [this] {
        if (const int64_t id = selectedRunId()) emit resumeRequested(id);
    });
    table_->addAction(openAction_);
    table_->addAction(resumeAction_);
    table_->addAction(cloneAction_);
    table_->addAction(editTagsAction_);
    table_->addAction(exportClusterAction_);
    table_->addAction(deleteAction_);
    table_->setContextMenuPolicy(Qt::ActionsContextMenu);
    connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex&) { openSelectedRun(); });
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &RunsView::updateActions);

    auto* openButton = new QToolButton(this);
    openButton->setDefaultAction(openAction_);
    auto* resumeButton = new QToolButton(this);
    resumeButton->setDefaultAction(resumeAction_);
    auto* cloneButton = new QToolButton(this);
    cloneButton->setDefaultAction(cloneAction_);
    auto* tagsButton = new QToolButton(this);
    tagsButton->setDefaultAction(editTagsAction_);
    auto* deleteButton = new QToolButton(this);
    deleteButton->setDefaultAction(deleteAction_);
    auto* bar = new QHBoxLayout;
    bar->setContentsMargins(0, 0, 0, 0);
    bar->addWidget(filter_, 1);
    bar->addWidget(openButton);
    bar->addWidget(resumeButton);
    bar->addWidget(cloneButton);
    bar->addWidget(tagsButton);
    bar->addWidget(deleteButton);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(bar);
    layout->addWidget(errorLabel_);
    layout->addWidget(table_);
    updateActions();
}

void RunsView::setFilterText(const QString& text) {
    if (filter_->text() != text) filter_->setText(text);  // re-enters through textChanged
    static_cast<RunsFilterProxy*>(proxy_)->setText(text);
    updateActions();
}

int RunsView::visibleRunCount() const { return proxy_->rowCount(); }

std::vector<int64_t> RunsView::selectedRunIds() const {
    std::vector<int64_t> ids;
    for (const QModelIndex& index : table_->selectionModel()->selectedRows()) {
        const QModelIndex source = proxy_->mapToSource(index);
        if (source.isValid()) ids.push_back(model_->run(source.row()).id);
    }
    return ids;
}

int64_t RunsView::selectedRunId() const {
    const QModelIndex current = table_->currentIndex();
    const auto ids = selectedRunIds();
    if (current.isValid() && table_->selectionModel()->isRowSelected(current.row(), QModelIndex())) {
        const QModelIndex source = proxy_->mapToSource(current);
        if (source.isValid()) return model_->run(source.row()).id;
    }
    return ids.empty() ? 0 : ids.front();
}

void RunsView::openSelectedRun() {
    const int64_t id = selectedRunId();
    if (id > 0) emit openRequested(qint64(id));
}

int RunsView::deleteSelectedRuns() {
    if (!store_) return 0;
    std::vector<int64_t> ids;
    for (int64_t id : selectedRunIds())
        if (id != liveRunId_) ids.push_back(id);
    if (ids.empty()) return 0;
    QString what;
    if (ids.size() == 1) {
        const int row = model_->rowOfRun(ids.front());
        what = tr("run %1 (%2)").arg(ids.front()).arg(QString::fromStdString(model_->run(row).name));
    } else {
        what = tr("%1 runs").arg(ids.size());
    }
    QMessageBox box(QMessageBox::Warning, tr("Delete Run"),
                    tr("Delete %1 from the store? Its metrics and events are removed too; this "
                       "cannot be undone.").arg(what),
                    QMessageBox::Yes | QMessageBox::Cancel, this);
    box.setTextFormat(Qt::PlainText);  // the run's name is user text
    box.setObjectName(QStringLiteral("confirmDeleteRuns"));
    box.setDefaultButton(QMessageBox::Cancel);
    if (box.exec() != QMessageBox::Yes) return 0;
    std::vector<int64_t> deleted;
    try {
        for (int64_t id : ids) {
            store_->delete_run(id);
            deleted.push_back(id);
        }
    } catch (const std::exception& e) {
        errorLabel_->setText(tr("Cannot delete the run: %1").arg(QString::fromStdString(e.what())));
        errorLabel_->show();
    }
    refresh();
    if (!deleted.empty()) emit runsDeleted(deleted);
    return int(deleted.size());
}

void RunsView::updateActions() {
    const auto ids = selectedRunIds();
    openAction_->setEnabled(!ids.empty());
    cloneAction_->setEnabled(ids.size() == 1);
    exportClusterAction_->setEnabled(ids.size() == 1);
    editTagsAction_->setEnabled(store_ && ids.size() == 1);
    bool deletable = false;
    for (int64_t id : ids) deletable = deletable || id != liveRunId_;
    deleteAction_->setEnabled(store_ && deletable);
    bool resumable = false;
    if (store_ && ids.size() == 1 && ids.front() != liveRunId_) {
        const int row = model_->rowOfRun(ids.front());
        resumable = row >= 0 && model_->run(row).status != RunStatus::Completed && !model_->run(row).imported() &&
                    !latest_checkpoint(*store_, ids.front()).empty();
    }
    resumeAction_->setEnabled(resumable);
}

void RunsView::setStore(std::shared_ptr<RunStore> store) {
    store_ = std::move(store);
    refresh();
}

void RunsView::refresh() {
    if (!store_) {
        model_->setRuns({});
        updateActions();
        return;
    }
    // A refresh (every few seconds during a run) keeps the user's selection.
    const std::vector<int64_t> selected = selectedRunIds();
    const int64_t current = selectedRunId();
    try {
        model_->setRuns(store_->list_runs());
        errorLabel_->hide();
        if (!selected.empty()) {
            QItemSelection selection;
            for (int64_t id : selected) {
                const int row = model_->rowOfRun(id);
                if (row < 0) continue;
                const QModelIndex index = proxy_->mapFromSource(model_->index(row, 0));
                if (index.isValid()) selection.select(index, index);
            }
            table_->selectionModel()->select(
                selection, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
            const int row = model_->rowOfRun(current);
            if (row >= 0)
                table_->selectionModel()->setCurrentIndex(
                    proxy_->mapFromSource(model_->index(row, 0)), QItemSelectionModel::NoUpdate);
        }
    } catch (const std::exception& e) {
        errorLabel_->setText(tr("Cannot read the run store: %1").arg(QString::fromStdString(e.what())));
        errorLabel_->show();
    }
    table_->resizeColumnsToContents();
    table_->horizontalHeader()->setSectionResizeMode(RunsModel::NameColumn, QHeaderView::Stretch);
    updateActions();
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

namespace ps::ui {

bool RunsView::setTagsAndNotes(int64_t runId, const QString& tags, const QString& notes) {
    if (!store_) return false;
    // Tags are compared as words: trim each, drop empty ones.
    QStringList cleaned;
    for (const QString& tag : tags.split(QLatin1Char(','))) {
        const QString t = tag.trimmed();
        if (!t.isEmpty() && !cleaned.contains(t)) cleaned << t;
    }
    try {
        store_->set_tags_notes(runId, cleaned.join(QStringLiteral(", ")).toStdString(),
                               notes.trimmed().toStdString());
    } catch (const std::exception& e) {
        errorLabel_->setText(tr("Could not save tags and notes: %1").arg(QString::fromStdString(e.what())));
        errorLabel_->show();
        return false;
    }
    refresh();
    selectRun(runId);
    return true;
}

void RunsView::editSelectedTagsAndNotes() {
    const int64_t id = selectedRunId();
    if (!id || !store_) return;
    const StoredRun* run = nullptr;
    for (int row = 0; row < model_->rowCount(); ++row)
        if (model_->run(row).id == id) run = &model_->run(row);
    if (!run) return;
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Tags and notes of run %1").arg(id));
    auto* tags = new QLineEdit(QString::fromStdString(run->tags), &dialog);
    tags->setPlaceholderText(tr("baseline, lr-sweep, …"));
    auto* notes = new QPlainTextEdit(QString::fromStdString(run->notes), &dialog);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    auto* form = new QFormLayout(&dialog);
    form->addRow(tr("Tags"), tags);
    form->addRow(tr("Notes"), notes);
    form->addRow(buttons);
    dialog.resize(480, 260);
    if (dialog.exec() == QDialog::Accepted) setTagsAndNotes(id, tags->text(), notes->toPlainText());
}

}  // namespace ps::ui
