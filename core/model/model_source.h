// `model.source` resolved into a model (and the tokenizer that goes with it): a built-in
// model (`builtin:tiny`, `builtin:small`, random weights from the current torch seed) or a
// Hugging Face model directory.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "model/model_io.h"
#include "model/source_tokenizer.h"
#include "text/tokenizer.h"

namespace ps {

bool is_builtin_source(const std::string& source);

struct LoadedModel {
    CausalLM model{nullptr};
    std::string source;
    std::string dir;           // the Hugging Face directory, empty for built-in models
    nlohmann::json hf_config;  // its config.json as read (null for built-in models)
};

// Built-in models draw their initial weights from torch's global generator: seed it first.
LoadedModel load_model_source(const std::string& source, torch::Dtype dtype = torch::kFloat32);
// Seeds torch's global generator with `seed` and loads, holding one process-wide lock for
// both: a run building its model and the studio's Samples panel opening another at the same
// time each get the weights of their own seed. Everything that seeds the global generator to
// build a model goes through here.
LoadedModel load_model_source_seeded(const std::string& source, torch::Dtype dtype, uint64_t seed);

// load_source_tokenizer(source): see model/source_tokenizer.h.

// How to save a model that came from `loaded`: its config.json keys and tokenizer files are
// carried over; built-in models record that they use the byte tokenizer.
SaveOptions save_options_for(const LoadedModel& loaded);

}  // namespace ps
