#include "core/data/batching.h"

#include <algorithm>

namespace ps {

namespace {

SequenceBatch collate(const std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>>& rows,
                      int64_t pad_id) {
    const int64_t n = static_cast<int64_t>(rows.size());
    int64_t t_max = 1;
    for (const auto& [p, c] : rows) t_max = std::max<int64_t>(t_max, static_cast<int64_t>(p->size() + c->size()));
    std::vector<int64_t> ids(static_cast<size_t>(n * t_max), pad_id);
    std::vector<float> mask(static_cast<size_t>(n * t_max), 0.0f);
    int64_t real = 0;
    for (int64_t r = 0; r < n; ++r) {
        const auto& [p, c] = rows[static_cast<size_t>(r)];
        int64_t* row = ids.data() + r * t_max;
        float* mrow = mask.data() + r * t_max;
        std::copy(p->begin(), p->end(), row);
        std::copy(c->begin(), c->end(), row + p->size());
        std::fill(mrow + p->size(), mrow + p->size() + c->size(), 1.0f);
        real += static_cast<int64_t>(p->size() + c->size());
    }
    SequenceBatch b;
    b.input_ids = torch::from_blob(ids.data(), {n, t_max}, torch::kInt64).clone();
    b.completion_mask = torch::from_blob(mask.data(), {n, t_max}, torch::kFloat32).clone();
    b.real_tokens = real;
    return b;
}

}  // namespace

SequenceBatch collate_pairs(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id) {
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> rows;
    rows.reserve(pairs.size() * 2);
    for (const auto* p : pairs) rows.emplace_back(&p->prompt, &p->chosen);
    for (const auto* p : pairs) rows.emplace_back(&p->prompt, &p->rejected);
    return collate(rows, pad_id);
}

SequenceBatch collate_chosen(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id) {
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> rows;
    rows.reserve(pairs.size());
    for (const auto* p : pairs) rows.emplace_back(&p->prompt, &p->chosen);
    return collate(rows, pad_id);
}

SequenceBatch collate_mismatched(const std::vector<const TokenizedPair*>& pairs, int64_t pad_id) {
    std::vector<const std::vector<int64_t>*> prompts, completions;
    for (const auto* p : pairs) { prompts.push_back(&p->prompt); completions.push_back(&p->chosen); }
    for (const auto* p : pairs) { prompts.push_back(&p->prompt); completions.push_back(&p->rejected); }
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> rows;
    const size_t n = prompts.size();
    for (size_t j = 0; j < n; ++j) rows.emplace_back(prompts[j], completions[(j + n - 1) % n]);
    return collate(rows, pad_id);
}

SequenceBatch collate_examples(const std::vector<const TokenizedExample*>& examples, int64_t pad_id) {
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> rows;
    rows.reserve(examples.size());
    for (const auto* e : examples) rows.emplace_back(&e->prompt, &e->completion);
    return collate(rows, pad_id);
}

SequenceBatch collate_examples_mismatched(const std::vector<const TokenizedExample*>& examples, int64_t pad_id) {
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> rows;
    const size_t n = examples.size();
    rows.reserve(n);
    for (size_t j = 0; j < n; ++j) rows.emplace_back(&examples[j]->prompt, &examples[(j + n - 1) % n]->completion);
    return collate(rows, pad_id);
}

}  // namespace ps
