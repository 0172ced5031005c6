// From token rows to padded token tensors. A sequence is [BOS] prompt completion [EOS];
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

// The rows of the given groups, side by side: each group's first row, then each group's second
// (for pairs rows 0..B-1 are prompt+chosen, rows B..2B-1 prompt+rejected: one forward for both).
SequenceBatch collate_groups(const TokenRows& rows, const std::vector<size_t>& groups, int64_t pad_id);
// The same rows' pointers in that order.
std::vector<const TokenRow*> batch_rows(const TokenRows& rows, const std::vector<size_t>& groups);
// The desirable rows of the given groups only, in that order (the SFT warm-up learns them).
SequenceBatch collate_desirable(const TokenRows& rows, const std::vector<size_t>& groups, int64_t pad_id);
// KTO's mismatched pairs for its reference point: the rows of collate_groups, each prompt given
// the completion of the row before it (rotated by one, as TRL builds its KL completions), so no
// prompt keeps its own answer when there are two rows or more.
SequenceBatch collate_mismatched(const TokenRows& rows, const std::vector<size_t>& groups, int64_t pad_id);

}  // namespace ps
