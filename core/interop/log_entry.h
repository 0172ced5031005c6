// Shared by the readers: a Trainer log entry (a dict of log_history, a console dict line, a
// LLaMA-Factory JSON line) sorted into train, eval or final summary and renamed to our metric
// names, and the text helpers the JSON-based formats need (NaN as Python's json writes it).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ps::interop {

enum class EntryKind { Train, Eval, Summary };

struct MappedEntry {
    EntryKind kind = EntryKind::Train;
    std::vector<std::pair<std::string, double>> values;  // our names; empty: nothing to plot
    nlohmann::json summary = nlohmann::json::object();    // kind Summary: the values as logged
};

// `entry`: a JSON object of one log. Keys in `skip` are not metrics (the step, progress fields).
// Train keys as logged; eval keys "eval_x" -> "eval/x", "eval_<set>_x" -> "eval/<set>/x" when the
// entry logs "eval_<set>_loss" (several eval sets); unprefixed keys of an eval entry (KTO's
// "kl") -> "eval/<key>". "epoch" is a train metric only. An entry whose only metric is "epoch"
// has no values. Numbers, NaN and infinities (as numbers or as the strings "NaN", "Infinity")
// are values; other types are not.
MappedEntry map_log_entry(const nlohmann::json& entry, const std::vector<std::string>& skip = {});

// A JSON value as a number: numbers, "NaN"/"nan"/"Infinity"/"inf"/"-Infinity"/"-inf", and a
// string that is one whole finite number ("16.25", "6.7e-05": transformers 5's console log);
// false for anything else (other strings, booleans, null, objects).
bool number_of(const nlohmann::json& value, double& out);

// JSON text as Python's json module writes it: bare NaN, Infinity and -Infinity (outside
// strings) become the strings "NaN", "Infinity", "-Infinity", so a strict parser reads them.
std::string quote_nonfinite(const std::string& text);
// Parses JSON text that may hold Python's NaN/Infinity; discarded (is_discarded()) when invalid.
nlohmann::json parse_python_json(const std::string& text);

// A Python literal of the kind the Trainer prints ({'loss': 0.69, 'epoch': 0.01}): dicts,
// lists/tuples, quoted strings, numbers (nan, inf), True/False/None. Starts at text[pos]; on
// success sets `end` past it. Discarded when the text is not one (or is cut short).
nlohmann::json parse_python_literal(const std::string& text, size_t pos, size_t& end);

// "0:01:23", "2:30:03", "3 days, 17:51:32" -> seconds; NaN when it is none of these.
double parse_elapsed(const std::string& text);

// A YAML file as JSON (scalars typed: integers, reals, booleans, null, else strings). Throws
// DataError naming the file when it cannot be read or parsed.
nlohmann::json read_yaml_as_json(const std::string& path);

}  // namespace ps::interop
