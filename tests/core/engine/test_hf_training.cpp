// Training from a Hugging Face model directory end to end: a random model written with our
// safetensors writer (model_type llama, vocabulary 320) next to a small byte-level BPE
// tokenizer.json with ChatML special tokens. The run must use that tokenizer (ids above the
// byte range), detect its chat template for `model.template: auto`, start at DPO's log 2 and
// lower the loss; a tokenizer larger than the model's vocabulary is a clear failure.
// Gemma 3 (issue #18): a tiny random gemma3_text model with the real Gemma 3 tokenizer and chat
// template (../shared/tokenizers/gemma3) trains DPO on conversations with `model.template: auto`,
// its rows in Gemma's own format: the prompt and answers' ids equal HF tokenizers' ids of
// TRL's split rendered by jinja2 (tests/fixtures/chat_templates/jinja_fixtures.json). A model
// directory without a chat template falls back to plain with a warning event in the run log.
#include <QtTest>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/data/data_pipeline.h"
#include "core/engine/run_thread.h"
#include "core/model/causal_lm.h"
#include "core/model/hf_config.h"
#include "core/model/model_io.h"
#include "core/text/hf_tokenizer.h"
#include "tests/common/real_tokenizers.h"
#include "tests/common/tiny_config.h"

namespace fs = std::filesystem;

namespace {

struct Collect : ps::RunSink {
    std::mutex m;
    std::vector<double> loss;
    std::vector<ps::RunEvent> events;
    ps::RunStatus status = ps::RunStatus::Created;
    std::string error;
    nlohmann::json resolved;
    void on_start(const ps::RunInfo& info) override { resolved = info.resolved_config; }
    void on_metrics(const ps::StepMetrics& s) override {
        std::lock_guard<std::mutex> l(m);
        const double v = s.get("loss");
        if (!std::isnan(v)) loss.push_back(v);
    }
    void on_event(const ps::RunEvent& e) override {
        std::lock_guard<std::mutex> l(m);
        events.push_back(e);
    }
    void on_finish(ps::RunStatus st, const nlohmann::json&, const std::string& err) override {
        status = st;
        error = err;
    }
};

}  // namespace

class TestHfTraining : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string data_;

    std::string writeModel(const std::string& name, int64_t vocab) {
        ps::ModelShape s = ps::builtin_shape("tiny");
        s.vocab_size = vocab;
        torch::manual_seed(3);
        ps::CausalLM model(s);
        const fs::path out = fs::path(dir_.path().toStdString()) / name;
        ps::save_hf_model(model, out.string());
        const fs::path tok = fs::path(qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString()) /
                             "tests/fixtures/tokenizer/tiny_bytelevel";
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
            fs::copy_file(tok / f, out / f, fs::copy_options::overwrite_existing);
        return out.string();
    }

    ps::RunConfig config(const std::string& model) {
        ps::RunConfig c = ps::test::tiny_run_config(data_, 8, "hf-dir");
        c.model.source = model;
        c.train.eval_every = 0;
        c.train.threads = 1;
        c.train.track_pairs = 0;
        return c;
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        data_ = dir_.filePath("pairs.jsonl").toStdString();
        std::ofstream out(data_);
        for (int i = 0; i < 48; ++i)
            out << nlohmann::json{{"prompt", std::to_string(i) + "+1="},
                                  {"chosen", std::to_string(i + 1)},
                                  {"rejected", std::to_string(i + 2)}}
                       .dump()
                << "\n";
    }

    void trainsWithTheDirectorysTokenizer() {
        const std::string model = writeModel("model", 320);
        // The tokenizer the run must use: its ids go beyond the byte tokenizer's 259.
        auto tok = ps::load_hf_tokenizer(model);
        QCOMPARE(tok->vocab_size() > 259, true);

        Collect sink;
        ps::RunControl control;
        const ps::RunConfig c = config(model);
        const auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QVERIFY2(status == ps::RunStatus::Completed, sink.error.c_str());
        QCOMPARE(sink.loss.size(), size_t(8));
        // Policy == reference at step 1: every DPO logit is 0, the loss exactly log 2.
        QVERIFY2(std::fabs(sink.loss.front() - std::log(2.0)) < 1e-5, qPrintable(QString::number(sink.loss.front())));
        double last = 0;
        for (size_t i = 5; i < 8; ++i) last += sink.loss[i] / 3;
        QVERIFY2(last < sink.loss.front(), qPrintable(QString("%1 -> %2").arg(sink.loss.front()).arg(last)));
        // The data event names the template auto picked: the directory's own (a ChatML Jinja
        // template in its tokenizer_config.json), rendered by the Jinja interpreter.
        bool own = false;
        for (const auto& e : sink.events)
            if (e.message.find("template model:" + model) != std::string::npos) own = true;
        QVERIFY2(own, "no event names the model's own template");
    }

    void gemma3TrainsConversationsInItsOwnFormat() {
        const QString root = ps::test::real_tokenizers_root();
        if (root.isEmpty() || !QFileInfo::exists(root + "/gemma3/tokenizer.json")) {
            if (qEnvironmentVariable("CI") == "true") QFAIL("no gemma3 tokenizer (../shared/tokenizers/gemma3)");
            QSKIP("no gemma3 tokenizer: set PREFSTUDIO_TOKENIZERS_DIR or put it in ../shared/tokenizers");
        }
        const fs::path src = fs::path(root.toStdString()) / "gemma3";
        // TRL's split of the fixture pair "single", rendered by jinja2, ids by HF tokenizers.
        std::ifstream fin(qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString() +
                          "/tests/fixtures/chat_templates/jinja_fixtures.json");
        const nlohmann::json fx = nlohmann::json::parse(fin);
        nlohmann::json want, pair;
        for (const auto& w : fx["templates"]["gemma3"]["trl_splits"])
            if (w["pair"] == "single") want = w;
        for (const auto& p : fx["pairs"])
            if (p["name"] == "single") pair = p;
        QVERIFY(want.contains("prompt_ids") && pair.is_object());

        // A tiny random Gemma 3 language model over the real tokenizer's vocabulary.
        const auto tok = ps::load_hf_tokenizer(src.string());
        const nlohmann::json cfg = {{"model_type", "gemma3_text"}, {"vocab_size", tok->vocab_size()},
                                    {"hidden_size", 16}, {"intermediate_size", 32}, {"num_hidden_layers", 2},
                                    {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"head_dim", 8},
                                    {"sliding_window", 4}, {"layer_types", {"sliding_attention", "full_attention"}},
                                    {"bos_token_id", 2}, {"eos_token_id", {1, 106}}};
        const ps::ModelShape shape = ps::parse_hf_config(cfg, "gemma3 test config");
        torch::manual_seed(5);
        ps::CausalLM model(shape);
        const fs::path dir = fs::path(dir_.path().toStdString()) / "gemma3";
        ps::save_hf_model(model, dir.string());
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
            fs::copy_file(src / f, dir / f, fs::copy_options::overwrite_existing);

        // Conversational pairs (TRL's format): the fixture pair, then variations of it.
        const std::string data = dir_.filePath("gemma_pairs.jsonl").toStdString();
        {
            std::ofstream out(data);
            out << nlohmann::json{{"prompt", pair["prompt"]}, {"chosen", pair["chosen"]}, {"rejected", pair["rejected"]}}.dump()
                << "\n";
            for (int i = 0; i < 7; ++i)
                out << nlohmann::json{{"prompt", {{{"role", "user"}, {"content", "What is " + std::to_string(i) + "+1?"}}}},
                                      {"chosen", {{{"role", "assistant"}, {"content", std::to_string(i + 1)}}}},
                                      {"rejected", {{{"role", "assistant"}, {"content", std::to_string(i + 2)}}}}}
                           .dump()
                    << "\n";
        }
        ps::RunConfig c = config(dir.string());
        c.data.train = data;
        c.data.eval_fraction = 0;
        c.data.group_by_length = false;
        c.data.max_length = 48;
        c.data.max_prompt_length = 32;
        c.train.batch_size = 2;
        c.train.steps = 3;
        c.model.chat_template = "auto";

        // The rows the run trains on: the first group is the fixture pair, in Gemma's format.
        const ps::PreparedData prepared = ps::prepare_data(c, *tok);
        QCOMPARE(prepared.template_name, "model:" + dir.string());
        QVERIFY(prepared.warnings.empty());
        QCOMPARE(prepared.train.groups(), size_t(8));
        // The fixture pair is the only prompt asking 2+2 (the split may reorder the groups).
        const auto want_prompt = want["prompt_ids"].get<std::vector<int64_t>>();
        size_t first = prepared.train.groups(), matches = 0;
        for (size_t g = 0; g < prepared.train.groups(); ++g)
            if (prepared.train.prompt(g) == want_prompt) first = g, ++matches;
        QCOMPARE(matches, size_t(1));
        QCOMPARE(prepared.train.row(first, 0).completion, want["chosen_ids"].get<std::vector<int64_t>>());
        QCOMPARE(prepared.train.row(first, 1).completion, want["rejected_ids"].get<std::vector<int64_t>>());
        QCOMPARE(QString::fromStdString(want["prompt"].get<std::string>()),
                 QString("<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"));

        Collect sink;
        ps::RunControl control;
        const auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QVERIFY2(status == ps::RunStatus::Completed, sink.error.c_str());
        QCOMPARE(sink.loss.size(), size_t(3));
        QVERIFY2(std::fabs(sink.loss.front() - std::log(2.0)) < 1e-5, qPrintable(QString::number(sink.loss.front())));
        for (double l : sink.loss) QVERIFY(std::isfinite(l));
        bool own = false;
        for (const auto& e : sink.events)
            if (e.message.find("template model:" + dir.string()) != std::string::npos) own = true;
        QVERIFY2(own, "no event names Gemma 3's own template");
    }

    // model.template auto on a directory without a chat template: plain, and the run log says so.
    void plainFallbackIsAWarningEvent() {
        const std::string model = writeModel("no-template", 320);
        {
            std::ifstream in(fs::path(model) / "tokenizer_config.json");
            nlohmann::json cfg = nlohmann::json::parse(in);
            cfg.erase("chat_template");
            std::ofstream(fs::path(model) / "tokenizer_config.json") << cfg.dump();
        }
        const std::string data = dir_.filePath("conv_pairs.jsonl").toStdString();
        {
            std::ofstream out(data);
            for (int i = 0; i < 8; ++i)
                out << nlohmann::json{{"prompt", {{{"role", "user"}, {"content", std::to_string(i) + "+1="}}}},
                                      {"chosen", {{{"role", "assistant"}, {"content", std::to_string(i + 1)}}}},
                                      {"rejected", {{{"role", "assistant"}, {"content", std::to_string(i + 2)}}}}}
                           .dump()
                    << "\n";
        }
        ps::RunConfig c = config(model);
        c.data.train = data;
        c.data.max_length = 64;
        c.data.max_prompt_length = 48;
        c.train.steps = 1;
        Collect sink;
        ps::RunControl control;
        const auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QVERIFY2(status == ps::RunStatus::Completed, sink.error.c_str());
        bool warned = false;
        for (const auto& e : sink.events)
            if (e.kind == "warning" && e.message.find("has no chat template") != std::string::npos) warned = true;
        QVERIFY2(warned, "no warning event for the plain fallback");
    }

    void tokenizerLargerThanTheModelFails() {
        const std::string model = writeModel("small-vocab", 200);
        Collect sink;
        ps::RunControl control;
        const ps::RunConfig c = config(model);
        const auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QCOMPARE(status, ps::RunStatus::Failed);
        QVERIFY2(sink.error.find("tokens but") != std::string::npos, sink.error.c_str());
    }
};

QTEST_GUILESS_MAIN(TestHfTraining)
#include "test_hf_training.moc"
