// Streaming reader of JSON records: JSON Lines (one object per line) or one JSON array of
// objects, read incrementally so memory holds one record at a time, whatever the file size.
// Every record carries the line it starts on; syntax errors and invalid UTF-8 carry line and
// column. Never throws for bad content (that is reported per record); only for an unreadable
// file.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace ps {

// Offset of the first invalid UTF-8 byte in text, or npos when the text is valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF count as invalid).
size_t find_invalid_utf8(const std::string& text);

class JsonRecordReader {
public:
    enum class Status { Record, Bad, End };
    struct Item {
        nlohmann::json value;  // the record (Status::Record)
        long line = 0;         // 1-based line where the record (or the problem) is
        long column = 0;       // 1-based byte column of a problem, 0 when not known
        long index = 0;        // 1-based record number (JSON Lines: also counts bad lines)
        std::string problem;   // Status::Bad: what is wrong, one sentence without location
        bool fatal = false;    // Status::Bad: reading cannot go on after this problem
    };

    // Throws DataError when the file cannot be opened, is empty or only whitespace.
    explicit JsonRecordReader(const std::string& path);
    bool is_array() const { return array_; }
    // Next record or problem; Status::End at the end of the file (and after a fatal problem).
    Status next(Item& item);
    uint64_t bytes_read() const { return bytes_; }

private:
    bool next_char(char& c);
    Status next_line(Item& item);
    Status next_element(Item& item);
    Status parse(const std::string& text, long line, long column, Item& item);

    std::string path_;
    std::ifstream in_;
    std::string buffer_;
    size_t pos_ = 0;
    uint64_t bytes_ = 0;
    bool array_ = false;
    bool done_ = false;
    bool after_comma_ = false;  // arrays: the last element ended with ','
    long line_ = 1, column_ = 0;  // position of the last character read
    long index_ = 0;
    std::string text_;
};

}  // namespace ps
