#include "core/data/data_pipeline.h"

#include "core/common/errors.h"
#include "core/text/chat_template.h"

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

SplitText read_split(const RunConfig& c) {
    SplitText out;
    const DataOptions options = data_options(c.data);
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
    // Pairs and unpaired examples split alike: the eval file when there is one, else a seeded share.
    auto split = [&](auto& train_items, auto& eval_items, auto& to_train, auto& to_eval) {
        if (c.data.eval) {
            to_train = std::move(train_items);
            to_eval = std::move(eval_items);
            return;
        }
        std::vector<size_t> ti, ei;
        split_indices(train_items.size(), c.data.eval_fraction, seed, ti, ei);
        to_train = pick(train_items, ti);
        to_eval = pick(train_items, ei);
    };
    if (!train.unpaired)
        split(train.pairs, eval.pairs, out.train_pairs, out.eval_pairs);
    else
        split(train.unpaired_examples, eval.unpaired_examples, out.train_examples, out.eval_examples);
    return out;
}

PreparedData prepare_data(const RunConfig& c, const Tokenizer& tok) {
    PreparedData out;
    const TruncationOptions limits = truncation_options(c.data);
    std::string template_warning;
    out.template_name = resolve_template_name(c.model.chat_template, c.model.source, &template_warning);
    const ChatTemplate tmpl(out.template_name, c.model.template_kwargs);

    SplitText split = read_split(c);
    out.format = split.format;
    out.unpaired = split.unpaired;
    out.warnings = std::move(split.warnings);
    // auto falling back to plain matters where a conversation is rendered.
    auto conversational = [](const auto& items) {
        for (const auto& x : items)
            if (x.conversational) return true;
        return false;
    };
    if (!template_warning.empty() &&
        (conversational(split.train_pairs) || conversational(split.eval_pairs) ||
         conversational(split.train_examples) || conversational(split.eval_examples)))
        out.warnings.push_back(template_warning);
    out.implicit_prompts = split.implicit_prompts;
    if (!split.unpaired) {
        out.train = tokenize_rows(split.train_pairs, tok, tmpl, limits, out.train_stats);
        out.eval = tokenize_rows(split.eval_pairs, tok, tmpl, limits, out.eval_stats);
        out.train_text = std::move(split.train_pairs);
        out.eval_text = std::move(split.eval_pairs);
    } else {
        out.train = tokenize_rows(split.train_examples, tok, tmpl, limits, out.train_stats);
        out.eval = tokenize_rows(split.eval_examples, tok, tmpl, limits, out.eval_stats);
    }
    if (out.train_size() == 0)
        throw DataError(c.data.train, 0, "no " + std::string(out.unpaired ? "example" : "pair") +
                                             " fits data.max_prompt_length=" + std::to_string(c.data.max_prompt_length) +
                                             "; raise it, shorten the prompts or set data.truncation_mode to keep_end");
    return out;
}

namespace {

// What a person reads of a prompt: the text itself, or the last user message of a conversation.
std::string readable_prompt(bool conversational, const std::string& text, const std::vector<ChatMessage>& messages) {
    if (!conversational) return text;
    for (auto it = messages.rbegin(); it != messages.rend(); ++it)
        if (it->role == "user") return it->content;
    return messages.empty() ? std::string() : messages.back().content;
}

}  // namespace

std::vector<SamplePrompt> sample_prompts(const RunConfig& c, const Tokenizer& tok, size_t count) {
    const TruncationOptions limits = truncation_options(c.data);
    const ChatTemplate tmpl(resolve_template_name(c.model.chat_template, c.model.source), c.model.template_kwargs);
    const SplitText split = read_split(c);
    std::vector<SamplePrompt> out;
    auto add = [&](const std::string& rendered, std::vector<int64_t> ids, std::string text, long line,
                   std::string expected) {
        for (auto& s : out)
            if (s.rendered == rendered) {  // KTO files repeat a prompt for each completion
                if (s.expected.empty()) s.expected = std::move(expected);
                return;
            }
        out.push_back({std::move(text), rendered, std::move(ids), line, std::move(expected)});
    };
    // What a person reads of an answer: the text, or the conversation's last message.
    auto readable_answer = [](bool conversational, const std::string& text, const std::vector<ChatMessage>& messages) {
        if (!conversational) return text;
        return messages.empty() ? std::string() : messages.back().content;
    };
    TokenizeStats stats;
    if (!split.unpaired) {
        const auto& pairs = split.eval_pairs.empty() ? split.train_pairs : split.eval_pairs;
        for (const auto& p : pairs) {
            if (out.size() >= count) break;
            TokenizedPair t;
            if (!tokenize_pair(p, tok, tmpl, limits, stats, t)) continue;
            add(render_prompt_of(p, tmpl), std::move(t.prompt), readable_prompt(p.conversational, p.prompt, p.prompt_messages),
                p.source_line, readable_answer(p.conversational, p.chosen, p.chosen_messages));
        }
    } else {
        const auto& examples = split.eval_examples.empty() ? split.train_examples : split.eval_examples;
        for (const auto& e : examples) {
            if (out.size() >= count) break;
            TokenizedExample t;
            if (!tokenize_example(e, tok, tmpl, limits, stats, t)) continue;
            add(render_prompt_of(e, tmpl), std::move(t.prompt), readable_prompt(e.conversational, e.prompt, e.prompt_messages),
                e.source_line,
                e.desirable ? readable_answer(e.conversational, e.completion, e.completion_messages) : std::string());
        }
    }
    return out;
}

}  // namespace ps
