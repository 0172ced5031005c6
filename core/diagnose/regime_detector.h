// Live regime detection on a run's metric stream: is the run healthy, are both rewards falling,
// both rising, is the margin collapsing, is training diverging? (README: diagnosis.)
//
// The detector reads the preference-training records of the stream (those with "rewards/chosen",
// "rewards/rejected", "rewards/margins", "loss" or "grad_norm"); "sft/..." and "eval/..." records
// are ignored. Over a sliding window of the last `window` records it fits a Theil-Sen slope to
// chosen, rejected and margin and tests it with the Mann-Kendall statistic z (both robust to a
// few wild steps). A trend counts as rising/falling only when |z| and the change over the window
// pass their thresholds; otherwise it is flat. Each record is classified (the more urgent
// pattern wins: margin collapsing > both falling > both rising > healthy). A new
// classification must hold for `min_duration` consecutive records before it is declared.
// Hysteresis: a declared problem is kept with looser thresholds than it took to enter, and
// both_falling / margin_collapsing end only on positive evidence of something else (a side
// rising, or chosen holding while rejected clearly falls), not on a pause: real curves fall in
// steps with flat stretches between them. NaN/Inf in loss or rewards is diverging at once.
//
// Windows and durations count records, which is steps when one record is logged per step.
// Not thread-safe: one thread feeds and reads it (DiagnosisSink adds the locking).
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

namespace ps {

enum class Regime {
    WarmingUp,         // fewer than `window` records with rewards: nothing to judge yet
    Healthy,           // no problem pattern: chosen rising or flat while rejected falls, or all flat
    BothFalling,       // chosen and rejected both significantly falling
    BothRising,        // chosen and rejected both significantly rising
    MarginCollapsing,  // margin significantly falling after it had significantly grown
    Diverging,         // NaN/Inf in loss or rewards, or loss / grad_norm exploding
};

const char* to_string(Regime regime);                // "warming_up", "both_falling", ...
Regime regime_from_string(const std::string& text);  // throws ps::Error on unknown text
std::string regime_label(Regime regime);             // for legends: "Both falling"
bool is_problem(Regime regime);                      // BothFalling .. Diverging
// Plain sentences on what the regime means and its common causes (no numbers).
std::string regime_explanation(Regime regime);

// Defaults suit runs of 100-1000 steps logged every step with per-batch reward noise.
struct RegimeDetectorOptions {
    double smoothing = 0.6;  // debiased EMA weight, TensorBoard's default; evidence values only
    int window = 30;         // records per trend fit; also the warm-up length
    int min_duration = 10;   // consecutive records a new classification needs to be declared

    // A trend is rising/falling when |z| >= z and |change over the window| >= the larger of
    // min_change and min_change_noise * (robust sd of the residuals around the fitted line).
    double enter_z = 3.0;             // to enter a regime
    double stay_z = 2.0;              // to stay in the declared regime (hysteresis)
    double min_change = 0.01;         // reward units over the window
    double min_change_noise = 0.5;    // times the residual noise
    double stay_change_fraction = 0.5;  // change thresholds scale by this to stay

    // Divergence besides NaN/Inf (which is immediate): either condition held for
    // `explode_min_steps` consecutive records.
    int explode_min_steps = 8;
    double grad_norm_z = 6.0;            // robust z of log(grad_norm) against recent normal steps
    double grad_norm_min_ratio = 4.0;    // and grad_norm at least this times their median
    double grad_norm_log_sd_floor = 0.1; // lower bound of the log-scale spread (steady series)
    double loss_explode_factor = 3.0;    // loss above this times the median of the early losses
    int loss_reference_steps = 20;       // how many early records define that median

    // Throws ps::Error naming the option when a value is out of range.
    void validate() const;
    nlohmann::json to_json() const;
};

// Robust trend of y over x: Theil-Sen slope, Mann-Kendall z, and how much the fitted line changes
// over the span of x. Non-finite points are skipped.
struct TrendEstimate {
    int points = 0;      // finite points used
    double slope = 0.0;  // per unit of x (per step)
    double z = 0.0;      // Mann-Kendall statistic, about N(0,1) when there is no trend
    double change = 0.0; // slope * (last x - first x)
    double noise = 0.0;  // 1.4826 * median |residual|: a robust sd of the points around the line
};
TrendEstimate estimate_trend(const std::vector<double>& x, const std::vector<double>& y);

struct RegimeChange {
    int64_t step = 0;  // the record at which the change was declared
    std::string from, to;
    nlohmann::json evidence;  // trends over the window; see RegimeDetector::add
    std::string explanation;
};

// A stretch of the run in one declared regime. A declared regime is back-dated to the first
// record of the consecutive stretch that confirmed it (`start_step`), so bands line up with
// the data; `declared_step` is when it became known.
struct RegimeSegment {
    int64_t start_step = 0;
    int64_t end_step = 0;  // inclusive; the last record seen for the open segment
    Regime regime = Regime::WarmingUp;
    int64_t declared_step = 0;
    nlohmann::json evidence = nlohmann::json::object();
    std::string explanation;
};

// The last smoothed values (NaN before any finite value).
struct SmoothedRewards {
    double chosen, rejected, margin, loss;
};

class RegimeDetector {
public:
    explicit RegimeDetector(RegimeDetectorOptions options = {});  // validates the options

    // Feeds one record of the stream. Records without training metrics (sft/, eval/) and records
    // whose step is not after the last training step (duplicates, a replayed log) are ignored.
    void add(const StepMetrics& metrics);

    // Changes declared since the last call, oldest first. Evidence holds "window",
    // "window_start_step", "window_end_step", "since_step", "declared_step", and for "chosen",
    // "rejected", "margin" each {"slope","z","change","noise","points","trend",
    // "smoothed_start","smoothed_end"}; diverging adds "reason" ("non_finite",
    // "grad_norm_exploding", "loss_exploding") with the values behind it.
    std::vector<RegimeChange> take_changes();

    Regime current() const { return declared_; }
    const std::vector<RegimeSegment>& segments() const { return segments_; }
    int64_t training_records() const { return records_; }
    int64_t last_step() const { return last_step_; }
    SmoothedRewards smoothed() const;
    const RegimeDetectorOptions& options() const { return options_; }
    void reset();  // forget everything (a new run)

private:
    struct Sample {
        int64_t step;
        double chosen, rejected, margin;
        double chosen_smoothed, rejected_smoothed, margin_smoothed;
    };
    struct Ema {
        double value = 0.0;
        int64_t count = 0;
        double last = 0.0;  // debiased
        void add(double y, double weight);
        double get() const;
    };
    struct Trends {
        bool ready = false;
        TrendEstimate chosen, rejected, margin;
    };
    struct Divergence {
        bool non_finite = false;
        bool exploding = false;  // a grad_norm or loss outlier at this record
        nlohmann::json detail = nlohmann::json::object();
    };

    Divergence check_divergence(const StepMetrics& m, int64_t step);
    Trends fit_window() const;
    int direction(const TrendEstimate& t, bool stay) const;
    Regime classify(const Trends& t) const;  // with the strict "enter" thresholds
    // Whether the declared problem `r` still holds (looser "stay" thresholds; see the .cpp).
    bool still_holds(Regime r, const Trends& t) const;
    nlohmann::json evidence(const Trends& t) const;
    std::string explain(Regime r, const Trends& t, const nlohmann::json& evidence) const;
    void declare(Regime r, int64_t start_step, int64_t step, nlohmann::json evidence);

    RegimeDetectorOptions options_;
    int64_t records_ = 0;
    int64_t last_step_ = 0;
    Ema chosen_ema_, rejected_ema_, margin_ema_, loss_ema_;
    std::deque<Sample> window_;
    Trends trends_;
    bool margin_has_grown_ = false;

    std::vector<double> early_losses_;  // first loss_reference_steps finite losses
    double loss_reference_ = 0.0;       // their median, once complete
    std::deque<double> grad_reference_; // log grad_norm of recent non-outlier records
    int64_t explode_run_ = 0;           // consecutive records with an outlier
    int64_t explode_start_ = 0;

    Regime declared_ = Regime::WarmingUp;
    Regime candidate_ = Regime::WarmingUp;
    int64_t candidate_count_ = 0;
    int64_t candidate_start_ = 0;

    std::vector<RegimeSegment> segments_;
    std::vector<RegimeChange> pending_;
};

}  // namespace ps
