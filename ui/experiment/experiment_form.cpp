#include "experiment/experiment_form.h"

#include <algorithm>
#include <climits>
#include <fstream>

#include <QComboBox>
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

#include "common/errors.h"

namespace ps::ui {

namespace {

using nlohmann::json;

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
    addText(form, "model.source", tr("Model"),
            tr("builtin:tiny, builtin:small, or a Hugging Face model directory"));
    {
        auto* data = new QLineEdit(this);
        data->setToolTip(tr("Preference data (JSONL with prompt, chosen, rejected)"));
        data->setPlaceholderText(tr("path/to/pairs.jsonl"));
        auto* browse = new QPushButton(tr("Browse…"), this);
        connect(browse, &QPushButton::clicked, this, &ExperimentForm::browseTrainData);
        auto* row = new QHBoxLayout;
        row->setContentsMargins(0, 0, 0, 0);
        row->addWidget(data, 1);
        row->addWidget(browse);
        form->addRow(tr("Train data"), row);
        bindings_.push_back({"data.train", Kind::Text, data});
        connect(data, &QLineEdit::textChanged, this, &ExperimentForm::revalidate);
    }

    layout->addWidget(section(tr("Objective"), &form, this));
    addChoice(form, "objective.algorithm", tr("Algorithm"),
              tr("dpo: margin against a frozen reference; kto: each side against a reference "
                 "point; orpo: SFT + odds ratio, no reference; simpo: length-normalised, no "
                 "reference"),
              {"dpo", "kto", "orpo", "simpo"});
    addReal(form, "objective.beta", tr("Beta"),
            tr("Strength of the preference term (DPO ~0.1, SimPO ~2.0, ORPO lambda ~0.1)"));

    layout->addWidget(section(tr("SFT warm-up"), &form, this));
    addInteger(form, "sft.steps", tr("Steps"),
               tr("Supervised steps on the chosen answers before preference training (0: none)"),
               0, INT_MAX);
    addReal(form, "sft.learning_rate", tr("Learning rate"), tr("Learning rate of the warm-up"));

    layout->addWidget(section(tr("Training"), &form, this));
    addInteger(form, "train.steps", tr("Steps"), tr("Preference optimiser steps"), 0, INT_MAX);
    addInteger(form, "train.batch_size", tr("Batch size"), tr("Pairs per optimiser step"), 0,
               1 << 20);
    addReal(form, "train.learning_rate", tr("Learning rate"), tr("Peak learning rate, e.g. 5e-4"));
    addInteger(form, "train.warmup_steps", tr("Warm-up steps"),
               tr("Linear learning-rate warm-up"), 0, INT_MAX);
    addChoice(form, "train.schedule", tr("Schedule"), tr("Learning-rate decay after warm-up"),
              {"cosine", "linear", "constant"});

    messageLabel_ = new QLabel(this);
    messageLabel_->setWordWrap(true);
    messageLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    messageLabel_->setStyleSheet(QStringLiteral("color: #b71c1c; font-weight: bold;"));
    messageLabel_->hide();
    layout->addWidget(messageLabel_);
    layout->addStretch(1);

    setExperiment(RunConfig{}.to_json());
}

QLineEdit* ExperimentForm::addText(QFormLayout* form, const QString& path, const QString& label,
                                   const QString& tip) {
    auto* edit = new QLineEdit(this);
    edit->setToolTip(tip);
    form->addRow(label, edit);
    bindings_.push_back({path, Kind::Text, edit});
    connect(edit, &QLineEdit::textChanged, this, &ExperimentForm::revalidate);
    return edit;
}

QSpinBox* ExperimentForm::addInteger(QFormLayout* form, const QString& path, const QString& label,
                                     const QString& tip, int minimum, int maximum) {
    auto* spin = new QSpinBox(this);
    spin->setRange(minimum, maximum);
    spin->setToolTip(tip);
    spin->setGroupSeparatorShown(false);
    form->addRow(label, spin);
    bindings_.push_back({path, Kind::Integer, spin});
    connect(spin, qOverload<int>(&QSpinBox::valueChanged), this, &ExperimentForm::revalidate);
    return spin;
}

QLineEdit* ExperimentForm::addReal(QFormLayout* form, const QString& path, const QString& label,
                                   const QString& tip) {
    // A line edit, not a spin box: learning rates are typed as 5e-4.
    QLineEdit* edit = addText(form, path, label, tip);
    bindings_.back().kind = Kind::Real;
    return edit;
}

QComboBox* ExperimentForm::addChoice(QFormLayout* form, const QString& path, const QString& label,
                                     const QString& tip, const QStringList& choices) {
    auto* combo = new QComboBox(this);
    combo->addItems(choices);
    combo->setToolTip(tip);
    form->addRow(label, combo);
    bindings_.push_back({path, Kind::Choice, combo});
    connect(combo, &QComboBox::currentTextChanged, this, &ExperimentForm::revalidate);
    return combo;
}

const ExperimentForm::Binding* ExperimentForm::binding(const QString& path) const {
    for (const Binding& b : bindings_)
        if (b.path == path) return &b;
    return nullptr;
}

QStringList ExperimentForm::fieldPaths() const {
    QStringList paths;
    for (const Binding& b : bindings_) paths << b.path;
    return paths;
}

void ExperimentForm::setExperiment(const json& j, const QString& filePath) {
    base_ = j.is_object() ? j : json::object();
    filePath_ = filePath;
    fileLabel_->setText(filePath.isEmpty() ? tr("New experiment (not saved)")
                                           : QDir::toNativeSeparators(filePath));
    const json defaults = RunConfig{}.to_json();

    loading_ = true;
    for (const Binding& b : bindings_) {
        const json* v = valueAt(base_, b.path);
        const json* d = valueAt(defaults, b.path);
        const json& value = v && !v->is_null() ? *v : (d ? *d : json());
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
                const json& n = value.is_number_integer() ? value : (d ? *d : json(0));
                spin->setValue(int(std::clamp<int64_t>(n.get<int64_t>(), spin->minimum(),
                                                       spin->maximum())));
                break;
            }
            case Kind::Choice: {
                auto* combo = static_cast<QComboBox*>(b.editor);
                const QString text =
                    value.is_string() ? QString::fromStdString(value.get<std::string>()) : QString();
                // Keep a value we do not offer, so validation can name it instead of hiding it.
                if (!text.isEmpty() && combo->findText(text) < 0) combo->addItem(text);
                combo->setCurrentText(text);
                break;
            }
        }
    }
    loading_ = false;
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
    if (const json* train = valueAt(j, "data.train"); train && train->is_string()) {
        const std::string p = train->get<std::string>();
        if (!p.empty() && QDir::isRelativePath(QString::fromStdString(p)) && newDir != configDir()) {
            try {
                const std::string abs = resolve_data_path(p, configDir().toStdString(), "data.train");
                setValueAt(j, "data.train", QDir(newDir).relativeFilePath(QString::fromStdString(abs)).toStdString());
            } catch (const ps::Error&) {
                // Missing either way: keep what the user wrote.
            }
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
        switch (b.kind) {
            case Kind::Text:
                setValueAt(j, b.path, static_cast<QLineEdit*>(b.editor)->text().trimmed().toStdString());
                break;
            case Kind::Real: {
                const QString text = static_cast<QLineEdit*>(b.editor)->text().trimmed();
                bool ok = false;
                const double v = text.toDouble(&ok);
                // Unparseable text goes in as a string so validation names the field.
                setValueAt(j, b.path, ok ? json(v) : json(text.toStdString()));
                break;
            }
            case Kind::Integer:
                setValueAt(j, b.path, static_cast<QSpinBox*>(b.editor)->value());
                break;
            case Kind::Choice:
                setValueAt(j, b.path, static_cast<QComboBox*>(b.editor)->currentText().toStdString());
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
        case Kind::Choice: return static_cast<QComboBox*>(b->editor)->currentText();
    }
    return QString();
}

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

void ExperimentForm::revalidate() {
    if (loading_) return;
    const bool wasValid = isValid();
    const QString oldMessage = message_;
    resolved_.reset();
    message_.clear();
    try {
        RunConfig config = RunConfig::from_json(experimentJson());
        const std::string dir = configDir().toStdString();
        try {
            config.data.train = resolve_data_path(config.data.train, dir, "data.train");
        } catch (const ps::Error& e) {
            if (!missingDataHint_.isEmpty()) throw ps::Error(missingDataHint_.toStdString());
            throw;
        }
        if (config.data.eval) config.data.eval = resolve_data_path(*config.data.eval, dir, "data.eval");
        resolved_ = std::move(config);
    } catch (const std::exception& e) {
        message_ = QString::fromStdString(e.what());
    }
    messageLabel_->setText(message_);
    messageLabel_->setVisible(!message_.isEmpty());
    emit changed();
    if (wasValid != isValid() || oldMessage != message_) emit validityChanged(isValid(), message_);
}

}  // namespace ps::ui
