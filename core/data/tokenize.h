// From text examples to token ids: chat template, BOS/EOS, truncation. No tensors here (see
// batching.h), so the CLI, the studio and the benchmarks use it without libtorch headers.
//
// A sequence is prompt then completion. Only completion tokens count in log-probs.
//   prompt     = [BOS] + tokens of the rendered prompt (conversational examples end with the
//                template's generation prompt). BOS is added when the tokenizer has one and the
//                rendered prompt does not already start with it.
//   completion = tokens of the rendered completion, + EOS for standard (text) examples and for
//                the plain template (chat templates end the completion with their own
//                end-of-turn marker).
// Standard examples are used verbatim whatever the template, as TRL does; conversational
// ones (TRL messages, sharegpt, alpaca) go through the template.
#pragma once
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/config/config_choices.h"
#include "core/config/data_keys.h"
#include "core/data/preference_data.h"
#include "core/text/chat_template.h"
#include "core/text/tokenizer.h"

namespace ps {

// One example's token ids as the tokenizer gives them (before the trainer takes them as rows).
struct TokenizedPair {
    std::vector<int64_t> prompt;    // [BOS] + prompt tokens
    std::vector<int64_t> chosen;    // completion tokens (+ EOS)
    std::vector<int64_t> rejected;  // completion tokens (+ EOS)
};

// An unpaired (KTO) example.
struct TokenizedExample {
    std::vector<int64_t> prompt;
    std::vector<int64_t> completion;
    bool desirable = true;
};

// One scored sequence, the unit the trainer batches: its group's prompt, then its completion.
// Paired and unpaired data are the same rows: a pair is a group of two rows (its chosen answer,
// then its rejected one) sharing one prompt; an unpaired (KTO) example is a group of one.
struct TokenRow {
    std::vector<int64_t> completion;  // completion tokens (+ EOS)
    size_t group = 0;                 // its group's position in the split (TokenRows::prompt)
    bool desirable = true;            // a pair's chosen answer, or an example labelled desirable
};

// A tokenized split: groups in the split's order (the examples the length limits dropped left
// out), each a prompt and `rows_per_group` consecutive rows: group g is rows[g * rows_per_group
// ...]. The prompt is kept once per group.
struct TokenRows {
    size_t rows_per_group = 1;                  // 2: preference pairs (chosen, rejected); 1: unpaired examples
    std::vector<TokenRow> rows;
    std::vector<std::vector<int64_t>> prompts;  // per group: [BOS] + prompt tokens
    std::vector<size_t> sources;                // per group: the example's position in the split's text

    size_t groups() const { return prompts.size(); }
    bool empty() const { return prompts.empty(); }
    const TokenRow& row(size_t group, size_t side = 0) const { return rows[group * rows_per_group + side]; }
    const std::vector<int64_t>& prompt(size_t group) const { return prompts[group]; }
    // Tokens of a row: its prompt and completion.
    size_t length(const TokenRow& row) const { return prompts[row.group].size() + row.completion.size(); }
    // Padded length of a batch row of this group: its prompt and longest completion.
    size_t group_length(size_t group) const;
    // One pair or example appended as the next group; `source` is its position in the split's text.
    void add(TokenizedPair&& pair, size_t source);
    void add(TokenizedExample&& example, size_t source);
    // Another split's groups (of the same kind) appended after these, their sources kept.
    void append(const TokenRows& other);
};

// How sequences are fitted to the length limits (data.max_length, data.max_prompt_length,
// data.truncation_mode).
struct TruncationOptions {
    int max_length = 256;         // prompt + completion tokens
    int max_prompt_length = 128;  // prompt tokens (BOS and template tokens included)
    // A prompt over max_prompt_length is: Drop: the example is dropped and counted (never
    // cut); KeepEnd: cut to its last tokens (TRL's default: the question's end and the
    // generation prompt stay; a leading BOS is kept); KeepStart: cut to its first tokens.
    TruncationMode mode = TruncationMode::Drop;
};


struct TokenizeStats {
    size_t kept = 0;
    size_t dropped_prompt_too_long = 0;  // prompt over max_prompt_length, mode "drop": dropped, counted
    size_t truncated_prompts = 0;        // prompt cut to max_prompt_length (keep_end / keep_start)
    size_t truncated_completions = 0;    // a completion cut (keep start) to fit max_length
    void add(const TokenizeStats& o) {
        kept += o.kept;
        dropped_prompt_too_long += o.dropped_prompt_too_long;
        truncated_prompts += o.truncated_prompts;
        truncated_completions += o.truncated_completions;
    }
};

// The text the tokenizer sees for one example.
struct RenderedPair {
    std::string prompt, chosen, rejected;
    bool append_eos = true;
};
struct RenderedExample {
    std::string prompt, completion;
    bool append_eos = true;
};
RenderedPair render_pair(const PreferencePair& pair, const ChatTemplate& tmpl);
RenderedExample render_example(const UnpairedExample& example, const ChatTemplate& tmpl);

// Prompts for generation, rendered and tokenized as the training data's prompts are, so a
// model's answers can be compared with what it was trained on.
// A typed text is one user turn through a chat template (the template's generation prompt at
// the end); under the plain template it is used verbatim, as plain models are trained on
// standard (text) prompts, which the pipeline never changes.
std::string render_text_prompt(const std::string& text, const ChatTemplate& tmpl);
// A dataset example's prompt exactly as render_pair / render_example render it.
std::string render_prompt_of(const PreferencePair& pair, const ChatTemplate& tmpl);
std::string render_prompt_of(const UnpairedExample& example, const ChatTemplate& tmpl);
// [BOS] + tokens of a rendered prompt: BOS when the tokenizer has one and the text does not
// already start with it (what encode_pair does with a prompt).
std::vector<int64_t> prompt_token_ids(const std::string& rendered_prompt, const Tokenizer& tokenizer);

// A split's pairs (two rows each) or unpaired examples (one row each), tokenized and fitted.
TokenRows tokenize_rows(const std::vector<PreferencePair>& pairs, const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                        const TruncationOptions& limits, TokenizeStats& stats);
TokenRows tokenize_rows(const std::vector<UnpairedExample>& examples, const Tokenizer& tokenizer,
                        const ChatTemplate& tmpl, const TruncationOptions& limits, TokenizeStats& stats);
// Plain template, prompts over the limit dropped.
TokenRows tokenize_rows(const std::vector<PreferencePair>& pairs, const Tokenizer& tokenizer, int max_length,
                        int max_prompt_length, TokenizeStats& stats);

// One pair or example, tokenized and fitted; false when it is dropped (stats count why).
bool tokenize_pair(const PreferencePair& pair, const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                   const TruncationOptions& limits, TokenizeStats& stats, TokenizedPair& out);
bool tokenize_example(const UnpairedExample& example, const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                      const TruncationOptions& limits, TokenizeStats& stats, TokenizedExample& out);

// The same in two steps: the full token ids (no limit applied), then fitted to the limits.
void encode_pair(const PreferencePair& pair, const Tokenizer& tokenizer, const ChatTemplate& tmpl, TokenizedPair& out);
void encode_example(const UnpairedExample& example, const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                    TokenizedExample& out);
bool fit_pair(TokenizedPair& pair, const Tokenizer& tokenizer, const TruncationOptions& limits, TokenizeStats& stats);
bool fit_example(TokenizedExample& example, const Tokenizer& tokenizer, const TruncationOptions& limits,
                 TokenizeStats& stats);

// Per group, the length the batch sampler groups by (TokenRows::group_length).
std::vector<size_t> group_lengths(const TokenRows& rows);

// Endless passes over a split, a new seeded order each epoch. With group_by_length, each
// epoch's shuffled order is cut into mega-batches of 50 batches, each mega-batch sorted by
// length (longest first) and cut into batches, and the batches shuffled (Hugging Face's
// LengthGroupedSampler, with the batch order shuffled too): batches hold examples of similar
// length, so little of each padded batch is padding. Without it, the order is the plain
// shuffle. Same seed, same batches.
class BatchSampler {
public:
    BatchSampler(size_t n, uint64_t seed);  // no grouping
    BatchSampler(std::vector<size_t> lengths, size_t batch_size, uint64_t seed, bool group_by_length);
    std::vector<size_t> next(size_t batch);
    // The batches of one epoch as next(batch_size) would return them from a fresh sampler.
    std::vector<std::vector<size_t>> epoch_batches();
    // Where the sampler is (the epoch's order, the position in it, the shuffling generator),
    // as text: a checkpoint stores it and restore() continues the same sequence of batches.
    std::string state() const;
    // Throws DataError when `state` is not one of a sampler over the same number of items.
    void restore(const std::string& state);

private:
    void new_epoch();
    std::vector<size_t> lengths_;
    size_t batch_size_ = 1;
    bool group_ = false;
    std::vector<size_t> order_;
    std::mt19937_64 rng_;
    size_t pos_ = 0;
};

// Share of the tokens of padded batches that are padding, over the given batches of groups:
// every row of a group is a batch row, padded to the batch's longest row, as collate_groups does.
double padding_fraction(const TokenRows& rows, const std::vector<std::vector<size_t>>& batches);

}  // namespace ps
