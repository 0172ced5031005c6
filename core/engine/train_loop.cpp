#include "core/engine/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
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
                      Evaluator& evaluator, PairTracker& tracker, AnswerChecker& answers) {
    stream.event("phase", "Preference training (" + c.objective.algorithm + "): " + std::to_string(c.train.steps) + " steps.");
    CausalLM& policy = setup.policy;
    MasterWeights weights(trainable_parameters(policy));
    torch::optim::AdamW opt(weights.optimized(),
                            torch::optim::AdamWOptions(c.train.learning_rate).weight_decay(c.train.weight_decay));
    const size_t bs = static_cast<size_t>(c.train.batch_size);
    BatchSampler sampler(group_lengths(setup.data.train), bs, static_cast<uint64_t>(c.seed) + 2, c.data.group_by_length);
    stream.start_steps();
    stream.phase = "train";
    const double k = static_cast<double>(c.train.grad_accum);
    std::optional<double> last_abs_reward;  // |beta x log-ratio| of the last finite step, for the NaN hint
    for (int s = 1; s <= c.train.steps; ++s) {
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
    }
}

}  // namespace ps
