// What a dataset holds, before a run: detected format, counts (kept, dropped and why),
// token-length percentiles, the length bias of the pairs, problems and warnings, and the
// first examples rendered with the template. Computed in one streaming pass; the CLI's
// `data` command prints it, the studio's dataset page shows it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/preference_data.h"
#include "core/data/tokenize.h"
#include "core/text/tokenizer.h"

namespace ps {

struct SummaryOptions {
    DataOptions data;
    TruncationOptions limits;
    std::string template_name = "plain";
    nlohmann::json template_kwargs = nlohmann::json::object();  // model.template_kwargs
    size_t keep_examples = 3;  // examples kept rendered (the preview; the studio keeps more to browse)
};

struct LengthPercentiles {
    size_t count = 0;
    double mean = 0;
    size_t min = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
};
// Nearest-rank percentiles of the values (sorted in place).
LengthPercentiles length_percentiles(std::vector<uint32_t> values);

struct ExamplePreview {
    long source_line = 0;      // line (JSONL) or record (JSON array)
    std::string prompt;        // rendered with the template, as the model sees it
    std::string chosen;        // unpaired: the completion
    std::string rejected;      // unpaired: empty
    bool desirable = true;     // unpaired only
    size_t prompt_tokens = 0, chosen_tokens = 0, rejected_tokens = 0;  // before truncation
    bool dropped = false;      // prompt over max_prompt_length with truncation_mode drop
};

struct DatasetSummary {
    std::string path;
    std::string format;
    std::string template_name;
    std::string tokenizer;
    bool unpaired = false;
    bool json_array = false;
    uint64_t bytes = 0;
    size_t records = 0;                 // records in the file, valid or not
    size_t examples = 0;                // valid pairs (or unpaired examples)
    TokenizeStats fit;                  // kept / dropped / truncated under the limits
    TruncationOptions limits;
    size_t implicit_prompts = 0;
    std::vector<DataProblem> errors;
    std::vector<DataWarning> warnings;
    // Token lengths before truncation. Unpaired: `chosen` holds desirable completions,
    // `rejected` undesirable ones.
    std::vector<uint32_t> prompt_lengths, chosen_lengths, rejected_lengths;
    size_t chosen_longer = 0, rejected_longer = 0, same_length = 0;  // pairs only
    size_t desirable = 0, undesirable = 0;                             // unpaired only
    std::vector<ExamplePreview> preview;

    double chosen_longer_share() const {
        const size_t n = chosen_longer + rejected_longer + same_length;
        return n ? static_cast<double>(chosen_longer) / static_cast<double>(n) : 0.0;
    }
    bool ok() const { return errors.empty(); }
    nlohmann::json to_json() const;
};

// Never throws for problems in the file (they are in `errors`); throws ConfigError for an
// unknown template name.
DatasetSummary summarize_dataset(const std::string& path, const Tokenizer& tokenizer, const SummaryOptions& options);

// Where two texts differ: the lengths (bytes, on UTF-8 character boundaries) of their common
// prefix and common suffix (not overlapping). Used to highlight what differs between a chosen
// and a rejected answer.
struct DiffSpan {
    size_t prefix = 0, suffix = 0;
};
DiffSpan diff_span(const std::string& a, const std::string& b);

}  // namespace ps
