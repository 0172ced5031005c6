// Hugging Face config.json <-> ModelShape for the Llama family (model_type llama, mistral, qwen2,
// qwen3) and Gemma 3's language model (gemma3_text; and gemma3, the image-text model, of which
// only text_config and the language model's weights are read: the vision tower is ignored).
// Anything that would make our forward differ from transformers' (another model_type,
// activation, rope scaling type, sliding windows we do not reproduce, soft-capping transformers
// does not apply, quantised weights) is a ModelError naming the key and the file, never silently
// ignored.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/model/model_shape.h"

namespace ps {

// `where` names the file in error messages.
ModelShape parse_hf_config(const nlohmann::json& config, const std::string& where);
// Reads DIR/config.json (or the file itself when `path` names a file).
ModelShape read_hf_config(const std::string& path);
nlohmann::json read_json_file(const std::string& path);  // ModelError on I/O or syntax errors

// The config.json transformers needs to rebuild `shape`. `original` (a config.json read from
// the source directory, may be null) keeps keys we do not interpret (token ids, generation
// hints); every key that describes the architecture is written from `shape`.
// `torch_dtype` is "float32", "bfloat16" or "float16": the dtype the weights are saved in.
nlohmann::json make_hf_config(const ModelShape& shape, const std::string& torch_dtype,
                              const nlohmann::json& original = nullptr);

// The model_type of a shape: its own when it came from a config.json, else the closest family
// that has exactly this architecture (qwen3 with q/k norm, qwen2 with q/k/v bias, llama
// otherwise). Gemma 3 (gemma3_text or gemma3) is saved as gemma3_text (Gemma3ForCausalLM).
std::string hf_model_type(const ModelShape& shape);

}  // namespace ps
