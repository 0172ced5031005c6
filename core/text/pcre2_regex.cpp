#include "core/text/pcre2_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utf8proc.h>

#include <array>
#include <stdexcept>

#include "core/common/errors.h"
#include "core/text/utf8.h"

namespace ps {
namespace {

// Per-thread match state: one match-data block (the whole match is all we read) and a JIT
// stack that can grow to 8 MiB, so that long whitespace runs with look-ahead never exhaust the
// default 32 KiB machine stack.
struct ThreadMatchState {
    pcre2_match_data* data = nullptr;
    pcre2_jit_stack* stack = nullptr;
    pcre2_match_context* context = nullptr;
    ThreadMatchState() {
        data = pcre2_match_data_create(1, nullptr);
        stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
        context = pcre2_match_context_create(nullptr);
        if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~ThreadMatchState() {
        pcre2_match_context_free(context);
        pcre2_jit_stack_free(stack);
        pcre2_match_data_free(data);
    }
};

ThreadMatchState& thread_state() {
    thread_local ThreadMatchState state;
    return state;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0) return "error " + std::to_string(code);
    return reinterpret_cast<const char*>(buffer);
}

// Characters that utf8proc's newer Unicode tables assign and PCRE2's do not (Debian 12: Unicode
// 15.0 against 14.0; U+1FAE8 SHAKING FACE is one): PCRE2 takes them as unassigned (Cn) and
// \p{L}, \p{S}, ... never match them, where Hugging Face's regex engine knows them. Before
// matching, each such character is replaced by a stand-in PCRE2 knows, of the same general
// category and the same UTF-8 length, so every match has the same byte range as in the text.
struct NewerCharacters {
    std::vector<bool> newer;  // by code point
    // The first character PCRE2 knows for each general category and UTF-8 length (0: none).
    std::array<std::array<char32_t, 5>, 32> stand_in{};
    std::array<bool, 256> lead{};  // UTF-8 lead bytes that start some newer character
    bool any = false;
};

const NewerCharacters& newer_characters() {
    static const NewerCharacters table = [] {
        NewerCharacters t;
        t.newer.assign(0x110000, false);
        // Every character utf8proc assigns (private use aside: assigned in both), in one string,
        // and PCRE2's \p{Cn} over it: one JIT pass instead of a match per character.
        std::string all;
        std::vector<char32_t> at;  // the code point at each byte offset's character
        std::vector<size_t> offset;
        for (char32_t cp = 0x80; cp < 0x110000; ++cp) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
            if (cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CO) continue;
            offset.push_back(all.size());
            at.push_back(cp);
            append_utf8(all, cp);
        }
        std::vector<bool> unknown(at.size(), false);
        const Pcre2Regex cn("\\p{Cn}");
        size_t k = 0;
        cn.for_each_match_as_is(all, [&](size_t b, size_t) {
            while (k < offset.size() && offset[k] < b) ++k;
            if (k < offset.size() && offset[k] == b) unknown[k] = true;
        });
        for (size_t i = 0; i < at.size(); ++i) {
            const auto cat = static_cast<size_t>(utf8proc_category(static_cast<utf8proc_int32_t>(at[i])));
            const size_t len = at[i] < 0x800 ? 2 : at[i] < 0x10000 ? 3 : 4;
            if (unknown[i]) {
                t.newer[at[i]] = true;
                t.any = true;
                t.lead[static_cast<unsigned char>(all[offset[i]])] = true;
            } else if (cat < t.stand_in.size() && t.stand_in[cat][len] == 0) {
                t.stand_in[cat][len] = at[i];
            }
        }
        return t;
    }();
    return table;
}

// `text` with its newer characters replaced by their stand-ins; false (and `out` untouched)
// when it has none.
bool with_stand_ins(std::string_view text, std::string& out) {
    size_t i = 0;
    while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;
    if (i == text.size()) return false;  // ASCII: nothing to look up
    const NewerCharacters& t = newer_characters();
    if (!t.any) return false;
    bool replaced = false;
    while (i < text.size()) {
        const size_t start = i;
        const auto c = static_cast<unsigned char>(text[i]);
        if (!t.lead[c]) {  // ASCII, and most other text (CJK, Cyrillic, ...), is passed over undecoded
            i += utf8_length(c);
            continue;
        }
        const char32_t cp = next_codepoint(text, i);
        if (cp >= t.newer.size() || !t.newer[cp]) continue;
        const auto cat = static_cast<size_t>(utf8proc_category(static_cast<utf8proc_int32_t>(cp)));
        const size_t len = i - start;
        const char32_t stand_in = cat < t.stand_in.size() && len < 5 ? t.stand_in[cat][len] : 0;
        if (stand_in == 0) continue;
        if (!replaced) out.assign(text.data(), text.size());
        replaced = true;
        std::string bytes;
        append_utf8(bytes, stand_in);
        out.replace(start, len, bytes);  // the same length: offsets stay
    }
    return replaced;
}

}  // namespace

Pcre2Regex::Pcre2Regex(const std::string& pattern) : pattern_(pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
    if (!code)
        throw std::invalid_argument(pcre2_message(error) + " at offset " + std::to_string(offset) + " of the pattern");
    code_ = code;
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Pcre2Regex::~Pcre2Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Pcre2Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
    for_each_match(text, [&out](size_t b, size_t e) { out.emplace_back(b, e); });
}

void Pcre2Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
    std::string stood_in;
    for_each_match_as_is(with_stand_ins(text, stood_in) ? std::string_view(stood_in) : text, on_match);
}

void Pcre2Regex::for_each_match_as_is(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
    auto* code = static_cast<pcre2_code*>(code_);
    ThreadMatchState& st = thread_state();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t start = 0;
    while (start <= text.size()) {
        const int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), start, 0, st.data, st.context)
                            : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, st.data, st.context);
        if (rc == PCRE2_ERROR_NOMATCH) return;
        if (rc < 0)
            throw Error("the tokenizer's regex '" + pattern_ + "' failed on the text near byte offset " +
                        std::to_string(start) + " (" + pcre2_message(rc) + "); split the text into smaller pieces");
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
        const size_t b = ov[0], e = ov[1];
        if (e == b) {
            // Empty match: a split point; the search goes on one character later.
            on_match(b, e);
            if (b >= text.size()) return;
            start = b + utf8_length(static_cast<unsigned char>(text[b]));
            continue;
        }
        on_match(b, e);
        start = e;
    }
}

}  // namespace ps
