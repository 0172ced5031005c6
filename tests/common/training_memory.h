// Measures the peak of live tensor bytes while the real pipeline (ps::run_training: model
// loading, LoRA, reference pass, master weights, checkpointing, the objective's steps) trains
// on generated pairs whose every row fills data.max_length, so a batch is exactly
// batch_size x max_length per side, as the estimate assumes at worst. The measured side of
// bench_memory and test_memory.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "tests/common/tensor_memory_probe.h"
#include "core/config/run_config.h"
#include "core/engine/run_thread.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"

namespace ps::test {

// Every peak below includes `mapped_weights`: the weights a Hugging Face directory's
// safetensors file holds already in the model's dtype are used in place from its memory
// mapping (model_io.cpp), not allocated, so the probe does not see them; they are resident
// once the forward pass has read them, and training copies the pages it writes.
struct MeasuredMemory {
    int64_t mapped_weights = 0;  // parameter and buffer bytes that live in the file mapping
    int64_t weights = 0;         // live bytes when the run starts: the policy as built (with adapters)
    int64_t setup_peak = 0;      // loading, the reference copy and its pass, before the first step
    int64_t first_step_peak = 0; // step 1 (the optimiser state is created during it)
    int64_t step_peak = 0;       // steps 2..n: every persistent state is alive
    int64_t peak = 0;            // the whole run
    double padding_fraction = -1;   // of the training batches, from the run's data event
    int64_t truncated_completions = 0;
    int64_t pairs = 0;
    bool completed = false;
    std::string error;
};

namespace detail {

// Peak windows cut at the run's own stream: the "Preference training" phase event ends the
// setup window, each preference step's metrics end that step's window.
struct MemoryWindowSink : RunSink {
    int64_t base = 0;  // live before the run, less the mapped weights (counted as live throughout)
    MeasuredMemory* m = nullptr;
    void on_start(const RunInfo&) override { m->weights = TensorMemoryProbe::live() - base; }
    void on_event(const RunEvent& e) override {
        if (e.kind == "phase" && e.message.rfind("Preference training", 0) == 0) {
            m->setup_peak = std::max(m->setup_peak, TensorMemoryProbe::peak() - base);
            m->peak = std::max(m->peak, TensorMemoryProbe::peak() - base);
            TensorMemoryProbe::reset_peak();
        }
        if (e.data.contains("padding_fraction")) {
            m->padding_fraction = e.data["padding_fraction"].get<double>();
            m->truncated_completions = e.data.value("truncated_completions", int64_t(0));
            m->pairs = e.data.value("train_pairs", int64_t(0));
        }
    }
    void on_metrics(const StepMetrics& s) override {
        if (std::isnan(s.get("loss"))) return;  // not a preference step
        const int64_t p = TensorMemoryProbe::peak() - base;
        if (s.step == 1) m->first_step_peak = p;
        else m->step_peak = std::max(m->step_peak, p);
        m->peak = std::max(m->peak, p);
        TensorMemoryProbe::reset_peak();
    }
    void on_finish(RunStatus status, const nlohmann::json&, const std::string& error) override {
        m->peak = std::max(m->peak, TensorMemoryProbe::peak() - base);
        m->completed = status == RunStatus::Completed;
        m->error = error;
    }
};

}  // namespace detail

// Writes `pairs` TRL pairs whose prompt and answers are longer than `max_length` tokens of any
// tokenizer that spends at least one token per word, so that with truncation_mode keep_end every
// row is cut to exactly max_length: max_prompt_length (= max_length / 2) prompt tokens and the
// rest of the answer.
inline void write_full_length_pairs(const std::string& path, int pairs, int max_length) {
    std::ofstream out(path);
    for (int i = 0; i < pairs; ++i) {
        std::string prompt, chosen, rejected;
        for (int w = 0; w < max_length + 8; ++w) {
            prompt += "q" + std::to_string((i + w) % 10) + " ";
            chosen += "a" + std::to_string((i * 3 + w) % 10) + " ";
            rejected += "b" + std::to_string((i * 7 + w) % 10) + " ";
        }
        out << nlohmann::json{{"prompt", prompt}, {"chosen", chosen}, {"rejected", rejected}}.dump() << "\n";
    }
}

// Runs `config` (model.source, model.dtype, model.lora, objective, batch_size, max_length,
// gradient_checkpointing as given) for `steps` preference steps on generated full-length pairs
// in `dir`, without SFT warm-up, evaluation or tracking, with the reference cache in `dir` (so
// the reference pass runs). The pairs are enough for one full reference / evaluation batch.
inline MeasuredMemory measure_training_memory(RunConfig c, const std::string& dir, int steps = 3) {
    namespace fs = std::filesystem;
    TensorMemoryProbe::install();
    fs::create_directories(dir);
    const int pairs = std::max(8, 2 * c.train.batch_size);
    const std::string data = (fs::path(dir) / "full_length_pairs.jsonl").string();
    write_full_length_pairs(data, pairs, c.data.max_length);
    // A fresh cache directory per measurement: a cached reference would skip the reference pass.
    const std::string cache = (fs::path(dir) / ("cache-" + std::to_string(std::rand()))).string();
    ::setenv("PREFSTUDIO_CACHE_DIR", cache.c_str(), 1);
    c.data.train = data;
    c.data.eval.reset();
    c.data.eval_fraction = 0.0;
    c.data.max_prompt_length = c.data.max_length / 2;
    c.data.truncation_mode = ps::TruncationMode::KeepEnd;
    c.sft.steps = 0;
    c.train.steps = steps;
    c.train.eval_every = 0;
    c.train.track_pairs = 0;
    c.train.save_dir.reset();
    c.validate();

    MeasuredMemory m;
    {
        // The mapped bytes: what the model's tensors hold less what the probe saw allocated.
        const int64_t before = TensorMemoryProbe::live();
        LoadedModel loaded = load_model_source(c.model.source, model_dtype(c.model.dtype));
        int64_t held = 0;
        for (const auto& t : loaded.model->parameters()) held += static_cast<int64_t>(t.nbytes());
        for (const auto& t : loaded.model->buffers()) held += static_cast<int64_t>(t.nbytes());
        // At least 0: the rotary inverse frequencies are allocated but not a registered buffer.
        m.mapped_weights = std::max<int64_t>(0, held - (TensorMemoryProbe::live() - before));
    }
    detail::MemoryWindowSink sink;
    sink.m = &m;
    sink.base = TensorMemoryProbe::live() - m.mapped_weights;
    TensorMemoryProbe::reset_peak();
    RunControl control;
    run_training(c, c.to_json(), {&sink}, control);
    return m;
}

}  // namespace ps::test
