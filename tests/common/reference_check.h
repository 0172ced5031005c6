// The reference log-probs a DPO run used at each step, recovered from what it logs, and how far
// two float32 computations of them may differ. Tests of "the reference computed another way is
// the same reference" compare these, not the rewards: rewards follow the policy, and two runs
// whose reference differs in its last bits leave on different trajectories (chaotically: 5e-10
// apart at step 2, 1e-5 at step 19 on one machine), while the reference itself depends only on
// the frozen reference model and the batch, which both runs share.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/common/collect_sink.h"

namespace ps::test {

// rewards/<side> = beta * mean(logp - ref) and logps/<side> = mean(logp) (sigmoid DPO: summed
// log-probs), so the batch mean of the reference is logps/<side> - rewards/<side> / beta.
inline std::vector<double> reference_logps(const CollectSink& sink, const std::string& side, double beta) {
    const auto logps = sink.series("logps/" + side), rewards = sink.series("rewards/" + side);
    std::vector<double> ref(std::min(logps.size(), rewards.size()));
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = logps[i] - rewards[i] / beta;
    return ref;
}

// How far two such recovered values may lie apart when both reference computations are right.
// u = 2^-24 is float32's unit roundoff.
// - The two forwards run the same weights on the same tokens and differ only in summation order
//   (batch composition and padding, adapters disabled or absent, the BLAS kernel's blocking). A
//   float32 dot product of length K is then off by at most K*u relative to the sum of its terms'
//   magnitudes (Higham, gamma_K); the widest contraction of the model bounds K (the LM head's
//   log-sum-exp runs over the vocabulary). The bound is worst-case: real errors are far smaller.
// - Recovering the value from the logged metrics: a float32 mean over B log-probs of one sign is
//   off by at most B*u of its magnitude, the difference and the division by beta add 3u.
// With |logp| + |ref| as the magnitude: (K + B + 3) * u * (|logp| + |ref|). A wrong reference
// (adapters left on, another model, another batch) moves the value by orders of magnitude more.
inline double reference_tolerance(double logp, double ref, int64_t widest_contraction, int64_t batch_size) {
    const double u = std::ldexp(1.0, -24);
    return double(widest_contraction + batch_size + 3) * u * (std::fabs(logp) + std::fabs(ref));
}

// Compares the references of two runs of the same config step by step, both sides, within
// reference_tolerance. Returns "" when they agree, else the first step that does not (or a
// length mismatch). `widest_contraction` as above, e.g. max(vocab, hidden, intermediate).
inline std::string compare_references(const CollectSink& a, const CollectSink& b, double beta, int64_t batch_size,
                                      int64_t widest_contraction, size_t expected_steps) {
    for (const char* side : {"chosen", "rejected"}) {
        const auto ra = reference_logps(a, side, beta), rb = reference_logps(b, side, beta);
        const auto logps = a.series(std::string("logps/") + side);
        if (ra.size() != expected_steps || rb.size() != expected_steps)
            return std::string(side) + ": " + std::to_string(ra.size()) + " and " + std::to_string(rb.size()) +
                   " steps, expected " + std::to_string(expected_steps);
        for (size_t i = 0; i < ra.size(); ++i) {
            const double tol = reference_tolerance(logps[i], ra[i], widest_contraction, batch_size);
            if (std::fabs(ra[i] - rb[i]) > tol) {
                char text[160];
                std::snprintf(text, sizeof text, "%s step %zu: %.9g vs %.9g, tolerance %.3g", side, i + 1, ra[i], rb[i], tol);
                return text;
            }
        }
    }
    return {};
}

}  // namespace ps::test
