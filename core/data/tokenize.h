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

#include "core/config/data_keys.h"
#include "core/data/preference_data.h"
#include "core/text/chat_template.h"
#include "core/text/tokenizer.h"

namespace ps {

struct TokenizedPair {
    std::vector<int64_t> prompt;    // [BOS] + prompt tokens
    std::vector<int64_t> chosen;    // completion tokens (+ EOS)
    std::vector<int64_t> rejected;  // completion tokens (+ EOS)
    size_t index = 0;               // position in the split it came from
};

// An unpaired (KTO) example.
struct TokenizedExample {
    std::vector<int64_t> prompt;
    std::vector<int64_t> completion;
    bool desirable = true;
    size_t index = 0;
};

// How sequences are fitted to the length limits (data.max_length, data.max_prompt_length,
// data.truncation_mode).
struct TruncationOptions {
    int max_length = 256;         // prompt + completion tokens
    int max_prompt_length = 128;  // prompt tokens (BOS and template tokens included)
    // A prompt over max_prompt_length is: "drop": the example is dropped and counted (never
    // cut); "keep_end": cut to its last tokens (TRL's default: the question's end and the
    // generation prompt stay; a leading BOS is kept); "keep_start": cut to its first tokens.
    std::string mode = "drop";
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

std::vector<TokenizedPair> tokenize_pairs(const std::vector<PreferencePair>& pairs, const Tokenizer& tokenizer,
                                          const ChatTemplate& tmpl, const TruncationOptions& limits,
                                          TokenizeStats& stats);
std::vector<TokenizedExample> tokenize_unpaired(const std::vector<UnpairedExample>& examples,
                                                const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                                                const TruncationOptions& limits, TokenizeStats& stats);
// Plain template, prompts over the limit dropped.
std::vector<TokenizedPair> tokenize_pairs(const std::vector<PreferencePair>& pairs, const Tokenizer& tokenizer,
                                          int max_length, int max_prompt_length, TokenizeStats& stats);

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

// Padded length of a row holding this pair (both of its rows pad to the longer completion).
inline size_t pair_length(const TokenizedPair& p) {
    return p.prompt.size() + std::max(p.chosen.size(), p.rejected.size());
}

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

private:
    void new_epoch();
    std::vector<size_t> lengths_;
    size_t batch_size_ = 1;
    bool group_ = false;
    std::vector<size_t> order_;
    std::mt19937_64 rng_;
    size_t pos_ = 0;
};

// Share of the tokens of padded batches that are padding, over the given batches: pairs give
// two rows each (chosen, rejected), padded to the batch's longest row, as collate_pairs does.
double padding_fraction(const std::vector<TokenizedPair>& pairs, const std::vector<std::vector<size_t>>& batches);
double padding_fraction(const std::vector<TokenizedExample>& examples, const std::vector<std::vector<size_t>>& batches);

}  // namespace ps
