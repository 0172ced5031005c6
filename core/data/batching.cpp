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

std::vector<const TokenRow*> batch_rows(const TokenRows& rows, const std::vector<size_t>& groups) {
    std::vector<const TokenRow*> out;
    out.reserve(groups.size() * rows.rows_per_group);
    for (size_t side = 0; side < rows.rows_per_group; ++side)
        for (size_t g : groups) out.push_back(&rows.row(g, side));
    return out;
}

SequenceBatch collate_groups(const TokenRows& rows, const std::vector<size_t>& groups, int64_t pad_id) {
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> seqs;
    for (const TokenRow* r : batch_rows(rows, groups)) seqs.emplace_back(&rows.prompt(r->group), &r->completion);
    return collate(seqs, pad_id);
}

SequenceBatch collate_desirable(const TokenRows& rows, const std::vector<size_t>& groups, int64_t pad_id) {
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> seqs;
    for (size_t g : groups)
        for (size_t side = 0; side < rows.rows_per_group; ++side)
            if (rows.row(g, side).desirable) seqs.emplace_back(&rows.prompt(g), &rows.row(g, side).completion);
    return collate(seqs, pad_id);
}

SequenceBatch collate_mismatched(const TokenRows& rows, const std::vector<size_t>& groups, int64_t pad_id) {
    const std::vector<const TokenRow*> batch = batch_rows(rows, groups);
    std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> seqs;
    const size_t n = batch.size();
    seqs.reserve(n);
    for (size_t j = 0; j < n; ++j) seqs.emplace_back(&rows.prompt(batch[j]->group), &batch[(j + n - 1) % n]->completion);
    return collate(seqs, pad_id);
}

}  // namespace ps
