#include "core/data/json_records.h"

#include <cctype>
#include <cstdio>
#include <cstring>

#include "core/common/errors.h"
#include "core/common/user_text.h"

using nlohmann::json;

namespace ps {
namespace {

constexpr size_t kChunk = 1 << 20;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// nlohmann's message without its "[json.exception...] parse error at line L, column C: " head.
std::string parse_reason(const json::parse_error& e) {
    std::string what = e.what();
    auto col = what.find("column ");
    if (col != std::string::npos) {
        auto colon = what.find(": ", col);
        if (colon != std::string::npos) return what.substr(colon + 2);
    }
    auto pe = what.find("parse error");
    return pe == std::string::npos ? what : what.substr(pe);
}

}  // namespace

size_t find_invalid_utf8(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return i;
        if (i + len > n) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return std::string::npos;
}

JsonRecordReader::JsonRecordReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw DataError(path, 0, "cannot open the file");
    // A JSON array starts with '[' (after whitespace and an optional UTF-8 byte-order mark);
    // anything else is read as JSON Lines.
    char c = 0;
    bool first = true;
    while (next_char(c)) {
        if (first && static_cast<unsigned char>(c) == 0xEF && buffer_.compare(pos_ - 1, 3, "\xEF\xBB\xBF") == 0) {
            pos_ += 2;
            column_ = 0;
            first = false;
            continue;
        }
        first = false;
        if (is_space(c)) continue;
        if (c == '[') {
            array_ = true;
        } else {
            // Give the character back: the first line is a record.
            --pos_;
            --column_;
        }
        return;
    }
    throw DataError(path, 0, "the file is empty");
}

bool JsonRecordReader::next_char(char& c) {
    if (pos_ == buffer_.size()) {
        buffer_.resize(kChunk);
        in_.read(&buffer_[0], static_cast<std::streamsize>(kChunk));
        buffer_.resize(static_cast<size_t>(in_.gcount()));
        bytes_ += buffer_.size();
        pos_ = 0;
        if (buffer_.empty()) return false;
    }
    c = buffer_[pos_++];
    if (column_ < 0) {  // the previous character was a newline
        ++line_;
        column_ = 1;
    } else {
        ++column_;
    }
    if (c == '\n') column_ = -1;
    return true;
}

JsonRecordReader::Status JsonRecordReader::next(Item& item) {
    if (done_) return Status::End;
    return array_ ? next_element(item) : next_line(item);
}

JsonRecordReader::Status JsonRecordReader::next_line(Item& item) {
    for (;;) {
        text_.clear();
        bool any = false;
        // Lines are cut out of the buffer in bulk (memchr), not character by character.
        for (;;) {
            if (pos_ == buffer_.size()) {
                buffer_.resize(kChunk);
                in_.read(&buffer_[0], static_cast<std::streamsize>(kChunk));
                buffer_.resize(static_cast<size_t>(in_.gcount()));
                bytes_ += buffer_.size();
                pos_ = 0;
                if (buffer_.empty()) break;
            }
            any = true;
            const char* start = buffer_.data() + pos_;
            const void* nl = std::memchr(start, '\n', buffer_.size() - pos_);
            if (nl) {
                const size_t len = static_cast<size_t>(static_cast<const char*>(nl) - start);
                text_.append(start, len);
                pos_ += len + 1;
                break;
            }
            text_.append(start, buffer_.size() - pos_);
            pos_ = buffer_.size();
        }
        if (!any) {
            done_ = true;
            return Status::End;
        }
        const long line = line_;
        ++line_;
        if (!text_.empty() && text_.back() == '\r') text_.pop_back();
        bool blank = true;
        for (char c : text_)
            if (!is_space(c)) { blank = false; break; }
        if (blank) continue;
        ++index_;
        return parse(text_, line, 1, item);
    }
}

JsonRecordReader::Status JsonRecordReader::next_element(Item& item) {
    auto fatal = [&](const std::string& problem, long line, long column) {
        item = Item();
        item.line = line;
        item.column = column;
        item.index = index_ + 1;
        item.problem = column > 0 ? "invalid JSON at column " + std::to_string(column) + ": " + problem
                                  : "invalid JSON: " + problem;
        item.fatal = true;
        done_ = true;
        return Status::Bad;
    };
    char c = 0;
    // Before the element: whitespace, then the element, or ']' closing the array.
    for (;;) {
        if (!next_char(c)) return fatal("the file ends inside the JSON array (is the closing ']' missing?)", line_, 0);
        if (is_space(c)) continue;
        break;
    }
    if (c == ']') {
        if (after_comma_) return fatal("a ',' is followed by ']' (trailing comma)", line_, column_);
        // Only whitespace may follow the array.
        for (;;) {
            if (!next_char(c)) {
                done_ = true;
                return Status::End;
            }
            if (!is_space(c)) return fatal("unexpected text after the JSON array's closing ']'", line_, column_);
        }
    }
    if (c == ',') return fatal("unexpected ',' (an element is missing)", line_, column_);
    const long start_line = line_, start_column = column_;
    text_.assign(1, c);
    int depth = (c == '{' || c == '[') ? 1 : 0;
    bool in_string = c == '"', escape = false;
    for (;;) {
        if (!next_char(c)) return fatal("the file ends inside the JSON array (is the closing ']' missing?)", start_line, start_column);
        if (in_string) {
            text_ += c;
            if (escape) escape = false;
            else if (c == '\\') escape = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (depth == 0 && (c == ',' || c == ']')) {
            after_comma_ = c == ',';
            if (c == ']') {
                // Put the ']' back so the next call ends the array.
                --pos_;
                --column_;
                after_comma_ = false;
            }
            break;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') {
            if (--depth < 0) return fatal(std::string("unexpected '") + c + "'", line_, column_);
        }
        text_ += c;
    }
    ++index_;
    return parse(text_, start_line, start_column, item);
}

JsonRecordReader::Status JsonRecordReader::parse(const std::string& text, long line, long column, Item& item) {
    item.line = line;
    item.column = 0;
    item.index = index_;
    item.problem.clear();
    item.fatal = false;
    const size_t bad = find_invalid_utf8(text);
    if (bad != std::string::npos) {
        long l = line, col = column;
        advance_line_column(text, bad, l, col);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
        item.line = l;
        item.column = col;
        item.problem = "invalid UTF-8 at column " + std::to_string(col) + " (byte " + hex + "); save the file as UTF-8";
        return Status::Bad;
    }
    if (const size_t deep = json_too_deep_at(text); deep != std::string::npos) {
        // Records nest 3-4 levels; a deeper one is refused before parsing (errors and walks recurse).
        long l = line, col = column;
        advance_line_column(text, deep, l, col);
        item.line = l;
        item.column = col;
        item.problem = "the record nests deeper than " + std::to_string(kMaxJsonDepth) + " levels (at column " +
                       std::to_string(col) + ")";
        return Status::Bad;
    }
    try {
        item.value = json::parse(text);
    } catch (const json::out_of_range& e) {
        // nlohmann: "number overflow parsing '1e309'"
        item.line = line;
        item.column = 0;
        const std::string what = e.what();
        const auto a = what.find('\''), b = what.rfind('\'');
        item.problem = "the number " + (a != std::string::npos && b > a ? quote_value(what.substr(a + 1, b - a - 1), 40)
                                                                        : std::string("in it")) +
                       " is out of range for a double";
        return Status::Bad;
    } catch (const json::parse_error& e) {
        long l = line, col = column;
        advance_line_column(text, e.byte > 0 ? e.byte - 1 : 0, l, col);
        item.line = l;
        item.column = col;
        item.problem = "invalid JSON at column " + std::to_string(col) + ": " + parse_reason(e);
        if (!array_ && text.find_first_not_of(" \t") != std::string::npos && text[text.find_first_not_of(" \t")] == '{' &&
            text.find('}') == std::string::npos)
            item.problem += " (JSON Lines needs one whole record per line; a file of records over several lines must be a JSON array)";
        return Status::Bad;
    }
    return Status::Record;
}

}  // namespace ps
