// Training from a Hugging Face model directory end to end: a random model written with our
// safetensors writer (model_type llama, vocabulary 320) next to a small byte-level BPE
// tokenizer.json with ChatML special tokens. The run must use that tokenizer (ids above the
// byte range), detect its chat template for `model.template: auto`, start at DPO's log 2 and
// lower the loss; a tokenizer larger than the model's vocabulary is a clear failure.
#include <QtTest>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/engine/run_thread.h"
#include "core/model/causal_lm.h"
#include "core/model/model_io.h"
#include "core/text/hf_tokenizer.h"
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
