// Low-rank adapters (LoRA, Hu et al. 2021) with PEFT's semantics and file format: the base
// weights stay frozen and only A [rank, in] and B [out, rank] of each target layer train; the
// base model is the same module with its adapters switched off (AdaptersDisabled), so a LoRA
// run's reference needs no second copy of the weights.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/config/run_config.h"
#include "core/model/causal_lm.h"

namespace ps {

// Attaches an adapter to every Dense layer whose module name ends in one of
// config.target_modules ("q_proj" matches model.layers.N.self_attn.q_proj, as in PEFT) and
// freezes every other parameter (requires_grad false). A draws from torch's global generator.
// Adapters are `adapter_dtype` (float32: master weights over a half-precision base). Returns
// the number of adapted layers; ModelError when a target matches no layer or the model already
// has adapters.
int64_t add_lora(CausalLM& model, const LoraConfig& config, torch::Dtype adapter_dtype = torch::kFloat32);
bool has_lora(const CausalLM& model);

// While alive, every adapter of `model` is off: forwards give the base model's outputs.
class AdaptersDisabled {
public:
    explicit AdaptersDisabled(const CausalLM& model);
    ~AdaptersDisabled();
    AdaptersDisabled(const AdaptersDisabled&) = delete;
    AdaptersDisabled& operator=(const AdaptersDisabled&) = delete;

private:
    std::shared_ptr<LoraSwitch> switch_;
    bool was_ = true;
};

// The parameters an optimizer should see: those with requires_grad (all of them without LoRA).
std::vector<torch::Tensor> trainable_parameters(const CausalLM& model);

// W <- W + (alpha / rank) B A for every adapted layer, then the adapters are removed and every
// parameter trains again: a plain model with the adapters' effect built in.
void merge_lora(CausalLM& model);

// PEFT's key of an adapter parameter: "base_model.model." + our (Hugging Face) name, e.g.
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
std::string peft_key(const std::string& parameter_name);

// Writes DIR/adapter_config.json (PEFT LoraConfig: peft_type LORA, task_type CAUSAL_LM, r,
// lora_alpha, lora_dropout, target_modules, bias "none", base_model_name_or_path, ...) and
// DIR/adapter_model.safetensors (the adapters in their own dtype, PEFT key names), and copies
// the tokenizer files of `copy_files_from` (a model directory; empty: none). Creates DIR.
void save_lora_adapter(const CausalLM& model, const LoraConfig& config, const std::string& dir,
                       const std::string& base_model_name_or_path, const std::string& copy_files_from = "");

// Reads DIR/adapter_config.json, attaches adapters as it says (add_lora) and loads their
// weights from DIR/adapter_model.safetensors. Every adapter tensor must be in the file with its
// shape, and every tensor of the file must be an adapter; ModelError naming the first ones
// otherwise (also for PEFT options we do not implement: DoRA, rsLoRA, bias other than "none",
// fan_in_fan_out, per-layer rank patterns).
LoraConfig load_lora_adapter(CausalLM& model, const std::string& dir);

}  // namespace ps
