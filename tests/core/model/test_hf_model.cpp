// Hugging Face model directories: config.json parsing for llama, mistral, qwen2, qwen3 and
// Gemma 3 (gemma3_text and gemma3's text_config, as transformers 5.25's Gemma3TextConfig reads them),
// logits of tiny random checkpoints against the reference logits that
// tests/fixtures/models/make_model_fixtures.py computed (transformers when available, else
// an independent PyTorch forward from the HF equations), load -> save -> load round trips,
// zero-copy loading, and a run that trains from a model directory and saves the result.
#include <QtTest>
#include <torch/torch.h>

#include <cmath>
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

// A tiny Gemma 3 language model config; the rest are Gemma3TextConfig's defaults.
json gemma_config() {
    return json::parse(R"({"model_type":"gemma3_text","vocab_size":16,"hidden_size":8,"intermediate_size":12,
        "num_hidden_layers":3,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"sliding_window":2,
        "layer_types":["sliding_attention","full_attention","sliding_attention"]})");
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

    void gemma3ConfigAsTransformersReadsIt() {
        // Gemma3TextConfig's defaults; without layer_types every 6th layer (sliding_window_pattern)
        // is full attention, the others slide.
        auto d = ps::parse_hf_config(json{{"model_type", "gemma3_text"}}, "x");
        QCOMPARE(d.vocab_size, int64_t(262208));
        QCOMPARE(d.head_dim, int64_t(256));
        QCOMPARE(d.num_layers, int64_t(26));
        QCOMPARE(d.query_pre_attn_scalar, 256.0);
        QCOMPARE(d.sliding_window, int64_t(4096));
        QCOMPARE(d.rope_theta, 1000000.0);
        QCOMPARE(d.local_rope_theta, 10000.0);
        QVERIFY(d.tie_word_embeddings && d.qk_norm && d.norm_plus_one && d.sandwich_norms && d.scale_embeddings);
        QCOMPARE(d.mlp_activation, std::string("gelu_tanh"));
        QCOMPARE(d.final_logit_softcapping, 0.0);
        QCOMPARE(int64_t(d.layer_sliding.size()), int64_t(26));
        for (int64_t i = 0; i < 26; ++i) QCOMPARE(bool(d.layer_sliding[i]), (i + 1) % 6 != 0);
        // transformers 4.x spellings: rope_theta + rope_scaling for the full layers,
        // rope_local_base_freq for the sliding ones, and a pattern (here 3: layer 2 is full).
        json legacy = {{"model_type", "gemma3_text"}, {"num_hidden_layers", 4}, {"sliding_window_pattern", 3},
                       {"rope_theta", 5.0}, {"rope_local_base_freq", 7.0},
                       {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}};
        auto l = ps::parse_hf_config(legacy, "x");
        QCOMPARE(l.layer_sliding, (std::vector<bool>{true, true, false, true}));
        QCOMPARE(l.rope_theta, 5.0);
        QCOMPARE(l.rope_scaling.type, std::string("linear"));
        QCOMPARE(l.rope_scaling.factor, 8.0);
        QCOMPARE(l.local_rope_theta, 7.0);
        QCOMPARE(l.local_rope_scaling.type, std::string("default"));
        // transformers 5: rope_parameters per layer kind (they win over the legacy keys).
        json v5 = gemma_config();
        v5["rope_theta"] = 3.0;
        v5["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}, {"rope_theta", 11.0}}},
                                 {"sliding_attention", {{"rope_type", "linear"}, {"rope_theta", 13.0}, {"factor", 2.0}}}};
        v5["final_logit_softcapping"] = 30.0;
        v5["query_pre_attn_scalar"] = 6;
        auto g = ps::parse_hf_config(v5, "x");
        QCOMPARE(g.rope_theta, 11.0);
        QCOMPARE(g.local_rope_theta, 13.0);
        QCOMPARE(g.local_rope_scaling.factor, 2.0);
        QCOMPARE(g.final_logit_softcapping, 30.0);
        QCOMPARE(g.attention_scale(), 1.0 / std::sqrt(6.0));
        QCOMPARE(g.layer_sliding, (std::vector<bool>{true, false, true}));
        // What we write, we read back as the same model (transformers reading it back is
        // test_oracle_models' part).
        const json written = ps::make_hf_config(g, "float32");
        QCOMPARE(written["model_type"].get<std::string>(), std::string("gemma3_text"));
        QCOMPARE(written["query_pre_attn_scalar"], json(6));  // an int: Gemma3TextConfig refuses 6.0
        auto back = ps::parse_hf_config(written, "x");
        QCOMPARE(back.rope_theta, g.rope_theta);
        QCOMPARE(back.local_rope_theta, g.local_rope_theta);
        QCOMPARE(back.local_rope_scaling.type, g.local_rope_scaling.type);
        QCOMPARE(back.layer_sliding, g.layer_sliding);
        QCOMPARE(back.final_logit_softcapping, g.final_logit_softcapping);
        QCOMPARE(back.sliding_window, g.sliding_window);
        // gemma3 (image-text): the language model is text_config; tying and eos are the outer keys
        // (eos ids inside this small vocabulary of 16: outside it they are refused).
        json mm = {{"model_type", "gemma3"}, {"text_config", gemma_config()}, {"tie_word_embeddings", false},
                   {"vision_config", {{"model_type", "siglip_vision_model"}}}, {"eos_token_id", json::array({1, 10})}};
        auto m = ps::parse_hf_config(mm, "x");
        QCOMPARE(m.model_type, std::string("gemma3"));
        QVERIFY(!m.tie_word_embeddings);
        QCOMPARE(m.num_layers, int64_t(3));
        QCOMPARE(m.eos_token_ids, (std::vector<int64_t>{1, 10}));
        QCOMPARE(ps::make_hf_config(m, "bfloat16", mm)["model_type"].get<std::string>(), std::string("gemma3_text"));
        QVERIFY(!ps::make_hf_config(m, "bfloat16", mm).contains("vision_config"));
    }

    void gemma3VisionCheckpointLoadsItsLanguageModel() {
        // transformers 5's layout of Gemma3ForConditionalGeneration (model.language_model.*, a
        // vision tower beside it); save_pretrained's legacy layout (language_model.model.*) is
        // what test_oracle_models loads. Same weights as a gemma3_text model -> same logits.
        torch::manual_seed(5);
        const ps::ModelShape shape = ps::parse_hf_config(gemma_config(), "x");
        ps::CausalLM text(shape);
        const fs::path dir = temp_dir("gemma3_vision");
        std::vector<ps::SafetensorsWriteEntry> entries;
        std::vector<torch::Tensor> tensors;
        for (const auto& p : text->named_parameters()) {
            std::string name = p.key();
            name = name.rfind("model.", 0) == 0 ? "model.language_model." + name.substr(6) : name;
            entries.push_back({name, "F32", p.value().sizes().vec()});
            tensors.push_back(p.value().detach().contiguous());
        }
        entries.push_back({"model.vision_tower.vision_model.post_layernorm.weight", "F32", {3}});
        tensors.push_back(torch::ones({3}));
        ps::write_safetensors((dir / "model.safetensors").string(), entries, [&](size_t i) {
            return std::string_view(static_cast<const char*>(tensors[i].data_ptr()), tensors[i].nbytes());
        });
        std::ofstream(dir / "config.json") << json{{"model_type", "gemma3"}, {"text_config", gemma_config()}}.dump();
        auto loaded = ps::load_hf_model(dir.string());
        auto ids = torch::tensor({{1, 5, 7, 2, 9, 11}}, torch::kLong);
        QVERIFY(torch::equal(logits_of(text, ids), logits_of(loaded, ids)));
        // Any other unknown tensor is still an error.
        entries.push_back({"model.language_model.extra.weight", "F32", {3}});
        tensors.push_back(torch::ones({3}));
        ps::write_safetensors((dir / "model.safetensors").string(), entries, [&](size_t i) {
            return std::string_view(static_cast<const char*>(tensors[i].data_ptr()), tensors[i].nbytes());
        });
        QVERIFY_EXCEPTION_THROWN(ps::load_hf_model(dir.string()), ps::ModelError);
    }

    void unsupportedGemma3ConfigsNameTheKey() {
        json j = gemma_config();
        j["attn_logit_softcapping"] = 50.0;  // transformers' Gemma 3 ignores it
        expect_config_error(j, "\"attn_logit_softcapping\"");
        j = gemma_config();
        j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 8.0}};  // flat: transformers applies it to no layer
        expect_config_error(j, "\"rope_parameters\" must hold");
        j = gemma_config();
        j["rope_parameters"] = {{"full_attention", {{"rope_type", "yarn"}, {"factor", 8.0}}}};
        expect_config_error(j, "rope_parameters.full_attention type 'yarn'");
        j = gemma_config();
        j["hidden_activation"] = "gelu";
        expect_config_error(j, "\"hidden_activation\" 'gelu'");
        j = gemma_config();
        j["use_bidirectional_attention"] = true;
        expect_config_error(j, "\"use_bidirectional_attention\"");
        j = gemma_config();
        j["layer_types"] = {"sliding_attention", "full_attention"};
        expect_config_error(j, "\"layer_types\" must list one attention kind per layer (3)");
        j = gemma_config();
        j["layer_types"] = {"sliding_attention", "chunked_attention", "full_attention"};
        expect_config_error(j, "\"layer_types\" entries");
        j = gemma_config();
        j["sliding_window"] = nullptr;
        expect_config_error(j, "\"sliding_window\" is null");
        // In a gemma3 config the key is named with its path.
        json mm = {{"model_type", "gemma3"}, {"text_config", gemma_config()}};
        mm["text_config"]["final_logit_softcapping"] = 30.0;  // Gemma3ForConditionalGeneration never applies it
        expect_config_error(mm, "\"text_config.final_logit_softcapping\"");
        mm = {{"model_type", "gemma3"}, {"text_config", gemma_config()}};
        mm["text_config"]["attn_logit_softcapping"] = 50.0;
        expect_config_error(mm, "\"text_config.attn_logit_softcapping\"");
        mm["text_config"]["model_type"] = "siglip_text_model";
        expect_config_error(mm, "\"text_config.model_type\"");
        // A Llama-family model cannot be written as one of the Llama types once it has Gemma's layers.
        auto g = ps::parse_hf_config(gemma_config(), "x");
        g.model_type = "llama";
        QVERIFY_EXCEPTION_THROWN(ps::make_hf_config(g, "float32"), ps::ModelError);
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
