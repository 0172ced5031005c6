// Per-pair tracking (train.track_pairs; core/diagnose/pair_tracking.h): a fixed seeded subset of
// the eval pairs (of the train pairs when there is no eval split), their CHES score on the
// reference before training, and their policy log-probs at step 0 and at every eval.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/engine/run_setup.h"
#include "core/engine/run_stream.h"

namespace ps {

class PairTracker {
public:
    PairTracker(const RunConfig& config, RunSetup& setup, RunStream& stream);

    // Before the first preference step: picks the subset, measures CHES on the policy (still
    // the reference here) and records step 0. Unpaired data have no pair to follow.
    void start();
    bool active() const { return !tracked_.empty(); }
    bool from_eval() const { return from_eval_; }
    // The tracked pairs: their groups in split() (the eval split when from_eval()).
    const std::vector<size_t>& tracked_groups() const { return tracked_; }
    const TokenRows& split() const { return setup_.rows(from_eval_ ? Split::Eval : Split::Train); }
    // At an eval: from the eval forward's per-row log-probs of the tracked split when given
    // (TokenRows order), else a forward of its own.
    void record(int64_t step, const std::vector<float>* row_logps);
    // After the last eval: which pairs lost the most chosen likelihood, and whether CHES saw it.
    void finish();
    // Every record so far (a checkpoint keeps them), and a resumed run's records back.
    const std::vector<PairLogpRecord>& records() const { return records_; }
    void restore_records(std::vector<PairLogpRecord> records) { records_ = std::move(records); }

private:
    void forward(std::vector<double>& chosen, std::vector<double>& rejected, torch::Tensor* hidden);
    void emit(int64_t step, const std::vector<double>& chosen, const std::vector<double>& rejected);

    const RunConfig& config_;
    RunSetup& setup_;
    RunStream& stream_;
    std::vector<size_t> tracked_;  // group positions in the tracked split
    bool from_eval_ = true;
    std::vector<TrackedPair> pairs_;
    std::vector<PairLogpRecord> records_;  // every record so far
};

}  // namespace ps
