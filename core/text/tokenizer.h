// What the data pipeline needs from any tokenizer: the built-in byte tokenizer and the
// Hugging Face tokenizer.json reader both implement it, so batching never cares which.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ps {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    // Plain text to ids. Special tokens written inside the text are matched only where the
    // tokenizer says they are (Hugging Face added tokens); the byte tokenizer never matches them.
    virtual std::vector<int64_t> encode(const std::string& text) const = 0;
    virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
    // Text for people (generated answers): what transformers' tokenizer.decode(ids) returns with
    // special tokens kept, i.e. decode() plus the tokenizer's own clean-up where it asks for one.
    virtual std::string decode_text(const std::vector<int64_t>& ids) const { return decode(ids); }
    virtual int64_t vocab_size() const = 0;
    virtual int64_t pad_id() const = 0;
    // Prepended to every prompt when the model expects it (the built-in models, Llama's <s>);
    // empty where the chat template already writes its own start tokens.
    virtual std::optional<int64_t> bos_id() const = 0;
    // Appended to every completion so that the model learns to stop.
    virtual int64_t eos_id() const = 0;
    virtual std::string name() const = 0;
};

}  // namespace ps
