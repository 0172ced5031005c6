// The experiment form: the run config's fields as editors, bound by JSON path and built from the
// config schema (core/config/config_schema.h): every key's editor with its range, choices and help,
// keys only some algorithms read shown for those.
// The form edits a copy of the loaded JSON, so keys it does not show are kept as they were;
// every edit re-validates through RunConfig::from_json, reports the first problem (which names
// the field) and marks that field's editor. The objective's parameters live on one panel per
// algorithm (the algorithm table, core/config/algorithm.h): only the chosen algorithm's panel
// is shown and written, each with its defaults, valid range and the papers' values in the tooltip.
#pragma once
#include <optional>
#include <vector>

#include <QString>
#include <QWidget>
#include <nlohmann/json.hpp>

#include "core/config/config_schema.h"
#include "core/config/run_config.h"

class QComboBox;
class QFormLayout;
class QLabel;
class QLayout;
class QLineEdit;
class QSpinBox;
class QStackedWidget;

namespace ps::ui {

class WheelGuard;

class ExperimentForm : public QWidget {
    Q_OBJECT
public:
    explicit ExperimentForm(QWidget* parent = nullptr);

    // Shows `json` (as read from `filePath`, empty for a new experiment). Relative data paths
    // are looked up from the current directory and the file's directory upwards. `unsaved`: the
    // content is new work (a clone) that counts as modified until saved.
    void setExperiment(const nlohmann::json& json, const QString& filePath = QString(), bool unsaved = false);
    // Throws ps::Error with a one-sentence reason.
    void loadFile(const QString& path);
    void saveFile(const QString& path);

    // The loaded JSON with the form's values written over it.
    nlohmann::json experimentJson() const;
    const QString& filePath() const { return filePath_; }
    // Whether the form holds changes not written to its file (or unsaved new work such as a
    // clone). A fresh default experiment is not modified.
    bool isModified() const;
    // The experiment's name field.
    QString experimentName() const;
    // After a clone: marks the editors whose value differs from `before` and shows `note` with
    // the list of changed keys in a visible line above the form. Returns the changed JSON paths.
    QStringList highlightChanges(const nlohmann::json& before, const QString& note);
    QStringList highlightedFields() const;
    QString changesText() const;

    bool isValid() const { return resolved_.has_value(); }
    // Why the experiment cannot run (first problem, naming the field); empty when valid.
    const QString& validationMessage() const { return message_; }
    // The JSON path of the field the problem is about ("objective.beta"); empty if none.
    const QString& invalidField() const { return invalidField_; }
    // The validated config with data paths made absolute. Only while isValid().
    const RunConfig& runConfig() const { return *resolved_; }

    // Sets a field as if the user typed `text` ("train.learning_rate" -> "0"). Objective
    // parameters refer to the current algorithm's panel. False if the form has no such field
    // or the choice is not offered.
    bool setFieldText(const QString& path, const QString& text);
    QString fieldText(const QString& path) const;
    QStringList fieldPaths() const;
    // The editor of a field (the current algorithm's for objective parameters), or null.
    QWidget* fieldEditor(const QString& path) const;
    // The paths on the current algorithm's parameter panel, in order.
    QStringList objectiveFieldPaths() const;
    // Advice on the current values against the papers (SimPO gamma/beta, KTO weights, ...).
    QString adviceText() const;
    // What the model field names: architecture, parameters, memory estimate (or the problem).
    QString modelInfoText() const;

    // A line under the data field: detected format and counts (the main window fills it).
    void setDataInfo(const QString& text);
    QString dataInfoText() const;

    // Replaces the message shown when the training data file is missing (the demo uses it to
    // say how to generate its data).
    void setMissingDataHint(const QString& hint);

    // What a drop of these local paths would do: a directory becomes the model, a .jsonl or
    // a JSON file of pairs the training data, a JSON experiment is loaded. Returns false (and
    // says why in the status) when nothing applies.
    bool acceptDroppedPath(const QString& path);

signals:
    void changed();
    void validityChanged(bool valid, const QString& message);
    void statusMessage(const QString& text);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    // List: "a, b" (an array of strings); Names: "key=name, key=name" (an object of names).
    enum class Kind { Text, Integer, Real, Choice, Editable, Flag, List, Names, Json };
    struct Binding {
        QString path;  // JSON path, "train.learning_rate"
        Kind kind;
        QWidget* editor;
        QString algorithm;               // objective panel it belongs to; empty: not on a panel
        const FieldSpec* spec = nullptr;  // its key in the config schema (panels: the objective key)
        QFormLayout* form = nullptr;      // the layout holding its row
    };

    QWidget* addBinding(QFormLayout* form, const QString& path, const QString& label,
                        const QString& tip, Kind kind, QWidget* editor,
                        const QString& algorithm = QString(), QLayout* row = nullptr,
                        const FieldSpec* spec = nullptr);
    // The editor of a schema key: its kind, range, choices and help.
    void addField(QFormLayout* form, const FieldSpec& spec);
    void buildObjectivePanels(QFormLayout* form);
    // Whether the LoRA rank is set (model.lora is not null).
    bool loraOn() const;
    const Binding* binding(const QString& path) const;
    bool isActive(const Binding& b) const;
    void loadBinding(const Binding& b, const nlohmann::json& value);
    void browseTrainData();
    void browseModelDirectory();
    void algorithmChanged();
    void showObjectivePanel();
    void revalidate();
    void updateModelInfo();
    void markInvalid(const QString& path, bool mark = true);
    void styleEditor(QWidget* editor);
    QString configDir() const;
    QString currentAlgorithm() const;
    ObjectiveConfig currentObjective() const;

    std::vector<Binding> bindings_;
    nlohmann::json base_ = nlohmann::json::object();
    QString filePath_;
    QString missingDataHint_;
    std::optional<RunConfig> resolved_;
    QString message_;
    QString invalidField_;
    QWidget* markedEditor_ = nullptr;
    nlohmann::json savedJson_;  // what the file holds (experimentJson() right after loading/saving)
    bool unsaved_ = false;      // new work (a clone) that was never saved
    QStringList highlighted_;   // fields a clone changed
    QLabel* changesLabel_ = nullptr;
    QLabel* messageLabel_ = nullptr;
    QLabel* fileLabel_ = nullptr;
    QLabel* modelInfo_ = nullptr;
    QLabel* dataInfo_ = nullptr;
    QLabel* algorithmSummary_ = nullptr;
    QLabel* advice_ = nullptr;
    QStackedWidget* objectivePanels_ = nullptr;
    QComboBox* algorithmBox_ = nullptr;
    WheelGuard* wheelGuard_ = nullptr;
    QString modelInfoSource_;
    bool loading_ = false;
};

}  // namespace ps::ui
