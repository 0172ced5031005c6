// Typed errors thrown by libprefcore. Every message is one sentence a user can act on;
// the CLI and the GUI show what() as is.
#pragma once
#include <stdexcept>
#include <string>

namespace ps {

// Base of every error core throws on purpose.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A bad run config value. `field` is the JSON path, e.g. "train.learning_rate".
class ConfigError : public Error {
public:
    ConfigError(std::string field, const std::string& message)
        : Error(field.empty() ? message : field + ": " + message), field_(std::move(field)) {}
    const std::string& field() const { return field_; }

private:
    std::string field_;
};

// A problem in a data file. `line` is 1-based, 0 when it is about the whole file.
class DataError : public Error {
public:
    DataError(std::string file, long line, const std::string& message)
        : Error(file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + message),
          file_(std::move(file)), line_(line) {}
    const std::string& file() const { return file_; }
    long line() const { return line_; }

private:
    std::string file_;
    long line_;
};

// The run store (SQLite) failed: open, schema, write or read.
class StoreError : public Error {
public:
    using Error::Error;
};

// A model could not be built or loaded.
class ModelError : public Error {
public:
    using Error::Error;
};

// Training could not go on (NaN loss, out of memory, ...).
class TrainingError : public Error {
public:
    using Error::Error;
};

// Long work (outside a run) that the user cancelled; what() says what was cancelled.
class Cancelled : public Error {
public:
    using Error::Error;
};

}  // namespace ps
