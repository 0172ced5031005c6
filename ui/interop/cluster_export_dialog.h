// "Export for Cluster…": a stored run's or the current experiment's config written as a TRL or
// LLaMA-Factory YAML (core/interop/export_config.h). The dialog picks the target and the file,
// shows what the run there does differently (or why the target cannot train it), writes the
// files and confirms where they went. User text is shown as plain text.
#pragma once
#include <QDialog>
#include <QString>

#include "core/config/run_config.h"
#include "core/interop/export_config.h"

class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;

namespace ps::ui {

class ClusterExportDialog : public QDialog {
    Q_OBJECT
public:
    // `what` names the source in the title line ("run 12 'dpo-beta-0.1'", "the current experiment").
    ClusterExportDialog(const RunConfig& config, const QString& what, QWidget* parent = nullptr);

    void setTarget(ExportTarget target);
    ExportTarget target() const;
    void setPath(const QString& path);
    QString path() const;
    // The notes shown for the current target: its warnings, or the refusal.
    QString notesText() const;
    bool canExport() const;
    // Writes the files; on success shows the confirmation (a QMessageBox named
    // "clusterExportWritten", modal unless `confirm` is false) and accepts the dialog. False with
    // the reason shown in the dialog otherwise.
    bool exportNow(bool confirm = true);
    // What the confirmation said (the files written, the launch line, how to follow the run).
    QString confirmationText() const { return confirmation_; }

private:
    void updatePreview();
    void browse();

    RunConfig config_;
    QComboBox* target_ = nullptr;
    QLineEdit* path_ = nullptr;
    QPlainTextEdit* notes_ = nullptr;
    QLabel* error_ = nullptr;
    QDialogButtonBox* buttons_ = nullptr;
    bool exportable_ = false;
    QString confirmation_;
};

}  // namespace ps::ui
