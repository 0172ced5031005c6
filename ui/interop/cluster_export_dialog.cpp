#include "ui/interop/cluster_export_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include <exception>

namespace ps::ui {

ClusterExportDialog::ClusterExportDialog(const RunConfig& config, const QString& what, QWidget* parent)
    : QDialog(parent), config_(config) {
    setObjectName(QStringLiteral("clusterExportDialog"));
    setWindowTitle(tr("Export for Cluster"));
    auto* intro = new QLabel(tr("Write %1 as a config for TRL or LLaMA-Factory, with the launch lines for "
                                "several GPUs and nodes in its comments.").arg(what), this);
    intro->setTextFormat(Qt::PlainText);
    intro->setWordWrap(true);

    target_ = new QComboBox(this);
    target_->setObjectName(QStringLiteral("clusterExportTarget"));
    target_->addItem(tr("TRL (trl dpo|kto --config, TRL's ORPO/CPO scripts)"), QStringLiteral("trl"));
    target_->addItem(tr("LLaMA-Factory (llamafactory-cli train)"), QStringLiteral("llamafactory"));

    path_ = new QLineEdit(this);
    path_->setObjectName(QStringLiteral("clusterExportPath"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    connect(browse, &QPushButton::clicked, this, &ClusterExportDialog::browse);
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(path_, 1);
    pathRow->addWidget(browse);

    notes_ = new QPlainTextEdit(this);
    notes_->setObjectName(QStringLiteral("clusterExportNotes"));
    notes_->setReadOnly(true);
    notes_->setMinimumHeight(120);
    error_ = new QLabel(this);
    error_->setObjectName(QStringLiteral("clusterExportError"));
    error_->setTextFormat(Qt::PlainText);
    error_->setWordWrap(true);
    error_->setStyleSheet(QStringLiteral("color: #b71c1c;"));
    error_->hide();

    buttons_ = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
    buttons_->button(QDialogButtonBox::Save)->setText(tr("Export"));
    connect(buttons_, &QDialogButtonBox::accepted, this, [this] { exportNow(); });
    connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto* form = new QFormLayout;
    form->addRow(tr("Target:"), target_);
    form->addRow(tr("File:"), pathRow);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("What the run there does differently:"), this));
    layout->addWidget(notes_, 1);
    layout->addWidget(error_);
    layout->addWidget(buttons_);
    resize(640, 420);

    connect(target_, &QComboBox::currentIndexChanged, this, [this] {
        // Keep the file name in step with the target while it is the suggested one.
        const QFileInfo info(path_->text());
        const QString other = target() == ExportTarget::Trl ? QStringLiteral(".llamafactory.yaml")
                                                            : QStringLiteral(".trl.yaml");
        if (info.fileName().endsWith(other)) {
            const QString stem = info.fileName().left(info.fileName().size() - other.size());
            path_->setText(info.dir().filePath(stem + "." + QString::fromLatin1(to_string(target())) + ".yaml"));
        }
        updatePreview();
    });
    connect(path_, &QLineEdit::textChanged, this, [this] { error_->hide(); });
    setPath(QDir::current().filePath(QString::fromStdString(config_.name) + ".trl.yaml"));
    updatePreview();
}

void ClusterExportDialog::setTarget(ExportTarget target) {
    target_->setCurrentIndex(target == ExportTarget::Trl ? 0 : 1);
    updatePreview();
}

ExportTarget ClusterExportDialog::target() const {
    return target_->currentData().toString() == QLatin1String("trl") ? ExportTarget::Trl : ExportTarget::LlamaFactory;
}

void ClusterExportDialog::setPath(const QString& path) { path_->setText(path); }
QString ClusterExportDialog::path() const { return path_->text().trimmed(); }
QString ClusterExportDialog::notesText() const { return notes_->toPlainText(); }
bool ClusterExportDialog::canExport() const { return exportable_; }

void ClusterExportDialog::browse() {
    const QString chosen = QFileDialog::getSaveFileName(this, tr("Export for cluster"), path(),
                                                        tr("YAML files (*.yaml *.yml);;All files (*)"));
    if (!chosen.isEmpty()) setPath(chosen);
}

void ClusterExportDialog::updatePreview() {
    QStringList lines;
    try {
        const ConfigExport e = export_config(config_, target(), {path().toStdString()});
        exportable_ = true;
        for (const std::string& w : e.warnings) lines << QStringLiteral("• ") + QString::fromStdString(w);
        if (lines.isEmpty()) lines << tr("Nothing: every setting has its equivalent there.");
    } catch (const std::exception& e) {
        exportable_ = false;
        lines << tr("Cannot export to this target: %1").arg(QString::fromStdString(e.what()));
    }
    notes_->setPlainText(lines.join('\n'));
    buttons_->button(QDialogButtonBox::Save)->setEnabled(exportable_);
}

bool ClusterExportDialog::exportNow(bool confirm) {
    if (!exportable_) return false;
    if (path().isEmpty()) {
        error_->setText(tr("Choose the file to write."));
        error_->show();
        return false;
    }
    const std::string file = QFileInfo(path()).absoluteFilePath().toStdString();
    try {
        const ConfigExport e = export_config(config_, target(), {file});
        const auto written = write_config_export(e, file);
        QStringList files;
        for (const std::string& w : written) files << QString::fromStdString(w);
        const QString name = QFileInfo(QString::fromStdString(file)).fileName();
        QString launch;
        if (e.target == ExportTarget::Trl)
            launch = (e.trainer == "dpo" || e.trainer == "kto")
                         ? QStringLiteral("trl %1 --config %2").arg(QString::fromStdString(e.trainer), name)
                         : QStringLiteral("python examples/scripts/%1.py --config %2")
                               .arg(QString::fromStdString(e.trainer), name);
        else
            launch = QStringLiteral("llamafactory-cli train %1").arg(name);
        confirmation_ = tr("Written:\n%1\n\nLaunch (one GPU; the file's comments have the lines for several GPUs "
                           "and nodes):\n%2\n\nFollow the run from the studio:\nprefstudio-cli import %3 --follow")
                            .arg(files.join('\n'), launch, QString::fromStdString(e.output_dir));
    } catch (const std::exception& e) {
        error_->setText(QString::fromStdString(e.what()));
        error_->show();
        return false;
    }
    if (confirm) {
        QMessageBox box(QMessageBox::Information, tr("Exported for cluster"), confirmation_, QMessageBox::Ok, this);
        box.setObjectName(QStringLiteral("clusterExportWritten"));
        box.setTextFormat(Qt::PlainText);
        box.exec();
    }
    accept();
    return true;
}

}  // namespace ps::ui
