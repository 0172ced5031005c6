// Hugging Face model directories <-> CausalLM: config.json plus model.safetensors (or shards
// listed in model.safetensors.index.json) in float32, float16 or bfloat16.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config/config_choices.h"
#include "core/model/causal_lm.h"

namespace ps {

// model.dtype as a torch dtype (auto = float32).
torch::Dtype model_dtype(ModelDType dtype);
// A model.dtype spelling (config_choices.h: auto, float32, bfloat16, float16); ModelError otherwise.
torch::Dtype model_dtype_from_string(const std::string& name);
std::string model_dtype_name(torch::Dtype dtype);
// safetensors dtype names ("F32", "F16", "BF16", "F64") and torch's: nullopt for any other
// name; a tensor of another dtype cannot be saved (ModelError).
std::optional<torch::Dtype> torch_dtype_of(const std::string& st);
std::string st_dtype_of(torch::Dtype d);
// The first `most` names, then how many in all: for error messages.
std::string list_some(const std::vector<std::string>& names, size_t most = 5);

// The safetensors files of a model directory, in the order transformers picks them:
// model.safetensors, else the shards named by model.safetensors.index.json.
std::vector<std::string> hf_weight_files(const std::string& dir);

// Overwrites every parameter of `model` with the checkpoint's tensors, converted to the
// model's dtype. Tensors whose dtype already matches are used in place from the file mapping
// (no copy). Every parameter must be found with its exact shape, and every checkpoint tensor
// must be a parameter (a tied lm_head.weight and rotary inv_freq buffers are skipped); the
// error lists the first few names that do not match.
void load_hf_weights(CausalLM& model, const std::string& dir);

// config.json + weights. `dtype` is the dtype of the returned model (float32 by default).
CausalLM load_hf_model(const std::string& dir, torch::Dtype dtype = torch::kFloat32);

struct SaveOptions {
    std::optional<torch::Dtype> dtype;   // default: the model's own
    std::string copy_files_from;         // a source model directory: its tokenizer files are copied
    nlohmann::json original_config;      // source config.json, keeps keys we do not interpret
    nlohmann::json extra_config;         // keys merged into config.json last
};

// Writes DIR/config.json and DIR/model.safetensors (metadata format "pt", as transformers
// expects), and copies tokenizer/generation files from `copy_files_from` when present.
// Creates DIR. The weights file is written tensor by tensor, never the whole model at once.
// LoRA adapters are left out (the base weights are written; see model/lora.h).
void save_hf_model(CausalLM& model, const std::string& dir, const SaveOptions& options = {});

// Tokenizer and generation files a Hugging Face model directory may carry, copied on save.
const std::vector<std::string>& hf_tokenizer_files();
// Copies those of `from_dir` that exist into `dir` (a file onto itself is left alone).
// Throws ModelError naming the file that could not be copied.
void copy_tokenizer_files(const std::string& from_dir, const std::string& dir);

}  // namespace ps
