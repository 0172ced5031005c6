#include "core/engine/pair_tracker.h"

#include "core/diagnose/pair_tracking.h"
#include "core/engine/reference_model.h"
#include "core/engine/trainer.h"

namespace ps {

PairTracker::PairTracker(const RunConfig& config, RunSetup& setup, RunStream& stream)
    : config_(config), setup_(setup), stream_(stream) {}

// Policy log-probs (summed) of the tracked pairs, and with `hidden` the sums of the final
// hidden states over the positions that predict each answer token, [2 x n, H] (chosen rows
// first). Evaluation only: no gradient, no random numbers.
void PairTracker::forward(std::vector<double>& chosen, std::vector<double>& rejected, torch::Tensor* hidden) {
    torch::NoGradGuard no_grad;
    CausalLM& policy = setup_.policy;
    policy->eval();
    const size_t n = tracked_.size();
    chosen.assign(n, 0.0);
    rejected.assign(n, 0.0);
    std::vector<torch::Tensor> hc, hr;
    for (const std::vector<size_t>& positions : pass_batches(n, config_)) {
        stream_.check_control();
        const size_t i = positions.front();  // first position in the tracked subset
        std::vector<size_t> idx;             // the same pairs' groups in the split
        for (size_t k : positions) idx.push_back(tracked_[k]);
        auto batch = collate_groups(split(), idx, setup_.pad_id());
        auto ids = batch.input_ids.to(setup_.device);
        const int64_t B = static_cast<int64_t>(idx.size());
        if (hidden) {
            auto h = policy->hidden_states(ids);
            auto sums = completion_hidden_sums(h, batch.completion_mask).to(torch::kCPU);
            hc.push_back(sums.narrow(0, 0, B));
            hr.push_back(sums.narrow(0, B, B));
        }
        auto lp = completion_logps(policy->forward(ids), ids, batch.completion_mask.to(setup_.device))
                      .sum.to(torch::kCPU).to(torch::kFloat64).contiguous();
        const double* v = lp.data_ptr<double>();
        for (int64_t j = 0; j < B; ++j) {
            chosen[i + static_cast<size_t>(j)] = v[j];
            rejected[i + static_cast<size_t>(j)] = v[B + j];
        }
    }
    if (hidden) *hidden = torch::cat({torch::cat(hc), torch::cat(hr)});
}

// The policy is still identical to the reference here: the reference was just cloned from it,
// or for reference-free objectives the initial model is the reference.
void PairTracker::start() {
    tracked_.clear();
    records_.clear();
    pairs_.clear();
    if (config_.train.track_pairs <= 0 || setup_.unpaired()) return;
    from_eval_ = !setup_.data.eval.empty();
    const TokenRows& rows = split();
    tracked_ = tracked_subset(rows.groups(), static_cast<size_t>(config_.train.track_pairs),
                              static_cast<uint64_t>(config_.seed));
    if (tracked_.empty()) return;
    std::vector<double> lc, lr;
    torch::Tensor hidden;
    forward(lc, lr, &hidden);
    setup_.policy->train();
    const auto& texts = from_eval_ ? setup_.data.eval_text : setup_.data.train_text;
    const size_t n = tracked_.size();
    hidden = hidden.contiguous();
    const int64_t H = hidden.size(1);
    const double* hv = hidden.data_ptr<double>();
    for (size_t i = 0; i < n; ++i) {
        const TokenRow& chosen = rows.row(tracked_[i], 0);
        const TokenRow& rejected = rows.row(tracked_[i], 1);
        const size_t source = rows.sources[tracked_[i]];  // its position in the split's text
        TrackedPair p;
        p.index = static_cast<int64_t>(i);
        p.split = from_eval_ ? "eval" : "train";
        p.split_index = static_cast<int64_t>(source);
        if (source < texts.size()) {
            p.prompt = texts[source].prompt;
            p.chosen = texts[source].chosen;
            p.rejected = texts[source].rejected;
        }
        p.chosen_tokens = static_cast<int64_t>(chosen.completion.size());
        p.rejected_tokens = static_cast<int64_t>(rejected.completion.size());
        const std::vector<double> sc(hv + i * H, hv + (i + 1) * H);
        const std::vector<double> sr(hv + (n + i) * H, hv + (n + i + 1) * H);
        const ChesScore ches = ches_from_sums(sc, chosen.completion.size(), sr, rejected.completion.size());
        p.ches = ches.ches;
        p.ln_ches = ches.ln_ches;
        pairs_.push_back(std::move(p));
    }
    for (auto* s : stream_.sinks()) s->on_tracked_pairs(pairs_);
    emit(0, lc, lr);
    stream_.event("info",
                  "Tracking " + std::to_string(n) + " " + (from_eval_ ? "eval" : "train") +
                      " pairs: their log-probs are recorded at step 0 and at every eval (train.track_pairs).",
                  {{"tracked_pairs", n}, {"split", from_eval_ ? "eval" : "train"}});
}

void PairTracker::emit(int64_t step, const std::vector<double>& chosen, const std::vector<double>& rejected) {
    std::vector<PairLogpRecord> records(chosen.size());
    for (size_t i = 0; i < chosen.size(); ++i) records[i] = {static_cast<int64_t>(i), step, chosen[i], rejected[i]};
    records_.insert(records_.end(), records.begin(), records.end());
    for (auto* s : stream_.sinks()) s->on_pair_logps(records);
}

void PairTracker::record(int64_t step, const std::vector<float>* row_logps) {
    std::vector<double> lc, lr;
    if (row_logps && row_logps->size() == split().rows.size()) {
        for (size_t g : tracked_) {
            lc.push_back((*row_logps)[g * 2]);
            lr.push_back((*row_logps)[g * 2 + 1]);
        }
    } else {
        forward(lc, lr, nullptr);
    }
    emit(step, lc, lr);
}

// The full report is rebuilt from the store by `prefstudio-cli diagnose`.
void PairTracker::finish() {
    if (!active()) return;
    const PairTrackingReport report = analyse_tracked_pairs(pairs_, records_);
    nlohmann::json data = report.to_json(3);
    stream_.event("info", "Per-pair tracking: " + report.summary, {{"pair_tracking", std::move(data)}});
}

}  // namespace ps
