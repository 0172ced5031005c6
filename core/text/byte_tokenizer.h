// The built-in tokenizer: one token per UTF-8 byte (ids 0-255) plus three special tokens.
// It needs no files, covers every input, and is what builtin:* models use.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/text/tokenizer.h"

namespace ps {

class ByteTokenizer final : public Tokenizer {
public:
    static constexpr int64_t kPad = 256;
    static constexpr int64_t kBos = 257;
    static constexpr int64_t kEos = 258;
    static constexpr int64_t kVocabSize = 259;

    std::vector<int64_t> encode(const std::string& text) const override;
    // Special tokens are rendered as <pad>, <bos>, <eos>; bytes are concatenated as they are.
    std::string decode(const std::vector<int64_t>& ids) const override;
    static std::string token_text(int64_t id);
    int64_t vocab_size() const override { return kVocabSize; }
    int64_t pad_id() const override { return kPad; }
    std::optional<int64_t> bos_id() const override { return kBos; }
    int64_t eos_id() const override { return kEos; }
    std::string name() const override { return "byte"; }
};

}  // namespace ps
