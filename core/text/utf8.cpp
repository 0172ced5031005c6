#include "core/text/utf8.h"

#include <cstdint>
#include <cstdio>

namespace ps {
namespace {

// Decodes one sequence at s[i] following the well-formed byte ranges of the Unicode standard
// (Table 3-7). Returns its length when it is valid; otherwise 0 and, in *bad, the length of the
// maximal invalid subpart (at least 1), which lossy decoding replaces by one U+FFFD.
size_t sequence_length(std::string_view s, size_t i, size_t* bad) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; ++k) {
        const unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
        if (i + k >= s.size() || b(k) < lo_k || b(k) > hi_k) {
            *bad = k;
            return 0;
        }
    }
    return need + 1;
}

}  // namespace

size_t find_invalid_utf8(std::string_view s) {
    size_t i = 0, bad = 0;
    while (i < s.size()) {
        // ASCII fast path: 8 bytes at a time.
        while (i + 8 <= s.size()) {
            uint64_t w;
            __builtin_memcpy(&w, s.data() + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= s.size()) break;
        const size_t n = sequence_length(s, i, &bad);
        if (n == 0) return i;
        i += n;
    }
    return std::string_view::npos;
}

void check_utf8(std::string_view s) {
    const size_t at = find_invalid_utf8(s);
    if (at == std::string_view::npos) return;
    size_t bad = 0;
    sequence_length(s, at, &bad);
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(s[at]));
    const bool truncated = at + bad >= s.size() && static_cast<unsigned char>(s[at]) >= 0xC2 &&
                           static_cast<unsigned char>(s[at]) <= 0xF4;
    throw InvalidUtf8Error(at, std::string("text is not valid UTF-8 at byte offset ") + std::to_string(at) +
                                   " (byte " + byte + (truncated ? " starts a truncated character" : " cannot be decoded") +
                                   "); convert the text to UTF-8 before tokenising it");
}

char32_t next_codepoint(std::string_view s, size_t& i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_length(c);
    if (n == 1 || i + n > s.size()) {
        ++i;
        return c;
    }
    char32_t cp = n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += n;
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string utf8_lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0, bad = 0;
    while (i < bytes.size()) {
        const size_t n = sequence_length(bytes, i, &bad);
        if (n > 0) {
            out.append(bytes.data() + i, n);
            i += n;
        } else {
            out += "\xEF\xBF\xBD";
            i += bad;
        }
    }
    return out;
}

bool is_unicode_whitespace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace ps
