#include "ui/experiment/experiment_form.h"

#include <algorithm>
#include <climits>
#include <fstream>

#include <QCheckBox>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QStackedWidget>
#include <QUrl>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "core/common/errors.h"
#include "ui/common/format.h"
#include "core/config/algorithm.h"
#include "core/model/memory_estimate.h"
#include "core/model/model_info.h"

namespace ps::ui {

namespace {

using nlohmann::json;

// The LoRA rank editor stands for the whole model.lora object: 0 is null (full fine-tuning),
// a rank keeps the file's other LoRA settings.
const char* const kLoraRankPath = "model.lora.rank";

const json* valueAt(const json& j, const QString& path) {
    const json* node = &j;
    for (const QString& part : path.split('.')) {
        if (!node->is_object()) return nullptr;
        auto it = node->find(part.toStdString());
        if (it == node->end()) return nullptr;
        node = &*it;
    }
    return node;
}

void setValueAt(json& j, const QString& path, json value) {
    json* node = &j;
    const QStringList parts = path.split('.');
    for (int i = 0; i + 1 < parts.size(); ++i) {
        json& child = (*node)[parts[i].toStdString()];
        if (!child.is_object()) child = json::object();
        node = &child;
    }
    (*node)[parts.back().toStdString()] = std::move(value);
}

QString realText(double v) { return QString::number(v, 'g', 8); }

QGroupBox* section(const QString& title, QFormLayout** form, QWidget* parent) {
    auto* box = new QGroupBox(title, parent);
    *form = new QFormLayout(box);
    (*form)->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    (*form)->setLabelAlignment(Qt::AlignRight);
    return box;
}

}  // namespace

ExperimentForm::ExperimentForm(QWidget* parent) : QWidget(parent) {
    setAcceptDrops(true);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    fileLabel_ = new QLabel(this);
    fileLabel_->setWordWrap(true);
    fileLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    fileLabel_->setStyleSheet(QStringLiteral("color: palette(mid);"));
    layout->addWidget(fileLabel_);

    QFormLayout* form = nullptr;
    layout->addWidget(section(tr("Experiment"), &form, this));
    addText(form, "name", tr("Name"), tr("Run name shown in the runs list"));
    addInteger(form, "seed", tr("Seed"), tr("Random seed: same seed, same run"), 0, INT_MAX);

    layout->addWidget(section(tr("Model and data"), &form, this));
    {
        auto* model = new QComboBox(this);
        model->setEditable(true);
        model->addItems({QStringLiteral("builtin:tiny"), QStringLiteral("builtin:small")});
        model->setInsertPolicy(QComboBox::NoInsert);
        auto* browse = new QPushButton(tr("Folder…"), this);
        browse->setToolTip(tr("Choose a Hugging Face model directory (or drop it on the form)"));
        connect(browse, &QPushButton::clicked, this, &ExperimentForm::browseModelDirectory);
        auto* row = new QHBoxLayout;
        row->setContentsMargins(0, 0, 0, 0);
        row->addWidget(model, 1);
        row->addWidget(browse);
        addBinding(form, "model.source", tr("Model"),
                   tr("builtin:tiny, builtin:small, or a Hugging Face model directory (drag and "
                      "drop works)"),
                   Kind::Editable, model, QString(), row);
        modelInfo_ = new QLabel(this);
        modelInfo_->setWordWrap(true);
        modelInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
        modelInfo_->setStyleSheet(QStringLiteral("color: palette(mid);"));
        form->addRow(QString(), modelInfo_);
    }
    addChoice(form, "model.dtype", tr("Dtype"),
              tr("Weights and activations: auto (= float32), float32, bfloat16 or float16"),
              {"auto", "float32", "bfloat16", "float16"});
    addInteger(form, kLoraRankPath, tr("LoRA rank"),
               tr("Train low-rank adapters of this rank on the linear layers instead of all weights "
                  "(0: full fine-tuning)"),
               0, 4096);
    {
        auto* data = new QLineEdit(this);
        data->setPlaceholderText(tr("path/to/pairs.jsonl"));
        auto* browse = new QPushButton(tr("Browse…"), this);
        connect(browse, &QPushButton::clicked, this, &ExperimentForm::browseTrainData);
        auto* row = new QHBoxLayout;
        row->setContentsMargins(0, 0, 0, 0);
        row->addWidget(data, 1);
        row->addWidget(browse);
        addBinding(form, "data.train", tr("Train data"),
                   tr("Preference data (JSONL with prompt, chosen, rejected)"), Kind::Text, data,
                   QString(), row);
    }
    dataInfo_ = new QLabel(this);
    dataInfo_->setWordWrap(true);
    dataInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    dataInfo_->setStyleSheet(QStringLiteral("color: palette(mid);"));
    form->addRow(QString(), dataInfo_);
    addText(form, "data.eval", tr("Eval data"),
            tr("A separate eval file; empty: hold out eval_fraction of the train data"))
        ->setPlaceholderText(tr("empty: split from train data"));
    addReal(form, "data.eval_fraction", tr("Eval fraction"),
            tr("Share of the train data held out for evaluation when no eval file is given [0, 1)"));
    addInteger(form, "data.max_length", tr("Max length"),
               tr("Tokens of prompt + completion; longer completions are cut"), 0, 1 << 20);
    addInteger(form, "data.max_prompt_length", tr("Max prompt length"),
               tr("Prompts longer than this are dropped and counted, never cut silently"), 0, 1 << 20);

    layout->addWidget(section(tr("Objective"), &form, this));
    buildObjectivePanels(form);

    layout->addWidget(section(tr("SFT warm-up"), &form, this));
    addInteger(form, "sft.steps", tr("Steps"),
               tr("Supervised steps on the chosen answers before preference training (0: none)"),
               0, INT_MAX);
    addReal(form, "sft.learning_rate", tr("Learning rate"), tr("Learning rate of the warm-up"));

    layout->addWidget(section(tr("Training"), &form, this));
    addInteger(form, "train.steps", tr("Steps"), tr("Preference optimiser steps"), 0, INT_MAX);
    addInteger(form, "train.batch_size", tr("Batch size"), tr("Pairs per micro-batch"), 0, 1 << 20);
    addInteger(form, "train.grad_accum", tr("Grad accumulation"),
               tr("Micro-batches per optimiser step (effective batch = batch size x this)"), 0, 1 << 16);
    addReal(form, "train.learning_rate", tr("Learning rate"), tr("Peak learning rate, e.g. 5e-4"));
    addInteger(form, "train.warmup_steps", tr("Warm-up steps"),
               tr("Linear learning-rate warm-up"), 0, INT_MAX);
    addChoice(form, "train.schedule", tr("Schedule"), tr("Learning-rate decay after warm-up"),
              {"cosine", "linear", "constant"});
    addReal(form, "train.weight_decay", tr("Weight decay"), tr("AdamW's decoupled weight decay (0: none)"));
    addReal(form, "train.max_grad_norm", tr("Max grad norm"),
            tr("Clip the gradient to this global norm (0: no clipping)"));
    addInteger(form, "train.eval_every", tr("Eval every"),
               tr("Steps between evaluations (0: only at the end)"), 0, INT_MAX);
    {
        auto* device = new QComboBox(this);
        device->setEditable(true);
        device->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
        device->setInsertPolicy(QComboBox::NoInsert);
        addBinding(form, "train.device", tr("Device"),
                   tr("auto: CUDA when this libtorch has it and a GPU is present, else CPU; or cuda:N"),
                   Kind::Editable, device);
    }
    addInteger(form, "train.threads", tr("CPU threads"),
               tr("Threads for tensor maths; 0: all cores but one, so the studio stays responsive"),
               0, 256);
    addBinding(form, "train.gradient_checkpointing", tr("Gradient checkpointing"),
               tr("Keep only each decoder block's input and recompute its activations in the backward "
                  "pass: less memory, about one more forward per step"),
               Kind::Flag, new QCheckBox(this));
    addChoice(form, "train.reference_logps", tr("Reference log-probs"),
              tr("cached: computed once before training (fast); on_the_fly: a reference forward "
                 "every step (less memory)"),
              {"cached", "on_the_fly"});

    messageLabel_ = new QLabel(this);
    messageLabel_->setWordWrap(true);
    messageLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    messageLabel_->setStyleSheet(QStringLiteral("color: #c62828; font-weight: bold;"));
    messageLabel_->hide();
    layout->addWidget(messageLabel_);
    layout->addStretch(1);

    setExperiment(RunConfig{}.to_json());
}

void ExperimentForm::buildObjectivePanels(QFormLayout* form) {
    QStringList names;
    for (Algorithm a : kAlgorithms) names << QString::fromStdString(algorithm_spec(a).name);
    algorithmBox_ = addChoice(form, "objective.algorithm", tr("Algorithm"),
                              tr("The preference objective; its parameters are below"), names);
    algorithmSummary_ = new QLabel(this);
    algorithmSummary_->setWordWrap(true);
    algorithmSummary_->setStyleSheet(QStringLiteral("color: palette(mid);"));
    form->addRow(QString(), algorithmSummary_);

    objectivePanels_ = new QStackedWidget(this);
    // One panel per row of the algorithm table, from its parameters: a new algorithm gets its
    // panel without a change here.
    for (Algorithm algorithm : kAlgorithms) {
        const AlgorithmSpec& row = algorithm_spec(algorithm);
        auto* page = new QWidget(objectivePanels_);
        auto* panel = new QFormLayout(page);
        panel->setContentsMargins(0, 0, 0, 0);
        panel->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
        panel->setLabelAlignment(Qt::AlignRight);
        const QString alg = QString::fromStdString(row.name);
        for (const ParameterSpec& spec : row.parameters) {
            const QString defaultText =
                spec.kind == ParameterSpec::Kind::Choice ? QString::fromStdString(spec.default_choice)
                : spec.kind == ParameterSpec::Kind::Flag ? (spec.default_value != 0 ? tr("on") : tr("off"))
                                                          : realText(spec.default_value);
            const QString tip = tr("%1\nDefault: %2. Valid: %3.\nRecommended: %4")
                                    .arg(QString::fromStdString(spec.tooltip), defaultText,
                                         QString::fromStdString(range_text(spec)),
                                         QString::fromStdString(spec.recommendation));
            const QString path = QString::fromStdString(spec.path);
            const QString label = QString::fromStdString(spec.label);
            switch (spec.kind) {
                case ParameterSpec::Kind::Real: {
                    auto* edit = new QLineEdit(page);
                    edit->setPlaceholderText(defaultText);
                    addBinding(panel, path, label, tip, Kind::Real, edit, alg);
                    break;
                }
                case ParameterSpec::Kind::Choice: {
                    auto* combo = new QComboBox(page);
                    for (const auto& c : spec.choices) combo->addItem(QString::fromStdString(c));
                    addBinding(panel, path, label, tip, Kind::Choice, combo, alg);
                    break;
                }
                case ParameterSpec::Kind::Flag:
                    addBinding(panel, path, label, tip, Kind::Flag, new QCheckBox(page), alg);
                    break;
            }
        }
        objectivePanels_->addWidget(page);
    }
    form->addRow(objectivePanels_);
    connect(algorithmBox_, &QComboBox::currentTextChanged, this, &ExperimentForm::algorithmChanged);

    advice_ = new QLabel(this);
    advice_->setWordWrap(true);
    advice_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    advice_->setStyleSheet(QStringLiteral("color: palette(mid); font-style: italic;"));
    form->addRow(advice_);
}

QWidget* ExperimentForm::addBinding(QFormLayout* form, const QString& path, const QString& label,
                                    const QString& tip, Kind kind, QWidget* editor,
                                    const QString& algorithm, QLayout* row) {
    editor->setToolTip(tip);
    if (row)
        form->addRow(label, row);
    else
        form->addRow(label, editor);
    bindings_.push_back({path, kind, editor, algorithm});
    switch (kind) {
        case Kind::Text:
        case Kind::Real:
            connect(static_cast<QLineEdit*>(editor), &QLineEdit::textChanged, this,
                    &ExperimentForm::revalidate);
            break;
        case Kind::Integer:
            connect(static_cast<QSpinBox*>(editor), qOverload<int>(&QSpinBox::valueChanged), this,
                    &ExperimentForm::revalidate);
            break;
        case Kind::Choice:
        case Kind::Editable:
            connect(static_cast<QComboBox*>(editor), &QComboBox::currentTextChanged, this,
                    &ExperimentForm::revalidate);
            break;
        case Kind::Flag:
            connect(static_cast<QCheckBox*>(editor), &QCheckBox::toggled, this,
                    &ExperimentForm::revalidate);
            break;
    }
    return editor;
}

QLineEdit* ExperimentForm::addText(QFormLayout* form, const QString& path, const QString& label,
                                   const QString& tip) {
    return static_cast<QLineEdit*>(addBinding(form, path, label, tip, Kind::Text, new QLineEdit(this)));
}

QSpinBox* ExperimentForm::addInteger(QFormLayout* form, const QString& path, const QString& label,
                                     const QString& tip, int minimum, int maximum) {
    auto* spin = new QSpinBox(this);
    spin->setRange(minimum, maximum);
    spin->setGroupSeparatorShown(false);
    addBinding(form, path, label, tip, Kind::Integer, spin);
    return spin;
}

QLineEdit* ExperimentForm::addReal(QFormLayout* form, const QString& path, const QString& label,
                                   const QString& tip) {
    // A line edit, not a spin box: learning rates are typed as 5e-4.
    return static_cast<QLineEdit*>(addBinding(form, path, label, tip, Kind::Real, new QLineEdit(this)));
}

QComboBox* ExperimentForm::addChoice(QFormLayout* form, const QString& path, const QString& label,
                                     const QString& tip, const QStringList& choices) {
    auto* combo = new QComboBox(this);
    combo->addItems(choices);
    return static_cast<QComboBox*>(addBinding(form, path, label, tip, Kind::Choice, combo));
}

QString ExperimentForm::currentAlgorithm() const {
    return algorithmBox_ ? algorithmBox_->currentText() : QStringLiteral("dpo");
}

bool ExperimentForm::isActive(const Binding& b) const {
    return b.algorithm.isEmpty() || b.algorithm == currentAlgorithm();
}

const ExperimentForm::Binding* ExperimentForm::binding(const QString& path) const {
    for (const Binding& b : bindings_)
        if (b.path == path && isActive(b)) return &b;
    return nullptr;
}

QWidget* ExperimentForm::fieldEditor(const QString& path) const {
    const Binding* b = binding(path);
    return b ? b->editor : nullptr;
}

QStringList ExperimentForm::fieldPaths() const {
    QStringList paths;
    for (const Binding& b : bindings_)
        if (isActive(b)) paths << b.path;
    return paths;
}

QStringList ExperimentForm::objectiveFieldPaths() const {
    QStringList paths;
    for (const Binding& b : bindings_)
        if (!b.algorithm.isEmpty() && isActive(b)) paths << b.path;
    return paths;
}

void ExperimentForm::loadBinding(const Binding& b, const json& value) {
    switch (b.kind) {
        case Kind::Text:
            static_cast<QLineEdit*>(b.editor)->setText(
                value.is_string() ? QString::fromStdString(value.get<std::string>()) : QString());
            break;
        case Kind::Real:
            static_cast<QLineEdit*>(b.editor)->setText(
                value.is_number() ? realText(value.get<double>())
                : value.is_string() ? QString::fromStdString(value.get<std::string>())
                                    : QString());
            break;
        case Kind::Integer: {
            auto* spin = static_cast<QSpinBox*>(b.editor);
            if (value.is_number_integer())
                spin->setValue(int(std::clamp<int64_t>(value.get<int64_t>(), spin->minimum(),
                                                       spin->maximum())));
            else if (b.path == QLatin1String(kLoraRankPath))
                spin->setValue(0);  // model.lora is null
            break;
        }
        case Kind::Choice:
        case Kind::Editable: {
            auto* combo = static_cast<QComboBox*>(b.editor);
            const QString text =
                value.is_string() ? QString::fromStdString(value.get<std::string>()) : QString();
            if (b.kind == Kind::Editable) {
                combo->setEditText(text);
                break;
            }
            // Keep a value we do not offer, so validation can name it instead of hiding it.
            if (!text.isEmpty() && combo->findText(text) < 0) combo->addItem(text);
            combo->setCurrentText(text);
            break;
        }
        case Kind::Flag:
            static_cast<QCheckBox*>(b.editor)->setChecked(value.is_boolean() && value.get<bool>());
            break;
    }
}

void ExperimentForm::setExperiment(const json& j, const QString& filePath) {
    base_ = j.is_object() ? j : json::object();
    filePath_ = filePath;
    fileLabel_->setText(filePath.isEmpty() ? tr("New experiment (not saved)")
                                           : QDir::toNativeSeparators(filePath));
    const json defaults = RunConfig{}.to_json();
    const json* algorithm = valueAt(base_, "objective.algorithm");
    const QString fileAlgorithm = algorithm && algorithm->is_string()
                                      ? QString::fromStdString(algorithm->get<std::string>())
                                      : QStringLiteral("dpo");

    loading_ = true;
    for (const Binding& b : bindings_) {
        if (!b.algorithm.isEmpty() && b.algorithm != fileAlgorithm) {
            // Another algorithm's panel starts at that algorithm's recommended values, so
            // switching to it never carries over a beta that means something else there.
            for (const ParameterSpec& spec : objective_parameters(b.algorithm.toStdString())) {
                if (QString::fromStdString(spec.path) != b.path) continue;
                loadBinding(b, spec.kind == ParameterSpec::Kind::Choice ? json(spec.default_choice)
                               : spec.kind == ParameterSpec::Kind::Flag ? json(spec.default_value != 0)
                                                                        : json(spec.default_value));
            }
            continue;
        }
        const json* v = valueAt(base_, b.path);
        const json* d = valueAt(defaults, b.path);
        loadBinding(b, v && !v->is_null() ? *v : (d ? *d : json()));
    }
    loading_ = false;
    showObjectivePanel();
    revalidate();
}

void ExperimentForm::showObjectivePanel() {
    // The combo lists the known algorithms first, in panel order; an unknown one loaded from a
    // file comes after them and has no panel (validation names it).
    const int index = algorithmBox_->currentIndex();
    const bool known = index >= 0 && index < objectivePanels_->count();
    if (known) objectivePanels_->setCurrentIndex(index);
    objectivePanels_->setVisible(known);
}

void ExperimentForm::algorithmChanged() {
    showObjectivePanel();
    revalidate();
}

void ExperimentForm::loadFile(const QString& path) {
    json j = read_config_json(path.toStdString());
    setExperiment(j, QFileInfo(path).absoluteFilePath());
}

void ExperimentForm::saveFile(const QString& path) {
    json j = experimentJson();
    const QString newDir = QFileInfo(path).absolutePath();
    // A relative data path found next to the old file would be lost next to the new one.
    for (const char* field : {"data.train", "data.eval"}) {
        const json* value = valueAt(j, field);
        if (!value || !value->is_string()) continue;
        const std::string p = value->get<std::string>();
        if (p.empty() || !QDir::isRelativePath(QString::fromStdString(p)) || newDir == configDir()) continue;
        try {
            const std::string abs = resolve_data_path(p, configDir().toStdString(), field);
            setValueAt(j, field, QDir(newDir).relativeFilePath(QString::fromStdString(abs)).toStdString());
        } catch (const ps::Error&) {
            // Missing either way: keep what the user wrote.
        }
    }
    std::ofstream out(path.toStdString());
    if (!out) throw ps::Error("cannot write '" + path.toStdString() + "'");
    out << j.dump(2) << '\n';
    if (!out.flush()) throw ps::Error("cannot write '" + path.toStdString() + "'");
    setExperiment(j, QFileInfo(path).absoluteFilePath());
}

json ExperimentForm::experimentJson() const {
    json j = base_;
    for (const Binding& b : bindings_) {
        if (!isActive(b)) continue;
        switch (b.kind) {
            case Kind::Text: {
                const std::string text = static_cast<QLineEdit*>(b.editor)->text().trimmed().toStdString();
                // An optional file left empty is "none", as null in the config.
                if (text.empty() && b.path == QLatin1String("data.eval"))
                    setValueAt(j, b.path, nullptr);
                else
                    setValueAt(j, b.path, text);
                break;
            }
            case Kind::Real: {
                const QString text = static_cast<QLineEdit*>(b.editor)->text().trimmed();
                bool ok = false;
                const double v = text.toDouble(&ok);
                // Unparseable text goes in as a string so validation names the field.
                setValueAt(j, b.path, ok ? json(v) : json(text.toStdString()));
                break;
            }
            case Kind::Integer:
                if (b.path == QLatin1String(kLoraRankPath) && static_cast<QSpinBox*>(b.editor)->value() == 0)
                    setValueAt(j, QStringLiteral("model.lora"), nullptr);
                else
                    setValueAt(j, b.path, static_cast<QSpinBox*>(b.editor)->value());
                break;
            case Kind::Choice:
            case Kind::Editable:
                setValueAt(j, b.path, static_cast<QComboBox*>(b.editor)->currentText().trimmed().toStdString());
                break;
            case Kind::Flag:
                setValueAt(j, b.path, static_cast<QCheckBox*>(b.editor)->isChecked());
                break;
        }
    }
    return j;
}

bool ExperimentForm::setFieldText(const QString& path, const QString& text) {
    const Binding* b = binding(path);
    if (!b) return false;
    switch (b->kind) {
        case Kind::Text:
        case Kind::Real:
            static_cast<QLineEdit*>(b->editor)->setText(text);
            return true;
        case Kind::Integer: {
            bool ok = false;
            const int v = text.toInt(&ok);
            if (!ok) return false;
            static_cast<QSpinBox*>(b->editor)->setValue(v);
            return true;
        }
        case Kind::Choice: {
            auto* combo = static_cast<QComboBox*>(b->editor);
            const int index = combo->findText(text);
            if (index < 0) return false;
            combo->setCurrentIndex(index);
            return true;
        }
        case Kind::Editable:
            static_cast<QComboBox*>(b->editor)->setEditText(text);
            return true;
        case Kind::Flag: {
            const QString t = text.trimmed().toLower();
            if (t != "true" && t != "false" && t != "1" && t != "0") return false;
            static_cast<QCheckBox*>(b->editor)->setChecked(t == "true" || t == "1");
            return true;
        }
    }
    return false;
}

QString ExperimentForm::fieldText(const QString& path) const {
    const Binding* b = binding(path);
    if (!b) return QString();
    switch (b->kind) {
        case Kind::Text:
        case Kind::Real: return static_cast<QLineEdit*>(b->editor)->text();
        case Kind::Integer: return QString::number(static_cast<QSpinBox*>(b->editor)->value());
        case Kind::Choice:
        case Kind::Editable: return static_cast<QComboBox*>(b->editor)->currentText();
        case Kind::Flag:
            return static_cast<QCheckBox*>(b->editor)->isChecked() ? QStringLiteral("true")
                                                                   : QStringLiteral("false");
    }
    return QString();
}

void ExperimentForm::setDataInfo(const QString& text) { dataInfo_->setText(text); }

QString ExperimentForm::dataInfoText() const { return dataInfo_->text(); }

QString ExperimentForm::adviceText() const { return advice_ ? advice_->text() : QString(); }

QString ExperimentForm::modelInfoText() const { return modelInfo_ ? modelInfo_->text() : QString(); }

void ExperimentForm::setMissingDataHint(const QString& hint) {
    missingDataHint_ = hint;
    revalidate();
}

QString ExperimentForm::configDir() const {
    return filePath_.isEmpty() ? QString() : QFileInfo(filePath_).absolutePath();
}

void ExperimentForm::browseTrainData() {
    const Binding* b = binding("data.train");
    auto* edit = static_cast<QLineEdit*>(b->editor);
    QString start = configDir().isEmpty() ? QDir::currentPath() : configDir();
    const QString chosen = QFileDialog::getOpenFileName(
        this, tr("Preference data"), start, tr("Preference data (*.jsonl *.json);;All files (*)"));
    if (!chosen.isEmpty()) edit->setText(QDir::toNativeSeparators(chosen));
}

void ExperimentForm::browseModelDirectory() {
    QString start = configDir().isEmpty() ? QDir::currentPath() : configDir();
    const QString chosen = QFileDialog::getExistingDirectory(this, tr("Hugging Face model directory"), start);
    if (!chosen.isEmpty()) setFieldText(QStringLiteral("model.source"), QDir::toNativeSeparators(chosen));
}

bool ExperimentForm::acceptDroppedPath(const QString& path) {
    const QFileInfo info(path);
    if (info.isDir()) {
        if (!QFileInfo::exists(QDir(path).filePath(QStringLiteral("config.json")))) {
            emit statusMessage(tr("%1 has no config.json, so it is not a Hugging Face model directory.")
                                   .arg(QDir::toNativeSeparators(path)));
            return false;
        }
        setFieldText(QStringLiteral("model.source"), QDir::toNativeSeparators(info.absoluteFilePath()));
        emit statusMessage(tr("Model set to %1.").arg(QDir::toNativeSeparators(info.absoluteFilePath())));
        return true;
    }
    const QString suffix = info.suffix().toLower();
    if (!info.isFile() || (suffix != QLatin1String("json") && suffix != QLatin1String("jsonl"))) {
        emit statusMessage(tr("Drop a model directory, a .jsonl/.json data file or an experiment .json."));
        return false;
    }
    if (suffix == QLatin1String("json")) {
        // An experiment is a JSON object with run-config sections; a dataset is an array.
        try {
            const json j = read_config_json(path.toStdString());
            if (j.is_object() && (j.contains("objective") || j.contains("train") || j.contains("model"))) {
                loadFile(path);
                emit statusMessage(tr("Loaded experiment %1.").arg(QDir::toNativeSeparators(path)));
                return true;
            }
        } catch (const std::exception&) {
            // Not a config: treat it as data below; the data reader reports what is wrong with it.
        }
    }
    setFieldText(QStringLiteral("data.train"), QDir::toNativeSeparators(info.absoluteFilePath()));
    emit statusMessage(tr("Train data set to %1.").arg(QDir::toNativeSeparators(info.absoluteFilePath())));
    return true;
}

void ExperimentForm::dragEnterEvent(QDragEnterEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.size() == 1 && urls.front().isLocalFile()) event->acceptProposedAction();
}

void ExperimentForm::dropEvent(QDropEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.size() != 1 || !urls.front().isLocalFile()) return;
    if (acceptDroppedPath(urls.front().toLocalFile())) event->acceptProposedAction();
}

void ExperimentForm::updateModelInfo() {
    const QString source = fieldText(QStringLiteral("model.source")).trimmed();
    // The estimate reads the model, dtype, LoRA, batch size, max_length, checkpointing and the
    // objective; the data file does not matter, so an incomplete experiment still gets one.
    json j = experimentJson();
    j["data"]["train"] = "unused.jsonl";
    const QString key = QString::fromStdString(j.dump());
    if (key == modelInfoSource_) return;
    modelInfoSource_ = key;
    if (source.isEmpty()) {
        modelInfo_->clear();
        return;
    }
    try {
        const ModelInfo info = describe_model(source.toStdString());
        QString text = tr("%1 · %2 layers · hidden %3 · %4 heads (%5 KV) · vocab %6 · %7 parameters")
                           .arg(QString::fromStdString(info.architecture))
                           .arg(info.layers)
                           .arg(info.hidden_size)
                           .arg(info.heads)
                           .arg(info.kv_heads)
                           .arg(info.vocab_size)
                           .arg(formatCount(double(info.parameters)));
        try {
            const RunConfig config = RunConfig::from_json(j);
            const MemoryEstimate e = estimate_training_memory(config);
            auto bytes = [](int64_t b) { return QString::fromStdString(format_memory_bytes(b)); };
            const int64_t state = e.item_bytes("weights") + e.item_bytes("master_weights") + e.item_bytes("gradients") +
                                  e.item_bytes("optimizer") + e.item_bytes("reference");
            text += tr(" · training needs about %1 (%2 weights, gradients and AdamW state%3; %4 activations "
                       "and logits for %5 tokens per step%6)")
                        .arg(bytes(e.total_bytes), bytes(state),
                             e.lora ? tr(" with LoRA") : QString(),
                             bytes(e.item_bytes("activations") + e.item_bytes("logits") + e.item_bytes("backward")))
                        .arg(e.tokens_per_step)
                        .arg(e.peak_phase == "training step" ? QString() : tr("; the peak is in the %1").arg(QString::fromStdString(e.peak_phase)));
            QStringList rows;
            for (const MemoryItem& item : e.items)
                rows << QStringLiteral("%1: %2 (%3)").arg(QString::fromStdString(item.label), bytes(item.bytes),
                                                           QString::fromStdString(item.detail));
            modelInfo_->setToolTip(rows.join(QLatin1Char('\n')));
        } catch (const ps::Error& e) {
            text += tr(" · no memory estimate while %1").arg(QString::fromStdString(e.what()));
            modelInfo_->setToolTip(QString());
        }
        modelInfo_->setText(text);
        modelInfo_->setStyleSheet(QStringLiteral("color: palette(mid);"));
    } catch (const std::exception& e) {
        modelInfo_->setText(QString::fromStdString(e.what()));
        modelInfo_->setStyleSheet(QStringLiteral("color: #c62828;"));
    }
}

ObjectiveConfig ExperimentForm::currentObjective() const {
    if (resolved_) return resolved_->objective;
    // The advice is about the objective alone, so give it even while another section (often
    // the data file of a new experiment) is still incomplete.
    const json current = experimentJson();
    json j = json::object();
    if (const json* objective = valueAt(current, "objective")) j["objective"] = *objective;
    j["data"]["train"] = "unused.jsonl";
    try {
        return RunConfig::from_json(j).objective;
    } catch (const std::exception&) {
        return ObjectiveConfig{"none"};  // invalid values: the message says which, no advice
    }
}

void ExperimentForm::markInvalid(const QString& path) {
    if (markedEditor_) {
        markedEditor_->setStyleSheet(QString());
        markedEditor_ = nullptr;
    }
    invalidField_ = path;
    QWidget* editor = path.isEmpty() ? nullptr : fieldEditor(path);
    if (!editor) return;
    editor->setStyleSheet(QStringLiteral("%1 { border: 2px solid #c62828; border-radius: 3px; }")
                              .arg(QString::fromLatin1(editor->metaObject()->className())));
    markedEditor_ = editor;
}

void ExperimentForm::revalidate() {
    if (loading_) return;
    const bool wasValid = isValid();
    const QString oldMessage = message_;
    resolved_.reset();
    message_.clear();
    QString field;
    try {
        RunConfig config = RunConfig::from_json(experimentJson());
        const std::string dir = configDir().toStdString();
        try {
            config.data.train = resolve_data_path(config.data.train, dir, "data.train");
        } catch (const ps::Error& e) {
            if (!missingDataHint_.isEmpty()) throw ps::ConfigError("data.train", missingDataHint_.toStdString());
            throw;
        }
        if (config.data.eval) config.data.eval = resolve_data_path(*config.data.eval, dir, "data.eval");
        resolved_ = std::move(config);
    } catch (const ps::ConfigError& e) {
        message_ = QString::fromStdString(e.what());
        field = QString::fromStdString(e.field());
    } catch (const std::exception& e) {
        message_ = QString::fromStdString(e.what());
    }
    // A hint replaces the whole message (the demo's data explanation names no field path).
    if (!missingDataHint_.isEmpty() && field == QLatin1String("data.train") &&
        message_.startsWith(QStringLiteral("data.train: ") + missingDataHint_))
        message_ = missingDataHint_;
    markInvalid(field);
    messageLabel_->setText(message_);
    messageLabel_->setVisible(!message_.isEmpty());

    const ObjectiveConfig current = currentObjective();
    {
        // The row's summary and what its rewards mean (for the current loss type and
        // reference setting when the objective is valid, else the row's defaults).
        const auto known = find_algorithm(currentAlgorithm().toStdString());
        ObjectiveConfig objective = current;
        if (!find_algorithm(objective.algorithm)) {
            objective = ObjectiveConfig{};
            objective.algorithm = algorithm_spec(known.value_or(Algorithm::Dpo)).name;
            for (const ParameterSpec& spec : algorithm_spec(objective).parameters)
                if (spec.path == "objective.loss_type") objective.loss_type = spec.default_choice;
        }
        const AlgorithmSpec& row = algorithm_spec(objective);
        algorithmSummary_->setText(QString::fromStdString(row.summary + "\n" + rewards_meaning(objective)));
    }
    QStringList advice;
    for (const std::string& line : objective_advice(current))
        advice << QString::fromStdString(line);
    advice_->setText(advice.join(QLatin1Char('\n')));
    advice_->setVisible(!advice.isEmpty());
    updateModelInfo();

    emit changed();
    if (wasValid != isValid() || oldMessage != message_) emit validityChanged(isValid(), message_);
}

}  // namespace ps::ui
