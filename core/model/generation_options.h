// Decoding settings and results, without torch: shared by the generation core, the CLI and
// the studio's Samples panel.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace ps {

struct GenerationOptions {
    int max_new_tokens = 64;
    // 0 = greedy (argmax; top_k and top_p are ignored). Otherwise logits are divided by the
    // temperature, then filtered by top_k and top_p (in that order, as transformers does),
    // then sampled.
    double temperature = 0.0;
    int top_k = 0;       // keep the k most likely tokens; 0 = off
    double top_p = 1.0;  // keep the smallest set whose probability reaches top_p; 1 = off
    uint64_t seed = 0;   // row i of a batch samples from its own stream seeded with (seed, i)
    std::vector<int64_t> stop_ids;  // a row stops after producing one of these (not included in its tokens)
    // When set and it turns true, generation stops before the next token: unfinished rows keep
    // what they have with finish_reason "cancelled" (the studio's Cancel button).
    const std::atomic<bool>* cancel = nullptr;

    void validate() const;  // throws ModelError naming the bad field
};

struct GeneratedSequence {
    std::vector<int64_t> tokens;        // new tokens only, the stop token excluded
    std::string finish_reason;          // "stop" (a stop id), "length" (max_new_tokens) or "cancelled"
};

}  // namespace ps
