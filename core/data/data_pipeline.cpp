#include "data/data_pipeline.h"

#include "common/errors.h"
#include "text/chat_template.h"

namespace ps {

DataOptions data_options(const DataConfig& c) {
    DataOptions o;
    o.format = c.format;
    o.columns = c.columns;
    o.tags = c.tags;
    return o;
}

TruncationOptions truncation_options(const DataConfig& c) {
    TruncationOptions t;
    t.max_length = c.max_length;
    t.max_prompt_length = c.max_prompt_length;
    t.mode = c.truncation_mode;
    return t;
}

namespace {

template <typename T>
std::vector<T> pick(std::vector<T>& all, const std::vector<size_t>& idx) {
    std::vector<T> out;
    out.reserve(idx.size());
    for (size_t i : idx) out.push_back(std::move(all[i]));
    return out;
}

}  // namespace

PreparedData prepare_data(const RunConfig& c, const Tokenizer& tok) {
    PreparedData out;
    const DataOptions options = data_options(c.data);
    const TruncationOptions limits = truncation_options(c.data);
    out.template_name = resolve_template_name(c.model.chat_template, c.model.source);
    const ChatTemplate tmpl(out.template_name);

    PreferenceDataset train = read_preference_file(c.data.train, options);
    out.format = train.format;
    out.unpaired = train.unpaired;
    out.warnings = train.warnings;
    out.implicit_prompts = train.implicit_prompts;
    PreferenceDataset eval;
    if (c.data.eval) {
        eval = read_preference_file(*c.data.eval, options);
        if (eval.unpaired != train.unpaired)
            throw ConfigError("data.eval", "the eval file holds " + std::string(eval.unpaired ? "unpaired (KTO)" : "paired") +
                                               " examples (" + eval.format + ") but the train file holds " +
                                               (train.unpaired ? "unpaired" : "paired") + " ones (" + train.format +
                                               "); give both files the same kind");
        for (const auto& w : eval.warnings) out.warnings.push_back("eval file: " + w);
        out.implicit_prompts += eval.implicit_prompts;
    }
    const uint64_t seed = static_cast<uint64_t>(c.seed);
    if (!train.unpaired) {
        std::vector<PreferencePair> train_text, eval_text;
        if (c.data.eval) {
            train_text = std::move(train.pairs);
            eval_text = std::move(eval.pairs);
        } else {
            std::vector<size_t> ti, ei;
            split_indices(train.pairs.size(), c.data.eval_fraction, seed, ti, ei);
            train_text = pick(train.pairs, ti);
            eval_text = pick(train.pairs, ei);
        }
        out.train = tokenize_pairs(train_text, tok, tmpl, limits, out.train_stats);
        out.eval = tokenize_pairs(eval_text, tok, tmpl, limits, out.eval_stats);
        out.train_text = std::move(train_text);
        out.eval_text = std::move(eval_text);
    } else {
        std::vector<UnpairedExample> train_text, eval_text;
        if (c.data.eval) {
            train_text = std::move(train.unpaired_examples);
            eval_text = std::move(eval.unpaired_examples);
        } else {
            std::vector<size_t> ti, ei;
            split_indices(train.unpaired_examples.size(), c.data.eval_fraction, seed, ti, ei);
            train_text = pick(train.unpaired_examples, ti);
            eval_text = pick(train.unpaired_examples, ei);
        }
        out.train_examples = tokenize_unpaired(train_text, tok, tmpl, limits, out.train_stats);
        out.eval_examples = tokenize_unpaired(eval_text, tok, tmpl, limits, out.eval_stats);
    }
    if (out.train_size() == 0)
        throw DataError(c.data.train, 0, "no " + std::string(out.unpaired ? "example" : "pair") +
                                             " fits data.max_prompt_length=" + std::to_string(c.data.max_prompt_length) +
                                             "; raise it, shorten the prompts or set data.truncation_mode to keep_end");
    return out;
}

std::vector<size_t> batch_lengths(const std::vector<TokenizedPair>& pairs) {
    std::vector<size_t> out;
    out.reserve(pairs.size());
    for (const auto& p : pairs) out.push_back(pair_length(p));
    return out;
}

std::vector<size_t> batch_lengths(const std::vector<TokenizedExample>& examples) {
    std::vector<size_t> out;
    out.reserve(examples.size());
    for (const auto& e : examples) out.push_back(e.prompt.size() + e.completion.size());
    return out;
}

}  // namespace ps
