// What the setup form shows about a model before anything is loaded: its architecture and
// size (the memory estimate is model/memory_estimate.h). Torch-free header, so the studio can include it.
#pragma once
#include <cstdint>
#include <string>

namespace ps {

struct ModelInfo {
    std::string source;        // as given: "builtin:tiny" or a directory
    std::string architecture;  // "builtin (Qwen2-style)", "qwen2", "llama", ...
    int64_t layers = 0;
    int64_t hidden_size = 0;
    int64_t heads = 0;
    int64_t kv_heads = 0;
    int64_t vocab_size = 0;
    int64_t parameters = 0;
};

// Throws ModelError (unknown built-in name, missing or unreadable config.json, an
// architecture we cannot build) with a sentence naming the file or the field.
ModelInfo describe_model(const std::string& source);

// What a run checks before it reads any weights, without reading them: a built-in name or a
// model directory (a config.json the engine can build, or an adapter whose base model is one)
// and the tokenizer file load_source_tokenizer (model/source_tokenizer.h) reads. Throws
// ModelError naming the file or the field. The studio enables Run only when this passes.
void check_model_source(const std::string& source);

}  // namespace ps
