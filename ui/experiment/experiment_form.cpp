#include "ui/experiment/experiment_form.h"

#include <algorithm>
#include <climits>
#include <fstream>

#include <QAbstractSpinBox>
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
#include "ui/common/wheel_guard.h"
#include "core/config/algorithm.h"
#include "core/config/config_schema.h"
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

// The schema's markdown ("`0.1`", "`cuda:N`") as tooltip text.
QString plainText(const std::string& markdown) { return QString::fromStdString(markdown).remove(QLatin1Char('`')); }

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
    wheelGuard_ = new WheelGuard(this);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    fileLabel_ = new QLabel(this);
    fileLabel_->setTextFormat(Qt::PlainText);
    fileLabel_->setWordWrap(true);
    fileLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    fileLabel_->setStyleSheet(QStringLiteral("color: palette(mid);"));
    layout->addWidget(fileLabel_);

    // What a clone changed (issue #19): the changed fields are also highlighted.
    changesLabel_ = new QLabel(this);
    changesLabel_->setObjectName(QStringLiteral("changesLabel"));
    changesLabel_->setTextFormat(Qt::PlainText);
    changesLabel_->setWordWrap(true);
    changesLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    changesLabel_->setStyleSheet(QStringLiteral("QLabel { border-left: 4px solid #f9a825; padding-left: 4px; }"));
    changesLabel_->hide();
    layout->addWidget(changesLabel_);

    // One editor per key of the config schema, in its order and sections; the objective's keys
    // are the algorithm table's panels. Reserved keys (accepted, not used yet) are left out.
    QFormLayout* form = nullptr;
    std::string group;
    for (const FieldSpec& spec : config_schema()) {
        if (spec.type == FieldType::Section || spec.reserved) continue;
        if (spec.group != group) {
            group = spec.group;
            layout->addWidget(section(QString::fromStdString(group), &form, this));
            if (spec.path.rfind("objective.", 0) == 0) buildObjectivePanels(form);
        }
        if (spec.path.rfind("objective.", 0) == 0) continue;
        addField(form, spec);
    }

    messageLabel_ = new QLabel(this);
    messageLabel_->setObjectName(QStringLiteral("messageLabel"));
    messageLabel_->setTextFormat(Qt::PlainText);
    messageLabel_->setWordWrap(true);
    messageLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    messageLabel_->setStyleSheet(QStringLiteral("color: #c62828; font-weight: bold;"));
    messageLabel_->hide();
    layout->addWidget(messageLabel_);
    layout->addStretch(1);

    setExperiment(RunConfig{}.to_json());
}

void ExperimentForm::addField(QFormLayout* form, const FieldSpec& spec) {
    const QString path = QString::fromStdString(spec.path);
    const QString label = QString::fromStdString(spec.label);
    const QString tip = tr("%1\nDefault: %2. Valid: %3.%4")
                            .arg(QString::fromStdString(spec.help), plainText(default_text(spec)),
                                 plainText(valid_values_text(spec)),
                                 spec.algorithms.empty()
                                     ? QString()
                                     : tr("\nRead by: %1.").arg(QString::fromStdString(algorithms_text(spec))));
    QWidget* editor = nullptr;
    Kind kind = Kind::Text;
    QHBoxLayout* row = nullptr;
    auto withButton = [&](QWidget* field, const QString& text, const QString& buttonTip, void (ExperimentForm::*slot)()) {
        auto* button = new QPushButton(text, this);
        button->setToolTip(buttonTip);
        connect(button, &QPushButton::clicked, this, slot);
        row = new QHBoxLayout;
        row->setContentsMargins(0, 0, 0, 0);
        row->addWidget(field, 1);
        row->addWidget(button);
    };
    switch (spec.type) {
        case FieldType::Integer: {
            auto* spin = new QSpinBox(this);
            // The box reaches down to 0 even where the key starts at 1, so that a value the
            // validation rejects can be typed and is named (0 LoRA rank: full fine-tuning).
            const double lowest = std::max<double>(double(spec.lowest), double(INT_MIN));
            const double highest = std::min<double>(double(spec.highest), double(INT_MAX));
            const double lo = spec.minimum ? std::min(0.0, *spec.minimum) : lowest;
            const double hi = spec.maximum ? *spec.maximum : highest;
            spin->setRange(int(std::max(lo, lowest)), int(std::min(hi, highest)));
            spin->setGroupSeparatorShown(false);
            if (spec.path == kLoraRankPath) spin->setSpecialValueText(tr("off (full fine-tuning)"));
            editor = spin;
            kind = Kind::Integer;
            break;
        }
        case FieldType::Real: {
            // A line edit, not a spin box: learning rates are typed as 5e-4.
            auto* edit = new QLineEdit(this);
            edit->setPlaceholderText(plainText(default_text(spec)));
            editor = edit;
            kind = Kind::Real;
            break;
        }
        case FieldType::Flag:
            editor = new QCheckBox(this);
            kind = Kind::Flag;
            break;
        case FieldType::Choice: {
            auto* combo = new QComboBox(this);
            for (const auto& c : spec.choices) combo->addItem(QString::fromStdString(c));
            if (spec.open_choices) {
                combo->setEditable(true);
                combo->setInsertPolicy(QComboBox::NoInsert);
            }
            editor = combo;
            kind = spec.open_choices ? Kind::Editable : Kind::Choice;
            if (spec.path == "model.source")
                withButton(combo, tr("Folder…"), tr("Choose a Hugging Face model directory (or drop it on the form)"),
                           &ExperimentForm::browseModelDirectory);
            break;
        }
        case FieldType::Text:
        case FieldType::Path: {
            auto* edit = new QLineEdit(this);
            if (spec.path == "data.train") {
                edit->setPlaceholderText(tr("path/to/pairs.jsonl"));
                withButton(edit, tr("Browse…"), tr("Choose the preference data file (or drop it on the form)"),
                           &ExperimentForm::browseTrainData);
            } else if (spec.path == "data.eval") {
                edit->setPlaceholderText(tr("empty: split from train data"));
            } else if (spec.nullable) {
                edit->setPlaceholderText(tr("empty: none"));
            }
            editor = edit;
            kind = Kind::Text;
            break;
        }
        case FieldType::Names:
            if (spec.json_values) {  // model.template_kwargs: typed as a JSON object
                auto* edit = new QLineEdit(this);
                edit->setPlaceholderText(tr("a JSON object, e.g. {\"enable_thinking\": false}; empty: none"));
                editor = edit;
                kind = Kind::Json;
                break;
            }
            [[fallthrough]];
        case FieldType::List: {
            auto* edit = new QLineEdit(this);
            edit->setPlaceholderText(spec.type == FieldType::List ? tr("comma-separated; empty: none")
                                                                  : tr("key=name, key=name; empty: none"));
            editor = edit;
            kind = spec.type == FieldType::List ? Kind::List : Kind::Names;
            break;
        }
        case FieldType::Section: return;
    }
    addBinding(form, path, label, tip, kind, editor, QString(), row, &spec);
    if (spec.path == "model.source") {
        modelInfo_ = new QLabel(this);
    modelInfo_->setTextFormat(Qt::PlainText);
        modelInfo_->setWordWrap(true);
        modelInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
        modelInfo_->setStyleSheet(QStringLiteral("color: palette(mid);"));
        form->addRow(QString(), modelInfo_);
    } else if (spec.path == "data.train") {
        dataInfo_ = new QLabel(this);
    dataInfo_->setTextFormat(Qt::PlainText);
        dataInfo_->setWordWrap(true);
        dataInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
        dataInfo_->setStyleSheet(QStringLiteral("color: palette(mid);"));
        form->addRow(QString(), dataInfo_);
    }
}

void ExperimentForm::buildObjectivePanels(QFormLayout* form) {
    const FieldSpec& algorithm = *find_field("objective.algorithm");
    algorithmBox_ = new QComboBox(this);
    for (const auto& name : algorithm.choices) algorithmBox_->addItem(QString::fromStdString(name));
    addBinding(form, QStringLiteral("objective.algorithm"), QString::fromStdString(algorithm.label),
               QString::fromStdString(algorithm.help), Kind::Choice, algorithmBox_, QString(), nullptr, &algorithm);
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
                    addBinding(panel, path, label, tip, Kind::Real, edit, alg, nullptr, find_field(spec.path));
                    break;
                }
                case ParameterSpec::Kind::Choice: {
                    auto* combo = new QComboBox(page);
                    for (const auto& c : spec.choices) combo->addItem(QString::fromStdString(c));
                    addBinding(panel, path, label, tip, Kind::Choice, combo, alg, nullptr, find_field(spec.path));
                    break;
                }
                case ParameterSpec::Kind::Flag:
                    addBinding(panel, path, label, tip, Kind::Flag, new QCheckBox(page), alg, nullptr, find_field(spec.path));
                    break;
            }
        }
        objectivePanels_->addWidget(page);
    }
    form->addRow(objectivePanels_);
    connect(algorithmBox_, &QComboBox::currentTextChanged, this, &ExperimentForm::algorithmChanged);

    advice_ = new QLabel(this);
    advice_->setTextFormat(Qt::PlainText);
    advice_->setWordWrap(true);
    advice_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // Normal text colour of the theme: advice is meant to be read (grey italic was hard to read).
    advice_->setObjectName(QStringLiteral("adviceLabel"));
    form->addRow(advice_);
}

QWidget* ExperimentForm::addBinding(QFormLayout* form, const QString& path, const QString& label,
                                    const QString& tip, Kind kind, QWidget* editor,
                                    const QString& algorithm, QLayout* row, const FieldSpec* spec) {
    editor->setToolTip(tip);
    if (row)
        form->addRow(label, row);
    else
        form->addRow(label, editor);
    bindings_.push_back({path, kind, editor, algorithm, spec, form});
    if (qobject_cast<QAbstractSpinBox*>(editor) || qobject_cast<QComboBox*>(editor)) {
        // Scrolling the form over a field must not change it: the wheel reaches a spin or combo
        // box only once it has focus (a click or Tab), and otherwise scrolls the form.
        editor->setFocusPolicy(Qt::StrongFocus);
        editor->installEventFilter(wheelGuard_);
    }
    switch (kind) {
        case Kind::Text:
        case Kind::Real:
        case Kind::List:
        case Kind::Names:
        case Kind::Json:
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

QString ExperimentForm::currentAlgorithm() const {
    return algorithmBox_ ? algorithmBox_->currentText() : QStringLiteral("dpo");
}

bool ExperimentForm::isActive(const Binding& b) const {
    if (!b.algorithm.isEmpty()) return b.algorithm == currentAlgorithm();
    if (!b.spec || b.spec->algorithms.empty()) return true;
    // A key only some algorithms read (train.reference_logps) is shown for those; an unknown
    // algorithm shows it (validation names the algorithm).
    const auto algorithm = find_algorithm(currentAlgorithm().toStdString());
    return !algorithm || b.spec->used_by(*algorithm);
}

bool ExperimentForm::loraOn() const {
    const Binding* rank = binding(QString::fromLatin1(kLoraRankPath));
    return rank && static_cast<QSpinBox*>(rank->editor)->value() != 0;
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
        case Kind::List: {
            QStringList items;
            if (value.is_array())
                for (const json& item : value) items << (item.is_string() ? QString::fromStdString(item.get<std::string>())
                                                                          : QString::fromStdString(item.dump()));
            static_cast<QLineEdit*>(b.editor)->setText(value.is_string() ? QString::fromStdString(value.get<std::string>())
                                                                         : items.join(QStringLiteral(", ")));
            break;
        }
        case Kind::Names: {
            QStringList items;
            if (value.is_object())
                for (auto it = value.begin(); it != value.end(); ++it)
                    if (it->is_string())  // null: an unused column (LLaMA-Factory), the same as absent
                        items << QString::fromStdString(it.key() + "=" + it->get<std::string>());
            static_cast<QLineEdit*>(b.editor)->setText(value.is_string() ? QString::fromStdString(value.get<std::string>())
                                                                         : items.join(QStringLiteral(", ")));
            break;
        }
        case Kind::Json:
            static_cast<QLineEdit*>(b.editor)->setText(
                value.is_string()                        ? QString::fromStdString(value.get<std::string>())
                : value.is_null() || value.empty()       ? QString()
                                                         : QString::fromStdString(value.dump()));
            break;
    }
}

void ExperimentForm::setExperiment(const json& j, const QString& filePath, bool unsaved) {
    base_ = j.is_object() ? j : json::object();
    filePath_ = filePath;
    unsaved_ = unsaved;
    highlighted_.clear();
    changesLabel_->clear();
    changesLabel_->hide();
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
        if (b.path.startsWith(QLatin1String("model.lora."))) {
            // model.lora null (or absent): the rank shows 0 (off) and the other LoRA keys their
            // defaults, ready for when a rank is set.
            const json* lora = valueAt(base_, QStringLiteral("model.lora"));
            if (!lora || !lora->is_object()) {
                loadBinding(b, b.path == QLatin1String(kLoraRankPath) ? json() : b.spec->default_value);
                continue;
            }
        }
        const json* d = b.spec ? &b.spec->default_value : valueAt(defaults, b.path);
        loadBinding(b, v && !v->is_null() ? *v : (d ? *d : json()));
    }
    loading_ = false;
    savedJson_ = experimentJson();
    for (const Binding& b : bindings_) styleEditor(b.editor);
    showObjectivePanel();
    revalidate();
}

bool ExperimentForm::isModified() const { return unsaved_ || experimentJson() != savedJson_; }

QString ExperimentForm::experimentName() const { return fieldText(QStringLiteral("name")); }

QStringList ExperimentForm::highlightChanges(const json& before, const QString& note) {
    const json after = experimentJson();
    highlighted_.clear();
    QStringList lines;
    for (const Binding& b : bindings_) {
        if (!isActive(b) || highlighted_.contains(b.path)) continue;
        const json* was = valueAt(before, b.path);
        const json* now = valueAt(after, b.path);
        const json wasValue = was ? *was : json();
        const json nowValue = now ? *now : json();
        if (wasValue == nowValue) continue;
        highlighted_ << b.path;
        const auto show = [](const json& v) {
            return v.is_null() ? QStringLiteral("(none)")
                   : v.is_string() ? QString::fromStdString(v.get<std::string>())
                                   : QString::fromStdString(v.dump());
        };
        lines << QStringLiteral("%1: %2 → %3").arg(b.path, show(wasValue), show(nowValue));
    }
    for (const Binding& b : bindings_) styleEditor(b.editor);
    QString text = note;
    if (!lines.isEmpty()) text += (text.isEmpty() ? QString() : QStringLiteral("\n")) + tr("Changed: %1").arg(lines.join(QStringLiteral("; ")));
    changesLabel_->setText(text);
    changesLabel_->setVisible(!text.isEmpty());
    return highlighted_;
}

QStringList ExperimentForm::highlightedFields() const { return highlighted_; }

QString ExperimentForm::changesText() const { return changesLabel_->isHidden() ? QString() : changesLabel_->text(); }

void ExperimentForm::showObjectivePanel() {
    // The combo lists the known algorithms first, in panel order; an unknown one loaded from a
    // file comes after them and has no panel (validation names it).
    const int index = algorithmBox_->currentIndex();
    const bool known = index >= 0 && index < objectivePanels_->count();
    if (known) objectivePanels_->setCurrentIndex(index);
    objectivePanels_->setVisible(known);
    // A stack is as tall as its tallest page: let only the shown page count, so the short KTO
    // and ORPO panels leave no gap below them.
    for (int i = 0; i < objectivePanels_->count(); ++i)
        objectivePanels_->widget(i)->setSizePolicy(QSizePolicy::Preferred,
                                                   i == objectivePanels_->currentIndex() ? QSizePolicy::Preferred
                                                                                         : QSizePolicy::Ignored);
    objectivePanels_->adjustSize();
    objectivePanels_->updateGeometry();
    // Keys only some algorithms read: their rows follow the algorithm.
    for (const Binding& b : bindings_)
        if (b.algorithm.isEmpty() && b.spec && !b.spec->algorithms.empty()) b.form->setRowVisible(b.editor, isActive(b));
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
    const bool lora = loraOn();
    for (const Binding& b : bindings_) {
        if (!isActive(b)) continue;
        // With the rank at 0, model.lora is null and its other keys are not written.
        if (!lora && b.path.startsWith(QLatin1String("model.lora.")) && b.path != QLatin1String(kLoraRankPath))
            continue;
        switch (b.kind) {
            case Kind::Text: {
                const std::string text = static_cast<QLineEdit*>(b.editor)->text().trimmed().toStdString();
                // An optional value left empty is "none", as null in the config.
                if (text.empty() && b.spec && b.spec->nullable)
                    setValueAt(j, b.path, nullptr);
                else
                    setValueAt(j, b.path, text);
                break;
            }
            case Kind::List: {
                json items = json::array();
                for (const QString& item : static_cast<QLineEdit*>(b.editor)->text().split(QLatin1Char(',')))
                    if (!item.trimmed().isEmpty()) items.push_back(item.trimmed().toStdString());
                setValueAt(j, b.path, items);
                break;
            }
            case Kind::Names: {
                const QString text = static_cast<QLineEdit*>(b.editor)->text().trimmed();
                json names = json::object();
                for (const QString& item : text.split(QLatin1Char(','))) {
                    if (item.trimmed().isEmpty()) continue;
                    const int eq = item.indexOf(QLatin1Char('='));
                    if (eq < 0) {
                        names = text.toStdString();  // not key=name: validation names the field
                        break;
                    }
                    names[item.left(eq).trimmed().toStdString()] = item.mid(eq + 1).trimmed().toStdString();
                }
                setValueAt(j, b.path, names);
                break;
            }
            case Kind::Json: {
                const std::string text = static_cast<QLineEdit*>(b.editor)->text().trimmed().toStdString();
                // Text that is not JSON goes in as a string, so validation names the field.
                json value = text.empty() ? json::object() : json::parse(text, nullptr, false);
                setValueAt(j, b.path, value.is_discarded() ? json(text) : value);
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
        case Kind::List:
        case Kind::Names:
        case Kind::Json:
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
        case Kind::Real:
        case Kind::List:
        case Kind::Names:
        case Kind::Json: return static_cast<QLineEdit*>(b->editor)->text();
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
            modelInfo_->setToolTip(plainToolTip(rows.join(QLatin1Char('\n'))));
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

void ExperimentForm::styleEditor(QWidget* editor) {
    // Red border: the invalid field; amber border: a field a clone changed.
    QString color;
    if (editor == markedEditor_) color = QStringLiteral("#c62828");
    else
        for (const Binding& b : bindings_)
            if (b.editor == editor && highlighted_.contains(b.path)) color = QStringLiteral("#f9a825");
    editor->setStyleSheet(color.isEmpty() ? QString()
                                          : QStringLiteral("%1 { border: 2px solid %2; border-radius: 3px; }")
                                                .arg(QString::fromLatin1(editor->metaObject()->className()), color));
}

void ExperimentForm::markInvalid(const QString& path, bool mark) {
    if (markedEditor_) {
        QWidget* old = markedEditor_;
        markedEditor_ = nullptr;
        styleEditor(old);
    }
    invalidField_ = path;
    QWidget* editor = path.isEmpty() || !mark ? nullptr : fieldEditor(path);
    if (!editor) return;
    markedEditor_ = editor;
    styleEditor(editor);
}

void ExperimentForm::revalidate() {
    if (loading_) return;
    const bool lora = loraOn();
    for (const Binding& b : bindings_)
        if (b.path.startsWith(QLatin1String("model.lora.")) && b.path != QLatin1String(kLoraRankPath))
            b.editor->setEnabled(lora);
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
        // What loading the model checks first (config.json, tokenizer file): a folder that is not
        // a model is refused here, not by a run that fails later (issue #19).
        try {
            check_model_source(config.model.source);
        } catch (const std::exception& e) {
            throw ps::ConfigError("model.source", e.what());
        }
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
    // A fresh new experiment is not an error yet: say what it needs in the normal text colour
    // (the next start never opens in a red error state).
    const bool pristine = filePath_.isEmpty() && !isModified();
    markInvalid(field, !pristine);
    messageLabel_->setText(pristine && !message_.isEmpty() ? tr("To run this new experiment: %1").arg(message_) : message_);
    messageLabel_->setStyleSheet(pristine ? QString() : QStringLiteral("color: #c62828; font-weight: bold;"));
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
