#include "core/engine/reference_model.h"

#include <algorithm>

#include "core/config/algorithm.h"
#include "core/engine/reference_cache.h"
#include "core/engine/trainer.h"
#include "core/model/lora.h"

namespace ps {

std::vector<std::vector<size_t>> pass_batches(size_t n, const RunConfig& config) {
    const size_t bs = static_cast<size_t>(std::max(8, config.train.batch_size * 2));
    std::vector<std::vector<size_t>> out;
    for (size_t i = 0; i < n; i += bs) {
        std::vector<size_t>& idx = out.emplace_back();
        for (size_t j = i; j < std::min(n, i + bs); ++j) idx.push_back(j);
    }
    return out;
}

ReferenceModel::ReferenceModel(const RunConfig& config, RunSetup& setup, RunStream& stream)
    : config_(config), setup_(setup), stream_(stream) {}

namespace {

// The cache file keeps a chosen and a rejected value per group; unpaired rows are its "chosen"
// values (the rejected ones zeros).
void to_file(const TokenRows& rows, const std::vector<float>& values, std::vector<float>& chosen,
             std::vector<float>& rejected) {
    chosen.assign(rows.groups(), 0.0f);
    rejected.assign(rows.groups(), 0.0f);
    if (values.empty()) return;
    for (size_t g = 0; g < rows.groups(); ++g) {
        chosen[g] = values[g * rows.rows_per_group];
        if (rows.rows_per_group == 2) rejected[g] = values[g * 2 + 1];
    }
}

std::vector<float> from_file(const TokenRows& rows, const std::vector<float>& chosen, const std::vector<float>& rejected) {
    std::vector<float> values(rows.rows.size());
    for (size_t g = 0; g < rows.groups(); ++g) {
        values[g * rows.rows_per_group] = chosen[g];
        if (rows.rows_per_group == 2) values[g * 2 + 1] = rejected[g];
    }
    return values;
}

}  // namespace

void ReferenceModel::prepare() {
    if (!needs_reference(config_.objective)) return;
    stream_.progress("reference");
    CausalLM& policy = setup_.policy;
    if (has_lora(policy)) {
        // The reference is the policy with its adapters off. After an SFT warm-up the
        // warm-up's adapters are merged into the base (the reference is then the warmed-up
        // model, as without LoRA) and fresh adapters start the preference training.
        if (stream_.sft_step > 0) {
            merge_lora(policy);
            add_lora(policy, *config_.model.lora);
            policy->train();
            setup_.base_merged = true;
        }
        model_ = policy;
    } else {
        model_ = clone_frozen(policy);
    }
    if (on_the_fly()) {
        stream_.event("info", "Reference log-probs are computed on the fly (train.reference_logps).");
        return;
    }
    // An algorithm that runs the reference in every step (KTO: the batch's mismatched pairs)
    // keeps it; the others drop it once the log-probs are cached.
    struct DropReference {
        ReferenceModel* r;
        ~DropReference() {
            if (algorithm_spec(r->config_.objective).reference != ReferenceUse::EveryStep) r->model_ = CausalLM(nullptr);
        }
    } drop{this};
    const PreparedData& data = setup_.data;
    const size_t groups = data.train_size() + data.eval_size();
    const std::string key = reference_cache_key(config_, setup_.threads, stream_.sft_step);
    ReferenceLogps file;
    const ReferenceCacheRead read = load_reference_logps(key, data.train_size(), data.eval_size(), file);
    if (read == ReferenceCacheRead::Loaded) {
        train_ = from_file(data.train, file.train_chosen, file.train_rejected);
        eval_ = from_file(data.eval, file.eval_chosen, file.eval_rejected);
        stream_.event("info", "Reference log-probs of " + std::to_string(groups) +
                                  " pairs loaded from the disk cache (" + reference_cache_dir() + "/" + key + ".bin).",
                      {{"reference_cache", key}, {"from_disk", true}});
        report_off_policy();
        return;
    }
    compute(Split::Train);
    compute(Split::Eval);
    if (read == ReferenceCacheRead::Invalid)
        stream_.event("warning", "The reference cache file " + reference_cache_dir() + "/" + key +
                                     ".bin was damaged or of another format (its checksum or sizes did not match); "
                                     "the reference log-probs were computed again and the file replaced.");
    to_file(data.train, train_, file.train_chosen, file.train_rejected);
    to_file(data.eval, eval_, file.eval_chosen, file.eval_rejected);
    const std::string failed = save_reference_logps(key, file);
    stream_.event("info", "Reference log-probs computed for " + std::to_string(groups) + " pairs and cached" +
                              (failed.empty() ? " in memory and on disk." : " in memory."),
                  {{"reference_cache", key}, {"from_disk", false}});
    if (!failed.empty()) stream_.event("warning", "Reference cache not written: " + failed);
    report_off_policy();
}

// One reference forward over the split in batches of max(8, 2 x batch size).
void ReferenceModel::compute(Split split) {
    torch::NoGradGuard no_grad;
    const TokenRows& rows = setup_.rows(split);
    std::vector<float>& values = cache(split);
    values.assign(rows.rows.size(), 0.0f);
    for (const std::vector<size_t>& idx : pass_batches(rows.groups(), config_)) {
        stream_.check_control();
        auto lp = forward(collate_groups(rows, idx, setup_.pad_id())).sum.to(torch::kCPU).to(torch::kFloat32).contiguous();
        const float* v = lp.data_ptr<float>();
        const size_t n = idx.size();  // batch rows: each group's first row, then each group's second
        for (size_t side = 0; side < rows.rows_per_group; ++side)
            for (size_t j = 0; j < n; ++j) values[idx[j] * rows.rows_per_group + side] = v[side * n + j];
    }
}

// How likely the chosen answers are under the reference compared with the rejected ones,
// over the training pairs, before any preference step.
void ReferenceModel::report_off_policy() {
    if (setup_.unpaired()) return;  // no chosen/rejected pairs to compare
    const TokenRows& rows = setup_.data.train;
    std::vector<float> chosen, rejected;
    to_file(rows, train_, chosen, rejected);
    std::vector<size_t> lc(rows.groups()), lr(rows.groups());
    for (size_t g = 0; g < rows.groups(); ++g) {
        lc[g] = rows.row(g, 0).completion.size();
        lr[g] = rows.row(g, 1).completion.size();
    }
    off_policy_ = check_off_policy(chosen, rejected, lc, lr);
    stream_.event(off_policy_.warn ? "warning" : "info", off_policy_.message, {{"offpolicy", off_policy_.to_json()}});
}

// Under LoRA the policy with its adapters off (the base has no dropout, so this draws no random
// numbers and leaves the policy's stream alone).
SequenceLogps ReferenceModel::forward(const SequenceBatch& batch) {
    if (model_.get() != setup_.policy.get()) return forward_logps(model_, batch, setup_.device);
    AdaptersDisabled off(setup_.policy);
    return forward_logps(setup_.policy, batch, setup_.device);
}

torch::Tensor ReferenceModel::row_logps(const SequenceBatch& batch, Split split, const std::vector<size_t>& groups) {
    const std::vector<float>& values = cache(split);
    if (on_the_fly() || values.empty()) {
        torch::NoGradGuard no_grad;
        return forward(batch).sum;
    }
    const TokenRows& rows = setup_.rows(split);
    std::vector<float> v;
    v.reserve(groups.size() * rows.rows_per_group);
    for (size_t side = 0; side < rows.rows_per_group; ++side)
        for (size_t g : groups) v.push_back(values[g * rows.rows_per_group + side]);
    return torch::tensor(v).to(setup_.device);
}

}  // namespace ps
