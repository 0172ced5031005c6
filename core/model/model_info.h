// What the setup form shows about a model before anything is loaded: its architecture, size
// and a memory estimate. Torch-free header, so the studio can include it.
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
    // Full fine-tuning in float32 with AdamW: weights + gradients + two moments (16 bytes per
    // parameter), plus a frozen reference copy (4 bytes per parameter) when the objective needs
    // one. Activations come on top and grow with batch size x sequence length.
    int64_t training_bytes(bool needs_reference) const {
        return parameters * (needs_reference ? 20 : 16);
    }
};

// Throws ModelError (unknown built-in name, missing or unreadable config.json, an
// architecture we cannot build) with a sentence naming the file or the field.
ModelInfo describe_model(const std::string& source);

}  // namespace ps
