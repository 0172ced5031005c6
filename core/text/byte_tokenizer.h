// The built-in tokenizer: one token per UTF-8 byte (ids 0-255) plus three special tokens.
// It needs no files, covers every input, and is what builtin:* models use.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ps {

class ByteTokenizer {
public:
    static constexpr int64_t kPad = 256;
    static constexpr int64_t kBos = 257;
    static constexpr int64_t kEos = 258;
    static constexpr int64_t kVocabSize = 259;

    std::vector<int64_t> encode(const std::string& text) const;
    // Special tokens are rendered as <pad>, <bos>, <eos>; bytes are concatenated as they are.
    std::string decode(const std::vector<int64_t>& ids) const;
    static std::string token_text(int64_t id);
    int64_t vocab_size() const { return kVocabSize; }
    int64_t pad_id() const { return kPad; }
    int64_t bos_id() const { return kBos; }
    int64_t eos_id() const { return kEos; }
};

}  // namespace ps
