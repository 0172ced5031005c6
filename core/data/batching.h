// From text pairs to padded token tensors. A sequence is [BOS] prompt completion [EOS];
// only completion tokens (EOS included) are scored, so the mask marks those positions.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/data/tokenize.h"

namespace ps {

// Right-padded [N, T] tensors. Right padding needs no attention mask under causal attention:
// real tokens come first and never attend to the padding after them.
struct SequenceBatch {
    torch::Tensor input_ids;        // int64 [N, T]
    torch::Tensor completion_mask;  // float [N, T], 1 where the token is a scored completion token
    int64_t real_tokens = 0;        // non-padding tokens in the batch
};

// Rows 0..B-1 are prompt+chosen, rows B..2B-1 prompt+rejected: one forward for both.
SequenceBatch collate_pairs(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id);
// Rows are prompt+chosen only (SFT warm-up).
SequenceBatch collate_chosen(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id);
// KTO's mismatched pairs for its reference point: the 2B examples (prompt_i, chosen_i) then
// (prompt_i, rejected_i), each given the completion of the example before it (rotated by one,
// as TRL builds its KL completions), so no prompt keeps its own answer when B > 1.
SequenceBatch collate_mismatched(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id);

// Unpaired (KTO) examples: one row per example, prompt + completion.
SequenceBatch collate_examples(const std::vector<const TokenizedExample*>& examples, int64_t pad_id);
// Their mismatched pairs for KTO's reference point: example j's prompt with the completion of
// example j-1 (rotated by one, as TRL builds its KL completions).
SequenceBatch collate_examples_mismatched(const std::vector<const TokenizedExample*>& examples, int64_t pad_id);

}  // namespace ps
