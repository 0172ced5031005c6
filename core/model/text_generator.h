// A loaded model with its tokenizer, ready to answer prompts: what `prefstudio-cli generate`
// and the studio's Samples panel use. No torch in this header. One TextGenerator may be used
// from any one thread at a time (e.g. a worker thread); it owns its model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/generation_options.h"
#include "core/model/model_shape.h"

namespace ps {

struct TextGeneratorOptions {
    std::string dtype = "float32";  // float32 | bfloat16 | float16
    std::string device = "cpu";     // auto | cpu | cuda | cuda:N
    int64_t seed = 0;               // built-in models: the seed their random weights come from
    bool need_tokenizer = true;     // false: token-id prompts only (a directory whose tokenizer is unreadable)
    int threads = 0;                // CPU threads for tensor maths; 0 = leave libtorch's setting
    // How generate() renders text prompts: "auto" (the template training uses for this source:
    // resolve_template_name), a template name (plain, chatml, qwen2.5, llama3), or "none"
    // (the text as it is, BOS first where the tokenizer has one). A run's trained model takes
    // the run's resolved template, not "auto" on its saved directory.
    std::string chat_template = "auto";
    // Extra variables for a model's own template (the run's model.template_kwargs, e.g.
    // {"enable_thinking": false}): a prompt renders as it did in training.
    nlohmann::json template_kwargs = nlohmann::json::object();
};

struct GenerationResult {
    std::string prompt;
    std::vector<int64_t> prompt_ids;      // as fed to the model (BOS included where the tokenizer adds one)
    std::vector<int64_t> completion_ids;  // new tokens, the stop token excluded
    std::string completion;               // decoded completion_ids as transformers decodes them (Tokenizer::decode_text; empty without a tokenizer)
    std::string finish_reason;            // "stop", "length" or "cancelled"
};

class TextGenerator {
public:
    // `source` is builtin:NAME or a Hugging Face model directory. Throws ModelError/TrainingError.
    // Built-in models take their weights from torch's global generator, which open() seeds:
    // do not open one while another thread is building a model (a run's prepare phase).
    static std::unique_ptr<TextGenerator> open(const std::string& source, const TextGeneratorOptions& options = {});
    ~TextGenerator();

    bool has_tokenizer() const;
    // The resolved chat template ("none" for raw prompts).
    const std::string& template_name() const;
    // A typed prompt as the model sees it: rendered as one user turn with the chat template
    // (render_text_prompt: the same text as the data pipeline's prompt of that conversation;
    // verbatim under plain and "none"), then [BOS] + tokens as the pipeline encodes prompts.
    std::string render_prompt(const std::string& text) const;
    std::vector<int64_t> encode_prompt(const std::string& text) const;
    // Answers typed prompts (encode_prompt). When options.stop_ids is empty, a row stops at
    // the tokenizer's EOS or any eos_token_id of config.json and generation_config.json.
    std::vector<GenerationResult> generate(const std::vector<std::string>& prompts, GenerationOptions options) const;
    std::vector<GenerationResult> generate_ids(const std::vector<std::vector<int64_t>>& prompts,
                                               GenerationOptions options) const;
    // Writes a transformers-loadable directory (config.json, model.safetensors, tokenizer
    // files of the source directory). dtype "" keeps the model's dtype.
    void save(const std::string& dir, const std::string& dtype = "") const;

    const ModelShape& shape() const;
    std::string source() const;
    std::string device() const;

private:
    TextGenerator();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ps
