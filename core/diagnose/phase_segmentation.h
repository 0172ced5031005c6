// Phases of a run by change-point segmentation (README: diagnosis): the retrospective reading of
// a whole stored curve, what `prefstudio-cli diagnose` and the stored verdict say.
//
// The chosen and rejected rewards are fitted jointly by a penalised piecewise-linear model: each
// series is scaled by its noise (estimated robustly from first differences: 1.4826 x their MAD
// over sqrt 2, which a smooth trend barely moves), the cost of a stretch is the sum of the
// residual squares of a straight line per series (O(1) from prefix sums), and a new phase must
// lower it by more than the penalty (`penalty` x (2 x series + 1) x ln n, BIC-like). Change points
// come from binary segmentation (each split O(length)), then each is moved to its best place
// between its neighbours: O(n log n) for n logged points in practice.
//
// Each stretch is classified from its fitted lines: a side is rising/falling when its slope is
// `z` standard errors from 0 AND its rate is at least `min_relative_rate` of the run's typical
// rate (its largest level change over its length), so a tiny but certain drift of a quiet series
// is "flat". The more urgent pattern wins: margin collapsing (the margin falling after it had
// grown) > both falling > both rising > healthy. Neighbouring stretches of one regime are merged
// into one phase. Non-finite values (NaN/Inf in chosen, rejected or loss) make a diverging phase
// from the first of them; so do a loss above `loss_explode_factor` x its early median or a
// grad_norm far above its early level held for `explode_min_points` points.
//
// Works from the first logged points: 4 finite points give one phase; fewer are "not enough data".
// Steps may be any logging interval and have gaps: lines are fitted against the step.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "core/diagnose/regime.h"

namespace ps {

struct PhaseOptions {
    double penalty = 1.0;             // times (2 x series + 1) x ln(points): the price of a phase
    int min_points = 5;               // the shortest stretch between change points
    double z = 3.0;                   // standard errors a slope needs to count as rising/falling
    double min_relative_rate = 0.05;  // and this share of the run's typical rate
    double outlier_clip = 4.0;        // points this many noise sd off a running median are clipped
    int explode_min_points = 8;       // consecutive loss / grad_norm outliers that are diverging
    double loss_explode_factor = 3.0; // loss above this x the median of the early losses
    double grad_norm_min_ratio = 4.0; // grad_norm above this x its early median ...
    double grad_norm_z = 6.0;         // ... and this many robust sd (log scale) above it
    // Rewards relative to a reference are 0 before the first step (policy = reference): the first
    // phase's change is then also measured from 0, which gives runs of a few logged points
    // their power (diagnose_series sets it from DiagnosisContext::rewards_relative).
    bool rewards_start_at_zero = false;
    // The run's early levels (PhaseSegmentation's baselines) when the stream is a live window of
    // the run's latest records (diagnosis.h, LiveDiagnosis): "the margin had grown" and the
    // levels of reference-free rewards are measured from the run's start, not the window's (the
    // run's scale, what a slope is compared with, stays the window's own). NaN: the stream starts
    // the run and sets them.
    double chosen_baseline = std::numeric_limits<double>::quiet_NaN();
    double rejected_baseline = std::numeric_limits<double>::quiet_NaN();
    double margin_baseline = std::numeric_limits<double>::quiet_NaN();

    void validate() const;  // throws ps::Error naming the option
    nlohmann::json to_json() const;
};

// A straight line fitted to one series over one stretch.
struct LineFit {
    int points = 0;
    double slope = 0.0;        // per step
    double start = 0.0;        // the line at the first step of the stretch
    double end = 0.0;          // ... at its last step
    double change = 0.0;       // end - start
    double slope_se = 0.0;     // standard error of the slope
    double end_se = 0.0;       // standard error of `end` (the level there)
    double noise = 0.0;        // the residual sd used (never below the run's noise estimate)
    double t = 0.0;            // slope / slope_se
    int direction = 0;         // +1 rising, -1 falling, 0 flat
    nlohmann::json to_json() const;
};

struct Phase {
    size_t first = 0, last = 0;  // indices into the stream's training records, inclusive
    int64_t start_step = 0, end_step = 0;
    Regime regime = Regime::Healthy;
    LineFit chosen, rejected, margin;  // fitted over the whole phase
    std::string reason;  // diverging: "non_finite", "loss_exploding", "grad_norm_exploding"
    std::string metric;  // non_finite: the first metric that was not finite, and its value
    std::string value;
};

struct PhaseSegmentation {
    int64_t records = 0;  // training records (those logging a reward, loss or grad_norm)
    int64_t finite_points = 0;
    bool has_chosen = false, has_rejected = false;  // logged with finite values at all
    double noise_chosen = 0.0, noise_rejected = 0.0, noise_margin = 0.0;  // from differences
    // The fitted levels at the first logged point: the run's own early baseline.
    double chosen_baseline = 0.0, rejected_baseline = 0.0, margin_baseline = 0.0;
    // The largest change of either fitted level from its baseline (the run's scale).
    double scale = 0.0;
    std::vector<Phase> phases;  // tile the records in order; empty when not enough data
    std::vector<int64_t> steps;  // of the training records
    std::vector<int64_t> change_points;  // first step of each stretch the fit found, before merging
};

// Phases of the preference-training records of a stream (sft/ and eval/ records, and records
// whose step is not after the previous one, are skipped, as the live detector skips them).
PhaseSegmentation segment_phases(const std::vector<StepMetrics>& stream, const PhaseOptions& options = {});

// The segmentation's core on plain arrays (NaN where a series is not logged at a point):
// change points of the joint piecewise-linear fit, as indices of the first point of each stretch
// after the first (0 is implied). Exposed for tests.
std::vector<size_t> piecewise_linear_change_points(const std::vector<double>& x,
                                                   const std::vector<std::vector<double>>& series,
                                                   const std::vector<double>& noise, double penalty,
                                                   int min_points);

// 1.4826 x MAD of the first differences / sqrt 2 over finite neighbours; NaN with fewer than 3.
double noise_from_differences(const std::vector<double>& values);

}  // namespace ps
