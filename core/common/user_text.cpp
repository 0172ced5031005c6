#include "core/common/user_text.h"

#include <cstdio>
#include <vector>

namespace ps {

namespace {

std::string hex_escape(unsigned char c) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02X", c);
    return buf;
}

// Where a cut at `limit` bytes lands on a UTF-8 boundary (never inside a multi-byte character).
size_t utf8_cut(std::string_view text, size_t limit) {
    if (text.size() <= limit) return text.size();
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return cut;
}

// 1-based line and column of byte `offset` in `text`.
void line_column(const std::string& text, size_t offset, long& line, long& column) {
    line = 1;
    column = 1;
    advance_line_column(text, offset, line, column);
}

// The first byte outside JSON strings at which `stop(i)` is true, or npos: one walk that knows
// where strings (and their escapes) are, shared by the depth and number scans below.
template <typename Stop>
size_t first_outside_strings(const std::string& text, Stop stop) {
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (stop(i)) {
            return i;
        }
    }
    return std::string::npos;
}

// A scan outside strings, so a too deep document is refused before the parser builds any of it.
size_t too_deep_at(const std::string& text, int max_depth) {
    int depth = 0;
    return first_outside_strings(text, [&](size_t i) {
        const char c = text[i];
        if (c == '[' || c == '{') return ++depth > max_depth;
        if (c == ']' || c == '}') --depth;
        return false;
    });
}

// Byte offset of the number token `token` outside strings, or npos.
size_t number_at(const std::string& text, const std::string& token) {
    return first_outside_strings(text, [&](size_t i) {
        return text.compare(i, token.size(), token) == 0 &&
               (i == 0 || std::string(" \t\r\n:,[").find(text[i - 1]) != std::string::npos);
    });
}

std::string dotted(const std::vector<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) {
        if (k.empty()) continue;
        out += (out.empty() ? "" : ".") + k;
    }
    return out;
}

}  // namespace

size_t json_too_deep_at(const std::string& text, int max_depth) { return too_deep_at(text, max_depth); }

void advance_line_column(std::string_view text, size_t offset, long& line, long& column) {
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) {
            out += hex_escape(c);
        } else if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
            // C1 controls (U+0080..U+009F; U+009B is a one-byte CSI to many terminals).
            out += hex_escape(static_cast<unsigned char>(text[++i]));
        } else if (c >= 0x80 && c <= 0x9F && (i == 0 || static_cast<unsigned char>(text[i - 1]) < 0x80)) {
            // A raw C1 byte that starts no UTF-8 character (8-bit terminals read it as a control).
            out += hex_escape(c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string quote_value(std::string_view text, size_t limit) {
    const size_t cut = utf8_cut(text, limit);
    std::string out = "'" + printable(text.substr(0, cut)) + "'";
    if (cut < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

std::string printable_key(std::string_view key, size_t limit) {
    const size_t cut = utf8_cut(key, limit);
    std::string out = printable(key.substr(0, cut));
    if (cut < key.size()) out += "... (" + std::to_string(key.size()) + " bytes)";
    return out;
}

std::string quote_json(const nlohmann::json& value, size_t limit) {
    if (value.is_string()) {
        // As JSON writes it ("text", controls as \u001b), cut after `limit` bytes of the text.
        const std::string& text = value.get_ref<const std::string&>();
        const size_t cut = utf8_cut(text, limit);
        const std::string d = nlohmann::json(text.substr(0, cut)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return cut < text.size() ? d + "... (" + std::to_string(text.size()) + " bytes)" : d;
    }
    // dump() recurses; values we quote were read by parse_json_text, so at most kMaxJsonDepth deep.
    const std::string d = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (value.is_primitive() && d.size() <= limit) return printable(d);
    return quote_value(d, limit);
}

JsonTextError::JsonTextError(Kind kind, std::string source, long line, long column, std::string key, const std::string& reason)
    : Error(printable(source) + (line > 0 ? ":" + std::to_string(line) + (column > 0 ? ":" + std::to_string(column) : "") : "") +
            ": " + (key.empty() ? "" : printable_key(key) + ": ") + reason),
      kind_(kind), line_(line), key_(std::move(key)), reason_(key_.empty() ? reason : printable_key(key_) + ": " + reason) {}

nlohmann::json parse_json_text(const std::string& text, const std::string& source, int max_depth) {
    long line = 0, column = 0;
    if (const size_t at = too_deep_at(text, max_depth); at != std::string::npos) {
        line_column(text, at, line, column);
        throw JsonTextError(JsonTextError::Kind::TooDeep, source, line, column, "",
                            "nested deeper than " + std::to_string(max_depth) + " levels (the limit for JSON read here)");
    }
    // The keys on the way to the value being read, so a number nlohmann refuses names its key.
    std::vector<std::string> keys;
    auto track = [&keys](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (event == E::key) {
            keys.resize(static_cast<size_t>(depth));
            if (depth > 0) keys[static_cast<size_t>(depth) - 1] = parsed.get<std::string>();
        } else if (event == E::object_end || event == E::array_end) {
            keys.resize(static_cast<size_t>(depth));
        } else if (event == E::object_start || event == E::array_start) {
            keys.resize(static_cast<size_t>(depth));
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text, track);
    } catch (const nlohmann::json::parse_error& e) {
        line_column(text, e.byte > 0 ? e.byte - 1 : 0, line, column);
        std::string what = e.what();
        const auto pos = what.find("parse error");
        what = pos == std::string::npos ? what : what.substr(pos);
        throw JsonTextError(JsonTextError::Kind::Syntax, source, line, column, "", "invalid JSON (" + printable(what.substr(0, 2 * kQuoteLimit)) + ")");
    } catch (const nlohmann::json::out_of_range& e) {
        // "number overflow parsing '1e309'": find the token for its line.
        std::string what = e.what();
        std::string token;
        if (const auto a = what.find('\''), b = what.rfind('\''); a != std::string::npos && b > a)
            token = what.substr(a + 1, b - a - 1);
        if (!token.empty())
            if (const size_t at = number_at(text, token); at != std::string::npos) line_column(text, at, line, column);
        throw JsonTextError(JsonTextError::Kind::NumberRange, source, line, column, dotted(keys),
                            token.empty() ? "a number is out of range"
                                          : "the number " + quote_value(token, 40) + " is out of range for a double");
    }
}

}  // namespace ps
