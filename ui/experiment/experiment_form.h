// The experiment form: the run config's most used fields as editors, bound by JSON path.
// The form edits a copy of the loaded JSON, so keys it does not show are kept as they were;
// every edit re-validates through RunConfig::from_json and reports the first problem, which
// names the field. A later issue adds per-algorithm panels: they add bindings the same way.
#pragma once
#include <optional>
#include <vector>

#include <QString>
#include <QWidget>
#include <nlohmann/json.hpp>

#include "config/run_config.h"

class QComboBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace ps::ui {

class ExperimentForm : public QWidget {
    Q_OBJECT
public:
    explicit ExperimentForm(QWidget* parent = nullptr);

    // Shows `json` (as read from `filePath`, empty for a new experiment). Relative data paths
    // are looked up from the current directory and the file's directory upwards.
    void setExperiment(const nlohmann::json& json, const QString& filePath = QString());
    // Throws ps::Error with a one-sentence reason.
    void loadFile(const QString& path);
    void saveFile(const QString& path);

    // The loaded JSON with the form's values written over it.
    nlohmann::json experimentJson() const;
    const QString& filePath() const { return filePath_; }

    bool isValid() const { return resolved_.has_value(); }
    // Why the experiment cannot run (first problem, naming the field); empty when valid.
    const QString& validationMessage() const { return message_; }
    // The validated config with data paths made absolute. Only while isValid().
    const RunConfig& runConfig() const { return *resolved_; }

    // Sets a field as if the user typed `text` ("train.learning_rate" -> "0"). False if the
    // form has no such field or the choice is not offered.
    bool setFieldText(const QString& path, const QString& text);
    QString fieldText(const QString& path) const;
    QStringList fieldPaths() const;

    // Replaces the message shown when the training data file is missing (the demo uses it to
    // say how to generate its data).
    void setMissingDataHint(const QString& hint);

signals:
    void changed();
    void validityChanged(bool valid, const QString& message);

private:
    enum class Kind { Text, Integer, Real, Choice };
    struct Binding {
        QString path;  // JSON path, "train.learning_rate"
        Kind kind;
        QWidget* editor;
    };

    QLineEdit* addText(QFormLayout* form, const QString& path, const QString& label,
                       const QString& tip);
    QSpinBox* addInteger(QFormLayout* form, const QString& path, const QString& label,
                         const QString& tip, int minimum, int maximum);
    QLineEdit* addReal(QFormLayout* form, const QString& path, const QString& label,
                       const QString& tip);
    QComboBox* addChoice(QFormLayout* form, const QString& path, const QString& label,
                         const QString& tip, const QStringList& choices);
    const Binding* binding(const QString& path) const;
    void browseTrainData();
    void revalidate();
    QString configDir() const;

    std::vector<Binding> bindings_;
    nlohmann::json base_ = nlohmann::json::object();
    QString filePath_;
    QString missingDataHint_;
    std::optional<RunConfig> resolved_;
    QString message_;
    QLabel* messageLabel_ = nullptr;
    QLabel* fileLabel_ = nullptr;
    bool loading_ = false;
};

}  // namespace ps::ui
