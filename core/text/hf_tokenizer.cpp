#include "core/text/hf_tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/text/bpe_model.h"
#include "core/text/pcre2_regex.h"

namespace ps {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The split pattern of GPT-2's ByteLevel pre-tokenizer (use_regex = true).
const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// A load-time problem in tokenizer.json: `where` is the JSON path of the part.
struct FormatError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& where, const std::string& message) {
    throw FormatError(where + ": " + message);
}

std::string type_of(const json& j, const std::string& where) {
    if (!j.is_object()) fail(where, "expected an object");
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) fail(where, "has no \"type\"");
    return it->get<std::string>();
}

bool get_bool(const json& j, const char* key, bool fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string get_string(const json& j, const char* key, const std::string& fallback, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_string()) fail(where + "." + key, "expected a string");
    return it->get<std::string>();
}

// ---------------------------------------------------------------- pieces and splitting

// A pre-token: a byte range of Pieces::buf. at_origin: it starts at offset 0 of the original
// input (what Metaspace's prepend_scheme "first" asks).
struct Span {
    uint32_t begin, length;
    bool at_origin;
};

struct Pieces {
    std::string buf;
    std::vector<Span> spans;
    std::string_view view(const Span& s) const { return std::string_view(buf).substr(s.begin, s.length); }
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

SplitBehavior parse_behavior(const json& j, const std::string& where) {
    const std::string b = get_string(j, "behavior", "Isolated", where);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    fail(where + ".behavior", "'" + b + "' is not a split behaviour (Removed, Isolated, MergedWithPrevious, "
                               "MergedWithNext, Contiguous)");
}

using MatchList = std::vector<std::pair<size_t, size_t>>;
// Finds the matches of a pattern in a text, left to right.
using Matcher = std::function<void(std::string_view, MatchList&)>;

Matcher literal_matcher(std::string literal) {
    return [literal](std::string_view text, MatchList& out) {
        if (literal.empty()) return;
        for (size_t at = text.find(literal); at != std::string_view::npos; at = text.find(literal, at + literal.size()))
            out.emplace_back(at, at + literal.size());
    };
}

Matcher regex_matcher(std::shared_ptr<Pcre2Regex> regex) {
    return [regex](std::string_view text, MatchList& out) { regex->find_all(text, out); };
}

// Every character for which `pred` holds is a match of its own.
Matcher char_matcher(std::function<bool(char32_t)> pred) {
    return [pred](std::string_view text, MatchList& out) {
        for (size_t i = 0; i < text.size();) {
            const size_t b = i;
            if (pred(next_codepoint(text, i))) out.emplace_back(b, i);
        }
    };
}

// Splits every span at the matches, as NormalizedString::split of the tokenizers library does:
// the text is cut into alternating match / non-match segments, the behaviour decides which
// segments are kept and which are glued to a neighbour, and empty pieces are dropped.
void split_pieces(Pieces& p, const Matcher& find, SplitBehavior behavior, bool invert) {
    struct Segment {
        size_t begin, end;
        bool is_match;
    };
    thread_local MatchList matches;
    thread_local std::vector<Segment> segments, kept;
    std::vector<Span> out;
    out.reserve(p.spans.size());
    for (const Span& span : p.spans) {
        const std::string_view text = p.view(span);
        matches.clear();
        segments.clear();
        kept.clear();
        find(text, matches);
        size_t prev = 0;
        for (const auto& [b, e] : matches) {
            if (prev != b) segments.push_back({prev, b, false});
            segments.push_back({b, e, true});
            prev = e;
        }
        if (prev != text.size()) segments.push_back({prev, text.size(), false});
        if (invert)
            for (auto& s : segments) s.is_match = !s.is_match;
        bool previous_match = false;
        switch (behavior) {
        case SplitBehavior::Isolated:
            kept = segments;
            break;
        case SplitBehavior::Removed:
            for (const auto& s : segments)
                if (!s.is_match) kept.push_back(s);
            break;
        case SplitBehavior::Contiguous:
            for (const auto& s : segments) {
                if (s.is_match == previous_match && !kept.empty()) kept.back().end = s.end;
                else kept.push_back(s);
                previous_match = s.is_match;
            }
            break;
        case SplitBehavior::MergedWithPrevious:
            for (const auto& s : segments) {
                if (s.is_match && !previous_match && !kept.empty()) kept.back().end = s.end;
                else kept.push_back(s);
                previous_match = s.is_match;
            }
            break;
        case SplitBehavior::MergedWithNext:
            for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
                if (it->is_match && !previous_match && !kept.empty()) kept.back().begin = it->begin;
                else kept.push_back(*it);
                previous_match = it->is_match;
            }
            std::reverse(kept.begin(), kept.end());
            break;
        }
        for (const auto& s : kept)
            if (s.end > s.begin)
                out.push_back(Span{static_cast<uint32_t>(span.begin + s.begin), static_cast<uint32_t>(s.end - s.begin),
                                   span.at_origin && s.begin == 0});
    }
    p.spans.swap(out);
}

// ---------------------------------------------------------------- normalizers

struct Normalizer {
    virtual ~Normalizer() = default;
    virtual void apply(std::string& s) const = 0;
};

bool is_ascii(const std::string& s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

// A character that NFC leaves alone and that nothing before it can combine with: canonical
// combining class 0, no canonical decomposition, not the second character of any canonical
// composition (utf8proc marks those with comb_index >= 0x8000; Hangul vowel and trailing jamo
// compose algorithmically), not excluded from composition. Text is a normalisation boundary
// before such a character (UAX #15, section 9), so NFC can be applied piecewise between them.
bool nfc_boundary(char32_t c) {
    if (c < 0x80) return true;
    if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2)) return false;
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
    const bool canonical_decomposition = p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0;
    const bool second_of_pair = p->comb_index != UINT16_MAX && p->comb_index >= 0x8000;
    return p->combining_class == 0 && !canonical_decomposition && !second_of_pair && !p->comp_exclusion;
}

struct UnicodeNormalizer : Normalizer {
    int options;
    std::string form;
    UnicodeNormalizer(int o, std::string f) : options(o), form(std::move(f)) {}

    void map(std::string_view in, std::string& out) const {
        utf8proc_uint8_t* mapped = nullptr;
        const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                                                static_cast<utf8proc_ssize_t>(in.size()), &mapped,
                                                static_cast<utf8proc_option_t>(options));
        if (n < 0) throw Error(form + " normalisation failed: " + utf8proc_errmsg(n));
        out.append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
        std::free(mapped);
    }

    void apply(std::string& s) const override {
        if (is_ascii(s)) return;  // ASCII is the same in every normal form
        if (form != "NFC") {
            std::string out;
            map(s, out);
            s.swap(out);
            return;
        }
        // NFC only where it can change something: from the last boundary character before a
        // non-boundary one up to the next boundary character. Most text (ASCII, CJK, ...) is
        // copied as it is.
        std::string out;
        size_t copied = 0, last_boundary = 0, i = 0;
        bool changed = false;
        while (i < s.size()) {
            if (static_cast<unsigned char>(s[i]) < 0x80) {
                last_boundary = i++;
                continue;
            }
            const size_t at = i;
            if (nfc_boundary(next_codepoint(s, i))) {
                last_boundary = at;
                continue;
            }
            const size_t begin = std::max(copied, last_boundary);
            size_t end = i;
            while (end < s.size()) {
                size_t next = end;
                if (nfc_boundary(next_codepoint(s, next))) break;
                end = next;
            }
            if (!changed) out.reserve(s.size() + 16);
            changed = true;
            out.append(s, copied, begin - copied);
            map(std::string_view(s).substr(begin, end - begin), out);
            copied = i = end;
        }
        if (!changed) return;
        out.append(s, copied, std::string::npos);
        s.swap(out);
    }
};

struct PrependNormalizer : Normalizer {
    std::string prefix;
    void apply(std::string& s) const override {
        if (!s.empty()) s.insert(0, prefix);
    }
};

struct ReplaceNormalizer : Normalizer {
    Matcher find;
    std::string content;
    void apply(std::string& s) const override {
        MatchList m;
        find(s, m);
        if (m.empty()) return;
        std::string out;
        out.reserve(s.size());
        size_t prev = 0;
        for (const auto& [b, e] : m) {
            out.append(s, prev, b - prev);
            out += content;
            prev = e;
        }
        out.append(s, prev, std::string::npos);
        s.swap(out);
    }
};

struct StripNormalizer : Normalizer {
    bool left = true, right = true;
    void apply(std::string& s) const override {
        size_t b = 0, e = s.size();
        if (left)
            while (b < e) {
                size_t i = b;
                if (!is_unicode_whitespace(next_codepoint(s, i))) break;
                b = i;
            }
        if (right)
            while (e > b) {
                size_t start = e - 1;
                while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
                size_t i = start;
                if (!is_unicode_whitespace(next_codepoint(s, i))) break;
                e = start;
            }
        s = s.substr(b, e - b);
    }
};

struct SequenceNormalizer : Normalizer {
    std::vector<std::unique_ptr<Normalizer>> steps;
    void apply(std::string& s) const override {
        for (const auto& n : steps) n->apply(s);
    }
};

Matcher parse_pattern(const json& j, const std::string& where, std::shared_ptr<Pcre2Regex>* compiled = nullptr) {
    auto it = j.find("pattern");
    if (it == j.end() || !it->is_object()) fail(where + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
    if (it->contains("String") && (*it)["String"].is_string()) return literal_matcher((*it)["String"].get<std::string>());
    if (it->contains("Regex") && (*it)["Regex"].is_string()) {
        const std::string pattern = (*it)["Regex"].get<std::string>();
        try {
            auto regex = std::make_shared<Pcre2Regex>(pattern);
            if (compiled) *compiled = regex;
            return regex_matcher(regex);
        } catch (const std::invalid_argument& e) {
            fail(where + ".pattern.Regex", "the regex '" + pattern + "' is not supported (" + e.what() + ")");
        }
    }
    fail(where + ".pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
}

std::unique_ptr<Normalizer> parse_normalizer(const json& j, const std::string& where) {
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, where);
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE, type);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, type);
    if (type == "NFKC")
        return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, type);
    if (type == "NFKD")
        return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, type);
    if (type == "Prepend") {
        auto n = std::make_unique<PrependNormalizer>();
        n->prefix = get_string(j, "prepend", "", where);
        return n;
    }
    if (type == "Replace") {
        auto n = std::make_unique<ReplaceNormalizer>();
        n->find = parse_pattern(j, where);
        n->content = get_string(j, "content", "", where);
        return n;
    }
    if (type == "Strip") {
        auto n = std::make_unique<StripNormalizer>();
        n->left = get_bool(j, "strip_left", true);
        n->right = get_bool(j, "strip_right", true);
        return n;
    }
    if (type == "Sequence") {
        auto n = std::make_unique<SequenceNormalizer>();
        auto it = j.find("normalizers");
        if (it == j.end() || !it->is_array()) fail(where + ".normalizers", "expected a list");
        for (size_t i = 0; i < it->size(); ++i)
            if (auto step = parse_normalizer((*it)[i], where + ".normalizers[" + std::to_string(i) + "]"))
                n->steps.push_back(std::move(step));
        return n;
    }
    fail(where, "normalizer type '" + type + "' is not supported (supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, "
                "Strip, Sequence)");
}

// ---------------------------------------------------------------- pre-tokenizers

struct PreTokenizer {
    virtual ~PreTokenizer() = default;
    virtual void apply(Pieces& p) const = 0;
    // Does nothing to the text (a ByteLevel step without prefix space and regex).
    virtual bool is_noop() const { return false; }
    // The regex when this step is exactly "split at its matches, keep every piece" (Isolated,
    // not inverted): such a chain can hand pieces to the model while matching, with no copies.
    virtual std::shared_ptr<Pcre2Regex> isolated_regex() const { return nullptr; }
};

struct SplitPreTokenizer : PreTokenizer {
    Matcher find;
    std::shared_ptr<Pcre2Regex> regex;  // set when the pattern is a regex
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    void apply(Pieces& p) const override { split_pieces(p, find, behavior, invert); }
    std::shared_ptr<Pcre2Regex> isolated_regex() const override {
        return behavior == SplitBehavior::Isolated && !invert ? regex : nullptr;
    }
};

// Rebuilds every span through `edit` (which may change the text of a piece).
template <class Edit>
void rewrite_pieces(Pieces& p, Edit edit) {
    Pieces next;
    next.buf.reserve(p.buf.size() + p.spans.size());
    next.spans.reserve(p.spans.size());
    std::string piece;
    for (const Span& s : p.spans) {
        piece.assign(p.view(s));
        edit(piece, s);
        if (piece.empty()) continue;
        next.spans.push_back(Span{static_cast<uint32_t>(next.buf.size()), static_cast<uint32_t>(piece.size()), s.at_origin});
        next.buf += piece;
    }
    p = std::move(next);
}

// ByteLevel: the byte-to-character mapping itself is done by the BPE model (words stay raw
// bytes until then, which keeps the word cache keyed by the text as written).
struct ByteLevelPreTokenizer : PreTokenizer {
    bool add_prefix_space = false;
    std::shared_ptr<Pcre2Regex> regex;  // null when use_regex is false
    void apply(Pieces& p) const override {
        if (add_prefix_space)
            rewrite_pieces(p, [](std::string& piece, const Span&) {
                if (piece[0] != ' ') piece.insert(0, 1, ' ');
            });
        if (regex) split_pieces(p, regex_matcher(regex), SplitBehavior::Isolated, false);
    }
    bool is_noop() const override { return !add_prefix_space && !regex; }
    std::shared_ptr<Pcre2Regex> isolated_regex() const override { return add_prefix_space ? nullptr : regex; }
};

struct MetaspacePreTokenizer : PreTokenizer {
    std::string replacement = "\xE2\x96\x81";  // U+2581
    enum class Prepend { Always, First, Never } prepend = Prepend::Always;
    bool split = true;
    void apply(Pieces& p) const override {
        rewrite_pieces(p, [this](std::string& piece, const Span& s) {
            std::string out;
            out.reserve(piece.size() + 8);
            for (char c : piece) {
                if (c == ' ') out += replacement;
                else out += c;
            }
            const bool starts = out.compare(0, replacement.size(), replacement) == 0;
            if (!starts && (prepend == Prepend::Always || (prepend == Prepend::First && s.at_origin)))
                out.insert(0, replacement);
            piece.swap(out);
        });
        if (split) split_pieces(p, literal_matcher(replacement), SplitBehavior::MergedWithNext, false);
    }
};

bool is_numeric(char32_t c) {
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

struct DigitsPreTokenizer : PreTokenizer {
    bool individual = false;
    void apply(Pieces& p) const override {
        split_pieces(p, char_matcher(is_numeric), individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
    }
};

struct SequencePreTokenizer : PreTokenizer {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    void apply(Pieces& p) const override {
        for (const auto& s : steps) s->apply(p);
    }
    bool is_noop() const override {
        for (const auto& s : steps)
            if (!s->is_noop()) return false;
        return true;
    }
    std::shared_ptr<Pcre2Regex> isolated_regex() const override {
        std::shared_ptr<Pcre2Regex> found;
        for (const auto& s : steps) {
            if (s->is_noop()) continue;
            if (found) return nullptr;  // two splitting steps
            found = s->isolated_regex();
            if (!found) return nullptr;
        }
        return found;
    }
};

struct PreTokenizerInfo {
    bool byte_level = false;
};

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const json& j, const std::string& where, PreTokenizerInfo& info) {
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, where);
    if (info.byte_level)
        fail(where, "a '" + type + "' pre-tokenizer after ByteLevel is not supported (ByteLevel must come last)");
    if (type == "Split") {
        auto p = std::make_unique<SplitPreTokenizer>();
        p->find = parse_pattern(j, where, &p->regex);
        p->behavior = parse_behavior(j, where);
        p->invert = get_bool(j, "invert", false);
        return p;
    }
    if (type == "ByteLevel") {
        auto p = std::make_unique<ByteLevelPreTokenizer>();
        p->add_prefix_space = get_bool(j, "add_prefix_space", true);
        if (get_bool(j, "use_regex", true)) p->regex = std::make_shared<Pcre2Regex>(kGpt2Pattern);
        info.byte_level = true;
        return p;
    }
    if (type == "Metaspace") {
        auto p = std::make_unique<MetaspacePreTokenizer>();
        p->replacement = get_string(j, "replacement", p->replacement, where);
        if (p->replacement.empty() || utf8_length(static_cast<unsigned char>(p->replacement[0])) != p->replacement.size())
            fail(where + ".replacement", "must be one character");
        p->split = get_bool(j, "split", true);
        if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
            const std::string s = j["prepend_scheme"].get<std::string>();
            if (s == "always") p->prepend = MetaspacePreTokenizer::Prepend::Always;
            else if (s == "first") p->prepend = MetaspacePreTokenizer::Prepend::First;
            else if (s == "never") p->prepend = MetaspacePreTokenizer::Prepend::Never;
            else fail(where + ".prepend_scheme", "'" + s + "' is not one of always, first, never");
        } else {
            // Files from before prepend_scheme existed say add_prefix_space.
            p->prepend = get_bool(j, "add_prefix_space", true) ? MetaspacePreTokenizer::Prepend::Always
                                                               : MetaspacePreTokenizer::Prepend::Never;
        }
        return p;
    }
    if (type == "Digits") {
        auto p = std::make_unique<DigitsPreTokenizer>();
        p->individual = get_bool(j, "individual_digits", false);
        return p;
    }
    if (type == "Sequence") {
        auto p = std::make_unique<SequencePreTokenizer>();
        auto it = j.find("pretokenizers");
        if (it == j.end() || !it->is_array()) fail(where + ".pretokenizers", "expected a list");
        for (size_t i = 0; i < it->size(); ++i)
            if (auto step = parse_pre_tokenizer((*it)[i], where + ".pretokenizers[" + std::to_string(i) + "]", info))
                p->steps.push_back(std::move(step));
        return p;
    }
    fail(where, "pre-tokenizer type '" + type + "' is not supported (supported: Split, ByteLevel, Metaspace, Digits, "
                "Sequence)");
}

// ---------------------------------------------------------------- decoders

struct Decoder {
    virtual ~Decoder() = default;
    virtual void apply(std::vector<std::string>& tokens) const = 0;
};

struct ByteLevelDecoder : Decoder {
    void apply(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const std::string& t : tokens) {
            // A token with a character outside the byte map (an added token such as "<|im_end|>"
            // is inside it) contributes its UTF-8 bytes as they are.
            std::string mapped;
            bool ok = true;
            for (size_t i = 0; i < t.size() && ok;) {
                const int b = byte_from_unicode(next_codepoint(t, i));
                if (b < 0) ok = false;
                else mapped += static_cast<char>(b);
            }
            bytes += ok ? mapped : t;
        }
        tokens.assign(1, utf8_lossy(bytes));
    }
};

struct MetaspaceDecoder : Decoder {
    std::string replacement = "\xE2\x96\x81";
    bool strip_first = true;  // prepend_scheme is not "never"
    void apply(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            // As the tokenizers library: in the first token every replacement character is
            // dropped (not only a leading one) unless prepend_scheme is "never".
            std::string out;
            const std::string& t = tokens[i];
            for (size_t at = 0; at < t.size();) {
                if (t.compare(at, replacement.size(), replacement) == 0) {
                    if (i != 0 || !strip_first) out += ' ';
                    at += replacement.size();
                } else {
                    out += t[at++];
                }
            }
            tokens[i].swap(out);
        }
    }
};

struct ReplaceDecoder : Decoder {
    ReplaceNormalizer replace;
    void apply(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) replace.apply(t);
    }
};

struct ByteFallbackDecoder : Decoder {
    void apply(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        size_t pending_count = 0;
        auto flush = [&] {
            if (pending_count == 0) return;
            if (find_invalid_utf8(pending) == std::string_view::npos) {
                out.push_back(pending);
            } else {
                // The tokenizers library writes one U+FFFD per byte of an invalid run.
                for (size_t i = 0; i < pending_count; ++i) out.emplace_back("\xEF\xBF\xBD");
            }
            pending.clear();
            pending_count = 0;
        };
        for (auto& t : tokens) {
            auto hex = [](char c) {
                return (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            };
            if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex(t[3]) >= 0 && hex(t[4]) >= 0) {
                pending += static_cast<char>(hex(t[3]) * 16 + hex(t[4]));
                ++pending_count;
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens.swap(out);
    }
};

struct FuseDecoder : Decoder {
    void apply(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, all);
    }
};

struct StripDecoder : Decoder {
    std::string content;
    size_t start = 0, stop = 0;
    void apply(std::vector<std::string>& tokens) const override {
        const size_t n = content.size();
        for (auto& t : tokens) {
            size_t b = 0, e = t.size();
            for (size_t k = 0; k < start && b + n <= e && t.compare(b, n, content) == 0; ++k) b += n;
            for (size_t k = 0; k < stop && e >= b + n && t.compare(e - n, n, content) == 0; ++k) e -= n;
            t = t.substr(b, e - b);
        }
    }
};

struct SequenceDecoder : Decoder {
    std::vector<std::unique_ptr<Decoder>> steps;
    void apply(std::vector<std::string>& tokens) const override {
        for (const auto& s : steps) s->apply(tokens);
    }
};

std::unique_ptr<Decoder> parse_decoder(const json& j, const std::string& where) {
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, where);
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Metaspace") {
        auto d = std::make_unique<MetaspaceDecoder>();
        d->replacement = get_string(j, "replacement", d->replacement, where);
        if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string())
            d->strip_first = j["prepend_scheme"].get<std::string>() != "never";
        else
            d->strip_first = get_bool(j, "add_prefix_space", true);
        return d;
    }
    if (type == "Replace") {
        auto d = std::make_unique<ReplaceDecoder>();
        d->replace.find = parse_pattern(j, where);
        d->replace.content = get_string(j, "content", "", where);
        return d;
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        auto d = std::make_unique<StripDecoder>();
        d->content = get_string(j, "content", " ", where);
        d->start = j.value("start", size_t(0));
        d->stop = j.value("stop", size_t(0));
        return d;
    }
    if (type == "Sequence") {
        auto d = std::make_unique<SequenceDecoder>();
        auto it = j.find("decoders");
        if (it == j.end() || !it->is_array()) fail(where + ".decoders", "expected a list");
        for (size_t i = 0; i < it->size(); ++i)
            if (auto step = parse_decoder((*it)[i], where + ".decoders[" + std::to_string(i) + "]"))
                d->steps.push_back(std::move(step));
        return d;
    }
    fail(where, "decoder type '" + type + "' is not supported (supported: ByteLevel, Metaspace, Replace, ByteFallback, "
                "Fuse, Strip, Sequence)");
}

// ---------------------------------------------------------------- added tokens

struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

bool is_word_char(char32_t c) {
    if (c == '_') return true;
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

char32_t last_codepoint(std::string_view s, size_t end) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    return next_codepoint(s, start);
}

// Finds added tokens in text, leftmost-longest (as the aho-corasick automaton of the tokenizers
// library), through a byte trie.
class AddedTokenMatcher {
public:
    // `pattern` is the token's content, normalised for tokens matched after normalisation.
    void add(const std::string& pattern, const AddedToken* token) {
        if (pattern.empty()) return;
        int32_t node = 0;
        for (unsigned char c : pattern) {
            const uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
            auto it = edges_.find(key);
            if (it == edges_.end()) {
                nodes_.push_back(nullptr);
                it = edges_.emplace(key, static_cast<int32_t>(nodes_.size() - 1)).first;
            }
            node = it->second;
        }
        nodes_[node] = token;
        first_byte_[static_cast<unsigned char>(pattern[0])] = true;
    }
    bool empty() const { return nodes_.size() <= 1; }

    // Calls on_text(begin, end) for the text between tokens and on_token(id) for each token.
    template <class OnText, class OnToken>
    void split(std::string_view text, OnText on_text, OnToken on_token) const {
        size_t done = 0;  // end of the last token (text before it has been handed out)
        size_t i = 0;
        while (i < text.size()) {
            if (!first_byte_[static_cast<unsigned char>(text[i])]) {
                ++i;
                continue;
            }
            const AddedToken* best = nullptr;
            size_t best_end = 0;
            int32_t node = 0;
            for (size_t k = i; k < text.size(); ++k) {
                auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[k]));
                if (it == edges_.end()) break;
                node = it->second;
                if (nodes_[node]) {
                    best = nodes_[node];
                    best_end = k + 1;
                }
            }
            if (!best) {
                ++i;
                continue;
            }
            size_t start = i, stop = best_end;
            if (best->single_word) {
                const bool free_left = start == 0 || !is_word_char(last_codepoint(text, start));
                size_t after = stop;
                const bool free_right = stop == text.size() || !is_word_char(next_codepoint(text, after));
                if (!free_left || !free_right) {
                    i = best_end;  // the automaton resumes after the rejected match
                    continue;
                }
            }
            if (best->lstrip)
                while (start > done) {
                    size_t b = start - 1;
                    while (b > done && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
                    size_t probe = b;
                    if (!is_unicode_whitespace(next_codepoint(text, probe))) break;
                    start = b;
                }
            if (best->rstrip)
                while (stop < text.size()) {
                    size_t probe = stop;
                    if (!is_unicode_whitespace(next_codepoint(text, probe))) break;
                    stop = probe;
                }
            if (start > done) on_text(done, start);
            on_token(best->id);
            done = stop;
            i = stop;
        }
        if (done < text.size()) on_text(done, text.size());
    }

private:
    std::vector<const AddedToken*> nodes_{nullptr};  // node 0 is the root
    std::unordered_map<uint64_t, int32_t> edges_;     // (node << 8 | byte) -> child node
    bool first_byte_[256] = {};
};

// ---------------------------------------------------------------- files

json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path, 0, "cannot open the file; check the path and its permissions");
    std::stringstream buffer;
    buffer << in.rdbuf();
    try {
        return parse_json_text(buffer.str(), path);  // depth-limited; errors name line and key
    } catch (const JsonTextError& e) {
        throw DataError(path, e.line(), e.reason());
    }
}

// tokenizer_config.json writes special tokens as "text" or {"content": "text", ...}.
std::optional<std::string> config_token(const json& config, const char* key) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return (*it)["content"].get<std::string>();
    return std::nullopt;
}

std::string template_from_config(const json& config) {
    auto it = config.find("chat_template");
    if (it == config.end()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_array()) {
        std::string first;
        for (const auto& t : *it) {
            if (!t.is_object() || !t.contains("template") || !t["template"].is_string()) continue;
            const std::string source = t["template"].get<std::string>();
            if (t.value("name", std::string()) == "default") return source;
            if (first.empty()) first = source;
        }
        return first;
    }
    return {};
}

}  // namespace

// ---------------------------------------------------------------- the tokenizer

struct HfTokenizer::Impl {
    std::string json_path;
    std::unique_ptr<BpeModel> model;
    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> pre_tokenizer;
    std::shared_ptr<Pcre2Regex> stream_regex;  // the pre-tokenizer is one isolated regex split
    std::unique_ptr<Decoder> decoder;
    std::vector<AddedToken> added;
    AddedTokenMatcher raw_matcher, normalized_matcher;
    std::vector<std::string> id_to_token;
    std::vector<bool> special;
    int64_t eos = -1, pad = -1;
    std::optional<int64_t> bos_token, bos_prepended;
    std::string chat_template, template_kind, template_warning;
    bool clean_up_spaces = false;  // tokenizer_config.json's clean_up_tokenization_spaces

    void encode_words(std::string_view text, bool at_origin, std::vector<int64_t>& ids) const {
        if (stream_regex) {
            size_t done = 0;
            stream_regex->for_each_match(text, [&](size_t b, size_t e) {
                if (b > done) model->tokenize(text.substr(done, b - done), ids);
                if (e > b) model->tokenize(text.substr(b, e - b), ids);
                done = e;
            });
            if (done < text.size()) model->tokenize(text.substr(done), ids);
            return;
        }
        if (!pre_tokenizer || pre_tokenizer->is_noop()) {
            model->tokenize(text, ids);
            return;
        }
        Pieces p;
        p.buf.assign(text.data(), text.size());
        p.spans.push_back(Span{0, static_cast<uint32_t>(text.size()), at_origin});
        if (pre_tokenizer) pre_tokenizer->apply(p);
        for (const Span& s : p.spans) model->tokenize(p.view(s), ids);
    }

    void encode_segment(std::string_view raw, bool at_origin, std::vector<int64_t>& ids) const {
        std::string text(raw);
        if (normalizer) normalizer->apply(text);
        if (text.empty()) return;
        if (normalized_matcher.empty()) {
            encode_words(text, at_origin, ids);
            return;
        }
        normalized_matcher.split(
            text, [&](size_t b, size_t e) { encode_words(std::string_view(text).substr(b, e - b), at_origin && b == 0, ids); },
            [&](int32_t id) { ids.push_back(id); });
    }
};

HfTokenizer::HfTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HfTokenizer::~HfTokenizer() = default;

std::unique_ptr<HfTokenizer> HfTokenizer::load(const std::string& path) {
    fs::path json_path = path;
    std::error_code ec;
    if (fs::is_directory(json_path, ec)) json_path /= "tokenizer.json";
    if (!fs::exists(json_path, ec))
        throw DataError(json_path.string(), 0,
                        "not found; give a tokenizer.json file or a model directory that contains one");
    const fs::path dir = json_path.parent_path();
    auto impl = std::make_unique<Impl>();
    impl->json_path = json_path.string();
    const std::string file = impl->json_path;
    const json tj = read_json_file(file);
    json config = json::object();
    const fs::path config_path = dir / "tokenizer_config.json";
    if (fs::exists(config_path, ec)) config = read_json_file(config_path.string());
    if (!config.is_object()) throw DataError(config_path.string(), 0, "must hold a JSON object");

    try {
        if (!tj.is_object()) fail("tokenizer.json", "must hold a JSON object");
        // Model.
        if (!tj.contains("model") || !tj["model"].is_object()) fail("model", "missing");
        const json& m = tj["model"];
        const std::string model_type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>()
                                       : m.contains("merges")                      ? "BPE"
                                                                                   : "unknown";
        if (model_type != "BPE")
            fail("model.type", "'" + model_type + "' models are not supported; only BPE tokenizers (GPT-2, Qwen, Llama, "
                               "Mistral, Gemma) can be read");
        if (m.contains("dropout") && m["dropout"].is_number() && m["dropout"].get<double>() != 0.0)
            fail("model.dropout", "BPE dropout is not supported; set it to null");
        if (!m.contains("vocab") || !m["vocab"].is_object()) fail("model.vocab", "expected an object of token -> id");
        std::unordered_map<std::string, int32_t> vocab;
        vocab.reserve(m["vocab"].size());
        int64_t max_id = -1;
        for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
            if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX)
                fail("model.vocab", "the id of '" + it.key() + "' is not a non-negative integer");
            const auto id = it.value().get<int32_t>();
            vocab.emplace(it.key(), id);
            max_id = std::max<int64_t>(max_id, id);
        }
        std::vector<std::pair<std::string, std::string>> merges;
        if (m.contains("merges") && m["merges"].is_array()) {
            merges.reserve(m["merges"].size());
            for (size_t i = 0; i < m["merges"].size(); ++i) {
                const json& e = m["merges"][i];
                if (e.is_string()) {
                    const std::string s = e.get<std::string>();
                    const size_t space = s.find(' ');
                    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                        fail("model.merges[" + std::to_string(i) + "]", "'" + s + "' is not two tokens separated by one space");
                    merges.emplace_back(s.substr(0, space), s.substr(space + 1));
                } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                    merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
                } else {
                    fail("model.merges[" + std::to_string(i) + "]", "expected \"a b\" or [\"a\", \"b\"]");
                }
            }
        }

        impl->normalizer = parse_normalizer(tj.value("normalizer", json()), "normalizer");
        PreTokenizerInfo info;
        impl->pre_tokenizer = parse_pre_tokenizer(tj.value("pre_tokenizer", json()), "pre_tokenizer", info);
        if (impl->pre_tokenizer) impl->stream_regex = impl->pre_tokenizer->isolated_regex();
        impl->decoder = parse_decoder(tj.value("decoder", json()), "decoder");

        BpeOptions options;
        options.byte_level = info.byte_level;
        options.byte_fallback = get_bool(m, "byte_fallback", false);
        options.fuse_unk = get_bool(m, "fuse_unk", false);
        options.ignore_merges = get_bool(m, "ignore_merges", false);
        options.continuing_subword_prefix = get_string(m, "continuing_subword_prefix", "", "model");
        options.end_of_word_suffix = get_string(m, "end_of_word_suffix", "", "model");
        const std::string unk = get_string(m, "unk_token", "", "model");
        if (!unk.empty()) {
            auto it = vocab.find(unk);
            if (it == vocab.end()) fail("model.unk_token", "'" + unk + "' is not in the vocabulary");
            options.unk_id = it->second;
        }

        // Added tokens.
        const int64_t max_vocab_id = max_id;
        if (tj.contains("added_tokens") && tj["added_tokens"].is_array()) {
            for (size_t i = 0; i < tj["added_tokens"].size(); ++i) {
                const json& a = tj["added_tokens"][i];
                const std::string where = "added_tokens[" + std::to_string(i) + "]";
                if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                    !a["content"].is_string())
                    fail(where, "expected {\"id\": integer, \"content\": string, ...}");
                // Checked before narrowing to int32 (4294967301 would wrap to 5), and against the
                // vocabulary: ids index a dense table, so an id far past it would allocate billions.
                const json& raw_id = a["id"];
                const int64_t id_limit = max_vocab_id + static_cast<int64_t>(tj["added_tokens"].size()) + (int64_t{1} << 20);
                const bool in_range = raw_id.is_number_unsigned() ? raw_id.get<uint64_t>() <= static_cast<uint64_t>(id_limit)
                                                                  : raw_id.get<int64_t>() >= 0 && raw_id.get<int64_t>() <= id_limit;
                if (!in_range || raw_id.get<int64_t>() > INT32_MAX)
                    fail(where + ".id", "the id of added token " + quote_value(a["content"].get<std::string>(), 60) +
                                            " must be from 0 to " + std::to_string(std::min<int64_t>(id_limit, INT32_MAX)) +
                                            " (the vocabulary's ids end at " + std::to_string(max_vocab_id) + "), got " +
                                            quote_json(raw_id));
                AddedToken t;
                t.id = raw_id.get<int32_t>();
                t.content = a["content"].get<std::string>();
                t.single_word = get_bool(a, "single_word", false);
                t.lstrip = get_bool(a, "lstrip", false);
                t.rstrip = get_bool(a, "rstrip", false);
                t.special = get_bool(a, "special", false);
                t.normalized = get_bool(a, "normalized", !t.special);
                max_id = std::max<int64_t>(max_id, t.id);
                impl->added.push_back(std::move(t));
            }
        }
        impl->id_to_token.assign(static_cast<size_t>(max_id + 1), std::string());
        impl->special.assign(static_cast<size_t>(max_id + 1), false);
        for (const auto& [token, id] : vocab) impl->id_to_token[id] = token;
        for (const auto& t : impl->added) {
            impl->id_to_token[t.id] = t.content;
            impl->special[t.id] = t.special;
        }
        // Tokens with normalized=false are found in the raw text, the others in the normalised
        // text, through their normalised content. (Matchers keep pointers into `added`, which no
        // longer changes.) Without a normalizer both kinds match the same text in one pass.
        for (const auto& t : impl->added) {
            if (t.normalized && impl->normalizer) {
                std::string pattern = t.content;
                impl->normalizer->apply(pattern);
                impl->normalized_matcher.add(pattern, &t);
            } else {
                impl->raw_matcher.add(t.content, &t);
            }
        }

        try {
            impl->model = std::make_unique<BpeModel>(std::move(vocab), merges, options);
        } catch (const std::invalid_argument& e) {
            fail("model.merges", e.what());
        }
    } catch (const FormatError& e) {
        throw DataError(file, 0, e.what());
    } catch (const std::invalid_argument& e) {
        throw DataError(file, 0, e.what());
    } catch (const json::exception& e) {
        throw DataError(file, 0, std::string("unexpected content (") + e.what() + ")");
    }

    // Special token ids from tokenizer_config.json.
    auto lookup = [&impl](const std::string& token) -> std::optional<int64_t> {
        for (const auto& t : impl->added)
            if (t.content == token) return t.id;
        auto it = impl->model->vocab().find(token);
        if (it != impl->model->vocab().end()) return it->second;
        return std::nullopt;
    };
    const std::string config_name = config_path.string();
    auto config_id = [&](const char* key) -> std::optional<int64_t> {
        auto token = config_token(config, key);
        if (!token) return std::nullopt;
        auto id = lookup(*token);
        if (!id) throw DataError(config_name, 0, std::string(key) + " '" + *token + "' is not in the tokenizer's vocabulary");
        return id;
    };
    if (auto eos = config_id("eos_token")) {
        impl->eos = *eos;
    } else {
        for (const char* name : {"<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "<|im_end|>"})
            if (auto id = lookup(name)) {
                impl->eos = *id;
                break;
            }
        if (impl->eos < 0)
            throw DataError(file, 0, std::string(fs::exists(config_path, ec) ? "tokenizer_config.json names no eos_token"
                                                                             : "there is no tokenizer_config.json beside it") +
                                         " and the vocabulary has none of the usual end tokens (<|endoftext|>, </s>, "
                                         "<eos>, <|end_of_text|>, <|im_end|>); add \"eos_token\" to tokenizer_config.json");
    }
    impl->pad = config_id("pad_token").value_or(impl->eos);

    // BOS: the config's bos_token, prepended when add_bos_token says so or, without that key,
    // when the post-processor starts the single-sequence template with a special token.
    impl->bos_token = config_id("bos_token");
    bool adds_bos = false;
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
        adds_bos = config["add_bos_token"].get<bool>();
    } else {
        std::function<std::optional<std::string>(const json&)> first_special = [&](const json& pp) -> std::optional<std::string> {
            if (!pp.is_object()) return std::nullopt;
            const std::string type = pp.value("type", std::string());
            if (type == "Sequence" && pp.contains("processors") && pp["processors"].is_array())
                for (const auto& p : pp["processors"])
                    if (auto s = first_special(p)) return s;
            if (type == "TemplateProcessing" && pp.contains("single") && pp["single"].is_array() && !pp["single"].empty()) {
                const json& first = pp["single"][0];
                if (first.contains("SpecialToken") && first["SpecialToken"].contains("id"))
                    return first["SpecialToken"]["id"].get<std::string>();
            }
            return std::nullopt;
        };
        if (auto s = first_special(tj.value("post_processor", json()))) {
            adds_bos = true;
            if (!impl->bos_token) impl->bos_token = lookup(*s);
        }
    }

    if (config.is_object() && config.contains("clean_up_tokenization_spaces") && config["clean_up_tokenization_spaces"].is_boolean())
        impl->clean_up_spaces = config["clean_up_tokenization_spaces"].get<bool>();

    // Chat template: tokenizer_config.json, else chat_template.jinja / chat_template.json.
    impl->chat_template = template_from_config(config);
    if (impl->chat_template.empty() && fs::exists(dir / "chat_template.jinja", ec)) {
        std::ifstream in(dir / "chat_template.jinja", std::ios::binary);
        std::stringstream buffer;
        buffer << in.rdbuf();
        impl->chat_template = buffer.str();
    }
    if (impl->chat_template.empty() && fs::exists(dir / "chat_template.json", ec))
        impl->chat_template = template_from_config(read_json_file((dir / "chat_template.json").string()));
    impl->template_kind = classify_chat_template(impl->chat_template, &impl->template_warning);
    const bool template_writes_bos = impl->chat_template.find("bos_token") != std::string::npos;
    if (adds_bos && impl->bos_token && !template_writes_bos) impl->bos_prepended = impl->bos_token;

    return std::unique_ptr<HfTokenizer>(new HfTokenizer(std::move(impl)));
}

std::vector<int64_t> HfTokenizer::encode(const std::string& text) const {
    if (text.size() >= UINT32_MAX) throw Error("a text of 4 GiB or more cannot be tokenised in one piece; split it");
    check_utf8(text);
    std::vector<int64_t> ids;
    ids.reserve(text.size() / 3 + 4);
    impl_->raw_matcher.split(
        text, [&](size_t b, size_t e) { impl_->encode_segment(std::string_view(text).substr(b, e - b), b == 0, ids); },
        [&](int32_t id) { ids.push_back(id); });
    return ids;
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int64_t id : ids) {
        if (id < 0 || id >= vocab_size())
            throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0-" +
                        std::to_string(vocab_size() - 1) + ") of " + impl_->json_path);
        if (!impl_->id_to_token[id].empty()) tokens.push_back(impl_->id_to_token[id]);
    }
    if (!impl_->decoder) {
        std::string out;
        for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
        return out;
    }
    impl_->decoder->apply(tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
}

std::string clean_up_tokenization_spaces(std::string text) {
    static const std::pair<const char*, const char*> replacements[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : replacements) {
        const std::string f(from), t(to);
        std::string out;
        out.reserve(text.size());
        size_t pos = 0;
        for (size_t hit; (hit = text.find(f, pos)) != std::string::npos; pos = hit + f.size()) {
            out.append(text, pos, hit - pos);
            out += t;
        }
        out.append(text, pos, std::string::npos);
        text.swap(out);
    }
    return text;
}

std::string HfTokenizer::decode_text(const std::vector<int64_t>& ids) const {
    std::string text = decode(ids);
    return impl_->clean_up_spaces ? clean_up_tokenization_spaces(std::move(text)) : text;
}

bool HfTokenizer::cleans_up_tokenization_spaces() const { return impl_->clean_up_spaces; }

int64_t HfTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }
int64_t HfTokenizer::pad_id() const { return impl_->pad; }
std::optional<int64_t> HfTokenizer::bos_id() const { return impl_->bos_prepended; }
int64_t HfTokenizer::eos_id() const { return impl_->eos; }
std::string HfTokenizer::name() const { return "hf:" + impl_->json_path; }

std::string HfTokenizer::id_to_token(int64_t id) const {
    if (id < 0 || id >= vocab_size()) throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
    return impl_->id_to_token[id];
}

std::optional<int64_t> HfTokenizer::token_to_id(const std::string& token) const {
    for (const auto& t : impl_->added)
        if (t.content == token) return t.id;
    auto it = impl_->model->vocab().find(token);
    if (it != impl_->model->vocab().end()) return it->second;
    return std::nullopt;
}

std::optional<int64_t> HfTokenizer::bos_token_id() const { return impl_->bos_token; }
bool HfTokenizer::is_special(int64_t id) const { return id >= 0 && id < vocab_size() && impl_->special[id]; }
const std::string& HfTokenizer::chat_template() const { return impl_->chat_template; }
const std::string& HfTokenizer::chat_template_kind() const { return impl_->template_kind; }
const std::string& HfTokenizer::chat_template_warning() const { return impl_->template_warning; }
const std::string& HfTokenizer::tokenizer_json_path() const { return impl_->json_path; }

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path) { return HfTokenizer::load(path); }

std::string classify_chat_template(const std::string& source, std::string* warning) {
    auto has = [&source](const char* s) { return source.find(s) != std::string::npos; };
    std::string kind, why;
    if (source.empty()) {
        why = "the tokenizer has no chat template";
    } else if (has("<|im_start|>") && has("<|im_end|>")) {
        kind = has("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") ? "qwen2.5" : "chatml";
    } else if (has("<|start_header_id|>") && has("<|eot_id|>")) {
        kind = "llama3";
    } else {
        why = "the tokenizer's chat template is neither ChatML (<|im_start|> ... <|im_end|>) nor Llama 3 "
              "(<|start_header_id|> ... <|eot_id|>)";
    }
    if (warning) {
        warning->clear();
        if (kind.empty())
            *warning = why + "; falling back to the plain template (prompt, completion, EOS); set model.template to "
                             "chatml, qwen2.5, llama3 or plain to choose one";
    }
    return kind.empty() ? "unknown" : kind;
}

std::string detect_chat_template(const nlohmann::json& tokenizer_config, std::string* warning) {
    return classify_chat_template(tokenizer_config.is_object() ? template_from_config(tokenizer_config) : std::string(),
                                  warning);
}

}  // namespace ps
