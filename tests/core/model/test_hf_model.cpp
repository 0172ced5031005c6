// Hugging Face model directories: config.json parsing for llama, mistral, qwen2 and qwen3,
// logits of tiny random checkpoints against the reference logits that
// tests/fixtures/models/make_model_fixtures.py computed (transformers when available, else
// an independent PyTorch forward from the HF equations), load -> save -> load round trips,
// zero-copy loading, and a run that trains from a model directory and saves the result.
#include <QtTest>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>  // getpid: torch 2.x's headers no longer include it

#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/engine/run_thread.h"
#include "core/model/hf_config.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"
#include "core/model/safetensors.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string fixtures() { return std::string(qgetenv("PREFSTUDIO_SOURCE_DIR").constData()) + "/tests/fixtures/models"; }

const json& reference() {
    static const json j = ps::read_json_file(fixtures() + "/reference_logits.json");
    return j;
}

torch::Tensor input_ids() {
    std::vector<int64_t> flat;
    for (const auto& row : reference()["input_ids"])
        for (const auto& v : row) flat.push_back(v.get<int64_t>());
    return torch::tensor(flat, torch::kLong).view({2, -1});
}

torch::Tensor reference_logits(const std::string& name) {
    std::vector<float> flat;
    for (const auto& b : reference()["models"][name]["logits"])
        for (const auto& t : b)
            for (const auto& v : t) flat.push_back(v.get<float>());
    return torch::tensor(flat).view({2, 10, -1});
}

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / ("prefstudio_test_hf_" + std::to_string(::getpid())) / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

json base_config() {
    return json::parse(R"({"model_type":"llama","vocab_size":16,"hidden_size":8,"intermediate_size":12,
        "num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"rms_norm_eps":1e-6})");
}

void expect_config_error(const json& j, const char* fragment) {
    try {
        ps::parse_hf_config(j, "dir/config.json");
        QFAIL(qPrintable(QString("no error, expected '%1'").arg(fragment)));
    } catch (const ps::ModelError& e) {
        const std::string what = e.what();
        if (what.find(fragment) == std::string::npos || what.find("dir/config.json") == std::string::npos)
            QFAIL(qPrintable(QString("error '%1' does not name '%2' and the file").arg(what.c_str(), fragment)));
    }
}

torch::Tensor logits_of(ps::CausalLM& m, const torch::Tensor& ids) {
    torch::NoGradGuard g;
    return m->forward(ids);
}

}  // namespace

class TestHfModel : public QObject {
    Q_OBJECT

private slots:
    void configFieldsPerModelType() {
        auto llama = ps::read_hf_config(fixtures() + "/llama");
        QCOMPARE(llama.model_type, std::string("llama"));
        QCOMPARE(llama.rope_scaling.type, std::string("llama3"));
        QCOMPARE(llama.rope_scaling.original_max_position_embeddings, int64_t(16));
        QVERIFY(!llama.tie_word_embeddings && !llama.attention_bias && !llama.qk_norm);
        QCOMPARE(llama.rms_norm_eps, 1e-5);
        auto qwen2 = ps::read_hf_config(fixtures() + "/qwen2");
        QVERIFY(qwen2.attention_bias && !qwen2.o_proj_bias && qwen2.tie_word_embeddings);
        QCOMPARE(qwen2.num_kv_heads, int64_t(1));
        QCOMPARE(qwen2.head_dim, int64_t(8));
        QCOMPARE(qwen2.sliding_window, int64_t(0));  // use_sliding_window false
        auto qwen3 = ps::read_hf_config(fixtures() + "/qwen3");
        QVERIFY(qwen3.qk_norm && !qwen3.attention_bias);
        QCOMPARE(qwen3.head_dim, int64_t(16));  // explicit, not hidden / heads
        QCOMPARE(qwen3.eos_token_ids, (std::vector<int64_t>{2, 3}));
        QCOMPARE(qwen3.rope_scaling.type, std::string("linear"));
        auto mistral = ps::read_hf_config(fixtures() + "/mistral");
        QCOMPARE(mistral.sliding_window, int64_t(4));
        QCOMPARE(mistral.head_dim, int64_t(8));  // "head_dim": null -> hidden / heads
        // transformers 5 spelling of the rotary settings.
        json v5 = base_config();
        v5["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 500000.0}};
        QCOMPARE(ps::parse_hf_config(v5, "x").rope_theta, 500000.0);
    }

    void unsupportedConfigsNameTheProblem() {
        json j = base_config();
        j["model_type"] = "gemma";
        expect_config_error(j, "model_type 'gemma' is not supported");
        j = base_config();
        j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
        expect_config_error(j, "type 'yarn' is not supported");
        j = base_config();
        j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
        expect_config_error(j, "'dynamic'");
        j = base_config();
        j["hidden_act"] = "gelu";
        expect_config_error(j, "hidden_act 'gelu'");
        j = base_config();
        j["model_type"] = "qwen2";
        j["use_sliding_window"] = true;
        expect_config_error(j, "use_sliding_window");
        j = base_config();
        j["quantization_config"] = {{"quant_method", "gptq"}};
        expect_config_error(j, "quantization_config");
        j = base_config();
        j["mlp_bias"] = true;
        expect_config_error(j, "mlp_bias");
        j = base_config();
        j["num_key_value_heads"] = 3;
        expect_config_error(j, "num_kv_heads");
        j = base_config();
        j["hidden_size"] = "8";
        expect_config_error(j, "\"hidden_size\" must be an integer");
        j = base_config();
        j.erase("model_type");
        expect_config_error(j, "model_type");
        QVERIFY_EXCEPTION_THROWN(ps::read_hf_config("/nonexistent/dir"), ps::ModelError);
    }

    void logitsMatchTheReference_data() {
        QTest::addColumn<QString>("name");
        for (const char* n : {"llama", "qwen2", "qwen3", "mistral"}) QTest::newRow(n) << QString(n);
    }
    void logitsMatchTheReference() {
        QFETCH(QString, name);
        const std::string n = name.toStdString();
        QVERIFY(reference()["reference"].get<std::string>().size() > 0);
        auto m = ps::load_hf_model(fixtures() + "/" + n);
        auto got = logits_of(m, input_ids());
        const double err = (got - reference_logits(n)).abs().max().item<double>();
        qInfo("%s: max abs error %.3g vs %s", n.c_str(), err, reference()["reference"].get<std::string>().substr(0, 40).c_str());
        QVERIFY2(err < 1e-4, qPrintable(QString("max abs error %1").arg(err)));
    }

    void float32WeightsAreMappedNotCopied() {
        // The llama fixture is one float32 file: parameters must point into the mapping, so
        // their addresses differ exactly as their offsets in the file do.
        auto m = ps::load_hf_model(fixtures() + "/llama");
        auto f = ps::SafetensorsFile::open(fixtures() + "/llama/model.safetensors");
        auto params = m->named_parameters();
        const auto& first = f.header.tensors.front();
        const auto* base = static_cast<const uint8_t*>(params[first.name].data_ptr());
        for (const auto& e : f.header.tensors)
            QCOMPARE(static_cast<const uint8_t*>(params[e.name].data_ptr()) - base,
                     static_cast<std::ptrdiff_t>(e.begin - first.begin));
        // Training writes into such a tensor: copy-on-write, the file is unchanged.
        const auto before = ps::SafetensorsFile::open(fixtures() + "/llama/model.safetensors");
        std::vector<uint8_t> bytes(before.bytes(first), before.bytes(first) + (first.end - first.begin));
        {
            torch::NoGradGuard g;
            params[first.name].add_(1.0);
        }
        auto after = ps::SafetensorsFile::open(fixtures() + "/llama/model.safetensors");
        QVERIFY(std::equal(bytes.begin(), bytes.end(), after.bytes(first)));
    }

    void roundTripGivesIdenticalLogits_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("dtype");
        for (const char* n : {"llama", "qwen2", "qwen3", "mistral", "builtin:tiny"}) {
            QTest::newRow((std::string(n) + " float32").c_str()) << QString(n) << QString("float32");
            QTest::newRow((std::string(n) + " bfloat16").c_str()) << QString(n) << QString("bfloat16");
        }
    }
    void roundTripGivesIdenticalLogits() {
        QFETCH(QString, name);
        QFETCH(QString, dtype);
        const std::string n = name.toStdString();
        const auto dt = ps::model_dtype_from_string(dtype.toStdString());
        const std::string src = n.rfind("builtin:", 0) == 0 ? n : fixtures() + "/" + n;
        torch::manual_seed(3);
        auto loaded = ps::load_model_source(src, dt);
        auto ids = input_ids().clamp_max(loaded.model->shape().vocab_size - 1);
        auto a = logits_of(loaded.model, ids);
        const fs::path out = temp_dir("rt_" + n.substr(n.find(':') + 1) + "_" + dtype.toStdString());
        ps::save_hf_model(loaded.model, out.string(), ps::save_options_for(loaded));
        auto again = ps::load_model_source(out.string(), dt);
        auto b = logits_of(again.model, ids);
        QVERIFY(torch::equal(a, b));
        // What transformers needs to load it back.
        auto cfg = ps::read_json_file((out / "config.json").string());
        QCOMPARE(cfg["torch_dtype"].get<std::string>(), dtype.toStdString());
        QVERIFY(cfg["architectures"].is_array());
        auto st = ps::SafetensorsFile::open((out / "model.safetensors").string());
        QCOMPARE(st.header.metadata.at("format"), std::string("pt"));
        QCOMPARE(st.header.tensors.front().dtype, std::string(dtype == "float32" ? "F32" : "BF16"));
        const bool tied = loaded.model->shape().tie_word_embeddings;
        bool has_head = false;
        for (const auto& e : st.header.tensors) has_head |= e.name == "lm_head.weight";
        QCOMPARE(has_head, !tied);
        if (n == "builtin:tiny") {
            QCOMPARE(cfg["prefstudio_tokenizer"].get<std::string>(), std::string("byte"));
            QCOMPARE(cfg["model_type"].get<std::string>(), std::string("llama"));
        } else {
            QCOMPARE(cfg["model_type"].get<std::string>(), n);
        }
    }

    void tokenizerFilesAreCopied() {
        const fs::path src = temp_dir("with_tokenizer");
        for (const auto& f : fs::directory_iterator(fixtures() + "/qwen2")) fs::copy_file(f.path(), src / f.path().filename());
        std::ofstream(src / "tokenizer.json") << "{\"model\":{}}";
        std::ofstream(src / "tokenizer_config.json") << "{}";
        std::ofstream(src / "unrelated.txt") << "x";
        auto loaded = ps::load_model_source(src.string());
        const fs::path out = temp_dir("copied");
        ps::save_hf_model(loaded.model, out.string(), ps::save_options_for(loaded));
        QVERIFY(fs::exists(out / "tokenizer.json"));
        QVERIFY(fs::exists(out / "tokenizer_config.json"));
        QVERIFY(!fs::exists(out / "unrelated.txt"));
        // Saving onto the source directory itself works too (the mapping stays valid).
        ps::save_hf_model(loaded.model, src.string(), ps::save_options_for(loaded));
        auto again = ps::load_model_source(src.string());
        QVERIFY(torch::equal(logits_of(loaded.model, input_ids()), logits_of(again.model, input_ids())));
    }

    void runTrainsFromADirectoryAndSavesTheResult() {
        // A builtin model saved as a directory, trained from that directory with
        // train.save_dir; the saved result loads and differs from the start.
        const fs::path start = temp_dir("start");
        torch::manual_seed(0);
        auto tiny = ps::load_model_source("builtin:tiny");
        ps::save_hf_model(tiny.model, start.string(), ps::save_options_for(tiny));
        const fs::path data = temp_dir("data") / "pairs.jsonl";
        {
            std::ofstream out(data);
            for (int i = 0; i < 12; ++i)
                out << "{\"prompt\":\"" << i << "+1=\",\"chosen\":\"" << i + 1 << "\",\"rejected\":\"" << i + 2 << "\"}\n";
        }
        const fs::path saved = temp_dir("trained") / "out";
        json cfg = {{"model", {{"source", start.string()}}},
                    {"data", {{"train", data.string()}, {"eval_fraction", 0.0}}},
                    {"train", {{"steps", 3}, {"batch_size", 4}, {"eval_every", 0}, {"threads", 1},
                               {"save_dir", saved.string()}, {"reference_logps", "on_the_fly"}}}};
        ps::RunConfig c = ps::RunConfig::from_json(cfg);
        ps::RunControl control;
        std::vector<ps::RunSink*> sinks;
        QCOMPARE(ps::run_training(c, cfg, sinks, control), ps::RunStatus::Completed);
        QVERIFY(fs::exists(saved / "config.json"));
        auto trained = ps::load_model_source(saved.string());
        auto ids = input_ids().clamp_max(258);
        const double moved = (logits_of(trained.model, ids) - logits_of(tiny.model, ids)).abs().max().item<double>();
        QVERIFY(moved > 1e-4);
        QVERIFY(ps::load_source_tokenizer(saved.string())->name() == "byte");
    }

    void badSourcesAreClearErrors() {
        QVERIFY_EXCEPTION_THROWN(ps::load_model_source("/nonexistent/model"), ps::ModelError);
        QVERIFY_EXCEPTION_THROWN(ps::load_model_source("builtin:huge"), ps::ModelError);
        // A Hugging Face directory with a real tokenizer needs the HF tokenizer (not in this build).
        QVERIFY_EXCEPTION_THROWN(ps::load_source_tokenizer(fixtures() + "/qwen2"), ps::ModelError);
    }

    void cleanupTestCase() {
        fs::remove_all(fs::temp_directory_path() / ("prefstudio_test_hf_" + std::to_string(::getpid())));
    }
};

QTEST_GUILESS_MAIN(TestHfModel)
#include "test_hf_model.moc"
