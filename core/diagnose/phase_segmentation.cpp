#include "core/diagnose/phase_segmentation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "core/common/errors.h"

namespace ps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMadToSd = 1.4826;
constexpr int kMinFitPoints = 4;  // fewer finite points: not enough data to judge a trend
constexpr size_t kMaxFitPoints = 65536;  // longer blocks are fitted on group means

double median_of(std::vector<double> v) {
    if (v.empty()) return kNaN;
    const size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + long(mid), v.end());
    const double upper = v[mid];
    if (v.size() % 2 == 1) return upper;
    return 0.5 * (*std::max_element(v.begin(), v.begin() + long(mid)) + upper);
}

double lookup(const StepMetrics& m, const char* name, bool& present) {
    for (const auto& [k, v] : m.values)
        if (k == name) {
            present = true;
            return v;
        }
    present = false;
    return kNaN;
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string non_finite_text(double v) {
    if (std::isnan(v)) return "NaN";
    return v > 0 ? "+Inf" : "-Inf";
}

// Prefix sums of x, x^2 and, per series, count, y, xy, y^2 over its finite points: the least
// squares line of any stretch in O(1). x is scaled to [0, 1] (the sums stay well conditioned
// for a million points); long double keeps the differences of large sums exact enough.
class LinePrefix {
public:
    LinePrefix(const std::vector<double>& x, const std::vector<double>& y) : n_(x.size()) {
        x0_ = x.empty() ? 0.0 : x.front();
        span_ = x.empty() ? 1.0 : std::max(x.back() - x.front(), 1e-300);
        c_.assign(n_ + 1, 0);
        sx_.assign(n_ + 1, 0);
        sxx_.assign(n_ + 1, 0);
        sy_.assign(n_ + 1, 0);
        sxy_.assign(n_ + 1, 0);
        syy_.assign(n_ + 1, 0);
        // y is centred on its first finite value (the sums of squares stay small).
        for (double v : y)
            if (std::isfinite(v)) {
                y0_ = v;
                break;
            }
        for (size_t i = 0; i < n_; ++i) {
            const bool ok = std::isfinite(y[i]);
            const long double u = (x[i] - x0_) / span_, v = ok ? y[i] - y0_ : 0.0;
            c_[i + 1] = c_[i] + (ok ? 1 : 0);
            sx_[i + 1] = sx_[i] + (ok ? u : 0);
            sxx_[i + 1] = sxx_[i] + (ok ? u * u : 0);
            sy_[i + 1] = sy_[i] + v;
            sxy_[i + 1] = sxy_[i] + (ok ? u * v : 0);
            syy_[i + 1] = syy_[i] + v * v;
        }
    }
    struct Fit {
        int64_t n = 0;
        double mean_u = 0, mean_y = 0, suu = 0, suy = 0, syy = 0;
        double slope_u() const { return suu > 0 ? suy / suu : 0.0; }
        double rss() const {
            const double r = suu > 0 ? syy - suy * suy / suu : syy;
            return r > 0 ? r : 0.0;
        }
    };
    // Points [a, b). The prefix differences are taken in long double, the moments in double.
    Fit fit(size_t a, size_t b) const {
        Fit f;
        f.n = c_[b] - c_[a];
        if (f.n == 0) return f;
        const double n = double(f.n), inv = 1.0 / n;
        const double sx = double(sx_[b] - sx_[a]), sy = double(sy_[b] - sy_[a]);
        f.mean_u = sx * inv;
        f.mean_y = sy * inv;
        f.suu = double(sxx_[b] - sxx_[a]) - sx * f.mean_u;
        f.suy = double(sxy_[b] - sxy_[a]) - sx * f.mean_y;
        f.syy = double(syy_[b] - syy_[a]) - sy * f.mean_y;
        if (f.suu < 1e-300) f.suu = 0;
        return f;
    }
    // The residual sum of squares of two lines over [a, k) and [k, b) joined at u = knot
    // (continuous: y = p + q u + h (u - knot)+ over [a, b)), from the same sums.
    double hinge_rss(size_t a, size_t k, size_t b, double knot) const {
        const double n = double(c_[b] - c_[a]);
        if (n < 4) return 0.0;
        const double su = double(sx_[b] - sx_[a]), suu = double(sxx_[b] - sxx_[a]);
        const double sy = double(sy_[b] - sy_[a]), suy = double(sxy_[b] - sxy_[a]), syy = double(syy_[b] - syy_[a]);
        const double nr = double(c_[b] - c_[k]), sur = double(sx_[b] - sx_[k]), suur = double(sxx_[b] - sxx_[k]);
        const double syr = double(sy_[b] - sy_[k]), suyr = double(sxy_[b] - sxy_[k]);
        const double sh = sur - nr * knot, suh = suur - knot * sur, shh = suur - 2 * knot * sur + nr * knot * knot;
        const double shy = suyr - knot * syr;
        // Centre on the means (better conditioned), then solve the 2x2 system of u and h.
        const double mu = su / n, my = sy / n, mh = sh / n;
        const double cuu = suu - su * mu, chh = shh - sh * mh, cuh = suh - su * mh;
        const double cuy = suy - su * my, chy = shy - sh * my, cyy = syy - sy * my;
        const double det = cuu * chh - cuh * cuh;
        if (!(det > 1e-300 * std::max(1.0, cuu * chh))) {
            const double r = cuu > 0 ? cyy - cuy * cuy / cuu : cyy;
            return r > 0 ? r : 0.0;
        }
        const double bu = (chh * cuy - cuh * chy) / det, bh = (cuu * chy - cuh * cuy) / det;
        const double r = cyy - bu * cuy - bh * chy;
        return r > 0 ? r : 0.0;
    }
    double rss(size_t a, size_t b) const { return fit(a, b).rss(); }
    double to_u(double x) const { return (x - x0_) / span_; }
    double span() const { return span_; }

    double y0() const { return y0_; }

private:
    size_t n_;
    double x0_ = 0.0, span_ = 1.0, y0_ = 0.0;
    std::vector<int64_t> c_;
    std::vector<long double> sx_, sxx_, sy_, sxy_, syy_;
};

// Values further than `clip` noise sd from the median of their 5 finite neighbours are pulled
// back to that distance: one wild batch neither makes a phase nor bends a line.
std::vector<double> clip_outliers(const std::vector<double>& y, double noise, double clip) {
    std::vector<double> out = y;
    if (!(noise > 0.0) || !(clip > 0.0)) return out;
    std::vector<size_t> idx;
    for (size_t i = 0; i < y.size(); ++i)
        if (std::isfinite(y[i])) idx.push_back(i);
    if (idx.size() < 5) return out;
    double window[5];
    // The two points at either end have no centred window (a trend would pass for an outlier).
    for (size_t k = 2; k + 2 < idx.size(); ++k) {
        const size_t lo = k - 2;
        for (int j = 0; j < 5; ++j) window[j] = y[idx[lo + size_t(j)]];
        std::nth_element(window, window + 2, window + 5);
        const double med = window[2], limit = clip * noise;
        double& v = out[idx[k]];
        if (v > med + limit) v = med + limit;
        if (v < med - limit) v = med - limit;
    }
    return out;
}

// The least squares line of y over x on points [a, b) (non-finite y skipped), in two passes
// (means, then centred sums: exact enough at any length), reported at x[a] and x[b - 1].
LineFit fit_line(const std::vector<double>& x, const std::vector<double>& y, size_t a, size_t b, double noise) {
    LineFit f;
    double sx = 0.0, sy = 0.0;
    int64_t n = 0;
    for (size_t i = a; i < b; ++i)
        if (std::isfinite(y[i])) {
            sx += x[i] - x[a];
            sy += y[i];
            ++n;
        }
    f.points = int(n);
    if (n == 0) {
        f.start = f.end = f.change = f.slope = f.t = kNaN;
        return f;
    }
    const double mx = x[a] + sx / double(n), my = sy / double(n);
    double sxx = 0.0, sxy = 0.0, syy = 0.0;
    for (size_t i = a; i < b; ++i)
        if (std::isfinite(y[i])) {
            const double dx = x[i] - mx, dy = y[i] - my;
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
    f.slope = sxx > 0 ? sxy / sxx : 0.0;
    f.start = my + f.slope * (x[a] - mx);
    f.end = my + f.slope * (x[b - 1] - mx);
    f.change = f.end - f.start;
    const double rss = std::max(0.0, sxx > 0 ? syy - sxy * f.slope : syy);
    const double resid = n > 2 ? std::sqrt(rss / double(n - 2)) : 0.0;
    f.noise = std::max(resid, noise);
    if (sxx > 0) {
        f.slope_se = f.noise / std::sqrt(sxx);
        const double dx = x[b - 1] - mx;
        f.end_se = f.noise * std::sqrt(1.0 / double(n) + dx * dx / sxx);
        f.t = f.slope_se > 0 ? f.slope / f.slope_se : (f.slope == 0 ? 0.0 : std::copysign(1e300, f.slope));
    } else {
        f.slope_se = std::numeric_limits<double>::infinity();
        f.end_se = f.noise / std::sqrt(double(n));
        f.t = 0.0;
    }
    return f;
}

// The t in [lo, hi] with the smallest f(t): every t for short ranges; for long ones a grid of
// about 2000 points first, then every t around the best of them (the costs change smoothly
// with t at that scale), which keeps a million-point run well under a second.
template <class F>
size_t best_position(size_t lo, size_t hi, F f) {
    constexpr size_t kGrid = 2000;
    size_t stride = hi - lo > 2 * kGrid ? (hi - lo) / kGrid : 1;
    size_t best = lo;
    double best_value = f(lo);
    for (size_t t = lo; t <= hi; t += stride) {
        const double v = f(t);
        if (v < best_value) {
            best_value = v;
            best = t;
        }
    }
    if (stride > 1) {
        const size_t a = best > lo + 2 * stride ? best - 2 * stride : lo;
        const size_t b = std::min(hi, best + 2 * stride);
        for (size_t t = a; t <= b; ++t) {
            const double v = f(t);
            if (v < best_value) {
                best_value = v;
                best = t;
            }
        }
    }
    return best;
}

}  // namespace

void PhaseOptions::validate() const {
    auto fail = [](const std::string& what) { throw Error("phase segmentation option " + what); };
    if (!(penalty > 0.0) || !std::isfinite(penalty)) fail("penalty must be > 0");
    if (min_points < 2) fail("min_points must be >= 2");
    if (!(z > 0.0) || !std::isfinite(z)) fail("z must be > 0");
    if (!(min_relative_rate >= 0.0 && min_relative_rate < 1.0)) fail("min_relative_rate must be in [0, 1)");
    if (!(outlier_clip >= 0.0)) fail("outlier_clip must be >= 0");
    if (explode_min_points < 1) fail("explode_min_points must be >= 1");
    if (!(loss_explode_factor > 1.0)) fail("loss_explode_factor must be > 1");
    if (!(grad_norm_min_ratio > 1.0)) fail("grad_norm_min_ratio must be > 1");
    if (!(grad_norm_z > 0.0)) fail("grad_norm_z must be > 0");
}

nlohmann::json PhaseOptions::to_json() const {
    return {{"penalty", penalty},
            {"min_points", min_points},
            {"z", z},
            {"min_relative_rate", min_relative_rate},
            {"outlier_clip", outlier_clip},
            {"explode_min_points", explode_min_points},
            {"loss_explode_factor", loss_explode_factor},
            {"grad_norm_min_ratio", grad_norm_min_ratio},
            {"grad_norm_z", grad_norm_z},
            {"rewards_start_at_zero", rewards_start_at_zero},
            {"chosen_baseline", num(chosen_baseline)},
            {"rejected_baseline", num(rejected_baseline)},
            {"margin_baseline", num(margin_baseline)}};
}

nlohmann::json LineFit::to_json() const {
    return {{"points", points},       {"slope", num(slope)},       {"start", num(start)},
            {"end", num(end)},        {"change", num(change)},     {"slope_se", num(slope_se)},
            {"end_se", num(end_se)},  {"noise", num(noise)},       {"t", num(t)},
            {"trend", direction > 0 ? "rising" : direction < 0 ? "falling" : "flat"}};
}

double noise_from_differences(const std::vector<double>& values) {
    std::vector<double> d;
    double prev = kNaN;
    for (double v : values) {
        if (!std::isfinite(v)) continue;
        if (std::isfinite(prev)) d.push_back(v - prev);
        prev = v;
    }
    if (d.size() < 2) return kNaN;
    const double med = median_of(d);
    for (double& x : d) x = std::fabs(x - med);
    return kMadToSd * median_of(d) / std::sqrt(2.0);
}

std::vector<size_t> piecewise_linear_change_points(const std::vector<double>& x,
                                                   const std::vector<std::vector<double>>& series,
                                                   const std::vector<double>& noise, double penalty,
                                                   int min_points) {
    const size_t n = x.size();
    const size_t minp = size_t(std::max(2, min_points));
    std::vector<size_t> cps;
    if (series.empty() || n < 2 * minp) return cps;
    std::vector<LinePrefix> prefix;
    std::vector<double> weight;
    for (size_t s = 0; s < series.size(); ++s) {
        prefix.emplace_back(x, series[s]);
        weight.push_back(1.0 / (noise[s] * noise[s]));
    }
    auto cost = [&](size_t a, size_t b) {
        double c = 0.0;
        for (size_t s = 0; s < prefix.size(); ++s) c += weight[s] * prefix[s].rss(a, b);
        return c;
    };
    const double price = penalty * double(2 * series.size() + 1) * std::log(double(n));

    // Binary segmentation: split a stretch where the split lowers the cost most, while that
    // pays the price; then each stretch in turn.
    std::vector<std::pair<size_t, size_t>> todo = {{0, n}};
    while (!todo.empty()) {
        const auto [a, b] = todo.back();
        todo.pop_back();
        if (b - a < 2 * minp) continue;
        const double whole = cost(a, b);
        const size_t best = best_position(a + minp, b - minp, [&](size_t t) { return cost(a, t) + cost(t, b); });
        const double best_gain = whole - cost(a, best) - cost(best, b);
        if (best_gain > price) {
            cps.push_back(best);
            todo.push_back({a, best});
            todo.push_back({best, b});
        }
    }
    std::sort(cps.begin(), cps.end());
    // Each change point moved to its best place between its neighbours, as the knot of two lines
    // that meet there: reward levels move continuously (the policy changes a little per step), so
    // a phase boundary is a bend, which a joined fit places more precisely than two free lines.
    std::vector<double> u(n);
    for (size_t i = 0; i < n; ++i) u[i] = prefix.front().to_u(x[i]);
    auto hinge_cost = [&](size_t lo, size_t t, size_t hi) {
        const double knot = 0.5 * (u[t - 1] + u[t]);
        double c = 0.0;
        for (size_t s = 0; s < prefix.size(); ++s) c += weight[s] * prefix[s].hinge_rss(lo, t, hi, knot);
        return c;
    };
    for (int pass = 0; pass < 2; ++pass)
        for (size_t j = 0; j < cps.size(); ++j) {
            const size_t lo = j == 0 ? 0 : cps[j - 1], hi = j + 1 == cps.size() ? n : cps[j + 1];
            const size_t best = best_position(lo + minp, hi - minp, [&](size_t t) { return hinge_cost(lo, t, hi); });
            cps[j] = best;
        }
    // A change point that no longer pays its price once its neighbours moved is dropped.
    for (bool dropped = true; dropped;) {
        dropped = false;
        for (size_t j = 0; j < cps.size(); ++j) {
            const size_t lo = j == 0 ? 0 : cps[j - 1], hi = j + 1 == cps.size() ? n : cps[j + 1];
            if (cost(lo, hi) - cost(lo, cps[j]) - cost(cps[j], hi) <= price) {
                cps.erase(cps.begin() + long(j));
                dropped = true;
                break;
            }
        }
    }
    return cps;
}

PhaseSegmentation segment_phases(const std::vector<StepMetrics>& stream, const PhaseOptions& options) {
    options.validate();
    PhaseSegmentation out;

    // The training records, as the live detector reads them.
    std::vector<double> x, c, r, loss, grad;
    std::vector<char> has_c, has_r, has_loss;
    int64_t last = 0;
    for (const StepMetrics& m : stream) {
        bool pc = false, pr = false, pm = false, pl = false, pg = false;
        const double vc = lookup(m, "rewards/chosen", pc);
        const double vr = lookup(m, "rewards/rejected", pr);
        lookup(m, "rewards/margins", pm);
        const double vl = lookup(m, "loss", pl);
        const double vg = lookup(m, "grad_norm", pg);
        if (!(pc || pr || pm || pl || pg)) continue;
        if (!out.steps.empty() && m.step <= last) continue;
        last = m.step;
        out.steps.push_back(m.step);
        x.push_back(double(m.step));
        c.push_back(vc);
        r.push_back(vr);
        loss.push_back(vl);
        grad.push_back(pg ? vg : kNaN);
        has_c.push_back(pc);
        has_r.push_back(pr);
        has_loss.push_back(pl);
    }
    const size_t n = x.size();
    out.records = int64_t(n);
    if (n == 0) return out;
    for (size_t i = 0; i < n; ++i) {
        out.has_chosen = out.has_chosen || std::isfinite(c[i]);
        out.has_rejected = out.has_rejected || std::isfinite(r[i]);
    }
    bool loss_finite_ever = false;
    for (double v : loss) loss_finite_ever = loss_finite_ever || std::isfinite(v);

    // Diverging points: a non-finite value of a series the run logs (a series that is never
    // finite is a series the run does not log, e.g. the missing side of one-sided KTO data,
    // unless nothing at all is finite), or a sustained loss / grad_norm explosion.
    // Rewards logged on every row and never finite (a run NaN from its first log) are
    // diverging; one side never finite beside a finite other side is one-sided data.
    const bool nothing_finite = !out.has_chosen && !out.has_rejected;
    std::vector<char> diverging(n, 0);
    // Why a point is diverging, as an index into these names (0: it is not).
    static const char* const kReasons[] = {"", "non_finite", "loss_exploding", "grad_norm_exploding"};
    static const char* const kMetrics[] = {"", "loss", "rewards/chosen", "rewards/rejected"};
    std::vector<unsigned char> reason(n, 0), bad_metric(n, 0);
    for (size_t i = 0; i < n; ++i) {
        const auto check = [&](bool logged, bool present, double v, unsigned char metric) {
            if (diverging[i] || !present || std::isfinite(v) || !(logged || nothing_finite)) return;
            diverging[i] = 1;
            reason[i] = 1;
            bad_metric[i] = metric;
        };
        check(loss_finite_ever, has_loss[i], loss[i], 1);  // a loss that is never finite too
        check(out.has_chosen, has_c[i], c[i], 2);
        check(out.has_rejected, has_r[i], r[i], 3);
    }
    {
        // Loss above factor x the median of the first 20 finite losses; grad_norm far above the
        // level of the first fifth of the run (log scale, robust sd).
        std::vector<double> early_loss, early_grad;
        for (size_t i = 0; i < n && early_loss.size() < 20; ++i)
            if (std::isfinite(loss[i])) early_loss.push_back(loss[i]);
        const double loss_ref = early_loss.size() == 20 ? median_of(early_loss) : kNaN;
        size_t grads = 0;
        for (double g : grad) grads += std::isfinite(g) && g > 0;
        for (size_t i = 0; i < n && early_grad.size() < std::max<size_t>(10, grads / 5); ++i)
            if (std::isfinite(grad[i]) && grad[i] > 0) early_grad.push_back(std::log(grad[i]));
        double grad_med = kNaN, grad_spread = kNaN;
        if (early_grad.size() >= 10) {
            grad_med = median_of(early_grad);
            std::vector<double> dev;
            for (double g : early_grad) dev.push_back(std::fabs(g - grad_med));
            grad_spread = std::max(kMadToSd * median_of(dev), 0.1);
        }
        std::vector<char> outlier(n, 0);
        std::vector<unsigned char> why(n, 0);
        for (size_t i = 0; i < n; ++i) {
            if (std::isfinite(grad_med) && std::isfinite(grad[i]) && grad[i] > 0) {
                const double lg = std::log(grad[i]);
                if ((lg - grad_med) / grad_spread >= options.grad_norm_z &&
                    std::exp(lg - grad_med) >= options.grad_norm_min_ratio) {
                    outlier[i] = 1;
                    why[i] = 3;
                }
            }
            if (!outlier[i] && std::isfinite(loss_ref) && loss_ref > 0 && std::isfinite(loss[i]) &&
                loss[i] > options.loss_explode_factor * loss_ref) {
                outlier[i] = 1;
                why[i] = 2;
            }
        }
        for (size_t i = 0; i < n;) {
            if (!outlier[i]) {
                ++i;
                continue;
            }
            size_t j = i;
            while (j < n && outlier[j]) ++j;
            if (j - i >= size_t(options.explode_min_points))
                for (size_t k = i; k < j; ++k)
                    if (!diverging[k]) {
                        diverging[k] = 1;
                        reason[k] = why[i];
                    }
            i = j;
        }
    }

    // Noise of each series, from differences of its finite, non-diverging points.
    std::vector<double> cf(n), rf(n), mf(n);
    for (size_t i = 0; i < n; ++i) {
        cf[i] = diverging[i] || !std::isfinite(c[i]) ? kNaN : c[i];
        rf[i] = diverging[i] || !std::isfinite(r[i]) ? kNaN : r[i];
        mf[i] = std::isfinite(cf[i]) && std::isfinite(rf[i]) ? cf[i] - rf[i] : kNaN;
    }
    out.noise_chosen = noise_from_differences(cf);
    out.noise_rejected = noise_from_differences(rf);
    out.noise_margin = noise_from_differences(mf);

    // Blocks of non-diverging points between diverging stretches, each segmented on its own.
    struct Stretch {
        size_t a, b;  // [a, b)
        bool diverging;
    };
    std::vector<Stretch> stretches;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && diverging[j] == diverging[i]) ++j;
        stretches.push_back({i, j, diverging[i] != 0});
        i = j;
    }

    std::vector<Phase> raw;  // stretches of the fit, classified, before merging
    const double tiny = 1e-12;
    // A noise below 1e-6 of the series' range (a noiseless series) is taken as that: the costs
    // stay well above the rounding of their sums.
    auto floor_noise = [&](double noise, const std::vector<double>& y) {
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (double v : y)
            if (std::isfinite(v)) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        const double floor = hi >= lo ? std::max(1e-6 * (hi - lo), tiny) : tiny;
        return std::isfinite(noise) && noise > floor ? noise : floor;
    };
    const double nc = floor_noise(out.noise_chosen, cf), nr = floor_noise(out.noise_rejected, rf),
                 nm = floor_noise(out.noise_margin, mf);
    const std::vector<double> cc = clip_outliers(cf, nc, options.outlier_clip);
    const std::vector<double> rc = clip_outliers(rf, nr, options.outlier_clip);
    std::vector<double> mc(n);
    for (size_t i = 0; i < n; ++i) mc[i] = cc[i] - rc[i];

    for (const Stretch& s : stretches) {
        if (s.diverging) {
            Phase ph;
            ph.first = s.a;
            ph.last = s.b - 1;
            ph.regime = Regime::Diverging;
            ph.reason = kReasons[reason[s.a]];
            ph.metric = kMetrics[bad_metric[s.a]];
            if (reason[s.a] == 1) {
                const size_t i = s.a;
                ph.value = non_finite_text(bad_metric[i] == 1 ? loss[i] : bad_metric[i] == 2 ? c[i] : r[i]);
            }
            raw.push_back(ph);
            continue;
        }
        // The block's own points; a block longer than kMaxFitPoints is fitted on the means of
        // groups of consecutive points (the change points then fall on group starts: a million
        // logged points are placed to within 16 of them, and diagnosed well under a second).
        const size_t len = s.b - s.a;
        const size_t group = (len + kMaxFitPoints - 1) / kMaxFitPoints;
        std::vector<double> bx;
        std::vector<std::vector<double>> ys;
        std::vector<double> noise;
        int64_t finite = 0;
        for (size_t i = s.a; i < s.b; ++i) finite += std::isfinite(cc[i]) || std::isfinite(rc[i]);
        out.finite_points += finite;
        const auto grouped = [&](const std::vector<double>& y) {
            std::vector<double> g;
            g.reserve(len / group + 1);
            for (size_t i = s.a; i < s.b; i += group) {
                double sum = 0.0;
                int count = 0;
                for (size_t k = i; k < std::min(s.b, i + group); ++k)
                    if (std::isfinite(y[k])) {
                        sum += y[k];
                        ++count;
                    }
                g.push_back(count ? sum / count : kNaN);
            }
            return g;
        };
        for (size_t i = s.a; i < s.b; i += group) {
            double sum = 0.0;
            const size_t end = std::min(s.b, i + group);
            for (size_t k = i; k < end; ++k) sum += x[k];
            bx.push_back(sum / double(end - i));
        }
        if (out.has_chosen) {
            ys.push_back(grouped(cc));
            noise.push_back(group == 1 ? nc : floor_noise(noise_from_differences(ys.back()), ys.back()));
        }
        if (out.has_rejected) {
            ys.push_back(grouped(rc));
            noise.push_back(group == 1 ? nr : floor_noise(noise_from_differences(ys.back()), ys.back()));
        }
        if (finite < kMinFitPoints || ys.empty()) {
            Phase ph;
            ph.first = s.a;
            ph.last = s.b - 1;
            ph.regime = Regime::WarmingUp;  // not enough data (or no rewards) to judge
            raw.push_back(ph);
            continue;
        }
        std::vector<size_t> cps =
            piecewise_linear_change_points(bx, ys, noise, options.penalty, options.min_points);
        for (size_t& cp : cps) cp *= group;
        size_t a = s.a;
        cps.push_back(s.b - s.a);
        for (size_t cp : cps) {
            Phase ph;
            ph.first = a;
            ph.last = s.a + cp - 1;
            raw.push_back(ph);
            out.change_points.push_back(out.steps[a]);
            a = s.a + cp;
        }
    }

    // Fitted lines, the baseline and the run's scale.
    auto fit_phase = [&](Phase& ph) {
        ph.start_step = out.steps[ph.first];
        ph.end_step = out.steps[ph.last];
        if (ph.regime == Regime::Diverging) return;
        ph.chosen = fit_line(x, cc, ph.first, ph.last + 1, nc);
        ph.rejected = fit_line(x, rc, ph.first, ph.last + 1, nr);
        ph.margin = fit_line(x, mc, ph.first, ph.last + 1, nm);
    };
    for (Phase& ph : raw) fit_phase(ph);
    bool have_base = false;
    double base_m = 0.0;
    double first_x = 0.0, last_x = 0.0;
    for (const Phase& ph : raw) {
        if (ph.regime == Regime::Diverging || ph.regime == Regime::WarmingUp) continue;
        if (!have_base) {
            out.chosen_baseline = ph.chosen.start;
            out.rejected_baseline = ph.rejected.start;
            base_m = ph.margin.start;
            first_x = double(ph.start_step);
            have_base = true;
        }
        last_x = double(ph.end_step);
        for (double v : {ph.chosen.start, ph.chosen.end})
            if (std::isfinite(v) && std::isfinite(out.chosen_baseline))
                out.scale = std::max(out.scale, std::fabs(v - out.chosen_baseline));
        for (double v : {ph.rejected.start, ph.rejected.end})
            if (std::isfinite(v) && std::isfinite(out.rejected_baseline))
                out.scale = std::max(out.scale, std::fabs(v - out.rejected_baseline));
    }
    // A live window of a longer run: the run's own early levels (see PhaseOptions).
    if (std::isfinite(options.chosen_baseline)) out.chosen_baseline = options.chosen_baseline;
    if (std::isfinite(options.rejected_baseline)) out.rejected_baseline = options.rejected_baseline;
    if (std::isfinite(options.margin_baseline)) base_m = options.margin_baseline;
    out.margin_baseline = base_m;
    if (!out.has_chosen) out.chosen_baseline = kNaN;
    if (!out.has_rejected) out.rejected_baseline = kNaN;
    const double typical_rate = last_x > first_x ? out.scale / (last_x - first_x) : 0.0;
    const double min_rate = options.min_relative_rate * typical_rate;
    auto direction = [&](const LineFit& f) {
        if (f.points < 3 || !std::isfinite(f.slope)) return 0;
        if (std::fabs(f.t) < options.z || std::fabs(f.slope) < min_rate) return 0;
        return f.slope > 0 ? 1 : -1;
    };
    size_t first_fit = n;  // the first point of the first phase with a fit
    for (const Phase& ph : raw)
        if (ph.regime != Regime::Diverging && ph.regime != Regime::WarmingUp) {
            first_fit = ph.first;
            break;
        }
    // From 0 before the first step to the fitted end level: a change of z standard errors at
    // least the minimal rate, in the direction of the fitted slope.
    auto from_zero = [&](const LineFit& f, int64_t end_step) {
        if (f.points < 2 || !std::isfinite(f.end) || !(f.end_se > 0)) return 0;
        const double rate = std::fabs(f.end) / double(std::max<int64_t>(1, end_step));
        if (std::fabs(f.end) < options.z * f.end_se || rate < min_rate) return 0;
        const int d = f.end > 0 ? 1 : -1;
        return f.slope * d > 0 ? d : 0;
    };
    auto classify = [&](Phase& ph) {
        if (ph.regime == Regime::Diverging || ph.regime == Regime::WarmingUp) return;
        ph.chosen.direction = direction(ph.chosen);
        ph.rejected.direction = direction(ph.rejected);
        ph.margin.direction = direction(ph.margin);
        if (options.rewards_start_at_zero && ph.first == first_fit) {
            if (ph.chosen.direction == 0) ph.chosen.direction = from_zero(ph.chosen, ph.end_step);
            if (ph.rejected.direction == 0) ph.rejected.direction = from_zero(ph.rejected, ph.end_step);
        }
        const int dc = ph.chosen.direction, dr = ph.rejected.direction, dm = ph.margin.direction;
        // The margin had grown: it starts this stretch clearly above where the run started.
        const bool grown = std::isfinite(ph.margin.start) &&
                           ph.margin.start - base_m > std::max(0.1 * out.scale, options.z * ph.margin.end_se);
        if (dm < 0 && grown) ph.regime = Regime::MarginCollapsing;
        else if (dc < 0 && dr < 0) ph.regime = Regime::BothFalling;
        else if (dc > 0 && dr > 0) ph.regime = Regime::BothRising;
        else ph.regime = Regime::Healthy;
    };
    for (Phase& ph : raw) classify(ph);

    // Neighbouring stretches of one regime are one phase, refitted whole and judged again (a
    // longer stretch has more power: two flat halves may make one clear fall), until the
    // regimes no longer change.
    std::vector<Phase> phases = std::move(raw);
    for (int round = 0; round < 8; ++round) {
        std::vector<Phase> merged;
        for (Phase& ph : phases) {
            if (!merged.empty() && merged.back().regime == ph.regime) {
                merged.back().last = ph.last;
                continue;
            }
            merged.push_back(std::move(ph));
        }
        bool changed = false;
        for (Phase& ph : merged) {
            const Regime before = ph.regime;
            if (before == Regime::Diverging || before == Regime::WarmingUp) {
                fit_phase(ph);
                continue;
            }
            fit_phase(ph);
            classify(ph);
            changed = changed || ph.regime != before;
        }
        phases = std::move(merged);
        if (!changed) break;
    }
    out.phases = std::move(phases);
    return out;
}

}  // namespace ps
