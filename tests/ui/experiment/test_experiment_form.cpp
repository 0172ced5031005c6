// The experiment form: per-algorithm parameter panels, the form <-> config JSON round trip for
// each algorithm, inline marking of an invalid field, the papers' advice, the model picker's
// description (parameter counts checked against hand-computed and published values) and
// drag and drop of models, data and experiments.
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDropEvent>
#include <QFile>
#include <QLineEdit>
#include <QMimeData>
#include <QSpinBox>
#include <QWheelEvent>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <nlohmann/json.hpp>

#include "core/config/config_schema.h"
#include "core/config/run_config.h"
#include "ui/experiment/experiment_form.h"
#include "core/model/hf_config.h"
#include "core/model/memory_estimate.h"

using nlohmann::json;
using ps::ui::ExperimentForm;

class TestExperimentForm : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> dir_;
    QString dataPath_;

    QString writeJson(const QString& name, const json& j) {
        const QString path = dir_->filePath(name);
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
        f.write(QByteArray::fromStdString(j.dump(2)));
        return path;
    }

    // A config with every shown field set away from its default, for one algorithm.
    json fullConfig(const std::string& algorithm, const json& objective) {
        json o = objective;
        o["algorithm"] = algorithm;
        return json{{"name", "rt-" + algorithm},
                    {"seed", 7},
                    {"model", {{"source", "builtin:small"}}},
                    {"data", {{"train", dataPath_.toStdString()},
                              {"eval", nullptr},
                              {"eval_fraction", 0.2},
                              {"max_length", 48},
                              {"max_prompt_length", 20}}},
                    {"sft", {{"steps", 5}, {"learning_rate", 0.002}}},
                    {"objective", o},
                    {"train", {{"steps", 11},
                               {"batch_size", 3},
                               {"grad_accum", 2},
                               {"learning_rate", 0.0003},
                               {"warmup_steps", 4},
                               {"schedule", "linear"},
                               {"weight_decay", 0.01},
                               {"max_grad_norm", 0.5},
                               {"eval_every", 5},
                               {"device", "cpu"},
                               {"threads", 1},
                               {"reference_logps", "on_the_fly"}}}};
    }

    // Every key of `expected` appears in `actual` with the same value.
    static bool containsAll(const json& actual, const json& expected, QString* where) {
        for (auto it = expected.begin(); it != expected.end(); ++it) {
            if (!actual.contains(it.key())) {
                *where = QString::fromStdString(it.key()) + " missing";
                return false;
            }
            const json& a = actual[it.key()];
            if (it->is_object()) {
                if (!containsAll(a, *it, where)) {
                    *where = QString::fromStdString(it.key()) + "." + *where;
                    return false;
                }
            } else if (a != *it) {
                *where = QString::fromStdString(it.key() + ": " + a.dump() + " != " + it->dump());
                return false;
            }
        }
        return true;
    }

private slots:
    void initTestCase() {
        dir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dir_->isValid());
        dataPath_ = dir_->filePath("pairs.jsonl");
        QFile f(dataPath_);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"prompt\": \"1+1=\", \"chosen\": \"2\", \"rejected\": \"3\"}\n");
    }

    void roundTripEachAlgorithm_data() {
        QTest::addColumn<QString>("algorithm");
        QTest::addColumn<QString>("objective");
        QTest::newRow("dpo") << "dpo"
                             << R"({"beta": 0.2, "loss_type": "robust", "label_smoothing": 0.1,
                                   "sft_weight": 0.5, "dpop_lambda": 50.0, "reference_free": true})";
        QTest::newRow("kto") << "kto" << R"({"beta": 0.3, "desirable_weight": 1.2, "undesirable_weight": 0.9})";
        QTest::newRow("orpo") << "orpo" << R"({"beta": 0.25})";
        QTest::newRow("simpo") << "simpo"
                               << R"({"beta": 2.5, "gamma": 1.4, "label_smoothing": 0.05, "sft_weight": 0.3})";
        QTest::newRow("cpo") << "cpo"
                             << R"({"beta": 2.0, "loss_type": "simpo", "cpo_alpha": 0.5, "gamma": 1.1,
                                   "label_smoothing": 0.05})";
    }

    void roundTripEachAlgorithm() {
        QFETCH(QString, algorithm);
        QFETCH(QString, objective);
        const json config = fullConfig(algorithm.toStdString(), json::parse(objective.toStdString()));
        const QString path = writeJson(algorithm + ".json", config);
        ExperimentForm form;
        form.loadFile(path);
        QVERIFY2(form.isValid(), qPrintable(form.validationMessage()));
        QString where;
        QVERIFY2(containsAll(form.experimentJson(), config, &where), qPrintable(where));
        // The editors show the file's values.
        QCOMPARE(form.fieldText("objective.beta").toDouble(), config["objective"]["beta"].get<double>());
        QCOMPARE(form.fieldText("train.schedule"), QStringLiteral("linear"));
        QCOMPARE(form.fieldText("model.source"), QStringLiteral("builtin:small"));
        QCOMPARE(form.runConfig().train.grad_accum, 2);

        // Save and load again: the same JSON, and the same resolved config.
        const QString saved = dir_->filePath(algorithm + "-saved.json");
        form.saveFile(saved);
        ExperimentForm again;
        again.loadFile(saved);
        QVERIFY2(again.experimentJson() == form.experimentJson(), again.experimentJson().dump().c_str());
        QVERIFY(again.runConfig().to_json() == form.runConfig().to_json());
    }

    void panelShowsOnlyTheAlgorithmsParameters() {
        ExperimentForm form;
        const std::map<QString, QStringList> expected = {
            {"dpo", {"objective.beta", "objective.loss_type", "objective.label_smoothing",
                     "objective.sft_weight", "objective.dpop_lambda", "objective.reference_free"}},
            {"kto", {"objective.beta", "objective.desirable_weight", "objective.undesirable_weight"}},
            {"orpo", {"objective.beta"}},
            {"simpo", {"objective.beta", "objective.gamma", "objective.label_smoothing",
                       "objective.sft_weight"}},
            // CPO's panel comes from its row in the algorithm table alone.
            {"cpo", {"objective.beta", "objective.loss_type", "objective.cpo_alpha", "objective.gamma",
                     "objective.label_smoothing"}},
        };
        for (const auto& [algorithm, paths] : expected) {
            QVERIFY(form.setFieldText("objective.algorithm", algorithm));
            QCOMPARE(form.objectiveFieldPaths(), paths);
            QVERIFY(form.fieldEditor("objective.beta")->isVisibleTo(&form));
        }
        // Another algorithm's parameters are neither shown nor written.
        QVERIFY(form.setFieldText("objective.algorithm", "orpo"));
        QVERIFY(!form.fieldEditor("objective.gamma"));
        QVERIFY(!form.setFieldText("objective.dpop_lambda", "5"));
    }

    void switchingStartsAtTheRecommendedValues() {
        ExperimentForm form;  // a new experiment: DPO, beta 0.1
        QCOMPARE(form.fieldText("objective.beta"), QStringLiteral("0.1"));
        QVERIFY(form.setFieldText("objective.algorithm", "simpo"));
        // SimPO paper: beta 2.0-2.5 and gamma/beta 0.5.
        QCOMPARE(form.fieldText("objective.beta"), QStringLiteral("2"));
        QCOMPARE(form.fieldText("objective.gamma"), QStringLiteral("1"));
        QCOMPARE(form.experimentJson()["objective"]["beta"].get<double>(), 2.0);
        QVERIFY2(form.adviceText().contains("gamma/beta = 0.5"), qPrintable(form.adviceText() + " / " + QString::fromStdString(form.experimentJson().dump())));
        // The tooltip says what it does, the default, the range and the paper's value.
        const QString tip = form.fieldEditor("objective.beta")->toolTip();
        QVERIFY2(tip.contains("Default: 2") && tip.contains("> 0") && tip.contains("2.0-2.5"), qPrintable(tip));

        QVERIFY(form.setFieldText("objective.algorithm", "kto"));
        QVERIFY(form.setFieldText("objective.desirable_weight", "2"));
        QVERIFY2(form.adviceText().contains("= 2") && form.adviceText().contains("1 to 4/3"),
                 qPrintable(form.adviceText()));
        QVERIFY(form.setFieldText("objective.desirable_weight", "1.2"));
        QVERIFY2(!form.adviceText().contains("recommends"), qPrintable(form.adviceText()));
        // Back to DPO: what was typed there is kept.
        QVERIFY(form.setFieldText("objective.algorithm", "dpo"));
        QCOMPARE(form.fieldText("objective.beta"), QStringLiteral("0.1"));
    }

    // CPO's panel starts at TRL's CPOConfig defaults; its loss types are CPO's, not DPO's.
    void cpoPanelStartsAtTrlDefaults() {
        ExperimentForm form;
        QVERIFY(form.setFieldText("objective.algorithm", "cpo"));
        QCOMPARE(form.fieldText("objective.beta"), QStringLiteral("0.1"));
        QCOMPARE(form.fieldText("objective.loss_type"), QStringLiteral("sigmoid"));
        QCOMPARE(form.fieldText("objective.cpo_alpha"), QStringLiteral("1"));
        QCOMPARE(form.fieldText("objective.gamma"), QStringLiteral("0.5"));
        QVERIFY(form.setFieldText("objective.loss_type", "simpo"));
        QVERIFY(!form.setFieldText("objective.loss_type", "robust"));
        QVERIFY(form.setFieldText("objective.beta", "2"));
        QVERIFY(form.setFieldText("objective.gamma", "1"));
        QVERIFY2(form.adviceText().contains("gamma/beta = 0.5"), qPrintable(form.adviceText()));
        const json o = form.experimentJson()["objective"];
        QCOMPARE(o["algorithm"].get<std::string>(), std::string("cpo"));
        QCOMPARE(o["cpo_alpha"].get<double>(), 1.0);
        QCOMPARE(o["loss_type"].get<std::string>(), std::string("simpo"));
        // The DPO panel keeps its own loss type.
        QVERIFY(form.setFieldText("objective.algorithm", "dpo"));
        QCOMPARE(form.fieldText("objective.loss_type"), QStringLiteral("sigmoid"));
    }

    void invalidFieldIsMarkedInline() {
        ExperimentForm form;
        form.setExperiment(fullConfig("dpo", json::object()));
        QVERIFY2(form.isValid(), qPrintable(form.validationMessage()));
        QVERIFY(form.setFieldText("objective.label_smoothing", "0.7"));
        QVERIFY(!form.isValid());
        QCOMPARE(form.invalidField(), QStringLiteral("objective.label_smoothing"));
        QVERIFY(form.validationMessage().startsWith("objective.label_smoothing"));
        QVERIFY(form.fieldEditor("objective.label_smoothing")->styleSheet().contains("border"));
        // Fixing it clears the mark; the next problem marks its own field.
        QVERIFY(form.setFieldText("objective.label_smoothing", "0.1"));
        QVERIFY(form.isValid());
        QVERIFY(form.fieldEditor("objective.label_smoothing")->styleSheet().isEmpty());
        QVERIFY(form.setFieldText("train.device", "gpu"));
        QCOMPARE(form.invalidField(), QStringLiteral("train.device"));
        QVERIFY(form.fieldEditor("train.device")->styleSheet().contains("border"));
        QVERIFY(form.setFieldText("train.device", "cuda:1"));
        QVERIFY(form.isValid());
    }

    void unknownAlgorithmIsNamed() {
        ExperimentForm form;
        json config = fullConfig("dpo", json::object());
        config["objective"]["algorithm"] = "ppo";
        form.setExperiment(config);
        QVERIFY(!form.isValid());
        QVERIFY2(form.validationMessage().contains("objective.algorithm"), qPrintable(form.validationMessage()));
        QCOMPARE(form.fieldText("objective.algorithm"), QStringLiteral("ppo"));
        QVERIFY(form.objectiveFieldPaths().isEmpty());
    }

    void modelInfoCountsParameters() {
        ExperimentForm form;
        // builtin:tiny by hand: embeddings 259x64 = 16576 (tied); per layer q,o 64x64 each,
        // k,v 64x32 each = 12288, SwiGLU 3x64x176 = 33792, two norms 128: 46208; x2 layers,
        // + final norm 64: 109056.
        QVERIFY(form.setFieldText("model.source", "builtin:tiny"));
        QVERIFY2(form.modelInfoText().contains("109.1k parameters"), qPrintable(form.modelInfoText()));
        QVERIFY(form.modelInfoText().contains("2 layers"));

        // Qwen2.5-0.5B's published config.json: 494,032,768 parameters.
        QDir(dir_->path()).mkpath("qwen");
        writeJson("qwen/config.json",
                  json{{"model_type", "qwen2"}, {"vocab_size", 151936}, {"hidden_size", 896},
                       {"intermediate_size", 4864}, {"num_hidden_layers", 24},
                       {"num_attention_heads", 14}, {"num_key_value_heads", 2},
                       {"tie_word_embeddings", true}, {"rope_theta", 1000000.0}});
        QVERIFY(form.setFieldText("model.source", dir_->filePath("qwen")));
        QVERIFY2(form.modelInfoText().contains("qwen2") && form.modelInfoText().contains("494.0M"),
                 qPrintable(form.modelInfoText()));
        // The memory estimate of the form's settings (core/model/memory_estimate.h, checked
        // against measured peaks in test_memory), and it follows batch size, max_length,
        // dtype, LoRA and checkpointing.
        const ps::ModelShape qwen = ps::read_hf_config(dir_->filePath("qwen/config.json").toStdString());
        auto estimate = [&](auto&& change) {
            ps::RunConfig c;
            change(c);
            return QString::fromStdString(ps::format_memory_bytes(ps::estimate_training_memory(qwen, c).total_bytes));
        };
        QVERIFY2(form.modelInfoText().contains("training needs about " + estimate([](ps::RunConfig&) {})),
                 qPrintable(form.modelInfoText()));
        QVERIFY(form.setFieldText("train.batch_size", "2"));
        QVERIFY(form.setFieldText("data.max_length", "192"));
        const QString small = estimate([](ps::RunConfig& c) {
            c.train.batch_size = 2;
            c.data.max_length = 192;
        });
        QVERIFY2(form.modelInfoText().contains("training needs about " + small), qPrintable(form.modelInfoText()));
        QVERIFY(form.setFieldText("model.dtype", "bfloat16"));
        QVERIFY(form.setFieldText("model.lora.rank", "16"));
        QVERIFY(form.setFieldText("train.gradient_checkpointing", "true"));
        const QString lora = estimate([](ps::RunConfig& c) {
            c.train.batch_size = 2;
            c.data.max_length = 192;
            c.model.dtype = ps::ModelDType::BFloat16;
            c.model.lora = ps::LoraConfig{};
            c.model.lora->rank = 16;
            c.train.gradient_checkpointing = true;
        });
        QVERIFY(lora != small);
        QVERIFY2(form.modelInfoText().contains("training needs about " + lora), qPrintable(form.modelInfoText()));
        QCOMPARE((*form.experimentJson().find("model"))["lora"]["rank"].get<int>(), 16);
        QVERIFY(form.setFieldText("model.lora.rank", "0"));
        QVERIFY((*form.experimentJson().find("model"))["lora"].is_null());

        QDir(dir_->path()).mkpath("gpt2");
        writeJson("gpt2/config.json", json{{"model_type", "gpt2"}});
        QVERIFY(form.setFieldText("model.source", dir_->filePath("gpt2")));
        QVERIFY2(form.modelInfoText().contains("model_type 'gpt2' is not supported"),
                 qPrintable(form.modelInfoText()));
    }

    // Every key of the config schema has an editor (reserved keys aside; the objective's keys on
    // their algorithms' panels), with the schema's range and choices.
    void everySchemaKeyHasAnEditor() {
        ExperimentForm form;
        QStringList missing;
        for (const ps::FieldSpec& spec : ps::config_schema()) {
            if (spec.type == ps::FieldType::Section || spec.reserved || spec.path.rfind("objective.", 0) == 0) continue;
            const QString path = QString::fromStdString(spec.path);
            if (spec.path == "train.reference_logps") continue;  // DPO reads it: checked below
            if (!form.fieldEditor(path)) missing << path;
        }
        QVERIFY2(missing.isEmpty(), qPrintable(missing.join(", ")));
        // The keys the hand-built form lacked are there.
        for (const char* path : {"data.format", "data.truncation_mode", "data.group_by_length", "model.template",
                                 "train.track_pairs", "train.save_dir", "model.lora.alpha", "model.lora.dropout"})
            QVERIFY2(form.fieldEditor(path), path);
        auto* threads = qobject_cast<QSpinBox*>(form.fieldEditor("train.threads"));
        QVERIFY(threads);
        QCOMPARE(threads->maximum(), 256);  // the schema's range
        auto* format = qobject_cast<QComboBox*>(form.fieldEditor("data.format"));
        QVERIFY(format);
        QStringList items;
        for (int i = 0; i < format->count(); ++i) items << format->itemText(i);
        QCOMPARE(items, (QStringList{"auto", "trl", "sharegpt", "alpaca"}));
        QVERIFY(form.fieldEditor("train.track_pairs")->toolTip().contains("Default: 64"));
        // Checkpoint keys are shown since checkpoints are written.
        QVERIFY(form.fieldEditor("train.checkpoint_every"));
        QVERIFY(form.fieldEditor("train.keep_checkpoints"));
    }

    // train.reference_logps is read only by the algorithms with a reference model (DPO, KTO).
    void keysFollowTheAlgorithm() {
        ExperimentForm form;
        QWidget* reference = form.fieldEditor("train.reference_logps");
        QVERIFY(reference);
        QVERIFY(reference->isVisibleTo(&form));
        QVERIFY(form.setFieldText("objective.algorithm", "orpo"));
        QVERIFY(!form.fieldEditor("train.reference_logps"));
        QVERIFY(!reference->isVisibleTo(&form));
        QVERIFY(form.setFieldText("objective.algorithm", "kto"));
        QVERIFY(form.fieldEditor("train.reference_logps"));
        QVERIFY(reference->isVisibleTo(&form));
    }

    // The new editors write the config: data options, template, tracking, save_dir and LoRA's
    // alpha and dropout (only while a rank is set).
    void newFieldsRoundTrip() {
        ExperimentForm form;
        form.setExperiment(fullConfig("dpo", json::object()));
        QVERIFY(form.setFieldText("data.format", "sharegpt"));
        QVERIFY(form.setFieldText("data.truncation_mode", "keep_end"));
        QVERIFY(form.setFieldText("data.group_by_length", "false"));
        QVERIFY(form.setFieldText("data.columns", "prompt=instruction, chosen=good"));
        QVERIFY(form.setFieldText("model.template", "chatml"));
        QVERIFY(form.setFieldText("train.track_pairs", "16"));
        QVERIFY(form.setFieldText("train.save_dir", dir_->filePath("out")));
        QVERIFY(!form.fieldEditor("model.lora.alpha")->isEnabled());  // rank 0: full fine-tuning
        QVERIFY(form.setFieldText("model.lora.rank", "4"));
        QVERIFY(form.fieldEditor("model.lora.alpha")->isEnabled());
        QCOMPARE(form.fieldText("model.lora.alpha"), QStringLiteral("16"));  // PEFT's default until changed
        QVERIFY(form.setFieldText("model.lora.alpha", "8"));
        QVERIFY(form.setFieldText("model.lora.dropout", "0.05"));
        QVERIFY(form.setFieldText("model.lora.target_modules", "q_proj, v_proj"));
        QVERIFY2(form.isValid(), qPrintable(form.validationMessage()));
        const ps::RunConfig& c = form.runConfig();
        QCOMPARE(c.data.format, std::string("sharegpt"));
        QVERIFY(c.data.truncation_mode == ps::TruncationMode::KeepEnd);
        QCOMPARE(c.data.group_by_length, false);
        QCOMPARE(c.data.columns.at("prompt"), std::string("instruction"));
        QCOMPARE(c.data.columns.at("chosen"), std::string("good"));
        QCOMPARE(c.model.chat_template, std::string("chatml"));
        QCOMPARE(c.train.track_pairs, 16);
        QCOMPARE(QString::fromStdString(*c.train.save_dir), dir_->filePath("out"));
        QVERIFY(c.model.lora.has_value());
        QCOMPARE(c.model.lora->rank, 4);
        QCOMPARE(c.model.lora->alpha, 8.0);
        QCOMPARE(c.model.lora->dropout, 0.05);
        QCOMPARE(c.model.lora->target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
        // Save and load: the same editors' values.
        const QString saved = dir_->filePath("new-fields.json");
        form.saveFile(saved);
        ExperimentForm again;
        again.loadFile(saved);
        QCOMPARE(again.fieldText("data.columns"), QStringLiteral("chosen=good, prompt=instruction"));
        QCOMPARE(again.fieldText("model.lora.target_modules"), QStringLiteral("q_proj, v_proj"));
        QCOMPARE(again.fieldText("model.lora.dropout"), QStringLiteral("0.05"));
        QVERIFY(again.runConfig().to_json() == c.to_json());
        // Empty save_dir is null; rank 0 drops the LoRA object with its keys.
        QVERIFY(again.setFieldText("train.save_dir", ""));
        QVERIFY(again.setFieldText("model.lora.rank", "0"));
        QVERIFY(again.experimentJson()["train"]["save_dir"].is_null());
        QVERIFY(again.experimentJson()["model"]["lora"].is_null());
        QVERIFY(again.setFieldText("data.columns", "prompt"));  // not key=name
        QCOMPARE(again.invalidField(), QStringLiteral("data.columns"));
    }

    // model.template_kwargs (issue #18) is typed as a JSON object: it reaches the run config,
    // survives save and load, and text that is not a JSON object is named.
    void templateArgumentsAreAJsonObject() {
        ExperimentForm form;
        form.setExperiment(fullConfig("dpo", json::object()));
        QVERIFY(form.fieldEditor("model.template_kwargs"));
        QCOMPARE(form.fieldText("model.template_kwargs"), QString());  // {}: shown empty
        QVERIFY(form.setFieldText("model.template_kwargs", R"({"enable_thinking": false, "tools_style": "json"})"));
        QVERIFY2(form.isValid(), qPrintable(form.validationMessage()));
        QVERIFY(form.runConfig().model.template_kwargs ==
                (nlohmann::json{{"enable_thinking", false}, {"tools_style", "json"}}));
        const QString saved = dir_->filePath("kwargs.json");
        form.saveFile(saved);
        ExperimentForm again;
        again.loadFile(saved);
        QVERIFY(again.runConfig().model.template_kwargs == form.runConfig().model.template_kwargs);
        QVERIFY(again.fieldText("model.template_kwargs").contains(R"("enable_thinking":false)"));
        QVERIFY(again.setFieldText("model.template_kwargs", "enable_thinking=false"));  // not JSON
        QCOMPARE(again.invalidField(), QStringLiteral("model.template_kwargs"));
        QVERIFY(again.validationMessage().startsWith("model.template_kwargs"));
        QVERIFY(again.setFieldText("model.template_kwargs", "[1, 2]"));  // JSON, not an object
        QCOMPARE(again.invalidField(), QStringLiteral("model.template_kwargs"));
        QVERIFY(again.setFieldText("model.template_kwargs", ""));
        QVERIFY2(again.isValid(), qPrintable(again.validationMessage()));
        QVERIFY(again.runConfig().model.template_kwargs == nlohmann::json::object());
    }

    // The wheel over a spin or combo box without focus leaves it alone (issue #19).
    void wheelDoesNotChangeUnfocusedFields() {
        ExperimentForm form;
        auto* steps = qobject_cast<QSpinBox*>(form.fieldEditor("train.steps"));
        auto* schedule = qobject_cast<QComboBox*>(form.fieldEditor("train.schedule"));
        QVERIFY(steps && schedule);
        QCOMPARE(steps->focusPolicy(), Qt::StrongFocus);
        const int before = steps->value();
        const QString scheduleBefore = schedule->currentText();
        for (QWidget* w : {static_cast<QWidget*>(steps), static_cast<QWidget*>(schedule)}) {
            QVERIFY(!w->hasFocus());
            QWheelEvent wheel(QPointF(5, 5), QPointF(5, 5), QPoint(), QPoint(0, -120), Qt::NoButton, Qt::NoModifier,
                              Qt::NoScrollPhase, false);
            QApplication::sendEvent(w, &wheel);
        }
        QCOMPARE(steps->value(), before);
        QCOMPARE(schedule->currentText(), scheduleBefore);
    }

    void dropsSetModelDataOrExperiment() {
        ExperimentForm form;
        QDir(dir_->path()).mkpath("model-dir");
        writeJson("model-dir/config.json", json{{"model_type", "llama"}});
        QVERIFY(form.acceptDroppedPath(dir_->filePath("model-dir")));
        QCOMPARE(form.fieldText("model.source"), QDir::toNativeSeparators(dir_->filePath("model-dir")));
        QDir(dir_->path()).mkpath("empty-dir");
        QVERIFY(!form.acceptDroppedPath(dir_->filePath("empty-dir")));

        // A real drop event of a data file.
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(dataPath_)});
        QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&form, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(5, 5), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&form, &drop);
        QCOMPARE(form.fieldText("data.train"), QDir::toNativeSeparators(dataPath_));

        // An experiment file is loaded, not taken as data.
        const QString experiment = writeJson("dropped.json", fullConfig("orpo", {{"beta", 0.3}}));
        QVERIFY(form.acceptDroppedPath(experiment));
        QCOMPARE(form.fieldText("objective.algorithm"), QStringLiteral("orpo"));
        QCOMPARE(form.fieldText("objective.beta"), QStringLiteral("0.3"));
        QCOMPARE(form.filePath(), QFileInfo(experiment).absoluteFilePath());
    }
};

QTEST_MAIN(TestExperimentForm)
#include "test_experiment_form.moc"
