// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) for the
// pre-tokenizer and normalizer regexes of tokenizer.json. std::regex cannot do \p{L} and is
// far too slow; PCRE2's JIT finds the matches of the GPT-style split patterns at well over
// 50 MB/s.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ps {

class Pcre2Regex {
public:
    // Throws std::invalid_argument with PCRE2's message and the offset when the pattern does
    // not compile.
    explicit Pcre2Regex(const std::string& pattern);
    ~Pcre2Regex();
    Pcre2Regex(const Pcre2Regex&) = delete;
    Pcre2Regex& operator=(const Pcre2Regex&) = delete;

    // Appends the [begin, end) byte ranges of all non-overlapping matches in `text`, left to
    // right, empty matches included; after an empty match the search goes on one character later
    // (the semantics of Rust's find_iter).
    // `text` must be valid UTF-8 (checked once by the caller). Safe to call from many threads.
    void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
    // The same matches handed to `on_match(begin, end)` one by one, without collecting them.
    // Characters newer than PCRE2's Unicode tables (but known to utf8proc's) match as a
    // character of their general category would (pcre2_regex.cpp: NewerCharacters).
    void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;
    // The matches with PCRE2's own tables only.
    void for_each_match_as_is(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    void* code_ = nullptr;  // pcre2_code_8*
    bool jit_ = false;
};

}  // namespace ps
