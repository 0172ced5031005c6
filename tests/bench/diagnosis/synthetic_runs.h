// Synthetic preference runs with known phases, for the diagnosis benchmark
// (tests/bench/diagnosis/bench_diagnosis.cpp) and the segmentation unit tests: the true
// chosen and rejected levels are continuous piecewise-linear curves (bent inside healthy phases,
// as real rejected curves flatten), one phase per stretch, plus seeded noise whose size is given
// relative to the run's largest reward change (real runs: 0.01 to 0.11, measured by the benchmark
// on ../shared/real-runs from first differences). Every logged point carries its true regime.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/common/run_types.h"

namespace ps::bench {

// One stretch of a run: its true regime name ("healthy", "both_falling", "both_rising",
// "margin_collapsing", "diverging") and how chosen and rejected change over it.
struct SyntheticPhase {
    std::string regime;
    int points = 100;
    double chosen_change = 0.0;    // over the whole phase, reward units
    double rejected_change = 0.0;
    bool bent = false;  // the change comes early and flattens (1 - exp(-3t)), as real curves do
};

struct SyntheticRunSpec {
    std::string name;
    std::string scenario;
    std::vector<SyntheticPhase> phases;
    double noise = 0.05;          // sd of the rejected noise relative to the largest |level|
    double chosen_noise_ratio = 0.7;  // sd of chosen noise / sd of rejected noise
    int log_every = 1;            // steps between logged points
    double start_level = 0.0;     // both rewards start here (absolute rewards: ORPO, SimPO)
    double outlier_share = 0.01;  // share of points with a 5-sd excursion (a wild batch)
    uint64_t seed = 0;
};

struct SyntheticRun {
    SyntheticRunSpec spec;
    std::vector<StepMetrics> stream;
    std::vector<std::string> truth;  // one regime per logged point
    std::vector<double> true_chosen, true_rejected;
    double noise_sd = 0.0;          // of rejected, absolute
};

// Standard normal draws from mt19937_64 and Box-Muller: the same runs on every machine.
class SyntheticGaussian {
public:
    explicit SyntheticGaussian(uint64_t seed) : rng_(seed) {}
    double next() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = 0.0;
        while (u1 <= 0.0) u1 = double(rng_() >> 11) * 0x1.0p-53;
        const double u2 = double(rng_() >> 11) * 0x1.0p-53;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        spare_ = radius * std::sin(2.0 * 3.14159265358979323846 * u2);
        has_spare_ = true;
        return radius * std::cos(2.0 * 3.14159265358979323846 * u2);
    }
    double uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

private:
    std::mt19937_64 rng_;
    bool has_spare_ = false;
    double spare_ = 0.0;
};

inline SyntheticRun make_synthetic_run(const SyntheticRunSpec& spec) {
    SyntheticRun run;
    run.spec = spec;
    double c = spec.start_level, r = spec.start_level;
    for (const SyntheticPhase& ph : spec.phases) {
        const bool diverging = ph.regime == "diverging";
        for (int i = 1; i <= ph.points; ++i) {
            const double t = double(i) / ph.points, t0 = double(i - 1) / ph.points;
            const auto shape = [&](double u) {
                return ph.bent ? (1.0 - std::exp(-3.0 * u)) / (1.0 - std::exp(-3.0)) : u;
            };
            const double dt = shape(t) - shape(t0);
            c += ph.chosen_change * dt;
            r += ph.rejected_change * dt;
            run.true_chosen.push_back(diverging ? std::numeric_limits<double>::quiet_NaN() : c);
            run.true_rejected.push_back(diverging ? std::numeric_limits<double>::quiet_NaN() : r);
            run.truth.push_back(ph.regime);
        }
    }
    double scale = 0.0;
    for (size_t i = 0; i < run.true_chosen.size(); ++i)
        if (std::isfinite(run.true_chosen[i]))
            scale = std::max({scale, std::fabs(run.true_chosen[i] - spec.start_level),
                              std::fabs(run.true_rejected[i] - spec.start_level)});
    run.noise_sd = spec.noise * std::max(scale, 1e-3);
    SyntheticGaussian g(spec.seed * 7919 + 17);
    for (size_t i = 0; i < run.truth.size(); ++i) {
        double chosen = run.true_chosen[i], rejected = run.true_rejected[i];
        double nc = g.next(), nr = g.next();
        if (g.uniform() < spec.outlier_share) nc += (g.uniform() < 0.5 ? -5.0 : 5.0);
        if (g.uniform() < spec.outlier_share) nr += (g.uniform() < 0.5 ? -5.0 : 5.0);
        chosen += spec.chosen_noise_ratio * run.noise_sd * nc;
        rejected += run.noise_sd * nr;
        const double margin = chosen - rejected;
        StepMetrics m;
        m.step = int64_t(i + 1) * spec.log_every;
        m.wall_time = 0.1 * double(m.step);
        m.set("loss", std::isfinite(margin) ? std::log1p(std::exp(-margin)) : margin);
        m.set("rewards/chosen", chosen);
        m.set("rewards/rejected", rejected);
        m.set("rewards/margins", margin);
        m.set("grad_norm", std::exp(0.15 * g.next()));
        run.stream.push_back(std::move(m));
    }
    return run;
}

}  // namespace ps::bench
