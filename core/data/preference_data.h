// Preference examples as text, and the TRL JSONL reader (standard format:
// {"prompt": ..., "chosen": ..., "rejected": ...}, one object per line, or a JSON array).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ps {

struct PreferencePair {
    std::string prompt;
    std::string chosen;
    std::string rejected;
    long source_line = 0;  // 1-based line (JSONL) or record index (JSON array) in the file
};

struct PreferenceDataset {
    std::string path;
    std::string format;  // "trl-standard"
    std::vector<PreferencePair> pairs;
    std::vector<std::string> warnings;  // one sentence each, e.g. chosen equal to rejected
};

// Throws DataError with file:line for malformed JSON, missing or mistyped fields, an empty file.
PreferenceDataset read_preference_file(const std::string& path);

void write_preference_jsonl(const std::vector<PreferencePair>& pairs, const std::string& path);

// Deterministic split: a seeded shuffle, then the last round(fraction * n) pairs (at least one
// when fraction > 0 and n >= 2) become the eval split.
void split_train_eval(const std::vector<PreferencePair>& all, double eval_fraction, uint64_t seed,
                      std::vector<PreferencePair>& train, std::vector<PreferencePair>& eval);

}  // namespace ps
