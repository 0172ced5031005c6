// Preference examples as text, and the readers of every common file format, auto-detected or
// forced (DataOptions::format):
//   TRL preference      prompt?, chosen, rejected: strings (standard) or lists of {role, content}
//                       messages (conversational); without a prompt the prompt is the longest
//                       common prefix of chosen and rejected (TRL's implicit prompt).
//   TRL unpaired (KTO)  prompt, completion, label (bool): standard or conversational.
//   sharegpt            LLaMA-Factory: `conversations` of {from, value} (human/gpt/system) with
//                       single-message `chosen`/`rejected` (its dpo_en_demo.json), or `messages`
//                       of {role, content} with a boolean `label` (its kto_en_demo.json).
//   alpaca              LLaMA-Factory ranking: instruction, input?, chosen, rejected, system?,
//                       history? (or output + label for KTO).
// Files are JSON Lines or one JSON array, read as a stream (memory holds the examples kept, not
// the file). Field names can be remapped (DataOptions::columns / tags, as LLaMA-Factory's
// dataset_info.json). Problems are collected with file, line (or record) and field.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config/data_keys.h"
#include "core/text/chat_template.h"

namespace ps {

// One preference pair. Standard examples hold text in prompt/chosen/rejected; conversational
// ones (conversational == true) hold messages: the prompt ends with a user turn and each
// completion starts with an assistant turn.
struct PreferencePair {
    std::string prompt;
    std::string chosen;
    std::string rejected;
    long source_line = 0;  // 1-based line (JSONL) or record index (JSON array) in the file
    bool conversational = false;
    std::vector<ChatMessage> prompt_messages, chosen_messages, rejected_messages;
};

// One unpaired example (KTO): a completion labelled desirable or undesirable.
struct UnpairedExample {
    std::string prompt;
    std::string completion;
    bool desirable = true;
    long source_line = 0;
    bool conversational = false;
    std::vector<ChatMessage> prompt_messages, completion_messages;
};

// How to read a file. Column and tag names follow LLaMA-Factory's dataset_info.json:
// columns: prompt (TRL prompt / alpaca instruction), query (alpaca input), response (TRL
// completion / alpaca output), chosen, rejected, kto_tag (TRL label), messages (sharegpt
// conversations), system, history; tags: role_tag, content_tag, user_tag, assistant_tag,
// system_tag. Unset names take each format's defaults.
struct DataOptions {
    std::string format = "auto";  // auto | trl | sharegpt | alpaca
    std::map<std::string, std::string> columns;
    std::map<std::string, std::string> tags;
    size_t max_errors = 20;  // problems listed before reading stops
};


struct DataProblem {
    long line = 0;       // 1-based line of the record (or of the problem inside it); 0: whole file
    long column = 0;     // byte column for JSON and UTF-8 problems (also in the message), else 0
    long record = 0;     // 1-based record number
    std::string field;   // e.g. "chosen", "conversations[2].from"; empty when not about one field
    std::string message;
    std::string where(const std::string& path) const;  // "path:line"
    std::string text(const std::string& path) const;   // where + ": " + message
};

struct DataWarning {
    std::string kind;      // e.g. "chosen_equals_rejected"
    size_t count = 0;
    long first_line = 0;
    std::string message;   // one sentence with the count
};

struct PreferenceDataset {
    std::string path;
    std::string format;      // detected variant, e.g. "trl-standard", "sharegpt-kto"
    bool unpaired = false;   // examples in `unpaired_examples` instead of `pairs`
    bool json_array = false;
    std::vector<PreferencePair> pairs;
    std::vector<UnpairedExample> unpaired_examples;
    std::vector<std::string> warnings;       // one sentence each, e.g. chosen equal to rejected
    std::vector<DataWarning> warning_counts;  // the same, with counts
    std::vector<DataProblem> errors;          // filled only by scan_preference_file
    size_t records = 0;                       // records seen (valid or not)
    size_t implicit_prompts = 0;              // pairs whose prompt was extracted from chosen/rejected
    uint64_t bytes = 0;
    size_t size() const { return unpaired ? unpaired_examples.size() : pairs.size(); }
};

// Receives each valid example as it is read; return false to keep it out of the dataset
// (streaming consumers that only need statistics).
struct DataVisitor {
    std::function<bool(PreferencePair&)> pair;
    std::function<bool(UnpairedExample&)> unpaired;
};

// Reads the whole file. Throws DataError for the first problem (file:line: record, field,
// what and how to fix), naming how many more were found.
PreferenceDataset read_preference_file(const std::string& path, const DataOptions& options = {});

// Reads the file and collects problems (up to options.max_errors, then stops) instead of
// throwing; an unreadable or empty file is one problem. The visitor, when given, sees each
// valid example and decides whether it is kept in the returned dataset.
PreferenceDataset scan_preference_file(const std::string& path, const DataOptions& options = {},
                                       const DataVisitor* visitor = nullptr);

void write_preference_jsonl(const std::vector<PreferencePair>& pairs, const std::string& path);

// Deterministic split: a seeded shuffle, then the last round(fraction * n) items (at least one
// when fraction > 0 and n >= 2) become the eval split. Indices into the input.
void split_indices(size_t n, double eval_fraction, uint64_t seed, std::vector<size_t>& train,
                   std::vector<size_t>& eval);
void split_train_eval(const std::vector<PreferencePair>& all, double eval_fraction, uint64_t seed,
                      std::vector<PreferencePair>& train, std::vector<PreferencePair>& eval);

// TRL's implicit prompt: the longest common prefix of two texts (whole UTF-8 characters; a
// space just before the first difference goes to the completions, as TRL does).
size_t implicit_prompt_length(const std::string& chosen, const std::string& rejected);
// The same over messages: the number of leading messages chosen and rejected share.
size_t implicit_prompt_length(const std::vector<ChatMessage>& chosen, const std::vector<ChatMessage>& rejected);

}  // namespace ps
