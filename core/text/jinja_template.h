// A Jinja interpreter for chat templates (issue #18): the subset of Jinja that published
// tokenizer_config.json chat templates use, rendered the way transformers renders them
// (jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols
// extension, transformers' tojson / raise_exception / strftime_now / namespace globals, and its
// {% generation %} block rendered as plain text). Our own code: no C++ Jinja library is packaged
// in Debian. Values come in as nlohmann::ordered_json (Python dicts keep insertion order, which
// tojson shows).
//
// Supported: text, {{ }}, {% %}, {# #}, whitespace control (-, +), raw blocks; if/elif/else,
// for (tuple targets, inline `if`, else, loop.index/index0/revindex/revindex0/first/last/length/
// previtem/nextitem/cycle), break/continue, set (also `set ns.x`, block set), macro, call blocks,
// filter blocks; literals, attribute/index access, slices, conditional expressions, and/or/not,
// comparisons, in / not in, + - * / // % ** ~, `is` tests, filters and string/dict methods (see
// jinja_template.cpp). Strings are UTF-8; upper/lower/title/capitalize change ASCII letters only.
// Undefined names behave as jinja2's default Undefined: falsey, render as "", iterate as empty,
// `is defined` false; using one any further (an attribute of it, adding to it) is an error, as
// in jinja2.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"

namespace ps::jinja {

// A syntax or runtime error, naming the template line and column (1-based) where it happened.
class TemplateError : public ps::Error {
public:
    TemplateError(int line, int column, std::string message)
        : ps::Error("chat template " + std::to_string(line) + ":" + std::to_string(column) + ": " + message),
          line_(line), column_(column), message_(std::move(message)) {}
    int line() const { return line_; }
    int column() const { return column_; }
    const std::string& message() const { return message_; }

private:
    int line_, column_;
    std::string message_;
};

// The template itself called raise_exception(message): message() is its text as given.
class RaisedException : public TemplateError {
public:
    using TemplateError::TemplateError;
};

struct Node;

class Template {
public:
    // Parses the source; throws TemplateError for a syntax error.
    explicit Template(const std::string& source);
    ~Template();
    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;

    // Renders with `context` (an object: its keys are the template's variables). Throws
    // TemplateError (RaisedException for raise_exception).
    std::string render(const nlohmann::ordered_json& context) const;

private:
    std::shared_ptr<const Node> root_;
};

// The variables transformers' apply_chat_template hands a template: messages,
// add_generation_prompt, the special tokens (bos_token, eos_token, ...), tools and documents
// (null when not given: transformers passes None), and extra keyword variables (e.g.
// enable_thinking), which win over the others. Messages with reasoning under any of
// transformers' names get reasoning_content and thinking too, as transformers does.
nlohmann::ordered_json chat_context(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                    const nlohmann::ordered_json& special_tokens = nlohmann::ordered_json::object(),
                                    const nlohmann::ordered_json& tools = nullptr,
                                    const nlohmann::ordered_json& documents = nullptr,
                                    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

}  // namespace ps::jinja
