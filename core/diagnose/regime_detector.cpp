#include "core/diagnose/regime_detector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "core/common/errors.h"

namespace ps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMadToSd = 1.4826;  // MAD of a normal sample times this estimates its sd
constexpr size_t kMinGradReference = 10;

const Regime kAllRegimes[] = {Regime::WarmingUp,        Regime::Healthy,  Regime::BothFalling,
                              Regime::BothRising,       Regime::MarginCollapsing,
                              Regime::Diverging};

// Which regime wins when several patterns hold at once: the more urgent one.
int priority(Regime r) {
    switch (r) {
        case Regime::WarmingUp: return 0;
        case Regime::Healthy: return 1;
        case Regime::BothRising: return 2;
        case Regime::BothFalling: return 3;
        case Regime::MarginCollapsing: return 4;
        case Regime::Diverging: return 5;
    }
    return 0;
}

bool is_trend_problem(Regime r) {
    return r == Regime::BothFalling || r == Regime::BothRising || r == Regime::MarginCollapsing;
}

// Median of v (reorders v). NaN when empty.
double median_of(std::vector<double>& v) {
    if (v.empty()) return kNaN;
    const size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    const double upper = v[mid];
    if (v.size() % 2 == 1) return upper;
    const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
    return 0.5 * (lower + upper);
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string non_finite_text(double v) {
    if (std::isnan(v)) return "NaN";
    return v > 0 ? "+Inf" : "-Inf";
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

const char* trend_word(int direction) {
    return direction > 0 ? "rising" : direction < 0 ? "falling" : "flat";
}

// The value of `name` in m and whether it is present at all (StepMetrics::get cannot tell an
// absent metric from a NaN one, and a NaN one means divergence).
double lookup(const StepMetrics& m, const char* name, bool& present) {
    for (const auto& [k, v] : m.values)
        if (k == name) {
            present = true;
            return v;
        }
    present = false;
    return kNaN;
}

}  // namespace

const char* to_string(Regime regime) {
    switch (regime) {
        case Regime::WarmingUp: return "warming_up";
        case Regime::Healthy: return "healthy";
        case Regime::BothFalling: return "both_falling";
        case Regime::BothRising: return "both_rising";
        case Regime::MarginCollapsing: return "margin_collapsing";
        case Regime::Diverging: return "diverging";
    }
    return "unknown";
}

Regime regime_from_string(const std::string& text) {
    for (Regime r : kAllRegimes)
        if (text == to_string(r)) return r;
    throw Error("unknown regime '" + text +
                "' (known: warming_up, healthy, both_falling, both_rising, margin_collapsing, "
                "diverging)");
}

std::string regime_label(Regime regime) {
    switch (regime) {
        case Regime::WarmingUp: return "Warming up";
        case Regime::Healthy: return "Healthy";
        case Regime::BothFalling: return "Both falling";
        case Regime::BothRising: return "Both rising";
        case Regime::MarginCollapsing: return "Margin collapsing";
        case Regime::Diverging: return "Diverging";
    }
    return "Unknown";
}

bool is_problem(Regime regime) { return priority(regime) >= priority(Regime::BothRising); }

std::string regime_explanation(Regime regime) {
    switch (regime) {
        case Regime::WarmingUp:
            return "Not enough training steps with rewards yet to judge their trends.";
        case Regime::Healthy:
            return "Chosen is rising or steady while rejected falls: the margin grows the way "
                   "preference optimisation intends.";
        case Regime::BothFalling:
            return "Both rewards are falling: the policy is moving away from the chosen answers as "
                   "well as the rejected ones; the margin grows only because rejected falls faster. "
                   "Common causes: chosen answers unlikely under the model (off-policy), "
                   "near-identical pairs, learning rate too high or beta too low.";
        case Regime::BothRising:
            return "Both rewards are rising: the policy is moving toward the rejected answers as "
                   "well as the chosen ones; the margin grows only because chosen rises faster. "
                   "Common causes: rejected answers close to the chosen ones or in the same style, "
                   "beta too low; check that the rejected answers really are worse.";
        case Regime::MarginCollapsing:
            return "The margin is shrinking after it had grown: the policy is losing the "
                   "preference it learned (rejected rising back, or chosen falling faster than "
                   "rejected). Common causes: learning rate too high, over-fitting noisy pairs, "
                   "or drift without a reference anchor (SimPO).";
        case Regime::Diverging:
            return "Training is diverging: the loss, the rewards or the gradient norm left any "
                   "sensible range. Lower the learning rate or raise beta, keep gradient clipping "
                   "on, and check the data for empty or truncated answers.";
    }
    return "";
}

void RegimeDetectorOptions::validate() const {
    auto fail = [](const std::string& what) { throw Error("regime detector option " + what); };
    if (!(smoothing >= 0.0 && smoothing < 1.0))
        fail("smoothing must be in [0, 1), got " + std::to_string(smoothing));
    if (window < 10)  // the Mann-Kendall normal approximation needs about 10 points
        fail("window must be at least 10 records, got " + std::to_string(window));
    if (min_duration < 1) fail("min_duration must be at least 1, got " + std::to_string(min_duration));
    if (!(stay_z > 0.0)) fail("stay_z must be positive, got " + std::to_string(stay_z));
    if (!(enter_z >= stay_z))
        fail("enter_z must be at least stay_z (" + std::to_string(stay_z) + "), got " +
             std::to_string(enter_z));
    if (!(min_change >= 0.0)) fail("min_change must be >= 0, got " + std::to_string(min_change));
    if (!(min_change_noise >= 0.0))
        fail("min_change_noise must be >= 0, got " + std::to_string(min_change_noise));
    if (!(stay_change_fraction > 0.0 && stay_change_fraction <= 1.0))
        fail("stay_change_fraction must be in (0, 1], got " + std::to_string(stay_change_fraction));
    if (explode_min_steps < 1)
        fail("explode_min_steps must be at least 1, got " + std::to_string(explode_min_steps));
    if (!(grad_norm_z > 0.0)) fail("grad_norm_z must be positive, got " + std::to_string(grad_norm_z));
    if (!(grad_norm_min_ratio >= 1.0))
        fail("grad_norm_min_ratio must be >= 1, got " + std::to_string(grad_norm_min_ratio));
    if (!(grad_norm_log_sd_floor > 0.0))
        fail("grad_norm_log_sd_floor must be positive, got " + std::to_string(grad_norm_log_sd_floor));
    if (!(loss_explode_factor > 1.0))
        fail("loss_explode_factor must be above 1, got " + std::to_string(loss_explode_factor));
    if (loss_reference_steps < 1)
        fail("loss_reference_steps must be at least 1, got " + std::to_string(loss_reference_steps));
}

nlohmann::json RegimeDetectorOptions::to_json() const {
    return {{"smoothing", smoothing},
            {"window", window},
            {"min_duration", min_duration},
            {"enter_z", enter_z},
            {"stay_z", stay_z},
            {"min_change", min_change},
            {"min_change_noise", min_change_noise},
            {"stay_change_fraction", stay_change_fraction},
            {"explode_min_steps", explode_min_steps},
            {"grad_norm_z", grad_norm_z},
            {"grad_norm_min_ratio", grad_norm_min_ratio},
            {"grad_norm_log_sd_floor", grad_norm_log_sd_floor},
            {"loss_explode_factor", loss_explode_factor},
            {"loss_reference_steps", loss_reference_steps}};
}

TrendEstimate estimate_trend(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<std::pair<double, double>> pts;
    const size_t n_in = std::min(x.size(), y.size());
    pts.reserve(n_in);
    for (size_t i = 0; i < n_in; ++i)
        if (std::isfinite(x[i]) && std::isfinite(y[i])) pts.emplace_back(x[i], y[i]);
    std::sort(pts.begin(), pts.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });

    TrendEstimate t;
    t.points = static_cast<int>(pts.size());
    if (pts.size() < 3) return t;

    const size_t n = pts.size();
    std::vector<double> slopes;
    slopes.reserve(n * (n - 1) / 2);
    long long s = 0;  // Mann-Kendall S: concordant minus discordant pairs
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j) {
            const double dx = pts[j].first - pts[i].first;
            const double dy = pts[j].second - pts[i].second;
            if (dx <= 0.0) continue;  // same x twice: no slope, no order
            slopes.push_back(dy / dx);
            s += (dy > 0.0) - (dy < 0.0);
        }
    if (slopes.empty()) return t;
    t.slope = median_of(slopes);

    std::vector<double> intercepts(n);
    for (size_t i = 0; i < n; ++i) intercepts[i] = pts[i].second - t.slope * pts[i].first;
    const double intercept = median_of(intercepts);
    std::vector<double> abs_residuals(n);
    for (size_t i = 0; i < n; ++i)
        abs_residuals[i] = std::fabs(pts[i].second - (t.slope * pts[i].first + intercept));
    t.noise = kMadToSd * median_of(abs_residuals);

    // Variance of S without ties; ties only make it smaller, so this errs on the quiet side.
    const double nd = static_cast<double>(n);
    const double variance = nd * (nd - 1.0) * (2.0 * nd + 5.0) / 18.0;
    const double sd = std::sqrt(variance);
    const double sc = static_cast<double>(s);
    t.z = s > 0 ? (sc - 1.0) / sd : s < 0 ? (sc + 1.0) / sd : 0.0;  // continuity correction
    t.change = t.slope * (pts.back().first - pts.front().first);
    return t;
}

void RegimeDetector::Ema::add(double y, double weight) {
    if (!std::isfinite(y)) return;  // as TensorBoard: a NaN point does not poison the curve
    value = value * weight + (1.0 - weight) * y;
    ++count;
    const double debias = 1.0 - std::pow(weight, static_cast<double>(count));
    last = debias > 0.0 ? value / debias : y;
}

double RegimeDetector::Ema::get() const { return count > 0 ? last : kNaN; }

RegimeDetector::RegimeDetector(RegimeDetectorOptions options) : options_(std::move(options)) {
    options_.validate();
}

void RegimeDetector::reset() { *this = RegimeDetector(options_); }

SmoothedRewards RegimeDetector::smoothed() const {
    return {chosen_ema_.get(), rejected_ema_.get(), margin_ema_.get(), loss_ema_.get()};
}

std::vector<RegimeChange> RegimeDetector::take_changes() {
    std::vector<RegimeChange> out;
    out.swap(pending_);
    return out;
}

RegimeDetector::Divergence RegimeDetector::check_divergence(const StepMetrics& m, int64_t step) {
    Divergence d;
    for (const char* name : {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins"}) {
        bool present = false;
        const double v = lookup(m, name, present);
        if (present && !std::isfinite(v)) {
            d.non_finite = true;
            d.detail = {{"reason", "non_finite"}, {"metric", name}, {"value", non_finite_text(v)},
                        {"step", step}};
            break;
        }
    }

    // grad_norm: robust z of its log against recent normal records. Outliers stay out of the
    // reference, so a sustained explosion keeps standing out instead of becoming the new normal.
    bool grad_outlier = false;
    nlohmann::json grad_detail;
    bool has_grad = false;
    const double grad = lookup(m, "grad_norm", has_grad);
    if (has_grad) {
        if (!std::isfinite(grad)) {
            // Not immediate: mixed-precision runs log an Inf grad_norm for a skipped step.
            grad_outlier = true;
            grad_detail = {{"reason", "grad_norm_exploding"}, {"grad_norm", non_finite_text(grad)}};
        } else if (grad > 0.0) {
            const double log_grad = std::log(grad);
            if (grad_reference_.size() >= kMinGradReference) {
                std::vector<double> ref(grad_reference_.begin(), grad_reference_.end());
                const double med = median_of(ref);
                for (double& r : ref) r = std::fabs(r - med);
                const double spread =
                    std::max(kMadToSd * median_of(ref), options_.grad_norm_log_sd_floor);
                const double z = (log_grad - med) / spread;
                const double ratio = std::exp(log_grad - med);
                if (z >= options_.grad_norm_z && ratio >= options_.grad_norm_min_ratio) {
                    grad_outlier = true;
                    grad_detail = {{"reason", "grad_norm_exploding"}, {"grad_norm", grad},
                                   {"grad_norm_z", z}, {"grad_norm_ratio", ratio},
                                   {"reference_grad_norm", std::exp(med)}};
                }
            }
            if (!grad_outlier) {
                grad_reference_.push_back(log_grad);
                while (grad_reference_.size() > static_cast<size_t>(options_.window))
                    grad_reference_.pop_front();
            }
        }
    }

    bool loss_outlier = false;
    nlohmann::json loss_detail;
    bool has_loss = false;
    const double loss = lookup(m, "loss", has_loss);
    if (has_loss && std::isfinite(loss)) {
        if (early_losses_.size() < static_cast<size_t>(options_.loss_reference_steps)) {
            early_losses_.push_back(loss);
            if (early_losses_.size() == static_cast<size_t>(options_.loss_reference_steps)) {
                std::vector<double> copy = early_losses_;
                loss_reference_ = median_of(copy);
            }
        } else if (loss_reference_ > 0.0 && loss > options_.loss_explode_factor * loss_reference_) {
            loss_outlier = true;
            loss_detail = {{"reason", "loss_exploding"}, {"loss", loss},
                           {"reference_loss", loss_reference_},
                           {"loss_ratio", loss / loss_reference_}};
        }
    }

    d.exploding = grad_outlier || loss_outlier;
    if (!d.non_finite && d.exploding) d.detail = grad_outlier ? grad_detail : loss_detail;
    return d;
}

RegimeDetector::Trends RegimeDetector::fit_window() const {
    Trends t;
    if (window_.size() < 3) return t;
    std::vector<double> x, c, r, mg;
    x.reserve(window_.size());
    for (const Sample& s : window_) {
        x.push_back(static_cast<double>(s.step));
        c.push_back(s.chosen);
        r.push_back(s.rejected);
        mg.push_back(s.margin);
    }
    t.chosen = estimate_trend(x, c);
    t.rejected = estimate_trend(x, r);
    t.margin = estimate_trend(x, mg);
    const int min_points = options_.window / 2;
    t.ready = window_.size() >= static_cast<size_t>(options_.window) &&
              t.chosen.points >= min_points && t.rejected.points >= min_points;
    return t;
}

int RegimeDetector::direction(const TrendEstimate& t, bool stay) const {
    if (t.points < std::max(3, options_.window / 2)) return 0;
    const double z = stay ? options_.stay_z : options_.enter_z;
    const double scale = stay ? options_.stay_change_fraction : 1.0;
    const double threshold =
        scale * std::max(options_.min_change, options_.min_change_noise * t.noise);
    if (t.z >= z && t.change >= threshold) return 1;
    if (t.z <= -z && t.change <= -threshold) return -1;
    return 0;
}

Regime RegimeDetector::classify(const Trends& t) const {
    const int c = direction(t.chosen, false);
    const int r = direction(t.rejected, false);
    const int m = direction(t.margin, false);
    if (m < 0 && margin_has_grown_) return Regime::MarginCollapsing;
    if (c < 0 && r < 0) return Regime::BothFalling;
    if (c > 0 && r > 0) return Regime::BothRising;
    return Regime::Healthy;
}

bool RegimeDetector::still_holds(Regime regime, const Trends& t) const {
    // A declared problem ends on positive evidence of something else, not on a pause: training
    // curves fall in steps with flat stretches between them, and "flat" there is not "fixed".
    const int c = direction(t.chosen, true);
    const int r = direction(t.rejected, true);
    const int m = direction(t.margin, true);
    switch (regime) {
        case Regime::MarginCollapsing: return m <= 0;
        case Regime::BothFalling:
            // Ends when either side rises, or chosen holds while rejected clearly falls
            // (the intended pattern).
            return c <= 0 && r <= 0 && !(c == 0 && direction(t.rejected, false) < 0);
        case Regime::BothRising:
            // The milder pattern, and on real runs often a rebound of both curves after a fall:
            // plain hysteresis, so it ends when the rise stops.
            return c > 0 && r > 0;
        default: return false;
    }
}

nlohmann::json RegimeDetector::evidence(const Trends& t) const {
    nlohmann::json ev = nlohmann::json::object();
    ev["window"] = window_.size();
    if (window_.empty()) return ev;
    const Sample& first = window_.front();
    const Sample& last = window_.back();
    ev["window_start_step"] = first.step;
    ev["window_end_step"] = last.step;
    auto series = [&](const TrendEstimate& e, double start, double end) {
        return nlohmann::json{{"slope", num(e.slope)},      {"z", num(e.z)},
                              {"change", num(e.change)},    {"noise", num(e.noise)},
                              {"points", e.points},         {"trend", trend_word(direction(e, false))},
                              {"smoothed_start", num(start)}, {"smoothed_end", num(end)}};
    };
    ev["chosen"] = series(t.chosen, first.chosen_smoothed, last.chosen_smoothed);
    ev["rejected"] = series(t.rejected, first.rejected_smoothed, last.rejected_smoothed);
    ev["margin"] = series(t.margin, first.margin_smoothed, last.margin_smoothed);
    ev["margin_has_grown"] = margin_has_grown_;
    return ev;
}

std::string RegimeDetector::explain(Regime regime, const Trends& t,
                                    const nlohmann::json& ev) const {
    std::string numbers;
    if (ev.contains("chosen") && ev["chosen"]["change"].is_number() &&
        ev["rejected"]["change"].is_number()) {
        numbers = " Over steps " + std::to_string(ev["window_start_step"].get<int64_t>()) + "-" +
                  std::to_string(ev["window_end_step"].get<int64_t>()) + " chosen changed by " +
                  fmt("%+.3f", t.chosen.change) + " and rejected by " +
                  fmt("%+.3f", t.rejected.change) + " (margin " + fmt("%+.3f", t.margin.change) +
                  ").";
    }
    switch (regime) {
        case Regime::Diverging: {
            const std::string reason = ev.value("reason", "");
            std::string what;
            if (reason == "non_finite")
                what = "Training is diverging: " + ev.value("metric", std::string("a metric")) +
                       " became " + ev.value("value", std::string("NaN")) + " at step " +
                       std::to_string(ev.value("step", int64_t{0})) + ".";
            else if (reason == "grad_norm_exploding")
                what = "Training is diverging: grad_norm has stayed far above its recent level for " +
                       std::to_string(options_.explode_min_steps) + " steps" +
                       (ev.contains("grad_norm_ratio")
                            ? " (" + fmt("%.1f", ev["grad_norm_ratio"].get<double>()) +
                                  "x its recent median)."
                            : ".");
            else
                what = "Training is diverging: the loss has stayed above " +
                       fmt("%.1f", options_.loss_explode_factor) + "x its early median" +
                       (ev.contains("reference_loss")
                            ? " (" + fmt("%.3f", ev["reference_loss"].get<double>()) + ")"
                            : std::string()) +
                       " for " + std::to_string(options_.explode_min_steps) + " steps.";
            return what + " Lower the learning rate or raise beta, keep gradient clipping on, and "
                          "check the data for empty or truncated answers.";
        }
        case Regime::Healthy: {
            const int c = direction(t.chosen, false);
            const int r = direction(t.rejected, false);
            const int m = direction(t.margin, false);
            std::string what;
            if (c >= 0 && r < 0)
                what = regime_explanation(Regime::Healthy);
            else if (c == 0 && r == 0 && m == 0)
                what = "No significant trend in chosen, rejected or the margin: nothing looks "
                       "wrong (a run that stays flat for long may need a larger learning rate).";
            else
                what = std::string("No problem pattern: chosen ") + trend_word(c) + ", rejected " +
                       trend_word(r) + ", margin " + trend_word(m) + ".";
            return what + numbers;
        }
        case Regime::BothFalling:
            if (direction(t.margin, false) > 0) return regime_explanation(regime) + numbers;
            return "Both rewards are falling: the policy is moving away from the chosen answers as "
                   "well as the rejected ones, and the margin is not growing. Common causes: "
                   "chosen answers unlikely under the model (off-policy), near-identical pairs, "
                   "learning rate too high or beta too low." + numbers;
        case Regime::BothRising:
            if (direction(t.margin, false) > 0) return regime_explanation(regime) + numbers;
            return "Both rewards are rising: the policy is moving toward the rejected answers as "
                   "well as the chosen ones, and the margin is not growing. Common causes: rejected "
                   "answers close to the chosen ones or in the same style, beta too low; check "
                   "that the rejected answers really are worse." + numbers;
        case Regime::WarmingUp: return regime_explanation(regime);
        default: return regime_explanation(regime) + numbers;
    }
}

void RegimeDetector::declare(Regime regime, int64_t start_step, int64_t step,
                             nlohmann::json ev) {
    // A stretch never starts before the previous regime was declared: what was announced stays.
    if (!segments_.empty())
        start_step = std::max(start_step, std::min(step, segments_.back().declared_step + 1));
    while (!segments_.empty() && segments_.back().start_step >= start_step)
        segments_.pop_back();  // only the one-record warm-up when the very first record is NaN
    if (!segments_.empty()) segments_.back().end_step = start_step - 1;

    ev["regime"] = to_string(regime);
    ev["since_step"] = start_step;
    ev["declared_step"] = step;
    const std::string text = explain(regime, trends_, ev);

    RegimeChange change;
    change.step = step;
    change.from = to_string(declared_);
    change.to = to_string(regime);
    change.evidence = ev;
    change.explanation = text;
    pending_.push_back(std::move(change));

    RegimeSegment seg;
    seg.start_step = start_step;
    seg.end_step = step;
    seg.regime = regime;
    seg.declared_step = step;
    seg.evidence = std::move(ev);
    seg.explanation = text;
    segments_.push_back(std::move(seg));

    declared_ = regime;
    candidate_count_ = 0;
}

void RegimeDetector::add(const StepMetrics& m) {
    bool has_chosen = false, has_rejected = false, has_margin = false, has_loss = false,
         has_grad = false;
    const double chosen = lookup(m, "rewards/chosen", has_chosen);
    const double rejected = lookup(m, "rewards/rejected", has_rejected);
    const double logged_margin = lookup(m, "rewards/margins", has_margin);
    const double loss = lookup(m, "loss", has_loss);
    lookup(m, "grad_norm", has_grad);
    // sft/ and eval/ records carry none of these names.
    if (!(has_chosen || has_rejected || has_margin || has_loss || has_grad)) return;
    if (records_ > 0 && m.step <= last_step_) return;
    const int64_t step = m.step;
    ++records_;
    last_step_ = step;

    const double margin = has_margin ? logged_margin : chosen - rejected;
    const double w = options_.smoothing;
    chosen_ema_.add(chosen, w);
    rejected_ema_.add(rejected, w);
    margin_ema_.add(margin, w);
    loss_ema_.add(loss, w);
    window_.push_back({step, chosen, rejected, margin, chosen_ema_.get(), rejected_ema_.get(),
                       margin_ema_.get()});
    while (window_.size() > static_cast<size_t>(options_.window)) window_.pop_front();

    if (segments_.empty()) {
        RegimeSegment seg;
        seg.start_step = step;
        seg.end_step = step;
        seg.regime = Regime::WarmingUp;
        seg.declared_step = step;
        seg.explanation = regime_explanation(Regime::WarmingUp);
        segments_.push_back(std::move(seg));
    } else {
        segments_.back().end_step = step;
    }

    const Divergence div = check_divergence(m, step);
    if (div.exploding) {
        if (explode_run_ == 0) explode_start_ = step;
        ++explode_run_;
    } else {
        explode_run_ = 0;
    }

    trends_ = fit_window();
    if (trends_.ready && direction(trends_.margin, false) > 0) margin_has_grown_ = true;

    // What this record says, with hysteresis for a declared problem.
    Regime observed;
    bool immediate = false;
    int64_t start = step;
    if (div.non_finite) {
        observed = Regime::Diverging;
        immediate = true;
    } else if (explode_run_ >= options_.explode_min_steps) {
        observed = Regime::Diverging;
        immediate = true;  // the sustained run already was the minimum duration
        start = explode_start_;
    } else if (declared_ == Regime::Diverging && div.exploding) {
        observed = Regime::Diverging;
    } else {
        const Regime strict = trends_.ready ? classify(trends_) : Regime::WarmingUp;
        if (strict != declared_ && is_trend_problem(declared_) && trends_.ready &&
            still_holds(declared_, trends_) && priority(strict) <= priority(declared_))
            observed = declared_;
        else
            observed = strict;
    }

    if (observed == declared_) {
        candidate_count_ = 0;
        return;
    }
    if (immediate) {
        nlohmann::json ev = evidence(trends_);
        for (const auto& [k, v] : div.detail.items()) ev[k] = v;
        declare(Regime::Diverging, start, step, std::move(ev));
        return;
    }
    if (candidate_count_ > 0 && observed == candidate_) {
        ++candidate_count_;
    } else {
        candidate_ = observed;
        candidate_count_ = 1;
        candidate_start_ = step;
    }
    if (candidate_count_ >= options_.min_duration) {
        declare(candidate_, candidate_start_, step, evidence(trends_));
    }
}

}  // namespace ps
