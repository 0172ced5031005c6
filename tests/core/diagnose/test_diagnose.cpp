// Qt Test for core/diagnose: the live diagnosis (LiveDiagnosis: the segmentation of the run's
// latest records) on synthetic metric streams with known regimes and seeded Gaussian noise (when
// each label appears against the documented delay, its evidence, the end label against the
// retrospective diagnosis), the margin decomposition by hand, diagnose_series' JSON, and the
// DiagnosisSink's "regime" events.
#include <QtTest>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/common/errors.h"
#include "core/common/run_types.h"
#include "core/diagnose/diagnosis.h"
#include "core/diagnose/margin_decomposition.h"
#include "core/diagnose/regime.h"
#include "tests/bench/diagnosis/synthetic_runs.h"

using nlohmann::json;
using ps::Regime;
using ps::LiveDiagnosis;
using ps::LiveDiagnosisOptions;
using ps::RunEvent;
using ps::StepMetrics;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The benchmark's seeded normal draws (the same on every machine).
using Gaussian = ps::bench::SyntheticGaussian;

// Per-step change of the true chosen and rejected rewards.
struct Drift {
    double chosen;
    double rejected;
};

// One step's logged values, open to a test's tweaks before they become a StepMetrics.
struct Values {
    double chosen, rejected, margin, loss, grad_norm;
};

struct Stream {
    int steps = 300;
    uint64_t seed = 1;
    double noise = 0.02;  // sd of the per-step reward noise
    std::function<Drift(int)> drift = [](int) { return Drift{0.0, 0.0}; };
    std::function<void(int, double&, double&)> perturb_rewards;  // before margin and loss
    std::function<void(int, Values&)> perturb_values;             // last word
};

// A DPO-like stream: rewards start at 0 (policy == reference), margin = chosen - rejected as
// TRL logs it per batch, loss = -log sigmoid(margin), grad_norm around 1 with 15% log noise.
std::vector<StepMetrics> make_stream(const Stream& spec) {
    Gaussian gauss(spec.seed);
    double true_chosen = 0.0, true_rejected = 0.0;
    std::vector<StepMetrics> out;
    for (int step = 1; step <= spec.steps; ++step) {
        if (step > 1) {
            const Drift d = spec.drift(step);
            true_chosen += d.chosen;
            true_rejected += d.rejected;
        }
        double chosen = true_chosen + spec.noise * gauss.next();
        double rejected = true_rejected + spec.noise * gauss.next();
        const double grad_noise = gauss.next();
        if (spec.perturb_rewards) spec.perturb_rewards(step, chosen, rejected);
        Values v{chosen, rejected, chosen - rejected, std::log1p(std::exp(-(chosen - rejected))),
                 std::exp(0.15 * grad_noise)};
        if (spec.perturb_values) spec.perturb_values(step, v);
        StepMetrics m;
        m.step = step;
        m.wall_time = 0.1 * step;
        m.set("loss", v.loss);
        m.set("rewards/chosen", v.chosen);
        m.set("rewards/rejected", v.rejected);
        m.set("rewards/margins", v.margin);
        m.set("rewards/accuracies", 0.5);
        m.set("grad_norm", v.grad_norm);
        m.set("learning_rate", 5e-4);
        out.push_back(std::move(m));
    }
    return out;
}

Drift healthy_drift(int) { return {0.001, -0.004}; }

struct Outcome {
    std::vector<RunEvent> changes;  // every label change, as the sink would emit them
    Regime final_regime = Regime::WarmingUp;
    json latest;                    // the last live diagnosis
};

// Feeds the stream one record at a time, then ends it, collecting the label changes as a live
// consumer would.
Outcome detect(const std::vector<StepMetrics>& stream, const LiveDiagnosisOptions& options = {},
               const ps::DiagnosisContext& context = {}) {
    LiveDiagnosis live(context, options);
    Outcome out;
    for (const StepMetrics& m : stream) {
        live.add(m);
        for (RunEvent& e : live.take_events()) out.changes.push_back(std::move(e));
    }
    live.finish();
    for (RunEvent& e : live.take_events()) out.changes.push_back(std::move(e));
    out.final_regime = live.current();
    out.latest = live.latest();
    return out;
}

std::string to_of(const RunEvent& e) { return e.data.at("to").get<std::string>(); }
std::string from_of(const RunEvent& e) { return e.data.at("from").get<std::string>(); }
int64_t since_of(const RunEvent& e) { return e.data.at("since_step").get<int64_t>(); }

// The changes of regime (a change of severity or level words alone keeps the regime).
std::vector<RunEvent> regime_changes(const Outcome& o) {
    std::vector<RunEvent> out;
    for (const RunEvent& e : o.changes)
        if (to_of(e) != from_of(e)) out.push_back(e);
    return out;
}

QString describe(const Outcome& o) {
    QString s;
    for (const RunEvent& e : o.changes)
        s += QStringLiteral("[%1 -> %2 since %3 at %4: %5] ")
                 .arg(QString::fromStdString(from_of(e)), QString::fromStdString(to_of(e)))
                 .arg(since_of(e))
                 .arg(e.step)
                 .arg(QString::fromStdString(e.data.value("severity", std::string())));
    return s;
}

bool any_problem_declared_before(const Outcome& o, int64_t step) {
    for (const RunEvent& e : o.changes)
        if (e.step < step && ps::is_problem(ps::regime_from_string(to_of(e)))) return true;
    return false;
}

// The documented live delay (README, "Live labels"): a new phase is labelled once its slope is
// z = 3 standard errors from 0. A least-squares slope over k points with noise sd sigma has a
// standard error sigma / sqrt(k^3 / 12), so a side changing s per logged point needs about
// k = (12 z^2 sigma^2 / s^2)^(1/3) = (108 sigma^2 / s^2)^(1/3) points; the documented bound is
// twice that (noise, the boundary's placement), never under min_points (5).
int64_t documented_delay(double sigma, double slope) {
    const double k = std::cbrt(108.0 * sigma * sigma / (slope * slope));
    return std::max<int64_t>(5, int64_t(std::ceil(2.0 * k)));
}

// The retrospective diagnosis of the whole stream, for comparing the live label at the end.
std::string retrospective_final(const std::vector<StepMetrics>& stream) {
    return ps::diagnose_series(stream).at("final_regime").get<std::string>();
}

StepMetrics record(int64_t step, std::vector<std::pair<std::string, double>> values) {
    StepMetrics m;
    m.step = step;
    m.values = std::move(values);
    return m;
}

}  // namespace

class TestDiagnose : public QObject {
    Q_OBJECT

private slots:
    void optionsAndNamesAreValidated();

    void healthyStreamStaysHealthy_data();
    void healthyStreamStaysHealthy();
    void flatNoiseIsNoProblem_data();
    void flatNoiseIsNoProblem();
    void bothFallingIsLabelledWithinTheDocumentedDelay_data();
    void bothFallingIsLabelledWithinTheDocumentedDelay();
    void shortBlipChangesNothing_data();
    void shortBlipChangesNothing();
    void bothRisingIsLabelled();
    void marginCollapseIsLabelled_data();
    void marginCollapseIsLabelled();
    void nanIsDivergingAtOnce();
    void nanOnTheFirstStep();
    void explodingGradNormDiverges();
    void gradNormSpikesAreTolerated();
    void chosenFallingBelowTheReferenceChangesTheHeadline();
    void longRunSlidesItsWindowAtBoundedCost();
    void sftEvalAndReplayedRecordsAreIgnored();
    void takeEventsDrainsAndResetForgets();

    void marginDecompositionByHand();

    void diagnoseSeriesJson();
    void diagnoseSeriesOfShortAndEmptyStreams();
    void diagnosisSinkEmitsRegimeEvents();
};

void TestDiagnose::optionsAndNamesAreValidated() {
    auto error_of = [](LiveDiagnosisOptions o) -> std::string {
        try {
            LiveDiagnosis live({}, o);
        } catch (const ps::Error& e) {
            return e.what();
        }
        return "";
    };
    QVERIFY(error_of(LiveDiagnosisOptions{}).empty());
    LiveDiagnosisOptions o;
    o.window = 8;
    QVERIFY(error_of(o).find("window") != std::string::npos);
    o = {};
    o.stride = 0;
    QVERIFY(error_of(o).find("stride") != std::string::npos);
    o.stride = o.window + 1;
    QVERIFY(error_of(o).find("stride") != std::string::npos);
    o = {};
    o.hold = 0;
    QVERIFY(error_of(o).find("hold") != std::string::npos);
    ps::DiagnosisContext bad;
    bad.phases.min_points = 1;
    QVERIFY_THROWS_EXCEPTION(ps::Error, LiveDiagnosis{bad});

    for (Regime r : {Regime::WarmingUp, Regime::Healthy, Regime::BothFalling, Regime::BothRising,
                     Regime::MarginCollapsing, Regime::Diverging})
        QCOMPARE(ps::regime_from_string(ps::to_string(r)), r);
    QVERIFY_THROWS_EXCEPTION(ps::Error, ps::regime_from_string("sideways"));
    QVERIFY(!ps::is_problem(Regime::Healthy) && !ps::is_problem(Regime::WarmingUp));
    QVERIFY(ps::is_problem(Regime::BothRising) && ps::is_problem(Regime::Diverging));
}

void TestDiagnose::healthyStreamStaysHealthy_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {1, 2, 3, 4, 5}) QTest::addRow("seed %llu", s) << s;
}

// Chosen +0.001/step, rejected -0.004/step, noise 0.02: healthy from the first judged points on
// (4 points make a line), never anything else; the live label at the end is the retrospective one.
void TestDiagnose::healthyStreamStaysHealthy() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.drift = healthy_drift;
    const auto stream = make_stream(spec);
    const Outcome o = detect(stream);
    const std::vector<RunEvent> changes = regime_changes(o);
    QVERIFY2(changes.size() == 1, qPrintable(describe(o)));
    for (const RunEvent& e : o.changes) QCOMPARE(to_of(e), std::string("healthy"));
    const RunEvent& c = changes.front();
    QCOMPARE(from_of(c), std::string("warming_up"));
    // Judged from the first points (4 make a line); announced once the diagnoses agreed for
    // `hold` (10) records, which the first, noisiest records take longer to do.
    QVERIFY2(c.step >= 4 + 9 && c.step <= 40, qPrintable(describe(o)));
    QCOMPARE(since_of(c), int64_t(1));
    QCOMPARE(c.data.at("declared_step").get<int64_t>(), c.step);
    QVERIFY(c.data.at("live").get<bool>());
    QCOMPARE(o.final_regime, Regime::Healthy);
    QCOMPARE(std::string(ps::to_string(o.final_regime)), retrospective_final(stream));

    // The evidence of the last change is the live final phase's fitted lines.
    const json& ev = o.changes.back().data;
    QCOMPARE(ev.at("method").get<std::string>(), std::string("segmentation"));
    QVERIFY(ev.at("rejected").at("slope").get<double>() < 0.0);
    QCOMPARE(ev.at("rejected").at("trend").get<std::string>(), std::string("falling"));
    QVERIFY(ev.at("chosen").at("trend").get<std::string>() != "falling");
    QVERIFY(ev.at("margin").at("slope").get<double>() > 0.0);
    QVERIFY(o.changes.back().message.find("Chosen is rising or steady") != std::string::npos);
    // Headline and severity of that diagnosis travel with the event.
    QVERIFY(ev.at("headline").get<std::string>().find("healthy") != std::string::npos);
    QCOMPARE(ev.at("severity").get<std::string>(), o.latest.at("severity").get<std::string>());
}

void TestDiagnose::flatNoiseIsNoProblem_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {11, 12, 13, 14, 15}) QTest::addRow("seed %llu", s) << s;
}

void TestDiagnose::flatNoiseIsNoProblem() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.steps = 500;
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(!o.changes.empty(), qPrintable(describe(o)));
    for (const RunEvent& e : o.changes) QVERIFY2(to_of(e) == "healthy", qPrintable(describe(o)));
    QCOMPARE(o.final_regime, Regime::Healthy);
    QVERIFY2(o.changes.back().message.find("No significant trend") != std::string::npos, o.changes.back().message.c_str());
    for (const char* series : {"chosen", "rejected", "margin"})
        QCOMPARE(o.changes.back().data.at(series).at("trend").get<std::string>(), std::string("flat"));
}

void TestDiagnose::bothFallingIsLabelledWithinTheDocumentedDelay_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {1, 2, 3, 4, 5, 6, 7, 8}) QTest::addRow("seed %llu", s) << s;
}

// Healthy until step 149; from 150 chosen -0.003/step and rejected -0.008/step (margin still
// grows), noise 0.02. The slower side, chosen, sets the delay: (108 x 0.02^2 / 0.003^2)^(1/3) =
// 16.9 points, documented bound 34. Never labelled a problem before 150; the label at the end
// is the retrospective diagnosis' final phase.
void TestDiagnose::bothFallingIsLabelledWithinTheDocumentedDelay() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.drift = [](int step) { return step < 150 ? Drift{0.001, -0.004} : Drift{-0.003, -0.008}; };
    const auto stream = make_stream(spec);
    const Outcome o = detect(stream);
    const int64_t bound = documented_delay(spec.noise, 0.003);
    QCOMPARE(bound, int64_t(34));
    QVERIFY2(!any_problem_declared_before(o, 150), qPrintable(describe(o)));
    const std::vector<RunEvent> changes = regime_changes(o);
    QVERIFY2(changes.size() == 2, qPrintable(describe(o)));
    QCOMPARE(to_of(changes[0]), std::string("healthy"));
    const RunEvent& c = changes[1];
    QCOMPARE(from_of(c), std::string("healthy"));
    QCOMPARE(to_of(c), std::string("both_falling"));
    QVERIFY2(c.step >= 150 && c.step <= 150 + bound, qPrintable(describe(o)));
    // The phase is dated back to where the segmentation puts the bend, near 150.
    QVERIFY2(since_of(c) >= 140 && since_of(c) <= 160, qPrintable(describe(o)));
    QCOMPARE(o.final_regime, Regime::BothFalling);
    QCOMPARE(retrospective_final(stream), std::string("both_falling"));

    const json& ev = c.data;
    QCOMPARE(ev.at("declared_step").get<int64_t>(), c.step);
    for (const char* series : {"chosen", "rejected"}) {
        const json& s = ev.at(series);
        QVERIFY(s.at("slope").get<double>() < 0.0);
        QVERIFY(s.at("t").get<double>() <= -3.0);
        QCOMPARE(s.at("trend").get<std::string>(), std::string("falling"));
    }
    QVERIFY(ev.at("margin").at("slope").get<double>() > 0.0);
    QVERIFY(c.message.rfind("Both rewards are falling", 0) == 0);
    // Declared while chosen may still stand above the reference (a warning), a problem once it
    // stands below it: at the end chosen is near 0.149 - 0.45 = -0.30.
    const std::string severity = ev.at("severity").get<std::string>();
    QVERIFY2(severity == "watch" || severity == "problem", severity.c_str());
    QVERIFY(ev.at("headline").get<std::string>().find("both rewards are falling") != std::string::npos);
    QCOMPARE(o.changes.back().data.at("severity").get<std::string>(), std::string("problem"));
    QVERIFY(o.changes.back().data.at("headline").get<std::string>().rfind("Problem: both rewards are falling", 0) == 0);
}

void TestDiagnose::shortBlipChangesNothing_data() {
    QTest::addColumn<quint64>("seed");
    QTest::addColumn<bool>("both_sides");
    for (quint64 s : {1, 2, 3}) {
        QTest::addRow("chosen dips, seed %llu", s) << s << false;
        QTest::addRow("both dip, seed %llu", s) << s << true;
    }
}

// Five steps (100-104) where chosen (or both rewards) drop by 0.3, 15 times the noise: the
// outlier clipping keeps the label healthy all along.
void TestDiagnose::shortBlipChangesNothing() {
    QFETCH(quint64, seed);
    QFETCH(bool, both_sides);
    Stream spec;
    spec.seed = seed;
    spec.drift = healthy_drift;
    spec.perturb_rewards = [both_sides](int step, double& chosen, double& rejected) {
        if (step >= 100 && step < 105) {
            chosen -= 0.3;
            if (both_sides) rejected -= 0.3;
        }
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(regime_changes(o).size() == 1 && to_of(regime_changes(o).front()) == "healthy", qPrintable(describe(o)));
    QCOMPARE(o.final_regime, Regime::Healthy);
}

// Chosen +0.006/step, rejected +0.003/step from the start: both rising from the first judged
// points (relative rewards start at 0, which gives the first points their power).
void TestDiagnose::bothRisingIsLabelled() {
    for (uint64_t seed : {1, 2, 3}) {
        Stream spec;
        spec.seed = seed;
        spec.drift = [](int) { return Drift{0.006, 0.003}; };
        const auto stream = make_stream(spec);
        const Outcome o = detect(stream);
        const std::vector<RunEvent> changes = regime_changes(o);
        QVERIFY2(!changes.empty(), qPrintable(describe(o)));
        // Rejected, the slower side: (108 x 0.02^2 / 0.003^2)^(1/3) x 2 = 34 points at most.
        const RunEvent* rising = nullptr;
        for (const RunEvent& e : changes)
            if (to_of(e) == "both_rising") {
                rising = &e;
                break;
            }
        QVERIFY2(rising && rising->step <= documented_delay(spec.noise, 0.003), qPrintable(describe(o)));
        QVERIFY(rising->data.at("chosen").at("slope").get<double>() > 0.0);
        QCOMPARE(rising->data.at("rejected").at("trend").get<std::string>(), std::string("rising"));
        QVERIFY(rising->message.rfind("Both rewards are rising", 0) == 0);
        QCOMPARE(o.final_regime, Regime::BothRising);
        QCOMPARE(retrospective_final(stream), std::string("both_rising"));
    }
}

void TestDiagnose::marginCollapseIsLabelled_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {1, 2, 3}) QTest::addRow("seed %llu", s) << s;
}

// The margin grows (chosen +0.002, rejected -0.006) until 149, then rejected climbs back
// (+0.006/step) while chosen holds: the margin falls 0.006/step; with margin noise
// 0.02 x sqrt 2 the documented bound is 2 x (108 x 0.0008 / 0.006^2)^(1/3) = 27 points.
void TestDiagnose::marginCollapseIsLabelled() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.drift = [](int step) { return step < 150 ? Drift{0.002, -0.006} : Drift{0.0, 0.006}; };
    const auto stream = make_stream(spec);
    const Outcome o = detect(stream);
    QVERIFY2(!any_problem_declared_before(o, 150), qPrintable(describe(o)));
    const std::vector<RunEvent> changes = regime_changes(o);
    QVERIFY2(changes.size() == 2, qPrintable(describe(o)));
    const RunEvent& c = changes[1];
    QCOMPARE(from_of(c), std::string("healthy"));
    QCOMPARE(to_of(c), std::string("margin_collapsing"));
    QVERIFY2(c.step <= 150 + documented_delay(spec.noise * std::sqrt(2.0), 0.006), qPrintable(describe(o)));
    QVERIFY(c.data.at("margin").at("slope").get<double>() < 0.0);
    QCOMPARE(c.data.at("margin").at("trend").get<std::string>(), std::string("falling"));
    QCOMPARE(c.data.at("rejected").at("trend").get<std::string>(), std::string("rising"));
    QVERIFY(c.message.find("margin is shrinking") != std::string::npos);
    QCOMPARE(o.final_regime, Regime::MarginCollapsing);
    QCOMPARE(retrospective_final(stream), std::string("margin_collapsing"));
}

// A NaN loss at step 80 and NaN rewards after it: diverging at step 80, at once.
void TestDiagnose::nanIsDivergingAtOnce() {
    Stream spec;
    spec.steps = 100;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step == 80) v.loss = kNaN;
        if (step > 80) v.chosen = v.rejected = v.margin = v.loss = kNaN;
    };
    const Outcome o = detect(make_stream(spec));
    const std::vector<RunEvent> changes = regime_changes(o);
    QVERIFY2(changes.size() == 2, qPrintable(describe(o)));
    const RunEvent& c = changes[1];
    QCOMPARE(c.step, int64_t(80));
    QCOMPARE(since_of(c), int64_t(80));
    QCOMPARE(from_of(c), std::string("healthy"));
    QCOMPARE(to_of(c), std::string("diverging"));
    QCOMPARE(c.data.at("reason").get<std::string>(), std::string("non_finite"));
    QCOMPARE(c.data.at("metric").get<std::string>(), std::string("loss"));
    QCOMPARE(c.data.at("value").get<std::string>(), std::string("NaN"));
    QVERIFY(c.message.find("loss became NaN at step 80") != std::string::npos);
    QCOMPARE(o.final_regime, Regime::Diverging);
}

void TestDiagnose::nanOnTheFirstStep() {
    LiveDiagnosis live;
    live.add(record(1, {{"loss", kNaN}, {"rewards/chosen", kNaN}, {"rewards/rejected", kNaN}}));
    const auto changes = live.take_events();
    QCOMPARE(changes.size(), size_t(1));
    QCOMPARE(changes[0].step, int64_t(1));
    QCOMPARE(from_of(changes[0]), std::string("warming_up"));
    QCOMPARE(to_of(changes[0]), std::string("diverging"));
    QCOMPARE(since_of(changes[0]), int64_t(1));
    QCOMPARE(live.current(), Regime::Diverging);
}

// grad_norm jumps 50x at step 120 and stays there: diverging once it held explode_min_points (8)
// records, dated back to 120.
void TestDiagnose::explodingGradNormDiverges() {
    Stream spec;
    spec.steps = 200;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step >= 120) v.grad_norm *= 50.0;
    };
    const Outcome o = detect(make_stream(spec));
    const std::vector<RunEvent> changes = regime_changes(o);
    QVERIFY2(changes.size() == 2, qPrintable(describe(o)));
    const RunEvent& c = changes[1];
    QCOMPARE(to_of(c), std::string("diverging"));
    QCOMPARE(c.step, int64_t(127));
    QCOMPARE(since_of(c), int64_t(120));
    QCOMPARE(c.data.at("reason").get<std::string>(), std::string("grad_norm_exploding"));
    QVERIFY(c.message.find("grad_norm") != std::string::npos);
    QCOMPARE(o.final_regime, Regime::Diverging);
}

// Three 50x spikes and an Inf grad_norm (a skipped mixed-precision step) are not divergence.
void TestDiagnose::gradNormSpikesAreTolerated() {
    Stream spec;
    spec.steps = 200;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step >= 100 && step < 103) v.grad_norm *= 50.0;
        if (step == 150) v.grad_norm = std::numeric_limits<double>::infinity();
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(regime_changes(o).size() == 1 && o.final_regime == Regime::Healthy, qPrintable(describe(o)));
}

// The complaint of issue 16: "Healthy since step N" while chosen had fallen far below the
// reference. Chosen falls 0.006/step for 100 steps (to -0.59), rejected 0.012/step (to -1.19),
// then both hold still: the last phase is flat, but chosen lost 0.59 for a margin of 0.59,
// more than half of it: likelihood displacement, a problem, and the live headline says so.
void TestDiagnose::chosenFallingBelowTheReferenceChangesTheHeadline() {
    Stream spec;
    spec.steps = 400;
    spec.drift = [](int step) { return step < 100 ? Drift{-0.006, -0.012} : Drift{0.0, 0.0}; };
    const auto stream = make_stream(spec);
    const Outcome o = detect(stream);
    QVERIFY(!o.changes.empty());
    const RunEvent& last = o.changes.back();
    const std::string headline = last.data.at("headline").get<std::string>();
    QVERIFY2(headline.find("chosen ended at -0.") != std::string::npos, headline.c_str());
    QVERIFY2(headline.find("below the reference (0): the chosen answers lost likelihood") != std::string::npos,
             headline.c_str());
    QCOMPARE(o.final_regime, Regime::Healthy);
    QVERIFY2(headline.rfind("Problem: likelihood displacement; healthy at the end", 0) == 0, headline.c_str());
    QCOMPARE(last.data.at("severity").get<std::string>(), std::string("problem"));
    QVERIFY(o.latest.at("likelihood_displacement").get<bool>());
    // The live headline at the end is the retrospective one.
    QCOMPARE(o.latest.at("headline").get<std::string>(), ps::diagnose_series(stream).at("headline").get<std::string>());
}

// Past `window` records the window slides: diagnosed every records/128 records, at most
// `stride`; a change late in a long run is still labelled (within the documented delay plus
// the stride), and the early levels stay the run's.
void TestDiagnose::longRunSlidesItsWindowAtBoundedCost() {
    Stream spec;
    spec.steps = 1200;
    spec.drift = [](int step) { return step < 1000 ? Drift{0.0005, -0.002} : Drift{-0.003, -0.008}; };
    const auto stream = make_stream(spec);
    LiveDiagnosisOptions options;
    options.window = 256;
    options.stride = 4;
    LiveDiagnosis live({}, options);
    int diagnoses = 0, diagnoses_past_window = 0;
    int64_t labelled_at = -1;
    for (const StepMetrics& m : stream) {
        const bool diagnosed = live.add(m);
        diagnoses += diagnosed;
        if (m.step > 256) diagnoses_past_window += diagnosed;
        if (labelled_at < 0 && live.current() == Regime::BothFalling) labelled_at = m.step;
    }
    // Up to 255 records every record (records / 128 < 2); then every 2 to 4 records.
    QVERIFY2(diagnoses_past_window >= (1200 - 256) / 4 && diagnoses_past_window <= (1200 - 256) / 2,
             qPrintable(QString::number(diagnoses_past_window)));
    QVERIFY2(diagnoses < 600, qPrintable(QString::number(diagnoses)));
    QVERIFY2(labelled_at >= 1000 && labelled_at <= 1000 + documented_delay(spec.noise, 0.003) + options.stride,
             qPrintable(QString::number(labelled_at)));
    QCOMPARE(live.latest().at("options").at("rewards_start_at_zero").get<bool>(), false);
    QVERIFY(live.latest().at("options").at("margin_baseline").is_number());
    QVERIFY(live.latest().at("regimes").front().at("start_step").get<int64_t>() >= 1200 - 256 + 1 - options.stride);
    QCOMPARE(std::string(ps::to_string(live.current())), retrospective_final(stream));
}

// SFT warm-up records (their own step count), eval records and a replayed record change nothing.
void TestDiagnose::sftEvalAndReplayedRecordsAreIgnored() {
    Stream spec;
    spec.drift = [](int step) { return step < 150 ? Drift{0.001, -0.004} : Drift{-0.003, -0.008}; };
    const auto train = make_stream(spec);

    std::vector<StepMetrics> mixed;
    for (int s = 1; s <= 60; ++s)
        mixed.push_back(record(s, {{"sft/loss", 5.0 / s}, {"sft/grad_norm", 100.0 * s}}));
    for (const StepMetrics& m : train) {
        mixed.push_back(m);
        if (m.step % 25 == 0) {
            mixed.push_back(record(m.step, {{"eval/loss", kNaN}, {"eval/rewards/chosen", -50.0},
                                            {"eval/rewards/rejected", 50.0}}));
            mixed.push_back(m);  // a replayed record of the same step
        }
    }
    const Outcome with = detect(mixed);
    const Outcome plain = detect(train);
    QCOMPARE(with.changes.size(), plain.changes.size());
    for (size_t i = 0; i < with.changes.size(); ++i) {
        QCOMPARE(with.changes[i].step, plain.changes[i].step);
        QCOMPARE(to_of(with.changes[i]), to_of(plain.changes[i]));
        QCOMPARE(with.changes[i].data.dump(), plain.changes[i].data.dump());
    }
}

void TestDiagnose::takeEventsDrainsAndResetForgets() {
    Stream spec;
    spec.drift = healthy_drift;
    spec.steps = 60;
    LiveDiagnosis live;
    for (const StepMetrics& m : make_stream(spec)) live.add(m);
    QVERIFY(!live.take_events().empty());
    QVERIFY(live.take_events().empty());
    QCOMPARE(live.training_records(), int64_t(60));
    live.reset({});
    QCOMPARE(live.current(), Regime::WarmingUp);
    QVERIFY(live.latest().is_null());
    QCOMPARE(live.training_records(), int64_t(0));
}

void TestDiagnose::marginDecompositionByHand() {
    // A worked example: chosen rose to +0.5, rejected fell to -0.3: 0.8 = 0.5 + 0.3.
    const ps::MarginDecomposition a = ps::decompose_margin(0.5, -0.3);
    QVERIFY(std::fabs(a.margin - 0.8) < 1e-12);
    QVERIFY(std::fabs(a.from_chosen - 0.5) < 1e-12);
    QVERIFY(std::fabs(a.from_rejected - 0.3) < 1e-12);
    QVERIFY(std::fabs(a.share_chosen - 0.625) < 1e-12);
    QVERIFY(std::fabs(a.share_rejected - 0.375) < 1e-12);
    QCOMPARE(a.describe(), std::string("margin 0.800 = 0.500 from chosen rising + 0.300 from rejected falling"));

    // Chosen fell to -0.2, rejected to -0.7: margin 0.5 = -0.2 + 0.7; the whole margin and more
    // comes from pushing rejected down.
    const ps::MarginDecomposition b = ps::decompose_margin(-0.2, -0.7);
    QVERIFY(std::fabs(b.margin - 0.5) < 1e-12);
    QVERIFY(std::fabs(b.from_chosen + 0.2) < 1e-12);
    QVERIFY(std::fabs(b.from_rejected - 0.7) < 1e-12);
    QVERIFY(std::fabs(b.share_chosen + 0.4) < 1e-12);
    QVERIFY(std::fabs(b.share_rejected - 1.4) < 1e-12);
    QCOMPARE(b.describe(), std::string("margin 0.500 = -0.200 from chosen falling + 0.700 from rejected falling"));

    // Reference-free rewards (SimPO, ORPO): split the change against early values.
    const ps::MarginDecomposition c = ps::decompose_margin(-1.0, -2.0, -1.5, -1.8);
    QVERIFY(std::fabs(c.from_chosen - 0.5) < 1e-12);
    QVERIFY(std::fabs(c.from_rejected - 0.2) < 1e-12);
    QVERIFY(std::fabs(c.margin - 0.7) < 1e-12);

    // No margin: no shares; JSON carries null, never NaN.
    const ps::MarginDecomposition z = ps::decompose_margin(0.3, 0.3);
    QVERIFY(std::isnan(z.share_chosen));
    const json j = z.to_json();
    QVERIFY(j.at("share_chosen").is_null());
    QVERIFY(std::fabs(j.at("from_rejected").get<double>() + 0.3) < 1e-12);
    QVERIFY(ps::decompose_margin(kNaN, 0.1).to_json().at("margin").is_null());
    QVERIFY(j.dump().find("NaN") == std::string::npos);
}

void TestDiagnose::diagnoseSeriesJson() {
    Stream spec;
    spec.drift = [](int step) { return step < 150 ? Drift{0.001, -0.004} : Drift{-0.003, -0.008}; };
    const auto stream = make_stream(spec);
    const json d = ps::diagnose_series(stream);

    for (const char* key : {"regimes", "final_regime", "margin_decomposition", "verdict",
                            "training_steps", "last_step", "options"})
        QVERIFY2(d.contains(key), key);
    QCOMPARE(d.at("final_regime").get<std::string>(), std::string("both_falling"));
    QCOMPARE(d.at("training_steps").get<int64_t>(), int64_t(300));

    // Judged from the first step (issue 16: the old expectation, a warming_up stretch over the
    // first 29 steps, was the bug): healthy, then both falling from about step 150.
    const json& regimes = d.at("regimes");
    QVERIFY(regimes.is_array());
    QCOMPARE(regimes.size(), size_t(2));
    const char* expected[] = {"healthy", "both_falling"};
    int64_t next_start = 1;
    for (size_t i = 0; i < regimes.size(); ++i) {
        const json& r = regimes[i];
        QCOMPARE(r.at("regime").get<std::string>(), std::string(expected[i]));
        QCOMPARE(r.at("start_step").get<int64_t>(), next_start);
        QVERIFY(r.at("end_step").get<int64_t>() >= r.at("start_step").get<int64_t>());
        QVERIFY(r.at("evidence").is_object());
        QVERIFY(!r.at("explanation").get<std::string>().empty());
        next_start = r.at("end_step").get<int64_t>() + 1;
    }
    QCOMPARE(next_start, int64_t(301));
    QVERIFY(regimes[1].at("evidence").at("chosen").at("slope").get<double>() < 0.0);
    const int64_t boundary = regimes[1].at("start_step").get<int64_t>();
    QVERIFY2(boundary >= 140 && boundary <= 160, qPrintable(QString::number(boundary)));

    // At the end chosen stands near 0.149 - 0.45 = -0.30, rejected near -0.60 - 1.19 = -1.79.
    const json& md = d.at("margin_decomposition");
    const double margin = md.at("margin").get<double>();
    const double from_chosen = md.at("from_chosen").get<double>();
    const double from_rejected = md.at("from_rejected").get<double>();
    QVERIFY(std::fabs(margin - (from_chosen + from_rejected)) < 1e-12);
    QVERIFY2(from_chosen < -0.2 && from_chosen > -0.4, qPrintable(QString::number(from_chosen)));
    QVERIFY2(from_rejected > 1.65 && from_rejected < 1.95, qPrintable(QString::number(from_rejected)));
    QVERIFY(std::fabs(md.at("share_chosen").get<double>() + md.at("share_rejected").get<double>() - 1.0) < 1e-9);
    QCOMPARE(md.at("step").get<int64_t>(), int64_t(300));

    const std::string verdict = d.at("verdict").get<std::string>();
    QVERIFY2(verdict.rfind("Problem: both rewards are falling at the end", 0) == 0, verdict.c_str());
    QVERIFY2(verdict.find("below the reference") != std::string::npos, verdict.c_str());
    QVERIFY2(verdict.find("from chosen falling") != std::string::npos, verdict.c_str());
    QCOMPARE(d.at("severity").get<std::string>(), std::string("problem"));

    // A healthy run says so.
    Stream healthy;
    healthy.drift = healthy_drift;
    const json h = ps::diagnose_series(make_stream(healthy));
    QCOMPARE(h.at("final_regime").get<std::string>(), std::string("healthy"));
    QVERIFY2(h.at("verdict").get<std::string>().rfind("Fine: healthy throughout", 0) == 0, h.at("verdict").get<std::string>().c_str());
    QCOMPARE(h.at("severity").get<std::string>(), std::string("fine"));
    QVERIFY(h.at("margin_decomposition").at("from_chosen").get<double>() > 0.0);
}

void TestDiagnose::diagnoseSeriesOfShortAndEmptyStreams() {
    const json empty = ps::diagnose_series({});
    QCOMPARE(empty.at("training_steps").get<int64_t>(), int64_t(0));
    QVERIFY(empty.at("regimes").is_array() && empty.at("regimes").empty());
    QCOMPARE(empty.at("final_regime").get<std::string>(), std::string("warming_up"));
    QVERIFY(empty.at("margin_decomposition").at("margin").is_null());
    QVERIFY(empty.at("verdict").get<std::string>().find("No preference-training") != std::string::npos);

    // Three logged points are not enough to judge a trend (a line needs 4); 12 are (issue 16:
    // the old detector wanted 30 and said "too few" here).
    Stream spec;
    spec.steps = 3;
    const json tiny = ps::diagnose_series(make_stream(spec));
    QCOMPARE(tiny.at("final_regime").get<std::string>(), std::string("warming_up"));
    QCOMPARE(tiny.at("severity").get<std::string>(), std::string("unknown"));
    QVERIFY(tiny.at("verdict").get<std::string>().find("Not enough data yet") != std::string::npos);
    spec.steps = 12;
    spec.drift = healthy_drift;
    const json short_run = ps::diagnose_series(make_stream(spec));
    QVERIFY(short_run.at("final_regime").get<std::string>() != "warming_up");
    QCOMPARE(short_run.at("regimes").size(), size_t(1));

    ps::DiagnosisContext bad;
    bad.phases.min_points = 1;
    QVERIFY_THROWS_EXCEPTION(ps::Error, ps::diagnose_series({}, bad));
}

void TestDiagnose::diagnosisSinkEmitsRegimeEvents() {
    QVERIFY_THROWS_EXCEPTION(ps::Error, ps::DiagnosisSink(nullptr));

    std::vector<ps::RunEvent> events;
    ps::DiagnosisSink sink([&events](const ps::RunEvent& e) { events.push_back(e); });
    ps::RunSink& as_sink = sink;  // the trainer sees it as any other sink
    ps::RunInfo info;
    info.algorithm = "dpo";
    as_sink.on_start(info);

    Stream spec;
    spec.drift = [](int step) { return step < 150 ? Drift{0.001, -0.004} : Drift{-0.003, -0.008}; };
    const auto stream = make_stream(spec);
    for (int s = 1; s <= 20; ++s) as_sink.on_metrics(record(s, {{"sft/loss", 1.0}}));
    for (const StepMetrics& m : stream) as_sink.on_metrics(m);
    as_sink.on_finish(ps::RunStatus::Completed, json::object(), "");

    QVERIFY(!events.empty());
    for (const ps::RunEvent& e : events) {
        QCOMPARE(e.kind, std::string("regime"));
        QVERIFY(!e.message.empty());
        QVERIFY(e.data.contains("from") && e.data.contains("to") && e.data.contains("headline"));
        QCOMPARE(e.wall_time, 0.1 * static_cast<double>(e.step));  // the record's wall time
    }
    const ps::RunEvent& last = events.back();
    QCOMPARE(last.data.at("to").get<std::string>(), std::string("both_falling"));
    QVERIFY(last.message.rfind("Both rewards are falling", 0) == 0);
    QVERIFY(last.data.at("chosen").at("slope").get<double>() < 0.0);
    QCOMPARE(last.data.at("declared_step").get<int64_t>(), last.step);

    // The same as the live diagnosis alone.
    const Outcome o = detect(stream);
    QCOMPARE(events.size(), o.changes.size());
    QCOMPARE(last.step, o.changes.back().step);
    QCOMPARE(last.message, o.changes.back().message);
    QCOMPARE(sink.current(), Regime::BothFalling);
    QCOMPARE(sink.latest().at("headline").get<std::string>(), o.latest.at("headline").get<std::string>());

    // ORPO's rewards have no reference: the sink takes that from the run's algorithm.
    ps::RunInfo orpo;
    orpo.algorithm = "orpo";
    as_sink.on_start(orpo);
    QCOMPARE(sink.current(), Regime::WarmingUp);
    QVERIFY(sink.latest().is_null());
    for (const StepMetrics& m : stream) as_sink.on_metrics(m);
    QCOMPARE(sink.latest().at("levels").at("baseline").get<std::string>(), std::string("early"));
}

QTEST_GUILESS_MAIN(TestDiagnose)
#include "test_diagnose.moc"
