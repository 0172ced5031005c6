// User-controlled text in messages and terminal output: quoted at most ~200 characters, control
// characters escaped, and JSON read with a nesting limit. Every place that quotes a value the
// user gave (config values, keys, names) goes through here, so a 50 MB value or an escape code
// never reaches stderr whole or raw.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"

namespace ps {

// How many bytes of a value a message quotes before cutting it.
constexpr size_t kQuoteLimit = 200;
// How deep JSON that we read may nest (configs nest 3 levels; nlohmann's dump and our walks recurse).
constexpr int kMaxJsonDepth = 64;

// `text` with C0 controls, DEL, C1 controls (U+0080..U+009F) and ESC written as \xNN, so it
// prints as one line that cannot move the cursor or change colours. Other UTF-8 passes through.
std::string printable(std::string_view text);

// 'text' escaped as printable(), cut to `limit` bytes (at a UTF-8 boundary) with
// "... (N bytes)" after the quote when it was longer.
std::string quote_value(std::string_view text, size_t limit = kQuoteLimit);

// A key or path the user wrote (an unknown config key may hold any byte), for the front of a
// message: printable() and cut like quote_value, without quotes.
std::string printable_key(std::string_view key, size_t limit = kQuoteLimit);

// A JSON value as the user wrote it, for a message: a string as JSON writes it ("text") cut
// after `limit` bytes with "... (N bytes)"; a number, boolean or null as is; an array or object
// as its dump, quoted and cut like quote_value.
std::string quote_json(const nlohmann::json& value, size_t limit = kQuoteLimit);

// JSON text that could not be read: `line`/`column` are 1-based (0 when unknown), `key` the
// dotted path of object keys where it went wrong (empty when unknown); what() is one sentence
// starting with "<source>:<line>:<column>:".
class JsonTextError : public Error {
public:
    enum class Kind { Syntax, TooDeep, NumberRange };
    JsonTextError(Kind kind, std::string source, long line, long column, std::string key, const std::string& reason);
    Kind kind() const { return kind_; }
    long line() const { return line_; }
    const std::string& key() const { return key_; }
    // The message after "<source>:<line>:<column>: ".
    const std::string& reason() const { return reason_; }

private:
    Kind kind_;
    long line_;
    std::string key_, reason_;
};

// Moves (line, column), the position where `text` starts, to byte `offset` of it ('\n' starts a
// new line at column 1).
void advance_line_column(std::string_view text, size_t offset, long& line, long& column);

// Byte offset where `text` first nests deeper than `max_depth` (strings skipped), or npos.
size_t json_too_deep_at(const std::string& text, int max_depth = kMaxJsonDepth);

// Parses `text` (named `source` in messages) nested at most `max_depth` deep. Throws
// JsonTextError for invalid JSON, too deep nesting, or numbers out of double's range (with the
// key they belong to).
nlohmann::json parse_json_text(const std::string& text, const std::string& source, int max_depth = kMaxJsonDepth);

}  // namespace ps
