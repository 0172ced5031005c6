// UTF-8 checks and conversions shared by the Hugging Face tokenizer pipeline.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "core/common/errors.h"

namespace ps {

// Text handed to a tokenizer is not valid UTF-8. `offset` is the 0-based byte offset of the
// first byte that cannot be decoded; callers that know the file and line add them.
class InvalidUtf8Error : public Error {
public:
    InvalidUtf8Error(size_t offset, const std::string& message) : Error(message), offset_(offset) {}
    size_t offset() const { return offset_; }

private:
    size_t offset_;
};

// Byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates, code points above
// U+10FFFF and truncated sequences are invalid), or std::string_view::npos when all is valid.
size_t find_invalid_utf8(std::string_view s);

// Throws InvalidUtf8Error naming the offset and the offending byte when `s` is not valid UTF-8.
void check_utf8(std::string_view s);

// Length in bytes of the UTF-8 sequence that starts with lead byte `c` (1 for continuation bytes,
// so a loop over valid text always advances).
inline size_t utf8_length(unsigned char c) {
    return c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
}

// Decodes the code point at s[i] of valid UTF-8 and moves i past it.
char32_t next_codepoint(std::string_view s, size_t& i);

void append_utf8(std::string& out, char32_t cp);

// Valid UTF-8 from arbitrary bytes: every maximal invalid subsequence becomes U+FFFD, as
// Rust's String::from_utf8_lossy (what Hugging Face decoders use) does.
std::string utf8_lossy(std::string_view bytes);

// Unicode White_Space property (what Oniguruma's and Rust's whitespace tests use).
bool is_unicode_whitespace(char32_t cp);

}  // namespace ps
