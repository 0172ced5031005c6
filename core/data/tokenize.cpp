#include "core/data/tokenize.h"

#include <numeric>
#include <sstream>

#include "core/common/errors.h"

namespace ps {

std::string render_text_prompt(const std::string& text, const ChatTemplate& tmpl) {
    if (tmpl.name() == "plain") return text;
    return tmpl.render_prompt({ChatMessage{"user", text}});
}

std::string render_prompt_of(const PreferencePair& p, const ChatTemplate& tmpl) {
    return p.conversational ? tmpl.render_prompt(p.prompt_messages) : p.prompt;
}

std::string render_prompt_of(const UnpairedExample& e, const ChatTemplate& tmpl) {
    return e.conversational ? tmpl.render_prompt(e.prompt_messages) : e.prompt;
}

RenderedPair render_pair(const PreferencePair& p, const ChatTemplate& tmpl) {
    RenderedPair r;
    if (!p.conversational) {
        r.prompt = p.prompt;
        r.chosen = p.chosen;
        r.rejected = p.rejected;
        r.append_eos = true;
        return r;
    }
    // One prompt for both answers, as TRL splits a conversational pair.
    ChatSplit s = tmpl.split(p.prompt_messages, {p.chosen_messages, p.rejected_messages});
    r.prompt = std::move(s.prompt);
    r.chosen = std::move(s.completions[0]);
    r.rejected = std::move(s.completions[1]);
    r.append_eos = tmpl.appends_eos();
    return r;
}

RenderedExample render_example(const UnpairedExample& e, const ChatTemplate& tmpl) {
    RenderedExample r;
    if (!e.conversational) {
        r.prompt = e.prompt;
        r.completion = e.completion;
        r.append_eos = true;
        return r;
    }
    ChatSplit s = tmpl.split(e.prompt_messages, {e.completion_messages});
    r.prompt = std::move(s.prompt);
    r.completion = std::move(s.completions[0]);
    r.append_eos = tmpl.appends_eos();
    return r;
}

namespace {

// Prompt ids fitted to max_prompt_length; false when the example must be dropped.
bool fit_prompt(std::vector<int64_t>& ids, const Tokenizer& tok, const TruncationOptions& limits, TokenizeStats& stats) {
    const size_t max = static_cast<size_t>(limits.max_prompt_length);
    if (ids.size() <= max) return true;
    switch (limits.mode) {
        case TruncationMode::KeepStart: ids.resize(max); break;
        case TruncationMode::KeepEnd: {
            const auto bos = tok.bos_id();
            const bool keep_bos = bos && !ids.empty() && ids[0] == *bos && max >= 2;
            std::vector<int64_t> out;
            out.reserve(max);
            if (keep_bos) out.push_back(*bos);
            out.insert(out.end(), ids.end() - static_cast<long>(max - out.size()), ids.end());
            ids.swap(out);
            break;
        }
        case TruncationMode::Drop: ++stats.dropped_prompt_too_long; return false;
    }
    ++stats.truncated_prompts;
    return true;
}

}  // namespace

std::vector<int64_t> prompt_token_ids(const std::string& text, const Tokenizer& tok) {
    std::vector<int64_t> ids;
    auto body = tok.encode(text);
    const auto bos = tok.bos_id();
    if (bos && (body.empty() || body[0] != *bos)) {
        ids.reserve(body.size() + 1);
        ids.push_back(*bos);
        ids.insert(ids.end(), body.begin(), body.end());
        return ids;
    }
    return body;
}

void encode_pair(const PreferencePair& pair, const Tokenizer& tok, const ChatTemplate& tmpl, TokenizedPair& t) {
    const RenderedPair r = render_pair(pair, tmpl);
    t.prompt = prompt_token_ids(r.prompt, tok);
    t.chosen = tok.encode(r.chosen);
    t.rejected = tok.encode(r.rejected);
    if (r.append_eos) {
        t.chosen.push_back(tok.eos_id());
        t.rejected.push_back(tok.eos_id());
    }
}

void encode_example(const UnpairedExample& e, const Tokenizer& tok, const ChatTemplate& tmpl, TokenizedExample& t) {
    const RenderedExample r = render_example(e, tmpl);
    t.prompt = prompt_token_ids(r.prompt, tok);
    t.completion = tok.encode(r.completion);
    if (r.append_eos) t.completion.push_back(tok.eos_id());
    t.desirable = e.desirable;
}

namespace {
bool cut(std::vector<int64_t>& ids, size_t room) {
    if (ids.size() <= room) return false;
    ids.resize(room);  // keep the start, as TRL cuts completions
    return true;
}
}  // namespace

bool fit_pair(TokenizedPair& t, const Tokenizer& tok, const TruncationOptions& limits, TokenizeStats& stats) {
    if (!fit_prompt(t.prompt, tok, limits, stats)) return false;
    const size_t room = static_cast<size_t>(limits.max_length) - t.prompt.size();
    const bool a = cut(t.chosen, room), b = cut(t.rejected, room);
    if (a || b) ++stats.truncated_completions;
    ++stats.kept;
    return true;
}

bool fit_example(TokenizedExample& t, const Tokenizer& tok, const TruncationOptions& limits, TokenizeStats& stats) {
    if (!fit_prompt(t.prompt, tok, limits, stats)) return false;
    const size_t room = static_cast<size_t>(limits.max_length) - t.prompt.size();
    if (cut(t.completion, room)) ++stats.truncated_completions;
    ++stats.kept;
    return true;
}

bool tokenize_pair(const PreferencePair& pair, const Tokenizer& tok, const ChatTemplate& tmpl,
                   const TruncationOptions& limits, TokenizeStats& stats, TokenizedPair& t) {
    encode_pair(pair, tok, tmpl, t);
    return fit_pair(t, tok, limits, stats);
}

bool tokenize_example(const UnpairedExample& e, const Tokenizer& tok, const ChatTemplate& tmpl,
                      const TruncationOptions& limits, TokenizeStats& stats, TokenizedExample& t) {
    encode_example(e, tok, tmpl, t);
    return fit_example(t, tok, limits, stats);
}

size_t TokenRows::group_length(size_t group) const {
    size_t completion = 0;
    for (size_t side = 0; side < rows_per_group; ++side) completion = std::max(completion, row(group, side).completion.size());
    return prompts[group].size() + completion;
}

void TokenRows::add(TokenizedPair&& pair, size_t source) {
    const size_t group = groups();
    prompts.push_back(std::move(pair.prompt));
    sources.push_back(source);
    rows.push_back({std::move(pair.chosen), group, true});
    rows.push_back({std::move(pair.rejected), group, false});
}

void TokenRows::add(TokenizedExample&& example, size_t source) {
    const size_t group = groups();
    prompts.push_back(std::move(example.prompt));
    sources.push_back(source);
    rows.push_back({std::move(example.completion), group, example.desirable});
}

void TokenRows::append(const TokenRows& other) {
    const size_t offset = groups();
    prompts.insert(prompts.end(), other.prompts.begin(), other.prompts.end());
    sources.insert(sources.end(), other.sources.begin(), other.sources.end());
    for (TokenRow r : other.rows) {
        r.group += offset;
        rows.push_back(std::move(r));
    }
}

TokenRows tokenize_rows(const std::vector<PreferencePair>& pairs, const Tokenizer& tok, const ChatTemplate& tmpl,
                        const TruncationOptions& limits, TokenizeStats& stats) {
    TokenRows out;
    out.rows_per_group = 2;
    for (size_t i = 0; i < pairs.size(); ++i) {
        TokenizedPair t;
        if (tokenize_pair(pairs[i], tok, tmpl, limits, stats, t)) out.add(std::move(t), i);
    }
    return out;
}

TokenRows tokenize_rows(const std::vector<UnpairedExample>& examples, const Tokenizer& tok, const ChatTemplate& tmpl,
                        const TruncationOptions& limits, TokenizeStats& stats) {
    TokenRows out;
    out.rows_per_group = 1;
    for (size_t i = 0; i < examples.size(); ++i) {
        TokenizedExample t;
        if (tokenize_example(examples[i], tok, tmpl, limits, stats, t)) out.add(std::move(t), i);
    }
    return out;
}

TokenRows tokenize_rows(const std::vector<PreferencePair>& pairs, const Tokenizer& tok, int max_length,
                        int max_prompt_length, TokenizeStats& stats) {
    TruncationOptions limits;
    limits.max_length = max_length;
    limits.max_prompt_length = max_prompt_length;
    limits.mode = TruncationMode::Drop;
    return tokenize_rows(pairs, tok, ChatTemplate("plain"), limits, stats);
}

std::vector<size_t> group_lengths(const TokenRows& rows) {
    std::vector<size_t> out(rows.groups());
    for (size_t g = 0; g < out.size(); ++g) out[g] = rows.group_length(g);
    return out;
}

BatchSampler::BatchSampler(size_t n, uint64_t seed) : order_(n), rng_(seed) {
    std::iota(order_.begin(), order_.end(), size_t{0});
    std::shuffle(order_.begin(), order_.end(), rng_);
}

BatchSampler::BatchSampler(std::vector<size_t> lengths, size_t batch_size, uint64_t seed, bool group_by_length)
    : lengths_(std::move(lengths)), batch_size_(std::max<size_t>(1, batch_size)), group_(group_by_length),
      order_(lengths_.size()), rng_(seed) {
    std::iota(order_.begin(), order_.end(), size_t{0});
    new_epoch();
}

void BatchSampler::new_epoch() {
    std::shuffle(order_.begin(), order_.end(), rng_);
    pos_ = 0;
    if (!group_ || order_.size() <= batch_size_) return;
    const size_t mega = batch_size_ * 50;
    std::vector<std::vector<size_t>> batches;
    for (size_t m = 0; m < order_.size(); m += mega) {
        auto first = order_.begin() + static_cast<long>(m);
        auto last = order_.begin() + static_cast<long>(std::min(order_.size(), m + mega));
        std::stable_sort(first, last, [&](size_t a, size_t b) { return lengths_[a] > lengths_[b]; });
        for (auto b = first; b < last; b += static_cast<long>(std::min<size_t>(batch_size_, static_cast<size_t>(last - b))))
            batches.emplace_back(b, b + static_cast<long>(std::min<size_t>(batch_size_, static_cast<size_t>(last - b))));
    }
    // Full batches in a shuffled order; a short last batch stays last so that every batch
    // next() returns within the epoch is one group.
    std::vector<std::vector<size_t>> full, partial;
    for (auto& b : batches) (b.size() == batch_size_ ? full : partial).push_back(std::move(b));
    std::shuffle(full.begin(), full.end(), rng_);
    order_.clear();
    for (auto* group : {&full, &partial})
        for (const auto& b : *group) order_.insert(order_.end(), b.begin(), b.end());
}

std::vector<size_t> BatchSampler::next(size_t batch) {
    std::vector<size_t> out;
    out.reserve(batch);
    while (out.size() < batch && !order_.empty()) {
        if (pos_ == order_.size()) new_epoch();
        out.push_back(order_[pos_++]);
    }
    return out;
}

std::string BatchSampler::state() const {
    std::ostringstream out;
    out << pos_ << ' ' << order_.size();
    for (size_t i : order_) out << ' ' << i;
    out << ' ' << rng_;
    return out.str();
}

void BatchSampler::restore(const std::string& state) {
    std::istringstream in(state);
    size_t pos = 0, n = 0;
    in >> pos >> n;
    std::vector<size_t> order(in ? n : 0);
    for (auto& i : order) in >> i;
    std::mt19937_64 rng;
    in >> rng;
    const bool valid = in && n == order_.size() && pos <= n &&
                       std::all_of(order.begin(), order.end(), [n](size_t i) { return i < n; });
    if (!valid)
        throw DataError("checkpoint", 0, "the sampler state does not fit these data (" + std::to_string(order_.size()) +
                                             " groups); the data changed since the checkpoint");
    pos_ = pos;
    order_ = std::move(order);
    rng_ = rng;
}

std::vector<std::vector<size_t>> BatchSampler::epoch_batches() {
    std::vector<std::vector<size_t>> out;
    for (size_t i = 0; i < order_.size(); i += batch_size_)
        out.emplace_back(order_.begin() + static_cast<long>(i),
                         order_.begin() + static_cast<long>(std::min(order_.size(), i + batch_size_)));
    return out;
}

double padding_fraction(const TokenRows& rows, const std::vector<std::vector<size_t>>& batches) {
    double real = 0, total = 0;
    for (const auto& b : batches) {
        size_t t = 0;
        for (size_t g : b) t = std::max(t, rows.group_length(g));
        for (size_t g : b)
            for (size_t side = 0; side < rows.rows_per_group; ++side) real += static_cast<double>(rows.length(rows.row(g, side)));
        total += static_cast<double>(rows.rows_per_group) * static_cast<double>(t * b.size());
    }
    return total > 0 ? 1.0 - real / total : 0.0;
}

}  // namespace ps
