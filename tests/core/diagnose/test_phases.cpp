// Qt Test for the retrospective diagnosis (core/diagnose/phase_segmentation.h, diagnose_series):
// hand-built series with known phases and hand-derived numbers (noise from differences, the
// change point of a noiseless bend, fitted levels of exact lines), the verdict's words and
// severity, the early baseline of reference-free algorithms, one-sided KTO data, NaN, the
// dominant problem and the remedies by algorithm and data kind.
#include <QtTest>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/diagnose/diagnosis.h"
#include "core/diagnose/phase_segmentation.h"
#include "core/diagnose/remedies.h"
#include "tests/bench/diagnosis/synthetic_runs.h"

using nlohmann::json;
using ps::Regime;
using ps::StepMetrics;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One record per step 1..n with the given rewards (NaN: logged as NaN; skip_rejected: not logged).
std::vector<StepMetrics> stream_of(const std::vector<double>& chosen, const std::vector<double>& rejected,
                                   bool log_rejected = true, int64_t every = 1) {
    std::vector<StepMetrics> out;
    for (size_t i = 0; i < chosen.size(); ++i) {
        StepMetrics m;
        m.step = int64_t(i + 1) * every;
        const double c = chosen[i], r = rejected[i];
        m.set("loss", std::isfinite(c) && std::isfinite(r) ? std::log1p(std::exp(-(c - r))) : (std::isfinite(c) ? 0.5 : kNaN));
        m.set("rewards/chosen", c);
        if (log_rejected) m.set("rewards/rejected", r);
        out.push_back(std::move(m));
    }
    return out;
}

// +a, -a, +a, ... (and a shifted pattern for a second series): noise with a known size.
double alternating(size_t i, double a) { return i % 2 ? -a : a; }
double alternating2(size_t i, double a) { return (i / 2) % 2 ? -a : a; }

ps::Phase phase(Regime regime, int64_t a, int64_t b, double dc, double dr) {
    ps::Phase p;
    p.regime = regime;
    p.start_step = a;
    p.end_step = b;
    p.chosen.change = dc;
    p.rejected.change = dr;
    return p;
}

}  // namespace

class TestPhases : public QObject {
    Q_OBJECT
private slots:
    void noiseFromDifferencesByHand() {
        // y = 0.5 i + (+1, -1, +1, ...), i = 0..10: the 10 differences are -1.5 (5x) and 2.5 (5x),
        // their median 0.5, every absolute deviation 2, so the sd is 1.4826 x 2 / sqrt 2.
        std::vector<double> y;
        for (int i = 0; i <= 10; ++i) y.push_back(0.5 * i + (i % 2 ? -1.0 : 1.0));
        QVERIFY(std::fabs(ps::noise_from_differences(y) - 1.4826 * 2.0 / std::sqrt(2.0)) < 1e-12);
        y.push_back(kNaN);  // a non-finite value is skipped
        QVERIFY(std::fabs(ps::noise_from_differences(y) - 1.4826 * 2.0 / std::sqrt(2.0)) < 1e-12);
        QVERIFY(std::isnan(ps::noise_from_differences({1.0, 2.0})));
    }

    void changePointOfANoiselessBend() {
        // y = min(i, 99 - i): two exact lines meeting between i = 49 and 50, so the second
        // stretch starts at 50 and costs nothing; a straight second series changes nothing.
        std::vector<double> x, tent, line;
        for (int i = 0; i < 100; ++i) {
            x.push_back(i);
            tent.push_back(std::min(i, 99 - i));
            line.push_back(-0.3 * i);
        }
        QCOMPARE(ps::piecewise_linear_change_points(x, {tent}, {1.0}, 1.0, 5), (std::vector<size_t>{50}));
        QCOMPARE(ps::piecewise_linear_change_points(x, {tent, line}, {1.0, 1.0}, 1.0, 5), (std::vector<size_t>{50}));
        QVERIFY(ps::piecewise_linear_change_points(x, {line}, {1.0}, 1.0, 5).empty());
        // A bend no larger than the noise is no change point: 0.02 of bend over 50 points
        // under noise 1 costs less than the price of a phase.
        std::vector<double> shallow;
        for (int i = 0; i < 100; ++i) shallow.push_back(0.0004 * std::min(i, 99 - i));
        QVERIFY(ps::piecewise_linear_change_points(x, {shallow}, {1.0}, 1.0, 5).empty());
    }

    void healthyThenBothFalling() {
        // Steps 1-100: chosen flat at 0, rejected -0.01 a step (healthy). Steps 101-200: chosen
        // -0.01 a step, rejected -0.02 a step (both falling, the margin still growing). Noise
        // +-0.01. Chosen ends at -0.01 x 99.5 = -0.995, rejected at -0.995 - 2 x 0.995 = -2.985.
        std::vector<double> c, r;
        for (size_t i = 0; i < 200; ++i) {
            const double bend = std::max(0.0, double(i) - 99.5);
            c.push_back(-0.01 * bend + alternating(i, 0.01));
            r.push_back(-0.01 * double(i) - 0.01 * bend + alternating2(i, 0.01));
        }
        const json d = ps::diagnose_series(stream_of(c, r));
        const json& regimes = d["regimes"];
        QCOMPARE(regimes.size(), size_t(2));
        QCOMPARE(regimes[0]["regime"].get<std::string>(), std::string("healthy"));
        QCOMPARE(regimes[0]["start_step"].get<int64_t>(), int64_t(1));
        QCOMPARE(regimes[1]["regime"].get<std::string>(), std::string("both_falling"));
        const int64_t boundary = regimes[1]["start_step"].get<int64_t>();
        QVERIFY2(std::abs(boundary - 101) <= 2, qPrintable(QString::number(boundary)));
        QCOMPARE(regimes[1]["end_step"].get<int64_t>(), int64_t(200));
        QCOMPARE(regimes[1]["evidence"]["chosen"]["trend"].get<std::string>(), std::string("falling"));
        QCOMPARE(regimes[1]["evidence"]["rejected"]["trend"].get<std::string>(), std::string("falling"));
        QVERIFY(std::fabs(regimes[1]["evidence"]["chosen"]["slope"].get<double>() + 0.01) < 0.001);
        QCOMPARE(regimes[0]["evidence"]["chosen"]["trend"].get<std::string>(), std::string("flat"));

        QCOMPARE(d["final_regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(d["severity"].get<std::string>(), std::string("problem"));
        const json& chosen = d["levels"]["chosen"];
        QVERIFY2(std::fabs(chosen["end"].get<double>() + 0.995) < 0.02, chosen.dump().c_str());
        QVERIFY(chosen["fell"].get<bool>());
        QVERIFY(chosen["se"].get<double>() > 0 && chosen["se"].get<double>() < 0.01);
        QVERIFY(std::fabs(d["levels"]["rejected"]["end"].get<double>() + 2.985) < 0.02);
        // The decomposition is of the same levels: from chosen = chosen's level (baseline 0).
        const json& md = d["margin_decomposition"];
        QCOMPARE(md["from_chosen"].get<double>(), chosen["end"].get<double>());
        QCOMPARE(md["baseline"].get<std::string>(), std::string("reference"));
        const std::string headline = d["headline"].get<std::string>();
        QVERIFY2(headline.rfind("Problem: both rewards are falling at the end (steps", 0) == 0, headline.c_str());
        QVERIFY2(headline.find("below the reference (0)") != std::string::npos, headline.c_str());
        const std::string verdict = d["verdict"].get<std::string>();
        QVERIFY2(verdict.find("Phases: healthy at steps 1-") != std::string::npos, verdict.c_str());
        QVERIFY2(verdict.find("from chosen falling") != std::string::npos, verdict.c_str());
        QVERIFY2(verdict.find("All of the margin comes from pushing rejected down") != std::string::npos, verdict.c_str());
        QCOMPARE(d["problem_steps"]["both_falling"].get<int64_t>(), 201 - boundary);
        QCOMPARE(d["dominant_problem"].get<std::string>(), std::string("both_falling"));
    }

    void recoveredRunIsWatchAndSaysChosenFell() {
        // Both falling over steps 1-100 (chosen -0.005 a step), then healthy (chosen +0.001,
        // rejected -0.01): chosen ends at -0.5 + 0.1 = -0.4, still below the reference, so the
        // run is not "fine" and the headline says chosen fell (issue 16: "Healthy at the end").
        std::vector<double> c, r;
        for (size_t i = 0; i < 200; ++i) {
            const double t = double(i), bend = std::max(0.0, t - 99.5);
            c.push_back(-0.005 * std::min(t, 99.5) + 0.001 * bend + alternating(i, 0.005));
            r.push_back(-0.02 * std::min(t, 99.5) - 0.01 * bend + alternating2(i, 0.005));
        }
        const json d = ps::diagnose_series(stream_of(c, r));
        QCOMPARE(d["regimes"].size(), size_t(2));
        QCOMPARE(d["regimes"][0]["regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(d["final_regime"].get<std::string>(), std::string("healthy"));
        QCOMPARE(d["severity"].get<std::string>(), std::string("watch"));
        QVERIFY(std::fabs(d["levels"]["chosen"]["end"].get<double>() + 0.4) < 0.01);
        const std::string headline = d["headline"].get<std::string>();
        QVERIFY2(headline.rfind("Watch: healthy at the end", 0) == 0, headline.c_str());
        QVERIFY2(headline.find("below the reference (0): the chosen answers lost likelihood") != std::string::npos,
                 headline.c_str());
        // The run's problem was both falling, though it ends healthy: remedies follow it.
        QCOMPARE(d["dominant_problem"].get<std::string>(), std::string("both_falling"));
    }

    void referenceFreeRewardsUseTheEarlyLevel() {
        // ORPO rewards are beta x the policy's own average log-prob: here chosen rises from -1.5
        // to -1.2 and rejected falls from -1.5 to -2.0 over 100 steps. Against 0 chosen would
        // "fall" by 1.2 (issue 16); against its early level it rose by 0.3.
        std::vector<double> c, r;
        for (size_t i = 0; i < 100; ++i) {
            c.push_back(-1.5 + 0.3 * double(i) / 99.0);
            r.push_back(-1.5 - 0.5 * double(i) / 99.0);
        }
        ps::DiagnosisContext orpo;
        orpo.algorithm = "orpo";
        orpo.rewards_relative = false;
        const json d = ps::diagnose_series(stream_of(c, r), orpo);
        const json& md = d["margin_decomposition"];
        QCOMPARE(md["baseline"].get<std::string>(), std::string("early"));
        QVERIFY2(std::fabs(md["from_chosen"].get<double>() - 0.3) < 1e-9, md.dump().c_str());
        QVERIFY(std::fabs(md["from_rejected"].get<double>() - 0.5) < 1e-9);
        QVERIFY(std::fabs(md["chosen_baseline"].get<double>() + 1.5) < 1e-9);
        QCOMPARE(d["severity"].get<std::string>(), std::string("fine"));
        const std::string headline = d["headline"].get<std::string>();
        QVERIFY2(headline.find("above its early level") != std::string::npos, headline.c_str());
        QVERIFY2(headline.find("ORPO rewards are beta x the policy's own average log-prob") != std::string::npos,
                 headline.c_str());
        // The same run read as relative rewards (the old behaviour) says chosen fell.
        const json wrong = ps::diagnose_series(stream_of(c, r));
        QVERIFY(wrong["margin_decomposition"]["from_chosen"].get<double>() < 0);
    }

    void nanDivergesFromTheFirstNonFiniteValue() {
        std::vector<double> c, r;
        for (size_t i = 0; i < 50; ++i) {
            c.push_back(i >= 39 ? kNaN : 0.001 * double(i));
            r.push_back(i >= 39 ? kNaN : -0.01 * double(i));
        }
        const json d = ps::diagnose_series(stream_of(c, r));
        const json& regimes = d["regimes"];
        QCOMPARE(regimes.size(), size_t(2));
        QCOMPARE(regimes[0]["regime"].get<std::string>(), std::string("healthy"));
        QCOMPARE(regimes[0]["end_step"].get<int64_t>(), int64_t(39));
        QCOMPARE(regimes[1]["regime"].get<std::string>(), std::string("diverging"));
        QCOMPARE(regimes[1]["start_step"].get<int64_t>(), int64_t(40));
        QCOMPARE(regimes[1]["evidence"]["metric"].get<std::string>(), std::string("loss"));
        QCOMPARE(regimes[1]["evidence"]["value"].get<std::string>(), std::string("NaN"));
        QCOMPARE(d["severity"].get<std::string>(), std::string("problem"));
        QVERIFY(d["headline"].get<std::string>().rfind("Problem: training is diverging from step 40", 0) == 0);

        // NaN from the first log (a real run: three NaN entries): diverging from the start.
        const json all_nan = ps::diagnose_series(stream_of({kNaN, kNaN, kNaN}, {kNaN, kNaN, kNaN}, true, 500));
        QCOMPARE(all_nan["regimes"].size(), size_t(1));
        QCOMPARE(all_nan["regimes"][0]["regime"].get<std::string>(), std::string("diverging"));
        QCOMPARE(all_nan["regimes"][0]["start_step"].get<int64_t>(), int64_t(500));
        QCOMPARE(all_nan["final_regime"].get<std::string>(), std::string("diverging"));
        // As a real log has it: the loss 0.0 and every reward NaN (../shared/real-runs/10-...).
        std::vector<StepMetrics> zero_loss;
        for (int64_t step : {500, 1000, 1500}) {
            StepMetrics m;
            m.step = step;
            m.set("loss", 0.0);
            m.set("rewards/chosen", kNaN);
            m.set("rewards/rejected", kNaN);
            zero_loss.push_back(m);
        }
        const json nan_rewards = ps::diagnose_series(zero_loss);
        QCOMPARE(nan_rewards["final_regime"].get<std::string>(), std::string("diverging"));
        QCOMPARE(nan_rewards["regimes"][0]["evidence"]["metric"].get<std::string>(), std::string("rewards/chosen"));
    }

    void oneSidedKtoDataSaysWhichSideIsNotLogged() {
        // Only desirable examples: chosen is logged (rising), rejected is not, or is NaN on every
        // row (what older stores hold): neither is divergence, and the text says which side.
        std::vector<double> c, r(60, kNaN);
        for (size_t i = 0; i < 60; ++i) c.push_back(0.01 * double(i) + alternating(i, 0.002));
        for (const bool logged_as_nan : {false, true}) {
            const json d = ps::diagnose_series(stream_of(c, r, logged_as_nan));
            QCOMPARE(d["unlogged_side"].get<std::string>(), std::string("rejected"));
            QCOMPARE(d["regimes"].size(), size_t(1));
            QCOMPARE(d["regimes"][0]["regime"].get<std::string>(), std::string("healthy"));
            QCOMPARE(d["regimes"][0]["start_step"].get<int64_t>(), int64_t(1));
            const std::string headline = d["headline"].get<std::string>();
            QVERIFY2(headline.find("no undesirable examples, so rejected is not logged") != std::string::npos, headline.c_str());
            QVERIFY2(headline.find("chosen ended at +0.5") != std::string::npos, headline.c_str());
            QVERIFY(std::fabs(d["levels"]["chosen"]["end"].get<double>() - 0.59) < 0.005);
        }
    }

    void judgedFromTheFirstPoints() {
        // 4 logged points at any interval are enough for a line; 3 are not.
        const json four = ps::diagnose_series(stream_of({0.0, -0.1, -0.2, -0.3}, {0.0, -0.3, -0.6, -0.9}, true, 50));
        QCOMPARE(four["final_regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(four["regimes"][0]["start_step"].get<int64_t>(), int64_t(50));
        const json three = ps::diagnose_series(stream_of({0.0, -0.1, -0.2}, {0.0, -0.3, -0.6}));
        QCOMPARE(three["final_regime"].get<std::string>(), std::string("warming_up"));
        QVERIFY(three["verdict"].get<std::string>().rfind("Not enough data yet: 3 logged points", 0) == 0);
    }

    void dominantProblemIsMostStepsOrLargestShare() {
        using P = std::vector<ps::Phase>;
        // Most steps and most movement agree: both falling.
        QCOMPARE(ps::dominant_problem(P{phase(Regime::BothFalling, 1, 100, -1, -2), phase(Regime::Healthy, 101, 300, 0.1, -0.1),
                                        phase(Regime::BothRising, 301, 330, 0.05, 0.02)}),
                 Regime::BothFalling);
        // 50 steps of both falling moved the rewards by 6 of 6.15 (98%); 250 steps of both rising
        // are 83% of the steps: the larger share wins (issue 16: not the last regime).
        QCOMPARE(ps::dominant_problem(P{phase(Regime::BothFalling, 1, 50, -2, -4), phase(Regime::BothRising, 51, 300, 0.1, 0.05)}),
                 Regime::BothFalling);
        QCOMPARE(ps::dominant_problem(P{phase(Regime::BothFalling, 1, 50, -0.1, -0.1), phase(Regime::BothRising, 51, 300, 0.1, 0.05)}),
                 Regime::BothRising);
        // A run that ends diverging is diverging; no problem phase, none.
        QCOMPARE(ps::dominant_problem(P{phase(Regime::BothFalling, 1, 200, -2, -4), phase(Regime::Diverging, 201, 210, 0, 0)}),
                 Regime::Diverging);
        QCOMPARE(ps::dominant_problem(P{phase(Regime::Healthy, 1, 200, 0.1, -1)}), Regime::WarmingUp);
    }

    void remediesByAlgorithmAndDataKind() {
        auto ids = [](const std::vector<ps::Remedy>& rs) {
            std::vector<std::string> out;
            for (const auto& r : rs) out.push_back(r.id);
            return out;
        };
        // Paired data: never "switch to KTO" (it lowered chosen on paired data in every run
        // measured for issue 16); on-policy rejected answers are offered.
        QCOMPARE(ids(ps::remedies_for(Regime::BothFalling, "dpo", ps::DataKind::Paired)),
                 (std::vector<std::string>{"sft_weight", "dpop_lambda", "lower_learning_rate", "higher_beta", "on_policy_rejected"}));
        // KTO's unpaired data: no on-policy rejected answers (there are no pairs), no "switch to KTO".
        QCOMPARE(ids(ps::remedies_for(Regime::BothFalling, "kto", ps::DataKind::Unpaired)),
                 (std::vector<std::string>{"lower_learning_rate", "higher_beta"}));
        // SimPO has no reference: no "raise beta".
        for (const auto& r : ps::remedies_for(Regime::BothRising, "simpo", ps::DataKind::Paired)) QVERIFY(r.id != "higher_beta");
        // Each remedy's reason is for the regime it is offered for.
        const auto diverging = ps::remedies_for(Regime::Diverging, "dpo", ps::DataKind::Paired);
        QCOMPARE(diverging.front().id, std::string("lower_learning_rate"));
        QVERIFY(diverging.front().why.find("stable") != std::string::npos);
        QVERIFY(diverging.front().why != ps::remedy_by_id("lower_learning_rate").why);
    }

    void longRunIsSegmentedOnGroupMeans() {
        // 200,000 points (fitted on means of 4): healthy, then both falling from point 100,001;
        // noise 7% of the largest change. The boundary lands within 0.5% of the run.
        ps::bench::SyntheticRunSpec spec;
        spec.phases = {{"healthy", 100000, 0.1, -2.0, true}, {"both_falling", 100000, -0.8, -1.5, false}};
        spec.noise = 0.07;
        spec.seed = 3;
        const ps::bench::SyntheticRun run = ps::bench::make_synthetic_run(spec);
        const json d = ps::diagnose_series(run.stream);
        QCOMPARE(d["regimes"].size(), size_t(2));
        QCOMPARE(d["regimes"][1]["regime"].get<std::string>(), std::string("both_falling"));
        QVERIFY2(std::abs(d["regimes"][1]["start_step"].get<int64_t>() - 100001) < 1000, d["regimes"][1].dump().c_str());
        QCOMPARE(d["severity"].get<std::string>(), std::string("problem"));
    }

    void optionsAreValidated() {
        ps::PhaseOptions o;
        o.validate();
        o.penalty = 0;
        QVERIFY_THROWS_EXCEPTION(ps::Error, o.validate());
        o = {};
        o.min_points = 1;
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::segment_phases({}, o));
        QCOMPARE(ps::PhaseOptions{}.to_json()["z"].get<double>(), 3.0);
    }
};

QTEST_GUILESS_MAIN(TestPhases)
#include "test_phases.moc"
