// The diagnosis benchmark (BENCHMARKS.md, "Diagnosis"): synthetic runs with known phases
// (synthetic_runs.h), their noise calibrated on the real logs in ../shared/real-runs, diagnosed
// by diagnose_series (the stored, retrospective verdict) and scored against the truth:
//   agreement      share of logged points whose regime is the true one (mean over runs)
//   false alarms   problem stretches per 1000 logged points on runs that are healthy throughout
//   detection      share of true problem phases labelled with their regime over >= half their points
//   lag            |logged points| between a true phase boundary and the nearest detected boundary
//                  into the same regime (median and p90 over the boundaries found)
//   final regime   the diagnosis' final regime is the true last phase
//   final verdict  that, and its severity (fine / watch / problem) is the true one
// Usage: build/bin/bench_diagnosis [--seeds N] [--real DIR] [--timing] [--live]
//   --timing also diagnoses one 1,000,000-point run and prints the time; --verbose prints the
//   verdict of every run whose final verdict is wrong; --live feeds every run to the live
//   diagnosis (LiveDiagnosis) record by record and reports the live labels' delay: logged points
//   from a true phase boundary until the live label is the new regime (median, p90, max, and
//   boundaries never labelled within their phase), whether the live label at the end is the
//   retrospective final regime, and the live cost per record (with --timing over 1,000,000).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diagnose/diagnosis.h"
#include "tests/bench/bench_stats.h"
#include "tests/bench/diagnosis/synthetic_runs.h"

namespace {

using ps::bench::SyntheticPhase;
using ps::bench::SyntheticRun;
using ps::bench::SyntheticRunSpec;

bool is_problem_name(const std::string& r) {
    return r == "both_falling" || r == "both_rising" || r == "margin_collapsing" || r == "diverging";
}

double median_of(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Robust sd of a series' noise: 1.4826 x the median absolute deviation of its first differences,
// over sqrt(2) (a difference holds two points' noise). The trend moves a difference little.
double noise_from_differences(const std::vector<double>& v) {
    std::vector<double> d;
    for (size_t i = 1; i < v.size(); ++i)
        if (std::isfinite(v[i]) && std::isfinite(v[i - 1])) d.push_back(v[i] - v[i - 1]);
    if (d.size() < 5) return NAN;
    const double med = median_of(d);
    for (double& x : d) x = std::fabs(x - med);
    return 1.4826 * median_of(d) / std::sqrt(2.0);
}

struct Calibration {
    std::vector<double> relative_noise;  // sd of rejected noise / largest |change of rejected|
    std::vector<double> chosen_ratio;    // sd of chosen noise / sd of rejected noise
    std::vector<std::string> lines;
};

// The runs in DIR with at least 50 finite reward points in a trainer_state.json (or a
// log_history list): their noise relative to their largest reward change.
Calibration calibrate(const std::string& dir) {
    Calibration cal;
    namespace fs = std::filesystem;
    if (!fs::is_directory(dir)) return cal;
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().filename() == "trainer_state.json" || e.path().filename() == "training_history.json")
            files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
        nlohmann::json j;
        try {
            std::ifstream in(f);
            j = nlohmann::json::parse(in, nullptr, true, true);
        } catch (...) {
            continue;
        }
        const nlohmann::json& history = j.is_object() && j.contains("log_history") ? j["log_history"] : j;
        if (!history.is_array()) continue;
        std::vector<double> c, r;
        for (const auto& row : history)
            if (row.is_object() && row.contains("rewards/chosen") && row.contains("rewards/rejected") &&
                row["rewards/chosen"].is_number() && row["rewards/rejected"].is_number()) {
                c.push_back(row["rewards/chosen"].get<double>());
                r.push_back(row["rewards/rejected"].get<double>());
            }
        if (c.size() < 50) continue;
        const double sc = noise_from_differences(c), sr = noise_from_differences(r);
        // The largest change of the rejected level, from medians of tenths (robust to the noise).
        const size_t q = std::max<size_t>(5, r.size() / 10);
        std::vector<double> first(r.begin(), r.begin() + long(q));
        const double base = median_of(first);
        double largest = 0.0;
        for (size_t i = 0; i + q <= r.size(); i += q) {
            std::vector<double> part(r.begin() + long(i), r.begin() + long(i + q));
            largest = std::max(largest, std::fabs(median_of(part) - base));
        }
        if (!(largest > 0.0) || !std::isfinite(sr)) continue;
        // A run whose rewards never move beyond twice their noise has no trend to measure the
        // noise against (a flat run: every phase of it is flat); it sets no level.
        const bool trend = largest > 2.0 * sr;
        if (trend) {
            cal.relative_noise.push_back(sr / largest);
            cal.chosen_ratio.push_back(sc / sr);
        }
        char line[320];
        std::snprintf(line, sizeof line, "  %-40s %4zu points: noise sd chosen %.4f rejected %.4f, rejected change %.3f, relative %.3f%s",
                      f.parent_path().filename().string().c_str(), c.size(), sc, sr, largest, sr / largest,
                      trend ? "" : " (no trend beyond its noise: sets no level)");
        cal.lines.push_back(line);
    }
    return cal;
}

std::vector<SyntheticRunSpec> scenarios(const std::vector<double>& noise_levels, double chosen_ratio, int seeds) {
    struct Scenario {
        std::string name;
        std::vector<SyntheticPhase> phases;
        int log_every = 1;
        double start = 0.0;
    };
    const std::vector<Scenario> list = {
        {"healthy", {{"healthy", 300, 0.15, -2.0, true}}},
        {"healthy, chosen flat", {{"healthy", 300, 0.0, -1.5, true}}},
        {"both falling from the start", {{"both_falling", 300, -0.8, -2.4, true}}},
        {"healthy then both falling", {{"healthy", 150, 0.2, -1.0, true}, {"both_falling", 150, -0.7, -1.2}}},
        // TinyLlama's real run: chosen peaks, then both fall while chosen stays above 0 (watch).
        {"both falling, chosen still above", {{"healthy", 150, 1.1, -1.0, true}, {"both_falling", 150, -0.3, -1.2}}},
        {"recovery", {{"both_falling", 120, -0.6, -1.6}, {"healthy", 180, 0.35, -0.6, true}}},
        // The real Qwen2.5-0.5B clean-data run: both fall, then steady far below the reference.
        {"likelihood displacement, then steady", {{"both_falling", 150, -1.5, -3.0}, {"healthy", 150, 0.0, -0.3, true}}},
        {"both rising (absolute rewards)", {{"healthy", 60, 0.1, -0.8}, {"both_rising", 240, 1.2, 0.6}}, 1, -1.5},
        {"margin collapsing", {{"healthy", 150, 0.1, -1.6, true}, {"margin_collapsing", 150, -0.2, 1.1}}},
        {"divergence to NaN", {{"healthy", 200, 0.1, -1.2, true}, {"diverging", 50, 0, 0}}},
        {"sparse: both falling, 12 points", {{"both_falling", 12, -0.6, -1.8}}, 50},
        {"sparse: healthy, 20 points", {{"healthy", 20, 0.1, -1.5, true}}, 50},
        {"long: healthy then both falling", {{"healthy", 20000, 0.1, -2.0, true}, {"both_falling", 20000, -0.8, -1.5}}},
    };
    std::vector<SyntheticRunSpec> out;
    for (const Scenario& s : list)
        for (double noise : noise_levels)
            for (int seed = 0; seed < (s.name.rfind("long", 0) == 0 ? 1 : seeds); ++seed) {
                SyntheticRunSpec spec;
                spec.scenario = s.name;
                spec.name = s.name + " noise " + std::to_string(noise) + " seed " + std::to_string(seed);
                spec.phases = s.phases;
                spec.noise = noise;
                spec.chosen_noise_ratio = chosen_ratio;
                spec.log_every = s.log_every;
                spec.start_level = s.start;
                spec.seed = uint64_t(seed) * 1000 + uint64_t(noise * 1e4);
                out.push_back(spec);
            }
    return out;
}

// The regime the diagnosis gives each logged point ("none" where no stretch covers it).
std::vector<std::string> predicted_labels(const nlohmann::json& d, const SyntheticRun& run) {
    std::vector<std::string> out(run.stream.size(), "none");
    const nlohmann::json& regimes = d["regimes"];
    size_t k = 0;
    for (size_t i = 0; i < run.stream.size(); ++i) {
        const int64_t step = run.stream[i].step;
        while (k < regimes.size() && regimes[k]["end_step"].get<int64_t>() < step) ++k;
        if (k < regimes.size() && regimes[k]["start_step"].get<int64_t>() <= step)
            out[i] = regimes[k]["regime"].get<std::string>();
    }
    return out;
}

std::string expected_severity(const SyntheticRun& run) {
    const std::string last = run.truth.back();
    if (last == "margin_collapsing" || last == "diverging") return "problem";
    if (last == "both_falling") {
        // Chosen still clearly above where it started: a warning (see diagnose_series).
        double c_end = NAN;
        for (double v : run.true_chosen)
            if (std::isfinite(v)) c_end = v;
        return c_end - run.spec.start_level > 4.0 * run.noise_sd * run.spec.chosen_noise_ratio ? "watch" : "problem";
    }
    // Likelihood displacement: chosen ends clearly below where it started, having lost at least
    // half as much as the final margin (chosen - rejected, relative to the start) gained.
    double c_last = NAN, r_last = NAN;
    for (size_t i = 0; i < run.true_chosen.size(); ++i)
        if (std::isfinite(run.true_chosen[i])) {
            c_last = run.true_chosen[i] - run.spec.start_level;
            r_last = run.true_rejected[i] - run.spec.start_level;
        }
    const double lost = -c_last, margin = c_last - r_last;
    if (lost > 4.0 * run.noise_sd * run.spec.chosen_noise_ratio && margin > 0 && lost >= 0.5 * margin) return "problem";
    if (last == "both_rising") return "watch";
    for (const std::string& t : run.truth)
        if (is_problem_name(t)) return "watch";
    // Chosen ends clearly below where it started.
    double c_end = NAN;
    for (double v : run.true_chosen)
        if (std::isfinite(v)) c_end = v;
    return c_end - run.spec.start_level < -4.0 * run.noise_sd * run.spec.chosen_noise_ratio ? "watch" : "fine";
}

struct Score {
    int runs = 0;
    double agreement_sum = 0.0;
    int64_t healthy_points = 0, false_alarms = 0;
    int problem_phases = 0, detected = 0;
    std::vector<double> lags;
    int boundaries = 0;
    int final_regime_ok = 0, final_verdict_ok = 0;
    double seconds = 0.0;
    void add(const Score& o) {
        runs += o.runs;
        agreement_sum += o.agreement_sum;
        healthy_points += o.healthy_points;
        false_alarms += o.false_alarms;
        problem_phases += o.problem_phases;
        detected += o.detected;
        lags.insert(lags.end(), o.lags.begin(), o.lags.end());
        boundaries += o.boundaries;
        final_regime_ok += o.final_regime_ok;
        final_verdict_ok += o.final_verdict_ok;
        seconds += o.seconds;
    }
};

Score score_run(const SyntheticRun& run, const nlohmann::json& d, double seconds) {
    Score s;
    s.runs = 1;
    s.seconds = seconds;
    const std::vector<std::string> pred = predicted_labels(d, run);
    const std::vector<std::string>& truth = run.truth;
    const size_t n = truth.size();
    size_t agree = 0;
    for (size_t i = 0; i < n; ++i) agree += pred[i] == truth[i];
    s.agreement_sum = double(agree) / double(n);

    const bool all_healthy = std::all_of(truth.begin(), truth.end(), [](const std::string& t) { return t == "healthy"; });
    if (all_healthy) {
        s.healthy_points = int64_t(n);
        for (size_t i = 0; i < n; ++i)
            if (is_problem_name(pred[i]) && (i == 0 || pred[i - 1] != pred[i])) ++s.false_alarms;
    }
    // Phases of the truth.
    size_t start = 0;
    for (size_t i = 1; i <= n; ++i) {
        if (i < n && truth[i] == truth[start]) continue;
        const std::string& regime = truth[start];
        if (is_problem_name(regime)) {
            ++s.problem_phases;
            size_t hit = 0;
            for (size_t k = start; k < i; ++k) hit += pred[k] == regime;
            if (2 * hit >= i - start) ++s.detected;
        }
        if (start > 0) {
            ++s.boundaries;
            // The nearest detected boundary into this regime, within the neighbouring phases.
            const long window = long(i - start);
            long best = -1;
            for (long j = std::max(1L, long(start) - window); j < std::min(long(n), long(start) + window); ++j)
                if (pred[size_t(j)] == regime && pred[size_t(j - 1)] != regime) {
                    const long lag = std::labs(j - long(start));
                    if (best < 0 || lag < best) best = lag;
                }
            if (best >= 0) s.lags.push_back(double(best));
        }
        start = i;
    }
    const std::string final_regime = d.value("final_regime", std::string());
    const bool regime_ok = final_regime == truth.back();
    s.final_regime_ok = regime_ok;
    s.final_verdict_ok = regime_ok && d.value("severity", std::string("(none)")) == expected_severity(run);
    return s;
}

struct LiveScore {
    std::vector<double> delays;  // logged points from a true boundary to the live label
    int boundaries = 0, missed = 0;
    int runs = 0, end_agrees = 0;
    int64_t records = 0;
    double seconds = 0.0;
    void add(const LiveScore& o) {
        delays.insert(delays.end(), o.delays.begin(), o.delays.end());
        boundaries += o.boundaries;
        missed += o.missed;
        runs += o.runs;
        end_agrees += o.end_agrees;
        records += o.records;
        seconds += o.seconds;
    }
};

// The run fed record by record to the live diagnosis: the label it holds after each record.
LiveScore score_live(const SyntheticRun& run, const ps::DiagnosisContext& context, const nlohmann::json& retrospective) {
    LiveScore s;
    s.runs = 1;
    ps::LiveDiagnosis live(context);
    std::vector<std::string> label;
    const auto t0 = std::chrono::steady_clock::now();
    for (const ps::StepMetrics& m : run.stream) {
        live.add(m);
        label.push_back(ps::to_string(live.current()));
    }
    live.finish();  // the run's end settles the label (DiagnosisSink does this on "done")
    label.back() = ps::to_string(live.current());
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.records = int64_t(run.stream.size());
    s.end_agrees = label.back() == retrospective.value("final_regime", std::string());
    const std::vector<std::string>& truth = run.truth;
    for (size_t b = 1; b < truth.size(); ++b) {
        if (truth[b] == truth[b - 1]) continue;
        ++s.boundaries;
        size_t end = b;
        while (end < truth.size() && truth[end] == truth[b]) ++end;
        size_t i = b;
        while (i < end && label[i] != truth[b]) ++i;
        if (i == end) ++s.missed;
        else s.delays.push_back(double(i - b));
    }
    return s;
}

void print_live(const std::string& name, const LiveScore& s) {
    const auto pct = [&](double p) { return s.delays.empty() ? NAN : ps::bench::percentile(s.delays, p); };
    std::printf("| %-34s | %4d | %5.1f | %5.1f | %5.0f | %d/%d | %d/%d | %6.3f |\n", name.c_str(), s.runs, pct(50), pct(90),
                s.delays.empty() ? NAN : *std::max_element(s.delays.begin(), s.delays.end()), s.missed, s.boundaries,
                s.end_agrees, s.runs, s.records ? 1000.0 * s.seconds / double(s.records) : NAN);
}

void print_row(const std::string& name, const Score& s) {
    const double fa = s.healthy_points ? 1000.0 * double(s.false_alarms) / double(s.healthy_points) : NAN;
    const double det = s.problem_phases ? double(s.detected) / s.problem_phases : NAN;
    char buf[512];
    std::snprintf(buf, sizeof buf, "| %-34s | %4d | %5.3f | %s | %s | %s | %s | %5.3f | %5.3f | %7.1f |\n",
                  name.c_str(), s.runs, s.agreement_sum / s.runs,
                  std::isfinite(fa) ? (std::to_string(fa).substr(0, 5) + "    ").c_str() : "  -      ",
                  std::isfinite(det) ? (std::to_string(det).substr(0, 5)).c_str() : "  -  ",
                  s.lags.empty() ? "  -  " : (std::to_string(ps::bench::percentile(s.lags, 50)).substr(0, 5)).c_str(),
                  s.lags.empty() ? "  -  " : (std::to_string(ps::bench::percentile(s.lags, 90)).substr(0, 5) + " (" +
                                               std::to_string(s.lags.size()) + "/" + std::to_string(s.boundaries) + ")").c_str(),
                  double(s.final_regime_ok) / s.runs, double(s.final_verdict_ok) / s.runs, 1000.0 * s.seconds / s.runs);
    std::fputs(buf, stdout);
}

}  // namespace

int main(int argc, char** argv) {
    int seeds = 5;
    bool timing = false, verbose = false, live = false;
    std::string real = std::string(PREFSTUDIO_SOURCE_DIR) + "/../shared/real-runs";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--real") && i + 1 < argc) real = argv[++i];
        else if (!std::strcmp(argv[i], "--timing")) timing = true;
        else if (!std::strcmp(argv[i], "--verbose")) verbose = true;
        else if (!std::strcmp(argv[i], "--live")) live = true;
        else {
            std::fprintf(stderr, "usage: bench_diagnosis [--seeds N] [--real DIR] [--timing] [--verbose] [--live]\n");
            return 2;
        }
    }

    // Noise levels: the smallest, median and largest relative noise of the real runs.
    Calibration cal = calibrate(real);
    std::vector<double> levels = {0.010, 0.071, 0.110};  // what ../shared/real-runs measured (BENCHMARKS.md)
    double chosen_ratio = 0.7;
    if (cal.relative_noise.size() >= 3) {
        std::vector<double> v = cal.relative_noise;
        std::sort(v.begin(), v.end());
        levels = {v.front(), median_of(v), v.back()};
        chosen_ratio = median_of(cal.chosen_ratio);
        std::printf("Noise calibrated on %zu real runs in %s:\n", v.size(), real.c_str());
        for (const std::string& l : cal.lines) std::printf("%s\n", l.c_str());
    } else {
        std::printf("No real runs in %s: noise levels from BENCHMARKS.md.\n", real.c_str());
    }
    std::printf("Noise levels (sd / largest change): %.3f %.3f %.3f; chosen sd / rejected sd %.2f; %d seeds\n\n",
                levels[0], levels[1], levels[2], chosen_ratio, seeds);

    std::map<std::string, Score> by_scenario, by_noise;
    std::map<std::string, LiveScore> live_by_scenario;
    LiveScore live_total;
    std::vector<std::string> order;
    Score total;
    for (const SyntheticRunSpec& spec : scenarios(levels, chosen_ratio, seeds)) {
        const SyntheticRun run = ps::bench::make_synthetic_run(spec);
        const auto t0 = std::chrono::steady_clock::now();
        // Runs that start away from 0 are reference-free (SimPO): the diagnosis is told so.
        ps::DiagnosisContext context;
        if (spec.start_level != 0.0) {
            context.algorithm = "simpo";
            context.rewards_relative = false;
        }
        const nlohmann::json d = ps::diagnose_series(run.stream, context);
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const Score s = score_run(run, d, sec);
        if (verbose && !s.final_verdict_ok)
            std::printf("wrong final verdict: %s (expected %s, %s): %s\n", spec.name.c_str(), run.truth.back().c_str(),
                        expected_severity(run).c_str(), d.value("verdict", std::string()).c_str());
        if (live) {
            const LiveScore ls = score_live(run, context, d);
            live_by_scenario[spec.scenario].add(ls);
            live_total.add(ls);
        }
        if (!by_scenario.count(spec.scenario)) order.push_back(spec.scenario);
        by_scenario[spec.scenario].add(s);
        char level[64];
        std::snprintf(level, sizeof level, "all at noise %.3f", spec.noise);
        by_noise[level].add(s);
        total.add(s);
    }
    std::printf("| scenario | runs | agreement | false alarms /1000 | detection | lag median | lag p90 (found/boundaries) | final regime | final verdict | ms/run |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (const std::string& name : order) print_row(name, by_scenario[name]);
    for (const auto& [name, s] : by_noise) print_row(name, s);
    print_row("all", total);

    if (live) {
        std::printf("\nLive labels (LiveDiagnosis, window %d, stride %d): delay in logged points from a true boundary\n"
                    "until the live label is the new regime\n\n",
                    ps::LiveDiagnosisOptions{}.window, ps::LiveDiagnosisOptions{}.stride);
        std::printf("| scenario | runs | delay median | delay p90 | delay max | not labelled in the phase | live end = retrospective | ms/record |\n");
        std::printf("|---|---|---|---|---|---|---|---|\n");
        for (const std::string& name : order) print_live(name, live_by_scenario[name]);
        print_live("all", live_total);
    }

    if (timing && live) {
        SyntheticRunSpec spec;
        spec.phases = {{"healthy", 500000, 0.1, -2.0, true}, {"both_falling", 500000, -0.8, -1.5}};
        spec.noise = levels[1];
        const SyntheticRun run = ps::bench::make_synthetic_run(spec);
        ps::LiveDiagnosis ld;
        const std::clock_t c0 = std::clock();
        int64_t at_change = -1;
        for (size_t i = 0; i < run.stream.size(); ++i) {
            ld.add(run.stream[i]);
            if (at_change < 0 && i >= 500000 && ld.current() == ps::Regime::BothFalling) at_change = int64_t(i) - 500000;
        }
        const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
        std::printf("\n1,000,000 logged points fed live: %.1f s CPU (%.1f us per record), both falling labelled %lld "
                    "points after it began, final label %s\n",
                    cpu, 1e6 * cpu / 1e6, (long long)at_change, ps::to_string(ld.current()));
    }

    if (timing) {
        SyntheticRunSpec spec;
        spec.phases = {{"healthy", 500000, 0.1, -2.0, true}, {"both_falling", 500000, -0.8, -1.5}};
        spec.noise = levels[1];
        const SyntheticRun run = ps::bench::make_synthetic_run(spec);
        const std::clock_t c0 = std::clock();
        const auto t0 = std::chrono::steady_clock::now();
        const nlohmann::json d = ps::diagnose_series(run.stream);
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
        std::printf("\n1,000,000 logged points diagnosed in %.3f s wall, %.3f s CPU (final regime %s)\n", sec, cpu,
                    d.value("final_regime", std::string("?")).c_str());
    }
    return 0;
}
