#include "core/engine/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "core/common/errors.h"
#include "core/engine/master_weights.h"
#include "core/engine/nan_hint.h"
#include "core/engine/schedule.h"
#include "core/engine/trainer.h"
#include "core/model/lora.h"

namespace ps {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double grad_norm_and_clip(const std::vector<torch::Tensor>& params, double max_norm) {
    // clip_grad_norm_ returns the norm before clipping (TRL logs that one).
    if (max_norm > 0) return torch::nn::utils::clip_grad_norm_(params, max_norm);
    double sq = 0;
    for (const auto& p : params)
        if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    return std::sqrt(sq);
}

void set_lr(torch::optim::AdamW& opt, double lr) {
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

// What a checkpoint is taken from and restored into: the loop's state between two steps.
struct LoopState {
    MasterWeights& weights;
    torch::optim::AdamW& opt;
    BatchSampler& sampler;
    std::optional<double>& last_abs_reward;
};

// Writes the checkpoint of step `s` (after its eval): the sinks make what they hold durable
// first, so the store has every record up to `s` when the checkpoint exists. A failed write is
// a warning: the run goes on without it.
void write_checkpoint(const RunConfig& c, const CheckpointPlan& plan, const std::string& start_checksum, int64_t s,
                      RunStream& stream, PairTracker& tracker, LoopState& st) {
    const auto t0 = Clock::now();
    for (auto* sink : stream.sinks()) sink->on_checkpoint(s);
    CheckpointMeta meta = plan.base;
    meta.step = s;
    meta.sft_steps = stream.sft_step;
    meta.start_checksum = start_checksum;
    meta.sampler = st.sampler.state();
    meta.last_values = stream.last_values();
    meta.last_abs_reward = st.last_abs_reward;
    meta.pair_logps = tracker.records();
    meta.warned = stream.warned();
    meta.elapsed = stream.elapsed();
    try {
        const std::string dir = write_checkpoint_atomically(plan.folder, s, [&](const std::string& tmp) {
            save_checkpoint_tensors(tmp, st.weights.optimized(), st.opt);
            std::ofstream out(tmp + "/meta.json");
            out << meta.to_json().dump() << "\n";
            out.close();
            if (!out) throw StoreError("cannot write " + tmp + "/meta.json");
        });
        prune_checkpoints(plan.folder, c.train.keep_checkpoints);
        int64_t bytes = 0;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) bytes += static_cast<int64_t>(e.file_size(ec));
        const double seconds = seconds_since(t0);
        stream.event("info", "Checkpoint of step " + std::to_string(s) + " written to " + dir + ".",
                     {{"checkpoint", dir}, {"step", s}, {"seconds", seconds}, {"bytes", bytes}});
    } catch (const Error& e) {
        stream.event("warning", std::string("Checkpoint of step ") + std::to_string(s) + " not written: " + e.what());
    }
}

// A resumed run: the loop's state as the checkpoint left it. Returns the checkpoint's step.
int64_t restore_checkpoint(const CheckpointPlan& plan, const std::string& start_checksum, RunStream& stream,
                           PairTracker& tracker, LoopState& st) {
    const CheckpointMeta meta = read_checkpoint_meta(plan.resume_from);
    if (meta.start_checksum != start_checksum)
        throw TrainingError("cannot resume from " + plan.resume_from +
                            ": the setup and SFT warm-up, replayed, give other weights than the run had before its first "
                            "preference step (another machine, libtorch build, thread count or changed files); start a new run");
    load_checkpoint_tensors(plan.resume_from, st.weights.optimized(), st.opt);
    st.weights.master_to_model();
    st.sampler.restore(meta.sampler.get<std::string>());
    st.last_abs_reward = meta.last_abs_reward;
    tracker.restore_records(meta.pair_logps);
    stream.restore(meta.last_values, meta.warned);
    stream.set_elapsed(meta.elapsed);
    stream.step = meta.step;
    return meta.step;
}

}  // namespace

void sft_warmup(const RunConfig& c, RunSetup& setup, RunStream& stream) {
    if (c.sft.steps <= 0) return;
    stream.event("phase", "SFT warm-up: " + std::to_string(c.sft.steps) + " steps on the chosen answers.");
    stream.phase = "sft";
    CausalLM& policy = setup.policy;
    MasterWeights weights(trainable_parameters(policy));
    torch::optim::AdamW opt(weights.optimized(), torch::optim::AdamWOptions(c.sft.learning_rate).weight_decay(0.0));
    // The groups with a desirable row (every pair; KTO's desirable examples), sampled by length.
    const TokenRows& rows = setup.data.train;
    std::vector<size_t> groups, lengths;
    for (size_t g = 0; g < rows.groups(); ++g)
        for (size_t side = 0; side < rows.rows_per_group; ++side)
            if (rows.row(g, side).desirable) {
                groups.push_back(g);
                lengths.push_back(rows.group_length(g));
                break;
            }
    if (groups.empty())
        throw DataError(c.data.train, 0, "sft.steps is " + std::to_string(c.sft.steps) +
                                             " but the training data hold no desirable example to warm up on; set sft.steps to 0");
    const size_t bs = static_cast<size_t>(c.train.batch_size);
    BatchSampler sampler(lengths, bs, static_cast<uint64_t>(c.seed) + 1, c.data.group_by_length);
    const int warmup = std::max(1, c.sft.steps / 20);
    stream.start_steps();
    policy->train();
    for (int s = 1; s <= c.sft.steps; ++s) {
        stream.check_control();
        const auto t0 = Clock::now();
        const double lr = c.sft.learning_rate * lr_factor(LrSchedule::Cosine, s, warmup, c.sft.steps);
        set_lr(opt, lr);
        opt.zero_grad();
        std::vector<size_t> idx;
        for (size_t k : sampler.next(bs)) idx.push_back(groups[k]);
        auto batch = collate_desirable(rows, idx, setup.pad_id());
        auto lp = forward_logps(policy, batch, setup.device);
        auto loss = -lp.sum.sum() / lp.tokens.sum();
        loss.backward();
        weights.gradients_to_master();
        const double gn = grad_norm_and_clip(weights.optimized(), c.train.max_grad_norm);
        opt.step();
        weights.master_to_model();
        const double l = loss.item<double>();
        if (!std::isfinite(l))
            throw TrainingError("the SFT loss became " + std::to_string(l) + " at warm-up step " + std::to_string(s) +
                                "; lower sft.learning_rate");
        stream.sft_step = s;
        const double tps = static_cast<double>(batch.real_tokens) / std::max(seconds_since(t0), 1e-9);
        StepMetrics m;
        m.step = s;
        m.set("sft/loss", l);
        m.set("sft/grad_norm", gn);
        m.set("sft/learning_rate", lr);
        m.set("sft/tokens_per_second", tps);
        stream.emit(m);
        stream.progress("sft", tps, l);
    }
}

void train_preference(const RunConfig& c, RunSetup& setup, RunStream& stream, BatchObjective& objective,
                      Evaluator& evaluator, PairTracker& tracker, AnswerChecker& answers, const CheckpointPlan& plan) {
    stream.event("phase", "Preference training (" + c.objective.algorithm + "): " + std::to_string(c.train.steps) + " steps.");
    CausalLM& policy = setup.policy;
    MasterWeights weights(trainable_parameters(policy));
    torch::optim::AdamW opt(weights.optimized(),
                            torch::optim::AdamWOptions(c.train.learning_rate).weight_decay(c.train.weight_decay));
    const size_t bs = static_cast<size_t>(c.train.batch_size);
    BatchSampler sampler(group_lengths(setup.data.train), bs, static_cast<uint64_t>(c.seed) + 2, c.data.group_by_length);
    std::optional<double> last_abs_reward;  // |beta x log-ratio| of the last finite step, for the NaN hint
    LoopState state{weights, opt, sampler, last_abs_reward};
    const bool checkpoints = !plan.folder.empty() && c.train.checkpoint_every > 0;
    // The trainable weights before step 1: a resume replays what leads to them and checks it.
    const std::string start_checksum =
        checkpoints || !plan.resume_from.empty() ? tensors_checksum(weights.optimized()) : std::string();
    int first = 1;
    if (!plan.resume_from.empty()) {
        first = static_cast<int>(restore_checkpoint(plan, start_checksum, stream, tracker, state)) + 1;
        stream.event("phase", "Resumed from the checkpoint of step " + std::to_string(first - 1) + " (" + plan.resume_from + ").");
    }
    stream.start_steps();
    stream.phase = "train";
    const double k = static_cast<double>(c.train.grad_accum);
    for (int s = first; s <= c.train.steps; ++s) {
        stream.check_control();
        policy->train();
        const auto t0 = Clock::now();
        const double lr = c.train.learning_rate * lr_factor(c.train.schedule, s, c.train.warmup_steps, c.train.steps);
        set_lr(opt, lr);
        opt.zero_grad();
        std::map<std::string, double> sums;
        double loss_sum = 0, logits_c = 0, logits_r = 0;
        int64_t tokens = 0;
        for (int micro = 0; micro < c.train.grad_accum; ++micro) {
            const ScoredBatch b = objective.score(Split::Train, sampler.next(bs));
            stream.warn_once(b.out.warnings);
            (b.out.loss / k).backward();
            weights.gradients_to_master();
            loss_sum += b.out.loss.item<double>();
            for (const auto& [name, v] : b.out.metrics) sums[name] += v;
            logits_c += b.logits_chosen.value_or(NAN);  // a side the batch lacks makes the step's NaN
            logits_r += b.logits_rejected.value_or(NAN);
            tokens += b.batch.real_tokens;
        }
        const double loss = loss_sum / k;
        if (!std::isfinite(loss)) {
            // This step's rewards when they are still finite (the loss overflowed first), else the last step's.
            std::optional<double> reward = last_abs_reward;
            const double now = std::max(std::fabs(sums["rewards/chosen"]), std::fabs(sums["rewards/rejected"])) / k;
            if (std::isfinite(now)) reward = std::max(reward.value_or(0.0), now);
            throw TrainingError("the loss became " + std::to_string(loss) + " at step " + std::to_string(s) + "; " +
                                nan_hint(c.objective.beta, lr, reward));
        }
        weights.gradients_to_master();
        const double gn = grad_norm_and_clip(weights.optimized(), c.train.max_grad_norm);
        opt.step();
        weights.master_to_model();
        stream.step = s;
        const double tps = static_cast<double>(tokens) / std::max(seconds_since(t0), 1e-9);
        StepMetrics m;
        m.step = s;
        m.set("loss", loss);
        for (const auto& [name, v] : sums) m.set(name, v / k);
        // A side the data lacks (KTO with only desirable or only undesirable examples) is
        // not logged, rather than stored as a NaN row every step (which reads as divergence).
        if (std::isfinite(logits_c)) m.set("logits/chosen", logits_c / k);
        if (std::isfinite(logits_r)) m.set("logits/rejected", logits_r / k);
        m.set("grad_norm", gn);
        m.set("learning_rate", lr);
        m.set("tokens_per_second", tps);
        std::optional<double> step_reward;  // a side the data lack is NaN: left out
        for (const char* r : {"rewards/chosen", "rewards/rejected"})
            if (const double v = std::fabs(m.get(r)); std::isfinite(v)) step_reward = std::max(step_reward.value_or(0.0), v);
        if (step_reward) last_abs_reward = step_reward;
        stream.emit(m);
        stream.progress("train", tps, loss, m.get("rewards/chosen"), m.get("rewards/rejected"));
        if ((c.train.eval_every > 0 && s % c.train.eval_every == 0) || s == c.train.steps) evaluator.evaluate(s, tracker, answers);
        if (checkpoints && s % c.train.checkpoint_every == 0 && s < c.train.steps)
            write_checkpoint(c, plan, start_checksum, s, stream, tracker, state);
    }
}

}  // namespace ps
