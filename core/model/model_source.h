// `model.source` resolved into a model (and the tokenizer that goes with it): a built-in
// model (`builtin:tiny`, `builtin:small`, random weights from the current torch seed) or a
// Hugging Face model directory.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config/run_config.h"  // is_builtin_source
#include "core/model/causal_lm.h"
#include "core/model/model_io.h"
#include "core/model/source_tokenizer.h"
#include "core/text/tokenizer.h"

namespace ps {

struct LoadedModel {
    CausalLM model{nullptr};
    std::string source;
    std::string dir;           // the Hugging Face directory, empty for built-in models
    nlohmann::json hf_config;  // its config.json as read (null for built-in models)
    // The source was a PEFT LoRA adapter directory: its adapter is merged into `model`, whose
    // base came from the adapter's base_model_name_or_path (or the directory's own config.json).
    bool merged_adapter = false;
};

// Built-in models draw their initial weights from torch's global generator: seed it first.
// A directory holding adapter_config.json (a LoRA adapter as PEFT or train.save_dir writes it)
// is its base model with the adapter merged in; a built-in base is rebuilt from the generator,
// so seed it as the training run did.
LoadedModel load_model_source(const std::string& source, torch::Dtype dtype = torch::kFloat32);

// The tokens a generated answer stops at: the tokenizer's EOS (when given), config.json's and
// generation_config.json's eos_token_id, as transformers' generate() stops.
std::vector<int64_t> generation_stop_ids(const LoadedModel& loaded, const Tokenizer* tokenizer);
// Seeds torch's global generator with `seed` and loads, holding one process-wide lock for
// both: a run building its model and the studio's Samples panel opening another at the same
// time each get the weights of their own seed. Everything that seeds the global generator to
// build a model goes through here.
LoadedModel load_model_source_seeded(const std::string& source, torch::Dtype dtype, uint64_t seed);
// That lock, for callers that draw more from the seeded generator after loading (LoRA
// adapters): seed, load and draw while holding it.
std::unique_lock<std::mutex> lock_global_generator();

// load_source_tokenizer(source): see model/source_tokenizer.h (an adapter directory without its
// own tokenizer files uses its base model's tokenizer).

// The base model an adapter directory names: the directory itself when it has config.json,
// else adapter_config.json's base_model_name_or_path (a relative path is tried next to the
// directory too). Empty when `dir` holds no adapter_config.json.
std::string adapter_base_source(const std::string& dir);

// How to save a model that came from `loaded`: its config.json keys and tokenizer files are
// carried over; built-in models record that they use the byte tokenizer.
SaveOptions save_options_for(const LoadedModel& loaded);

}  // namespace ps
