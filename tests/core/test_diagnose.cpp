// Qt Test for core/diagnose: the regime detector on synthetic metric streams with known regimes
// and seeded Gaussian noise (timing of each declared change, segments, evidence), the margin
// decomposition by hand, diagnose_series' JSON, and the DiagnosisSink's "regime" events.
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
#include "core/diagnose/regime_detector.h"

using nlohmann::json;
using ps::Regime;
using ps::RegimeChange;
using ps::RegimeDetector;
using ps::RegimeDetectorOptions;
using ps::StepMetrics;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

// Standard normal draws: mt19937_64 and Box-Muller, so the streams are the same everywhere.
class Gaussian {
public:
    explicit Gaussian(uint64_t seed) : rng_(seed) {}
    double next() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = 0.0;
        while (u1 <= 0.0) u1 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
        const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        spare_ = radius * std::sin(2.0 * kPi * u2);
        has_spare_ = true;
        return radius * std::cos(2.0 * kPi * u2);
    }

private:
    std::mt19937_64 rng_;
    bool has_spare_ = false;
    double spare_ = 0.0;
};

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
    std::vector<RegimeChange> changes;
    std::vector<ps::RegimeSegment> segments;
    Regime final_regime = Regime::WarmingUp;
};

// Feeds the stream one record at a time, collecting changes as a live consumer would.
Outcome detect(const std::vector<StepMetrics>& stream, const RegimeDetectorOptions& options = {}) {
    RegimeDetector detector(options);
    Outcome out;
    for (const StepMetrics& m : stream) {
        detector.add(m);
        for (RegimeChange& c : detector.take_changes()) out.changes.push_back(std::move(c));
    }
    out.segments = detector.segments();
    out.final_regime = detector.current();
    return out;
}

QString describe(const Outcome& o) {
    QString s;
    for (const auto& seg : o.segments)
        s += QStringLiteral("[%1-%2 %3 declared %4] ")
                 .arg(seg.start_step)
                 .arg(seg.end_step)
                 .arg(QString::fromLatin1(ps::to_string(seg.regime)))
                 .arg(seg.declared_step);
    return s;
}

bool any_problem_declared_before(const Outcome& o, int64_t step) {
    for (const auto& c : o.changes)
        if (c.step < step && ps::is_problem(ps::regime_from_string(c.to))) return true;
    return false;
}

// Segments tile the stream: contiguous, first starts at `first`, last ends at `last`.
bool segments_tile(const std::vector<ps::RegimeSegment>& segs, int64_t first, int64_t last) {
    if (segs.empty() || segs.front().start_step != first || segs.back().end_step != last) return false;
    for (size_t i = 0; i < segs.size(); ++i) {
        if (segs[i].end_step < segs[i].start_step) return false;
        if (i > 0 && segs[i].start_step != segs[i - 1].end_step + 1) return false;
    }
    return true;
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
    void trendEstimateOfKnownLines();
    void smoothingIsDebiasedEma();
    void optionsAndNamesAreValidated();

    void healthyStreamStaysHealthy_data();
    void healthyStreamStaysHealthy();
    void flatNoiseIsNoProblem_data();
    void flatNoiseIsNoProblem();
    void bothFallingIsDeclaredAfterItStarts_data();
    void bothFallingIsDeclaredAfterItStarts();
    void shortBlipChangesNothing_data();
    void shortBlipChangesNothing();
    void bothRisingIsDeclared();
    void marginCollapseIsDeclared_data();
    void marginCollapseIsDeclared();
    void nanIsDivergingAtOnce();
    void singleNanRecovers();
    void nanOnTheFirstStep();
    void explodingGradNormDiverges();
    void gradNormSpikesAreTolerated();
    void explodingLossDiverges();
    void hysteresisKeepsTheDeclaredRegime();
    void pauseDoesNotEndBothFalling();
    void sftEvalAndReplayedRecordsAreIgnored();
    void takeChangesDrains();

    void marginDecompositionByHand();

    void diagnoseSeriesJson();
    void diagnoseSeriesOfShortAndEmptyStreams();
    void diagnosisSinkEmitsRegimeEvents();
};

void TestDiagnose::trendEstimateOfKnownLines() {
    std::vector<double> x, up, down, flat;
    for (int i = 1; i <= 30; ++i) {
        x.push_back(i);
        up.push_back(2.0 + 0.5 * i);
        down.push_back(1.0 - 0.25 * i);
        flat.push_back(3.0);
    }
    const ps::TrendEstimate u = ps::estimate_trend(x, up);
    QCOMPARE(u.points, 30);
    QCOMPARE(u.slope, 0.5);
    QCOMPARE(u.change, 0.5 * 29);
    QVERIFY(std::fabs(u.noise) < 1e-12);
    // All 435 pairs concordant: z = (435 - 1) / sqrt(30 * 29 * 65 / 18).
    QVERIFY(std::fabs(u.z - 434.0 / std::sqrt(30.0 * 29.0 * 65.0 / 18.0)) < 1e-9);

    const ps::TrendEstimate d = ps::estimate_trend(x, down);
    QCOMPARE(d.slope, -0.25);
    QVERIFY(d.z < -7.0);

    const ps::TrendEstimate f = ps::estimate_trend(x, flat);
    QVERIFY(std::fabs(f.slope) < 1e-12);
    QCOMPARE(f.z, 0.0);

    // Non-finite points are skipped; uneven steps give a slope per step.
    std::vector<double> xs = {10, 20, 30, 40, 50, 60}, ys = {1, 2, kNaN, 4, 5, 6};
    const ps::TrendEstimate g = ps::estimate_trend(xs, ys);
    QCOMPARE(g.points, 5);
    QCOMPARE(g.slope, 0.1);
    QCOMPARE(g.change, 5.0);

    // One wild point moves the Theil-Sen slope little.
    std::vector<double> noisy = up;
    noisy[25] += 100.0;
    QVERIFY(std::fabs(ps::estimate_trend(x, noisy).slope - 0.5) < 0.05);

    QCOMPARE(ps::estimate_trend({1, 2}, {1, 2}).points, 2);
    QCOMPARE(ps::estimate_trend({1, 2}, {1, 2}).z, 0.0);
}

void TestDiagnose::smoothingIsDebiasedEma() {
    RegimeDetector det;  // smoothing 0.6
    QVERIFY(std::isnan(det.smoothed().chosen));
    det.add(record(1, {{"rewards/chosen", 0.0}, {"rewards/rejected", 3.0}, {"loss", kNaN}}));
    QCOMPARE(det.smoothed().rejected, 3.0);  // debiased: the first value itself
    det.add(record(2, {{"rewards/chosen", 1.0}, {"rewards/rejected", 3.0}}));
    // ema = 0.4 * 1 after two values, debiased by 1 - 0.6^2 = 0.64.
    QVERIFY(std::fabs(det.smoothed().chosen - 0.625) < 1e-12);
    QCOMPARE(det.smoothed().rejected, 3.0);
    QVERIFY(std::isnan(det.smoothed().loss));  // a NaN never enters the curve
    QVERIFY(std::fabs(det.smoothed().margin - (0.625 - 3.0)) < 1e-12);  // margin = chosen - rejected
}

void TestDiagnose::optionsAndNamesAreValidated() {
    RegimeDetectorOptions ok;
    ok.validate();

    auto error_of = [](RegimeDetectorOptions o) -> std::string {
        try {
            RegimeDetector det(o);
        } catch (const ps::Error& e) {
            return e.what();
        }
        return "NO EXCEPTION";
    };
    RegimeDetectorOptions o;
    o.window = 5;
    QVERIFY(error_of(o).find("window") != std::string::npos);
    o = {};
    o.enter_z = 1.5;  // below stay_z
    QVERIFY(error_of(o).find("enter_z") != std::string::npos);
    o = {};
    o.smoothing = 1.0;
    QVERIFY(error_of(o).find("smoothing") != std::string::npos);
    o = {};
    o.min_duration = 0;
    QVERIFY(error_of(o).find("min_duration") != std::string::npos);
    QCOMPARE(ok.to_json().at("window").get<int>(), 30);

    for (Regime r : {Regime::WarmingUp, Regime::Healthy, Regime::BothFalling, Regime::BothRising,
                     Regime::MarginCollapsing, Regime::Diverging}) {
        QCOMPARE(ps::regime_from_string(ps::to_string(r)), r);
        QVERIFY(!ps::regime_label(r).empty());
        QVERIFY(!ps::regime_explanation(r).empty());
    }
    QVERIFY_THROWS_EXCEPTION(ps::Error, ps::regime_from_string("sideways"));
    QVERIFY(!ps::is_problem(Regime::Healthy));
    QVERIFY(!ps::is_problem(Regime::WarmingUp));
    QVERIFY(ps::is_problem(Regime::BothFalling));
    QVERIFY(ps::is_problem(Regime::Diverging));
}

void TestDiagnose::healthyStreamStaysHealthy_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {1, 2, 3, 4, 5}) QTest::addRow("seed %llu", s) << s;
}

// Chosen +0.001/step, rejected -0.004/step, noise 0.02: healthy from the end of warm-up on.
void TestDiagnose::healthyStreamStaysHealthy() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.drift = healthy_drift;
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 1, qPrintable(describe(o)));
    const RegimeChange& c = o.changes.front();
    QCOMPARE(c.from, std::string("warming_up"));
    QCOMPARE(c.to, std::string("healthy"));
    QVERIFY2(c.step >= 30 && c.step <= 45, qPrintable(describe(o)));  // window 30 + min_duration 10
    QCOMPARE(o.final_regime, Regime::Healthy);

    QCOMPARE(o.segments.size(), size_t(2));
    QVERIFY(segments_tile(o.segments, 1, 300));
    QCOMPARE(o.segments[0].regime, Regime::WarmingUp);
    QCOMPARE(o.segments[1].regime, Regime::Healthy);
    QVERIFY(o.segments[1].start_step >= 30 && o.segments[1].start_step <= c.step);
    QCOMPARE(o.segments[1].declared_step, c.step);

    const json& ev = c.evidence;
    QCOMPARE(ev.at("window").get<int>(), 30);
    QVERIFY(ev.at("rejected").at("slope").get<double>() < 0.0);
    QCOMPARE(ev.at("rejected").at("trend").get<std::string>(), std::string("falling"));
    QVERIFY(ev.at("chosen").at("trend").get<std::string>() != "falling");
    QVERIFY(ev.at("margin").at("slope").get<double>() > 0.0);
    QVERIFY(c.explanation.find("Chosen is rising or steady") != std::string::npos);
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
    QVERIFY2(o.changes.size() == 1, qPrintable(describe(o)));
    QCOMPARE(o.changes.front().to, std::string("healthy"));
    QVERIFY(o.changes.front().explanation.find("No significant trend") != std::string::npos);
    for (const char* series : {"chosen", "rejected", "margin"})
        QCOMPARE(o.changes.front().evidence.at(series).at("trend").get<std::string>(),
                 std::string("flat"));
}

void TestDiagnose::bothFallingIsDeclaredAfterItStarts_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {1, 2, 3, 4}) QTest::addRow("seed %llu", s) << s;
}

// Healthy until step 149; from 150 chosen -0.003/step and rejected -0.008/step (margin still
// grows). Observed over 120 seeds: declared 19-33 steps after 150, never before.
void TestDiagnose::bothFallingIsDeclaredAfterItStarts() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.drift = [](int step) { return step < 150 ? Drift{0.001, -0.004} : Drift{-0.003, -0.008}; };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 2, qPrintable(describe(o)));
    QCOMPARE(o.changes[0].to, std::string("healthy"));
    const RegimeChange& c = o.changes[1];
    QCOMPARE(c.from, std::string("healthy"));
    QCOMPARE(c.to, std::string("both_falling"));
    QVERIFY2(c.step > 150 && c.step <= 190, qPrintable(describe(o)));
    QVERIFY(!any_problem_declared_before(o, 150));
    QCOMPARE(o.final_regime, Regime::BothFalling);

    QVERIFY(segments_tile(o.segments, 1, 300));
    const ps::RegimeSegment& last = o.segments.back();
    QCOMPARE(last.regime, Regime::BothFalling);
    QVERIFY(last.start_step >= 150 && last.start_step <= c.step);
    QCOMPARE(last.declared_step, c.step);

    const json& ev = c.evidence;
    QCOMPARE(ev.at("window").get<int>(), 30);
    QCOMPARE(ev.at("window_end_step").get<int64_t>(), c.step);
    QCOMPARE(ev.at("window_start_step").get<int64_t>(), c.step - 29);
    QCOMPARE(ev.at("declared_step").get<int64_t>(), c.step);
    QCOMPARE(ev.at("since_step").get<int64_t>(), last.start_step);
    for (const char* series : {"chosen", "rejected"}) {
        const json& s = ev.at(series);
        QVERIFY(s.at("slope").get<double>() < 0.0);
        QVERIFY(s.at("z").get<double>() <= -3.0);
        QVERIFY(s.at("change").get<double>() < -0.01);
        QCOMPARE(s.at("trend").get<std::string>(), std::string("falling"));
        QVERIFY(s.at("smoothed_end").get<double>() < s.at("smoothed_start").get<double>());
    }
    QVERIFY(ev.at("margin").at("slope").get<double>() > 0.0);
    QVERIFY(c.explanation.rfind("Both rewards are falling", 0) == 0);
    QVERIFY(c.explanation.find("rejected falls faster") != std::string::npos);
}

void TestDiagnose::shortBlipChangesNothing_data() {
    QTest::addColumn<quint64>("seed");
    QTest::addColumn<bool>("both_sides");
    for (quint64 s : {1, 2, 3}) {
        QTest::addRow("chosen dips, seed %llu", s) << s << false;
        QTest::addRow("both dip, seed %llu", s) << s << true;
    }
}

// Five steps (100-104) where chosen (or both rewards) drop by 0.3, 15 times the noise.
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
    QVERIFY2(o.changes.size() == 1 && o.changes.front().to == "healthy", qPrintable(describe(o)));
    QCOMPARE(o.final_regime, Regime::Healthy);
}

// Chosen +0.006/step, rejected +0.003/step from the start.
void TestDiagnose::bothRisingIsDeclared() {
    for (uint64_t seed : {1, 2, 3}) {
        Stream spec;
        spec.seed = seed;
        spec.drift = [](int) { return Drift{0.006, 0.003}; };
        const Outcome o = detect(make_stream(spec));
        QVERIFY2(o.changes.size() == 1, qPrintable(describe(o)));
        const RegimeChange& c = o.changes.front();
        QCOMPARE(c.from, std::string("warming_up"));
        QCOMPARE(c.to, std::string("both_rising"));
        QVERIFY2(c.step >= 30 && c.step <= 45, qPrintable(describe(o)));
        QVERIFY(c.evidence.at("chosen").at("slope").get<double>() > 0.0);
        QVERIFY(c.evidence.at("rejected").at("slope").get<double>() > 0.0);
        QCOMPARE(c.evidence.at("rejected").at("trend").get<std::string>(), std::string("rising"));
        QVERIFY(c.explanation.rfind("Both rewards are rising", 0) == 0);
        QCOMPARE(o.segments.back().regime, Regime::BothRising);
        QVERIFY(segments_tile(o.segments, 1, 300));
    }
}

void TestDiagnose::marginCollapseIsDeclared_data() {
    QTest::addColumn<quint64>("seed");
    for (quint64 s : {1, 2, 3}) QTest::addRow("seed %llu", s) << s;
}

// The margin grows (chosen +0.002, rejected -0.006) until 149, then rejected climbs back
// (+0.006/step) while chosen holds: the margin falls 0.006/step.
void TestDiagnose::marginCollapseIsDeclared() {
    QFETCH(quint64, seed);
    Stream spec;
    spec.seed = seed;
    spec.drift = [](int step) { return step < 150 ? Drift{0.002, -0.006} : Drift{0.0, 0.006}; };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 2, qPrintable(describe(o)));
    const RegimeChange& c = o.changes[1];
    QCOMPARE(c.from, std::string("healthy"));
    QCOMPARE(c.to, std::string("margin_collapsing"));
    QVERIFY2(c.step > 150 && c.step <= 195, qPrintable(describe(o)));
    QVERIFY(c.evidence.at("margin").at("slope").get<double>() < 0.0);
    QCOMPARE(c.evidence.at("margin").at("trend").get<std::string>(), std::string("falling"));
    QCOMPARE(c.evidence.at("rejected").at("trend").get<std::string>(), std::string("rising"));
    QVERIFY(c.evidence.at("margin_has_grown").get<bool>());
    QVERIFY(c.explanation.find("margin is shrinking") != std::string::npos);
    QCOMPARE(o.final_regime, Regime::MarginCollapsing);
}

// A NaN loss at step 80 and NaN rewards after it: diverging at step 80, no minimum duration.
void TestDiagnose::nanIsDivergingAtOnce() {
    Stream spec;
    spec.steps = 100;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step == 80) v.loss = kNaN;
        if (step > 80) v.chosen = v.rejected = v.margin = v.loss = kNaN;
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 2, qPrintable(describe(o)));
    const RegimeChange& c = o.changes[1];
    QCOMPARE(c.step, int64_t(80));
    QCOMPARE(c.from, std::string("healthy"));
    QCOMPARE(c.to, std::string("diverging"));
    QCOMPARE(c.evidence.at("reason").get<std::string>(), std::string("non_finite"));
    QCOMPARE(c.evidence.at("metric").get<std::string>(), std::string("loss"));
    QCOMPARE(c.evidence.at("value").get<std::string>(), std::string("NaN"));
    QVERIFY(c.explanation.find("loss became NaN at step 80") != std::string::npos);
    QCOMPARE(o.final_regime, Regime::Diverging);
    QVERIFY(segments_tile(o.segments, 1, 100));
    QCOMPARE(o.segments.back().start_step, int64_t(80));
    QCOMPARE(o.segments.back().end_step, int64_t(100));
}

// One Inf reward at step 80 in an otherwise healthy run: diverging at once, then healthy again
// after min_duration clean steps.
void TestDiagnose::singleNanRecovers() {
    Stream spec;
    spec.steps = 150;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step == 80) v.rejected = std::numeric_limits<double>::infinity();
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 3, qPrintable(describe(o)));
    QCOMPARE(o.changes[1].to, std::string("diverging"));
    QCOMPARE(o.changes[1].step, int64_t(80));
    QCOMPARE(o.changes[1].evidence.at("metric").get<std::string>(), std::string("rewards/rejected"));
    QCOMPARE(o.changes[2].to, std::string("healthy"));
    QVERIFY2(o.changes[2].step > 80 && o.changes[2].step <= 100, qPrintable(describe(o)));
    QVERIFY(segments_tile(o.segments, 1, 150));
}

void TestDiagnose::nanOnTheFirstStep() {
    RegimeDetector det;
    det.add(record(1, {{"loss", kNaN}, {"rewards/chosen", 0.0}, {"rewards/rejected", 0.0}}));
    const auto changes = det.take_changes();
    QCOMPARE(changes.size(), size_t(1));
    QCOMPARE(changes[0].step, int64_t(1));
    QCOMPARE(changes[0].from, std::string("warming_up"));
    QCOMPARE(changes[0].to, std::string("diverging"));
    QCOMPARE(det.segments().size(), size_t(1));  // the one-record warm-up gives way
    QCOMPARE(det.segments()[0].start_step, int64_t(1));
    QCOMPARE(det.segments()[0].regime, Regime::Diverging);
}

// grad_norm jumps 50x at step 120 and stays there: diverging once it held explode_min_steps (8)
// records, back-dated to 120.
void TestDiagnose::explodingGradNormDiverges() {
    Stream spec;
    spec.steps = 200;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step >= 120) v.grad_norm *= 50.0;
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 2, qPrintable(describe(o)));
    const RegimeChange& c = o.changes[1];
    QCOMPARE(c.to, std::string("diverging"));
    QCOMPARE(c.step, int64_t(127));
    QCOMPARE(c.evidence.at("since_step").get<int64_t>(), int64_t(120));
    QCOMPARE(c.evidence.at("reason").get<std::string>(), std::string("grad_norm_exploding"));
    QVERIFY(c.evidence.at("grad_norm_ratio").get<double>() > 10.0);
    QVERIFY(c.evidence.at("grad_norm_z").get<double>() > 6.0);
    QVERIFY(c.explanation.find("grad_norm") != std::string::npos);
    QCOMPARE(o.segments.back().start_step, int64_t(120));
    QCOMPARE(o.segments.back().end_step, int64_t(200));
    QCOMPARE(o.final_regime, Regime::Diverging);  // outliers never become the new normal
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
    QVERIFY2(o.changes.size() == 1 && o.final_regime == Regime::Healthy, qPrintable(describe(o)));
}

// The loss goes to 5x its early median at step 200 and stays: diverging at 207.
void TestDiagnose::explodingLossDiverges() {
    Stream spec;
    spec.steps = 250;
    spec.drift = healthy_drift;
    spec.perturb_values = [](int step, Values& v) {
        if (step >= 200) v.loss = 3.5;
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 2, qPrintable(describe(o)));
    const RegimeChange& c = o.changes[1];
    QCOMPARE(c.to, std::string("diverging"));
    QCOMPARE(c.step, int64_t(207));
    QCOMPARE(c.evidence.at("reason").get<std::string>(), std::string("loss_exploding"));
    QVERIFY(c.evidence.at("loss_ratio").get<double>() > 3.0);
    QVERIFY(std::fabs(c.evidence.at("reference_loss").get<double>() - std::log(2.0)) < 0.05);
}

// Noise-free: both fall from the start; from step 100 chosen slows to -0.00025/step, a change
// of 0.007 per window: under the 0.01 it takes to enter a trend, over the 0.005 it takes to
// stay in one. The declared both_falling stays; without hysteresis it would end.
void TestDiagnose::hysteresisKeepsTheDeclaredRegime() {
    Stream spec;
    spec.steps = 200;
    spec.noise = 0.0;
    spec.drift = [](int step) { return step < 100 ? Drift{-0.002, -0.004} : Drift{-0.00025, -0.004}; };
    const auto stream = make_stream(spec);

    const Outcome with = detect(stream);
    QVERIFY2(with.changes.size() == 1, qPrintable(describe(with)));
    QCOMPARE(with.changes[0].to, std::string("both_falling"));
    QCOMPARE(with.changes[0].step, int64_t(39));
    QCOMPARE(with.final_regime, Regime::BothFalling);

    RegimeDetectorOptions no_hysteresis;
    no_hysteresis.stay_z = no_hysteresis.enter_z;
    no_hysteresis.stay_change_fraction = 1.0;
    const Outcome without = detect(stream, no_hysteresis);
    QVERIFY2(without.changes.size() == 2, qPrintable(describe(without)));
    QCOMPARE(without.changes[1].from, std::string("both_falling"));
    QCOMPARE(without.changes[1].to, std::string("healthy"));
    QVERIFY(without.changes[1].step > 100 && without.changes[1].step <= 150);

    // The same on the z side: from step 100 chosen drifts -0.001/step under a period-9 wave of
    // amplitude 0.02, which keeps its Mann-Kendall z in [-2.9, -2.2] in every window: enough
    // to stay (2), not to enter (3).
    Stream wavy;
    wavy.steps = 200;
    wavy.noise = 0.0;
    wavy.drift = [](int step) { return step < 100 ? Drift{-0.003, -0.006} : Drift{-0.001, -0.006}; };
    wavy.perturb_rewards = [](int step, double& chosen, double&) {
        if (step >= 100) chosen += 0.02 * std::sin(2.0 * kPi * step / 9.0);
    };
    const auto wavy_stream = make_stream(wavy);
    const Outcome stays = detect(wavy_stream);
    QVERIFY2(stays.changes.size() == 1 && stays.final_regime == Regime::BothFalling,
             qPrintable(describe(stays)));
    RegimeDetectorOptions no_z_hysteresis;
    no_z_hysteresis.stay_z = no_z_hysteresis.enter_z;
    const Outcome leaves = detect(wavy_stream, no_z_hysteresis);
    QVERIFY2(leaves.changes.size() == 2 && leaves.final_regime == Regime::Healthy,
             qPrintable(describe(leaves)));

    // Entering takes the stricter z: the wavy chosen alone never starts both_falling.
    wavy.drift = [](int) { return Drift{-0.001, -0.006}; };
    wavy.perturb_rewards = [](int step, double& chosen, double&) {
        chosen += 0.02 * std::sin(2.0 * kPi * step / 9.0);
    };
    const Outcome never = detect(make_stream(wavy));
    QVERIFY2(never.changes.size() == 1 && never.final_regime == Regime::Healthy,
             qPrintable(describe(never)));
}

// Noise-free: both fall, then both hold still (a pause), then chosen rises. The pause keeps
// both_falling (a pause is not a fix); chosen rising ends it.
void TestDiagnose::pauseDoesNotEndBothFalling() {
    Stream spec;
    spec.steps = 260;
    spec.noise = 0.0;
    spec.drift = [](int step) {
        if (step < 100) return Drift{-0.003, -0.006};
        if (step < 180) return Drift{0.0, 0.0};
        return Drift{0.004, -0.002};
    };
    const Outcome o = detect(make_stream(spec));
    QVERIFY2(o.changes.size() == 2, qPrintable(describe(o)));
    QCOMPARE(o.changes[0].to, std::string("both_falling"));
    QCOMPARE(o.changes[1].from, std::string("both_falling"));
    QCOMPARE(o.changes[1].to, std::string("healthy"));
    QVERIFY2(o.changes[1].step > 180 && o.changes[1].step <= 215, qPrintable(describe(o)));
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
    RegimeDetector det;
    for (const StepMetrics& m : mixed) det.add(m);
    QCOMPARE(det.training_records(), int64_t(300));
    QCOMPARE(det.last_step(), int64_t(300));

    const Outcome plain = detect(train);
    const auto changes = det.take_changes();
    QCOMPARE(changes.size(), plain.changes.size());
    for (size_t i = 0; i < changes.size(); ++i) {
        QCOMPARE(changes[i].step, plain.changes[i].step);
        QCOMPARE(changes[i].to, plain.changes[i].to);
        QCOMPARE(changes[i].evidence.dump(), plain.changes[i].evidence.dump());
    }
    QCOMPARE(det.segments().size(), plain.segments.size());
}

void TestDiagnose::takeChangesDrains() {
    Stream spec;
    spec.drift = healthy_drift;
    spec.steps = 60;
    RegimeDetector det;
    for (const StepMetrics& m : make_stream(spec)) det.add(m);
    QCOMPARE(det.take_changes().size(), size_t(1));
    QVERIFY(det.take_changes().empty());
    det.reset();
    QCOMPARE(det.current(), Regime::WarmingUp);
    QVERIFY(det.segments().empty());
    QCOMPARE(det.training_records(), int64_t(0));
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
    as_sink.on_start(ps::RunInfo{});

    Stream spec;
    spec.drift = [](int step) { return step < 150 ? Drift{0.001, -0.004} : Drift{-0.003, -0.008}; };
    const auto stream = make_stream(spec);
    for (int s = 1; s <= 20; ++s) as_sink.on_metrics(record(s, {{"sft/loss", 1.0}}));
    for (const StepMetrics& m : stream) as_sink.on_metrics(m);

    QCOMPARE(events.size(), size_t(2));
    for (const ps::RunEvent& e : events) {
        QCOMPARE(e.kind, std::string("regime"));
        QVERIFY(!e.message.empty());
        QVERIFY(e.data.contains("from") && e.data.contains("to"));
        QCOMPARE(e.wall_time, 0.1 * static_cast<double>(e.step));  // the record's wall time
    }
    const ps::RunEvent& last = events.back();
    QCOMPARE(last.data.at("from").get<std::string>(), std::string("healthy"));
    QCOMPARE(last.data.at("to").get<std::string>(), std::string("both_falling"));
    QVERIFY(last.step > 150 && last.step <= 190);
    QVERIFY(last.message.rfind("Both rewards are falling", 0) == 0);
    QVERIFY(last.data.at("chosen").at("slope").get<double>() < 0.0);
    QCOMPARE(last.data.at("declared_step").get<int64_t>(), last.step);

    // The same as the detector alone.
    const Outcome o = detect(stream);
    QCOMPARE(last.step, o.changes.back().step);
    QCOMPARE(last.message, o.changes.back().explanation);
    QCOMPARE(sink.current(), Regime::BothFalling);
    QCOMPARE(sink.segments().size(), o.segments.size());

    // A new run starts from scratch.
    as_sink.on_start(ps::RunInfo{});
    QCOMPARE(sink.current(), Regime::WarmingUp);
    QVERIFY(sink.segments().empty());
}

QTEST_GUILESS_MAIN(TestDiagnose)
#include "test_diagnose.moc"
