// Reference log-probs on disk. The reference model is fully determined by the model source,
// seed, SFT warm-up settings, data and thread count, so its log-probs are stored under a key
// made of those and reused by any later run with the same key (a new beta, another algorithm
// on the same reference): that run skips the reference pass over the whole data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/run_config.h"

namespace ps {

struct ReferenceLogps {
    std::vector<float> train_chosen, train_rejected, eval_chosen, eval_rejected;
};

// $PREFSTUDIO_CACHE_DIR, else $XDG_CACHE_HOME/prefstudio, else ~/.cache/prefstudio; with
// "/reference-logps" appended.
std::string reference_cache_dir();

// Hex key of everything that determines the reference log-probs (file contents included).
// `sft_steps_done` is the number of warm-up steps the reference actually went through (eval
// skips the warm-up, so its reference is the untrained model whatever sft.steps says).
std::string reference_cache_key(const RunConfig& config, int threads, int64_t sft_steps_done);

// Reads the cache file of `key`. Invalid: unreadable, of other sizes, of an older format, or
// failing its checksum (a damaged file is never trained on); the caller then computes the
// log-probs and writes the file again. Never throws.
enum class ReferenceCacheRead { Loaded, Missing, Invalid };
ReferenceCacheRead load_reference_logps(const std::string& key, size_t n_train, size_t n_eval, ReferenceLogps& out);

// Writes atomically (temporary file + rename). Returns an empty string on success, else the
// reason; a failed write never fails the run.
std::string save_reference_logps(const std::string& key, const ReferenceLogps& logps);

}  // namespace ps
