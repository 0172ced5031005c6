#include "core/text/pcre2_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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
