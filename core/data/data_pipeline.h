// The data side of a run: read the train (and eval) file in whatever format it is, split,
// render with the chat template, tokenize and fit to the length limits. The trainer calls
// prepare_data() and gets token ids; nothing here needs tensors.
#pragma once
#include <string>
#include <vector>

#include "core/config/run_config.h"
#include "core/data/preference_data.h"
#include "core/data/tokenize.h"
#include "core/text/tokenizer.h"

namespace ps {

DataOptions data_options(const DataConfig& config);
TruncationOptions truncation_options(const DataConfig& config);

struct PreparedData {
    std::string format;         // detected format of the train file
    std::string template_name;  // resolved model.template
    bool unpaired = false;      // KTO examples: one row per group instead of a pair's two
    TokenRows train, eval;
    // The paired splits' text, by TokenRow::group (per-pair tracking shows it).
    std::vector<PreferencePair> train_text, eval_text;
    TokenizeStats train_stats, eval_stats;
    std::vector<std::string> warnings;  // the readers' warnings, one sentence each
    size_t implicit_prompts = 0;
    size_t train_size() const { return train.groups(); }
    size_t eval_size() const { return eval.groups(); }
};

// A run's examples as text, split into train and eval as prepare_data() splits them (the
// data.eval file, else a seeded data.eval_fraction split of the train file).
struct SplitText {
    std::string format;
    bool unpaired = false;
    std::vector<PreferencePair> train_pairs, eval_pairs;
    std::vector<UnpairedExample> train_examples, eval_examples;
    std::vector<std::string> warnings;
    size_t implicit_prompts = 0;
};
SplitText read_split(const RunConfig& config);

// A prompt to answer, for the studio's Samples panel and generation.
struct SamplePrompt {
    std::string text;           // what a person reads and edits: a standard prompt, or a
                                // conversation's last user message
    std::string rendered;       // what the tokenizer sees (chat template applied)
    std::vector<int64_t> ids;   // [BOS] + tokens, fitted to data.max_prompt_length as the run does
    long source_line = 0;       // in its file (0 for typed prompts)
    std::string expected;       // the chosen answer as written (the last assistant message of a
                                // conversation); a KTO file's desirable completion; else empty
};
// The first `count` distinct prompts of the run's eval split (of the train split when there is
// no eval split), rendered, tokenized and fitted exactly as prepare_data() does; examples the
// run drops (prompt too long) are skipped. Throws as prepare_data() does.
std::vector<SamplePrompt> sample_prompts(const RunConfig& config, const Tokenizer& tokenizer, size_t count);

// Throws DataError (file:line) for problems in the files, ConfigError for settings that do not
// fit the data (an eval file of another kind than the train file, every example dropped).
PreparedData prepare_data(const RunConfig& config, const Tokenizer& tokenizer);

}  // namespace ps
