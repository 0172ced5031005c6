// Per-pair evidence (issue #8): each tracked pair's chosen and rejected log-prob over training,
// the pairs whose chosen answer lost the most likelihood, and how well the CHES similarity of a
// pair (measured on the reference model before training) predicts that loss.
//
// CHES, Razin et al. 2024, "Unintentional Unalignment: Likelihood Displacement in Direct
// Preference Optimization" (arXiv:2410.08847), Definition 2. For a prompt x, preferred answer
// y+ and dispreferred answer y-, with h_{x,z} the model's final hidden state (the vector fed to
// the unembedding, i.e. after the final norm) at the last token of the input (x, z):
//
//   CHES(y+, y-) = < S+, S- > - ||S+||^2,   S+ = sum_{k=1..|y+|} h_{x, y+_{<k}},
//                                             S- = sum_{k=1..|y-|} h_{x, y-_{<k}}
//
// i.e. the sums run over the hidden states at the positions that predict each answer token
// (the last prompt token up to the answer's second-to-last token). The length-normalised form
// the paper uses to filter data (Section 6) replaces the sums by means:
//
//   LN-CHES(y+, y-) = < S+/|y+|, S-/|y-| > - ||S+/|y+|||^2
//                   = <S+, S->/(|y+||y-|) - ||S+||^2/|y+|^2
//
// Higher CHES means the two answers look alike to the model; the paper finds that such pairs
// drive likelihood displacement (the chosen log-prob falls although the margin grows).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

namespace ps {

struct ChesScore {
    double ches = 0.0;
    double ln_ches = 0.0;
};

// From the summed hidden states S+ and S- (each `dim` long) and the answer lengths (tokens).
// Throws ps::Error when the sizes differ or a length is 0.
ChesScore ches_from_sums(const std::vector<double>& chosen_sum, size_t chosen_tokens,
                         const std::vector<double>& rejected_sum, size_t rejected_tokens);
// From the hidden states themselves: row-major [tokens x dim] matrices, one row per position
// that predicts an answer token (see above). Throws ps::Error on inconsistent sizes.
ChesScore ches_score(const std::vector<double>& chosen_hidden, size_t chosen_tokens,
                     const std::vector<double>& rejected_hidden, size_t rejected_tokens, size_t dim);

// Ranks 1..n, ties sharing the mean of their ranks (Spearman's convention).
std::vector<double> average_ranks(const std::vector<double>& values);
// Sample correlations over the positions where both values are finite; NaN with fewer than 3
// such positions or when one side is constant.
double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y);
double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y);

struct Correlation {
    size_t pairs = 0;     // pairs with both values finite
    double spearman = 0.0;
    double pearson = 0.0;
    nlohmann::json to_json() const;  // NaN -> null
};

// One tracked pair over the run.
struct PairTrajectory {
    TrackedPair pair;
    std::vector<int64_t> steps;     // ascending; step 0 is before training
    std::vector<double> chosen;     // summed log pi(y_w | x) at each step
    std::vector<double> rejected;   // summed log pi(y_l | x)
    // Last recorded step minus the first (normally step 0); NaN with fewer than two records.
    double chosen_change = 0.0;
    double rejected_change = 0.0;
    double chosen_change_per_token = 0.0;    // chosen_change / chosen tokens
    double rejected_change_per_token = 0.0;

    nlohmann::json to_json() const;  // text, lengths, CHES, changes and the curve
};

struct PairTrackingReport {
    // Every tracked pair, the largest chosen drop first (pairs without a change last).
    std::vector<PairTrajectory> pairs;
    int64_t first_step = 0;
    int64_t last_step = 0;
    size_t chosen_fell = 0;     // pairs whose chosen log-prob ended lower than it started
    size_t rejected_fell = 0;
    double mean_chosen_change = 0.0;
    double mean_rejected_change = 0.0;
    // Correlation of each similarity with the chosen drop (first minus last log-prob, so a
    // positive correlation means more similar pairs lost more chosen likelihood, as the paper
    // predicts), summed and per token.
    Correlation ches_vs_drop, ln_ches_vs_drop, ches_vs_drop_per_token, ln_ches_vs_drop_per_token;
    std::string summary;  // one or two sentences for people

    bool empty() const { return pairs.empty(); }
    // {"tracked","first_step","last_step","chosen_fell","rejected_fell","mean_chosen_change",
    //  "mean_rejected_change","correlations":{"ches":{"drop":{...},"drop_per_token":{...}},
    //  "ln_ches":{...}},"summary","pairs":[...]}, at most `max_pairs` pairs (most falling first).
    nlohmann::json to_json(size_t max_pairs = SIZE_MAX) const;
};

// Joins the tracked pairs with their log-prob records (records of unknown pairs are ignored;
// a repeated (pair, step) keeps the last). Throws nothing on odd input: missing data shows as
// NaN changes and empty curves.
PairTrackingReport analyse_tracked_pairs(const std::vector<TrackedPair>& pairs,
                                         const std::vector<PairLogpRecord>& records);

// The fixed subset of `total` pairs a run tracks: all of them when total <= count, otherwise
// `count` distinct indices drawn with the run's seed (a partial Fisher-Yates shuffle on
// mt19937_64, the same on every platform), in ascending order. Uses its own generator, so the
// training stream's randomness is untouched.
std::vector<size_t> tracked_subset(size_t total, size_t count, uint64_t seed);

}  // namespace ps
