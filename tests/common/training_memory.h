// Measures the peak of live tensor bytes while the engine trains a preference step the way
// core/engine/trainer.cpp does (policy forward on chosen and rejected rows, completion
// log-probs, DPO against cached reference log-probs, backward, clipping, AdamW), and while
// it runs an evaluation pass without gradients. The measured side of bench_memory and
// test_memory_estimate.
#pragma once
#include <algorithm>
#include <cstdint>

#include <torch/torch.h>

#include "common/tensor_memory_probe.h"
#include "config/run_config.h"
#include "engine/trainer.h"
#include "model/causal_lm.h"
#include "objectives/objective.h"

namespace ps::test {

struct MeasuredMemory {
    int64_t weights = 0;     // live bytes after the policy is built
    int64_t step_peak = 0;   // over the training steps (after the first, optimiser state exists)
    int64_t pass_peak = 0;   // over an evaluation pass of max(8, 2 x batch) pairs
    int64_t reference_peak = 0;  // while the reference copy computes log-probs
    int64_t peak() const { return std::max({step_peak, pass_peak, reference_peak}); }
};

inline SequenceBatch random_pair_batch(int64_t pairs, int64_t length, int64_t vocab) {
    SequenceBatch b;
    b.input_ids = torch::randint(vocab, {2 * pairs, length}, torch::kLong);
    // Prompt in the first half, completion (scored) in the second.
    b.completion_mask = torch::zeros({2 * pairs, length});
    b.completion_mask.narrow(1, length / 2, length - length / 2).fill_(1.0);
    b.real_tokens = 2 * pairs * length;
    return b;
}

// Float32 full fine-tuning with cached reference log-probs (the configuration the CPU runs).
inline MeasuredMemory measure_training_memory(const ModelShape& shape, const RunConfig& c, int steps = 3) {
    TensorMemoryProbe::install();
    torch::manual_seed(0);
    MeasuredMemory m;
    const int64_t base = TensorMemoryProbe::live();
    const torch::Device cpu(torch::kCPU);
    CausalLM policy(shape);
    policy->train();
    m.weights = TensorMemoryProbe::live() - base;
    const int64_t B = c.train.batch_size, T = c.data.max_length, V = shape.vocab_size;
    const int64_t pass_pairs = std::max<int64_t>(8, 2 * B);
    {
        TensorMemoryProbe::reset_peak();
        CausalLM reference = clone_frozen(policy);
        torch::NoGradGuard no_grad;
        auto batch = random_pair_batch(pass_pairs, T, V);
        auto lp = forward_logps(reference, batch, cpu).sum;
        m.reference_peak = TensorMemoryProbe::peak() - base;
    }
    torch::optim::AdamW opt(policy->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(c.train.weight_decay));
    for (int s = 0; s < steps; ++s) {
        auto batch = random_pair_batch(B, T, V);
        auto ref = torch::randn({2 * B}) - 50.0;
        TensorMemoryProbe::reset_peak();
        opt.zero_grad();
        auto lp = forward_logps(policy, batch, cpu);
        PairedLogps p;
        p.chosen = lp.sum.narrow(0, 0, B);
        p.rejected = lp.sum.narrow(0, B, B);
        p.chosen_tokens = lp.tokens.narrow(0, 0, B);
        p.rejected_tokens = lp.tokens.narrow(0, B, B);
        p.ref_chosen = ref.narrow(0, 0, B);
        p.ref_rejected = ref.narrow(0, B, B);
        auto out = dpo_objective(p, c.objective);
        out.loss.backward();
        torch::nn::utils::clip_grad_norm_(policy->parameters(), 1.0);
        opt.step();
        if (s > 0) m.step_peak = std::max(m.step_peak, TensorMemoryProbe::peak() - base);
    }
    {
        torch::NoGradGuard no_grad;
        policy->eval();
        auto batch = random_pair_batch(pass_pairs, T, V);
        TensorMemoryProbe::reset_peak();
        auto lp = forward_logps(policy, batch, cpu);
        m.pass_peak = TensorMemoryProbe::peak() - base;
    }
    return m;
}

}  // namespace ps::test
