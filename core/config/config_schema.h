// The run config's schema: one FieldSpec per key (path, type, default, range, choices, help,
// which algorithms read it). It is the one description of the config: RunConfig::from_json,
// validate() and to_json() walk it, the CLI's --set goes through it, the studio's setup form builds
// its editors from it and the README's config reference is rendered from it
// (`prefstudio-cli config-reference`; test_config_schema fails when the README disagrees).
//
// The objective section's keys, ranges and which algorithm reads which come from the algorithm
// table (core/config/algorithm.h); this table adds their help and binds them like the others.
//
// Adding a config key: a member in run_config.h and its row in config_schema.cpp (in the order the
// form and the README show it), then regenerate the README's table.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/algorithm.h"
#include "core/config/run_config.h"

namespace ps {

enum class FieldType {
    Integer,  // a whole number, range-checked against its member's C++ type before narrowing
    Real,     // a finite number
    Flag,     // true or false
    Text,     // free text
    Choice,   // one of `choices` (open_choices: those are suggestions, `other_values` says what else)
    Path,     // a file or directory
    List,     // an array of strings, each one of `choices`
    Names,    // an object of field names whose keys are `choices` (data.columns, data.tags); with
              // `json_values`, any keys and any JSON values (model.template_kwargs)
    Section,  // an object of the fields under it; a nullable one is off when null (model.lora)
};

struct FieldSpec {
    std::string path;  // "train.learning_rate"
    FieldType type = FieldType::Text;
    nlohmann::json default_value;  // as the resolved config writes it
    bool required = false;         // no useful default: the file must give it (data.train)
    bool nullable = false;         // null is a value ("none")
    bool reserved = false;         // the form leaves it out: not used yet, or JSON the form cannot edit
    bool json_values = false;      // Names: any key, any JSON value (--set parses the value as JSON)
    std::optional<double> minimum, maximum;
    bool minimum_exclusive = false, maximum_exclusive = false;
    std::string rule;  // the error when out of range: "must be at least 1"
    std::vector<std::string> choices;
    bool open_choices = false;
    std::string other_values;  // what an open choice accepts besides `choices`: "`cuda:N`"
    std::string label;         // the form's label: "Learning rate"
    std::string group;         // the form's section: "Training"
    std::string help;          // one line: the form's tooltip
    std::string reference;     // the README's meaning (markdown); `help` when empty
    // The algorithms that read it (in kAlgorithms order); every algorithm when empty.
    std::vector<Algorithm> algorithms;
    // objective.*: validate_objective (the algorithm table) checks these, with each algorithm's
    // own loss types and the papers' values in the message; the walk leaves them to it.
    bool checked_by_algorithm_table = false;
    // Integers: the member's C++ range (the value is checked against it before narrowing).
    int64_t lowest = 0, highest = 0;

    // Bindings to RunConfig. `store` type-checks a JSON value (ConfigError naming the path) and
    // writes it; `load` reads the member as the resolved config writes it; `check` is a rule beyond
    // range and choices (cross-field, patterns), run first. Sections: `present`, `enable` (fresh
    // defaults) and `disable` for a nullable one.
    std::function<void(RunConfig&, const nlohmann::json&)> store;
    std::function<nlohmann::json(const RunConfig&)> load;
    std::function<void(const RunConfig&)> check;
    std::function<bool(const RunConfig&)> present;
    std::function<void(RunConfig&)> enable, disable;

    // The last part of the path: "learning_rate".
    std::string key() const;
    // The section it belongs to: "train"; "" for top-level keys.
    std::string parent() const;
    bool used_by(Algorithm algorithm) const;
};

// The message of a key the schema does not have.
extern const char* const kUnknownKeyMessage;

// Every key of the run config in order (sections before their fields).
const std::vector<FieldSpec>& config_schema();
// The spec of a path, or null.
const FieldSpec* find_field(const std::string& path);

// Parses the JSON through the schema into `config` (defaults for missing keys); throws
// ConfigError naming the first bad value or unknown key. Does not validate.
void read_config(const nlohmann::json& j, RunConfig& config);
// Walks the schema: each field's check, range and choices; throws ConfigError for the first
// invalid value.
void validate_config(const RunConfig& config);
// Every key with its value.
nlohmann::json write_config(const RunConfig& config);
// The value an override's text stands for at `spec`: JSON where it parses as a value of the
// field's kind, otherwise the text itself for text fields (--set name=2024 is the name "2024").
nlohmann::json override_value(const FieldSpec& spec, const std::string& text);

// "[0, 1)", ">= 1", "`cosine`, `linear`, `constant`", ... (markdown)
std::string valid_values_text(const FieldSpec& spec);
// "`0.1`", "`\"cosine\"`", "required"
std::string default_text(const FieldSpec& spec);
// "all" or "dpo, kto"
std::string algorithms_text(const FieldSpec& spec);
// The README's config table: a header row, a separator and one row per key, each line ending in '\n'.
std::string config_reference_markdown();

}  // namespace ps
