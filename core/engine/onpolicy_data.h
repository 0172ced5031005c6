// On-policy rejected answers: the remedy for preference data whose rejected answers the model
// would never say. The reference model of a run (after its SFT warm-up, exactly as the run
// builds it) answers every prompt of data.train; its answer becomes the pair's rejected answer,
// the chosen answer stays. `prefstudio-cli make-data onpolicy` and the studio's "clone with
// remedy" write such a dataset. No torch in this header.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/config/run_config.h"

namespace ps {

class RunControl;

struct OnPolicyOptions {
    std::string out;             // the JSONL file to write (TRL format)
    int samples = 4;             // tries per prompt to get an answer that differs from the chosen one
    double temperature = 1.0;    // sampling from the model as it is (0 = greedy: one try only)
    double top_p = 1.0;
    int top_k = 0;
    int max_new_tokens = 0;      // 0: the longest answer of the data (within data.max_length)
    // Sampling seed (the reference model itself follows the config's seed). Prompts go in the
    // file's order; try t of the batch starting at row b samples with generation seed
    // seed * 1000003 + t * 7919 + b (row r of it: the stream (that seed, r - b)).
    uint64_t seed = 0;
    int batch_size = 32;         // prompts generated together
    void validate() const;       // throws ConfigError naming the option
};

struct OnPolicyReport {
    std::string path;
    size_t pairs = 0;            // pairs written: every pair of data.train
    size_t sampled = 0;          // of them with a sampled rejected answer
    size_t kept_original = 0;    // every try repeated the chosen answer: the original rejected kept
    size_t unfinished = 0;       // sampled answers cut at max_new_tokens (no end-of-sequence)
    size_t skipped_by_limits = 0;  // pairs the length limits drop in training too: written unchanged
    int64_t reference_sft_steps = 0;
    int max_new_tokens = 0;
    double seconds = 0.0;
    // One example, for the summary: the first pair whose rejected answer was sampled.
    std::string example_prompt, example_chosen, example_original_rejected, example_sampled_rejected;
};

// phase: "reference" (building the model: done/total = SFT steps), "sample" (prompts done of
// all) or "resample" (later tries, for the prompts whose answer repeated the chosen one).
using OnPolicyProgress = std::function<void(const std::string& phase, int64_t done, int64_t total)>;

// Writes the dataset (atomically: a reader never sees half a file) and reports what it did.
// Same config, options and seed: the same file on the same machine and thread count.
// Throws ps::Error for bad input, ps::Cancelled when `control` is asked to stop.
OnPolicyReport make_onpolicy_data(const RunConfig& config, const OnPolicyOptions& options, RunControl& control,
                                  const OnPolicyProgress& progress = {});

// Where the studio writes the on-policy data of `config`: next to data.train, named after it
// and a hash of what decides the reference model and the sampling, so an unchanged
// experiment reuses its file and a changed one gets a new file.
std::string default_onpolicy_path(const RunConfig& config, const OnPolicyOptions& options = {});

}  // namespace ps
