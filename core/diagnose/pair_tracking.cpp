#include "core/diagnose/pair_tracking.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <utility>

#include "core/common/errors.h"

namespace ps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0.0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// Sums rows of a row-major [rows x dim] matrix.
std::vector<double> column_sums(const std::vector<double>& m, size_t rows, size_t dim) {
    std::vector<double> s(dim, 0.0);
    for (size_t r = 0; r < rows; ++r)
        for (size_t d = 0; d < dim; ++d) s[d] += m[r * dim + d];
    return s;
}

// Keeps the positions where both are finite.
void finite_pairs(const std::vector<double>& x, const std::vector<double>& y, std::vector<double>& fx,
                  std::vector<double>& fy) {
    const size_t n = std::min(x.size(), y.size());
    for (size_t i = 0; i < n; ++i)
        if (std::isfinite(x[i]) && std::isfinite(y[i])) {
            fx.push_back(x[i]);
            fy.push_back(y[i]);
        }
}

double pearson_finite(const std::vector<double>& x, const std::vector<double>& y) {
    const size_t n = x.size();
    if (n < 3) return kNaN;
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / double(n);
    const double my = std::accumulate(y.begin(), y.end(), 0.0) / double(n);
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (size_t i = 0; i < n; ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (!(sxx > 0.0) || !(syy > 0.0)) return kNaN;
    return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

Correlation correlate(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<double> fx, fy;
    finite_pairs(x, y, fx, fy);
    Correlation c;
    c.pairs = fx.size();
    c.pearson = pearson_finite(fx, fy);
    c.spearman = pearson_finite(average_ranks(fx), average_ranks(fy));
    return c;
}

std::string fmt(const char* f, double v) {
    if (!std::isfinite(v)) return "n/a";
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

}  // namespace

ChesScore ches_from_sums(const std::vector<double>& chosen_sum, size_t chosen_tokens,
                         const std::vector<double>& rejected_sum, size_t rejected_tokens) {
    if (chosen_sum.size() != rejected_sum.size() || chosen_sum.empty())
        throw Error("CHES: the chosen and rejected hidden-state sums must have the same non-zero size (" +
                    std::to_string(chosen_sum.size()) + " vs " + std::to_string(rejected_sum.size()) + ")");
    if (chosen_tokens == 0 || rejected_tokens == 0)
        throw Error("CHES: an answer has no tokens; every answer needs at least one scored token");
    const double cr = dot(chosen_sum, rejected_sum);
    const double cc = dot(chosen_sum, chosen_sum);
    const double nc = static_cast<double>(chosen_tokens), nr = static_cast<double>(rejected_tokens);
    ChesScore s;
    s.ches = cr - cc;
    s.ln_ches = cr / (nc * nr) - cc / (nc * nc);
    return s;
}

ChesScore ches_score(const std::vector<double>& chosen_hidden, size_t chosen_tokens,
                     const std::vector<double>& rejected_hidden, size_t rejected_tokens, size_t dim) {
    if (dim == 0 || chosen_hidden.size() != chosen_tokens * dim || rejected_hidden.size() != rejected_tokens * dim)
        throw Error("CHES: hidden states must be [tokens x dim] matrices matching the answer lengths");
    return ches_from_sums(column_sums(chosen_hidden, chosen_tokens, dim), chosen_tokens,
                          column_sums(rejected_hidden, rejected_tokens, dim), rejected_tokens);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
    const size_t n = values.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    std::vector<double> ranks(n, 0.0);
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && values[order[j]] == values[order[i]]) ++j;
        const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
        for (size_t k = i; k < j; ++k) ranks[order[k]] = mean_rank;
        i = j;
    }
    return ranks;
}

double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<double> fx, fy;
    finite_pairs(x, y, fx, fy);
    return pearson_finite(fx, fy);
}

double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<double> fx, fy;
    finite_pairs(x, y, fx, fy);
    return pearson_finite(average_ranks(fx), average_ranks(fy));
}

nlohmann::json Correlation::to_json() const {
    return {{"pairs", pairs}, {"spearman", number_or_null(spearman)}, {"pearson", number_or_null(pearson)}};
}

nlohmann::json PairTrajectory::to_json() const {
    nlohmann::json chosen_curve = nlohmann::json::array(), rejected_curve = nlohmann::json::array();
    for (double v : chosen) chosen_curve.push_back(number_or_null(v));
    for (double v : rejected) rejected_curve.push_back(number_or_null(v));
    const double nc = static_cast<double>(std::max<int64_t>(1, pair.chosen_tokens));
    const double nr = static_cast<double>(std::max<int64_t>(1, pair.rejected_tokens));
    nlohmann::json per_token_c = nlohmann::json::array(), per_token_r = nlohmann::json::array();
    for (double v : chosen) per_token_c.push_back(number_or_null(v / nc));
    for (double v : rejected) per_token_r.push_back(number_or_null(v / nr));
    return {{"index", pair.index},
            {"split", pair.split},
            {"split_index", pair.split_index},
            {"prompt", pair.prompt},
            {"chosen", pair.chosen},
            {"rejected", pair.rejected},
            {"chosen_tokens", pair.chosen_tokens},
            {"rejected_tokens", pair.rejected_tokens},
            {"ches", number_or_null(pair.ches)},
            {"ln_ches", number_or_null(pair.ln_ches)},
            {"chosen_logp_change", number_or_null(chosen_change)},
            {"rejected_logp_change", number_or_null(rejected_change)},
            {"chosen_logp_change_per_token", number_or_null(chosen_change_per_token)},
            {"rejected_logp_change_per_token", number_or_null(rejected_change_per_token)},
            {"curve",
             {{"step", steps},
              {"chosen_logp", chosen_curve},
              {"rejected_logp", rejected_curve},
              {"chosen_logp_per_token", per_token_c},
              {"rejected_logp_per_token", per_token_r}}}};
}

nlohmann::json PairTrackingReport::to_json(size_t max_pairs) const {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < pairs.size() && i < max_pairs; ++i) list.push_back(pairs[i].to_json());
    auto both = [](const Correlation& sum, const Correlation& per_token) {
        return nlohmann::json{{"drop", sum.to_json()}, {"drop_per_token", per_token.to_json()}};
    };
    return {{"tracked", pairs.size()},
            {"first_step", first_step},
            {"last_step", last_step},
            {"chosen_fell", chosen_fell},
            {"rejected_fell", rejected_fell},
            {"mean_chosen_logp_change", number_or_null(mean_chosen_change)},
            {"mean_rejected_logp_change", number_or_null(mean_rejected_change)},
            {"correlations",
             {{"ches", both(ches_vs_drop, ches_vs_drop_per_token)},
              {"ln_ches", both(ln_ches_vs_drop, ln_ches_vs_drop_per_token)}}},
            {"summary", summary},
            {"pairs", std::move(list)}};
}

PairTrackingReport analyse_tracked_pairs(const std::vector<TrackedPair>& pairs,
                                         const std::vector<PairLogpRecord>& records) {
    PairTrackingReport report;
    std::map<int64_t, size_t> slot;  // pair index -> position in report.pairs
    for (const TrackedPair& p : pairs) {
        if (slot.count(p.index)) continue;
        slot[p.index] = report.pairs.size();
        PairTrajectory t;
        t.pair = p;
        report.pairs.push_back(std::move(t));
    }
    // (pair, step) -> values; the map orders the steps.
    std::map<std::pair<size_t, int64_t>, std::pair<double, double>> values;
    for (const PairLogpRecord& r : records) {
        auto it = slot.find(r.pair);
        if (it == slot.end()) continue;
        values[{it->second, r.step}] = {r.chosen, r.rejected};
    }
    for (const auto& [key, v] : values) {
        PairTrajectory& t = report.pairs[key.first];
        t.steps.push_back(key.second);
        t.chosen.push_back(v.first);
        t.rejected.push_back(v.second);
    }

    bool any_step = false;
    double sum_c = 0.0, sum_r = 0.0;
    size_t n_changes = 0;
    for (PairTrajectory& t : report.pairs) {
        t.chosen_change = t.rejected_change = kNaN;
        t.chosen_change_per_token = t.rejected_change_per_token = kNaN;
        if (!t.steps.empty()) {
            report.first_step = any_step ? std::min(report.first_step, t.steps.front()) : t.steps.front();
            report.last_step = any_step ? std::max(report.last_step, t.steps.back()) : t.steps.back();
            any_step = true;
        }
        if (t.steps.size() < 2) continue;
        t.chosen_change = t.chosen.back() - t.chosen.front();
        t.rejected_change = t.rejected.back() - t.rejected.front();
        if (t.pair.chosen_tokens > 0) t.chosen_change_per_token = t.chosen_change / double(t.pair.chosen_tokens);
        if (t.pair.rejected_tokens > 0)
            t.rejected_change_per_token = t.rejected_change / double(t.pair.rejected_tokens);
        if (std::isfinite(t.chosen_change) && std::isfinite(t.rejected_change)) {
            sum_c += t.chosen_change;
            sum_r += t.rejected_change;
            ++n_changes;
            if (t.chosen_change < 0.0) ++report.chosen_fell;
            if (t.rejected_change < 0.0) ++report.rejected_fell;
        }
    }
    report.mean_chosen_change = n_changes ? sum_c / double(n_changes) : kNaN;
    report.mean_rejected_change = n_changes ? sum_r / double(n_changes) : kNaN;

    // Most falling first; pairs without a change at the end, in their original order.
    std::stable_sort(report.pairs.begin(), report.pairs.end(), [](const PairTrajectory& a, const PairTrajectory& b) {
        const bool fa = std::isfinite(a.chosen_change), fb = std::isfinite(b.chosen_change);
        if (fa != fb) return fa;
        return fa && a.chosen_change < b.chosen_change;
    });

    std::vector<double> ches, ln_ches, drop, drop_per_token;
    for (const PairTrajectory& t : report.pairs) {
        ches.push_back(t.pair.ches);
        ln_ches.push_back(t.pair.ln_ches);
        drop.push_back(-t.chosen_change);
        drop_per_token.push_back(-t.chosen_change_per_token);
    }
    report.ches_vs_drop = correlate(ches, drop);
    report.ln_ches_vs_drop = correlate(ln_ches, drop);
    report.ches_vs_drop_per_token = correlate(ches, drop_per_token);
    report.ln_ches_vs_drop_per_token = correlate(ln_ches, drop_per_token);

    if (report.pairs.empty()) {
        report.summary = "No pairs were tracked (train.track_pairs is 0, or the run stopped before training).";
    } else if (n_changes == 0) {
        report.summary = std::to_string(report.pairs.size()) +
                         " pairs tracked, but the run ended before their first eval, so no change is known yet.";
    } else {
        report.summary = "Chosen log-prob fell in " + std::to_string(report.chosen_fell) + " of " +
                         std::to_string(n_changes) + " tracked pairs between step " +
                         std::to_string(report.first_step) + " and step " + std::to_string(report.last_step) +
                         " (mean change " + fmt("%+.3f", report.mean_chosen_change) + " nats, rejected " +
                         fmt("%+.3f", report.mean_rejected_change) + "). CHES vs chosen drop: Spearman " +
                         fmt("%+.2f", report.ches_vs_drop.spearman) + ", Pearson " +
                         fmt("%+.2f", report.ches_vs_drop.pearson) + "; length-normalised CHES: Spearman " +
                         fmt("%+.2f", report.ln_ches_vs_drop.spearman) + ", Pearson " +
                         fmt("%+.2f", report.ln_ches_vs_drop.pearson) + ".";
    }
    return report;
}

std::vector<size_t> tracked_subset(size_t total, size_t count, uint64_t seed) {
    std::vector<size_t> idx(total);
    std::iota(idx.begin(), idx.end(), size_t(0));
    if (count >= total) return idx;
    // A stream of its own (offset so it never equals the run's other seeded generators).
    std::mt19937_64 rng(seed ^ 0x7072656673747564ULL);
    for (size_t i = 0; i < count; ++i) {
        const size_t j = i + static_cast<size_t>(rng() % static_cast<uint64_t>(total - i));
        std::swap(idx[i], idx[j]);
    }
    idx.resize(count);
    std::sort(idx.begin(), idx.end());
    return idx;
}

}  // namespace ps
