// The memory estimate (core/model/memory_estimate.h) against the measured peak of live tensor
// bytes while the real pipeline (ps::run_training) trains, per model and configuration.
// Run: build/bin/bench_memory [--quick] [--items]   (--quick: the built-in models only;
// --items: each estimate's breakdown and the measured setup and first-step peaks too)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <unistd.h>  // getpid: torch 2.x's headers no longer include it

#include "tests/common/training_memory.h"
#include "core/model/causal_lm.h"
#include "core/model/memory_estimate.h"
#include "core/model/model_io.h"

using namespace ps;
namespace fs = std::filesystem;

namespace {

struct Model {
    std::string label;
    std::string source;
    int batch;
    int length;
};

struct Variant {
    std::string label;
    void (*apply)(RunConfig&);
};

// A Qwen2-like shape with a real-sized vocabulary: 8 layers, GQA 8/2, 32k vocabulary, untied,
// written as a Hugging Face directory (config.json, model.safetensors, a byte-level tokenizer).
std::string write_larger_hf_model(const fs::path& dir) {
    ModelShape s;
    s.vocab_size = 32000;
    s.hidden_size = 256;
    s.intermediate_size = 704;
    s.num_layers = 8;
    s.num_heads = 8;
    s.num_kv_heads = 2;
    s.head_dim = 32;
    s.attention_bias = true;
    s.tie_word_embeddings = false;
    torch::manual_seed(1);
    {
        CausalLM model(s);
        save_hf_model(model, dir.string());
    }
    const fs::path tok = fs::path(PREFSTUDIO_SOURCE_DIR) / "tests/fixtures/tokenizer/tiny_bytelevel";
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(tok / f, dir / f, fs::copy_options::overwrite_existing);
    return dir.string();
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false, items = false;
    for (int i = 1; i < argc; ++i) {
        quick = quick || std::strcmp(argv[i], "--quick") == 0;
        items = items || std::strcmp(argv[i], "--items") == 0;
    }
    const fs::path work = fs::temp_directory_path() / ("bench_memory-" + std::to_string(::getpid()));
    fs::create_directories(work);

    std::vector<Model> models = {{"builtin:tiny", "builtin:tiny", 4, 64},
                                 {"builtin:tiny", "builtin:tiny", 16, 128},
                                 {"builtin:small", "builtin:small", 4, 128},
                                 {"builtin:small", "builtin:small", 8, 256}};
    if (!quick) models.push_back({"HF 8L/256H/32k vocab", write_larger_hf_model(work / "hf-model"), 2, 128});
    const std::vector<Variant> variants = {
        {"float32 full", [](RunConfig&) {}},
        {"bfloat16 full", [](RunConfig& c) { c.model.dtype = ps::ModelDType::BFloat16; }},
        {"LoRA r8", [](RunConfig& c) { c.model.lora = LoraConfig{}; }},
        {"LoRA r8 bfloat16", [](RunConfig& c) { c.model.lora = LoraConfig{}; c.model.dtype = ps::ModelDType::BFloat16; }},
        {"checkpointing", [](RunConfig& c) { c.train.gradient_checkpointing = true; }},
        {"KTO (reference kept)", [](RunConfig& c) { c.objective.algorithm = "kto"; }},
    };

    std::printf("%-22s %-21s %5s %6s | %11s %11s %6s | %11s %11s %6s | %s\n", "model", "config", "batch", "length",
                "est. step", "meas. step", "ratio", "est. run", "meas. run", "ratio", "peak phase (est.)");
    double worst = 0;
    int n = 0;
    for (const Model& md : models) {
        for (const Variant& v : variants) {
            RunConfig c;
            c.model.source = md.source;
            c.train.batch_size = md.batch;
            c.data.max_length = md.length;
            c.data.max_prompt_length = md.length / 2;  // as the measured rows: prompt in the first half
            c.train.threads = 1;  // the probe counts tensors, not threads; one thread keeps others' builds going
            v.apply(c);
            const MemoryEstimate e = estimate_training_memory(c);
            const test::MeasuredMemory m = test::measure_training_memory(c, (work / ("run" + std::to_string(n++))).string());
            if (!m.completed) {
                std::printf("%-22s %-21s run failed: %s\n", md.label.c_str(), v.label.c_str(), m.error.c_str());
                continue;
            }
            if (m.padding_fraction != 0.0 || m.truncated_completions != m.pairs)
                std::printf("warning: batches are not all full length (padding %.3f, %lld of %lld pairs cut)\n",
                            m.padding_fraction, (long long)m.truncated_completions, (long long)m.pairs);
            const double r_step = double(e.step_peak_bytes) / double(m.step_peak);
            // The measured runs have no evaluation pass: their peak is the step's or the reference pass's.
            const int64_t est_run = std::max(e.step_peak_bytes, e.reference_pass_bytes);
            const double r_peak = double(est_run) / double(m.peak);
            worst = std::max({worst, std::fabs(r_step - 1.0), std::fabs(r_peak - 1.0)});
            std::printf("%-22s %-21s %5d %6d | %11s %11s %6.3f | %11s %11s %6.3f | %s\n", md.label.c_str(),
                        v.label.c_str(), md.batch, md.length, format_memory_bytes(e.step_peak_bytes).c_str(),
                        format_memory_bytes(m.step_peak).c_str(), r_step, format_memory_bytes(est_run).c_str(),
                        format_memory_bytes(m.peak).c_str(), r_peak,
                        est_run == e.step_peak_bytes ? "training step" : "reference pass");
            if (items)
                std::printf("%s  measured: weights %s (mapped from the file: %s), setup (reference pass) %s, step 1 %s\n",
                            format_memory_table(e).c_str(), format_memory_bytes(m.weights).c_str(), format_memory_bytes(m.mapped_weights).c_str(),
                            format_memory_bytes(m.setup_peak).c_str(), format_memory_bytes(m.first_step_peak).c_str());
            std::fflush(stdout);
        }
    }
    std::printf("largest deviation from the measured peaks: %.1f%% (target: within 20%%)\n", 100 * worst);
    fs::remove_all(work);
    return 0;
}
