// Qt Test for core/diagnose/answer_check: how a greedy answer is matched to a pair's answers,
// when a change of the shares is clear (standard errors derived by hand below), and what the
// verdict of diagnose_series makes of the answer check on a stream whose rewards look healthy.
#include <QtTest>

#include <cmath>
#include <string>
#include <vector>

#include "core/common/run_types.h"
#include "core/diagnose/answer_check.h"
#include "core/diagnose/diagnosis.h"

using ps::AnswerMatch;
using ps::ExpectedAnswer;
using ps::StepMetrics;

namespace {

StepMetrics check_record(int64_t step, int chosen, int rejected, int other) {
    ps::AnswerCounts c;
    c.chosen = chosen;
    c.rejected = rejected;
    c.other = other;
    StepMetrics m;
    m.step = step;
    c.set_metrics(m);
    return m;
}

// A healthy DPO stream: chosen rises 0.002/step, rejected falls 0.004/step, tiny deterministic
// wiggle (alternating sign) so the noise estimate is not zero.
std::vector<StepMetrics> healthy_stream(int steps) {
    std::vector<StepMetrics> out;
    for (int s = 1; s <= steps; ++s) {
        const double wiggle = (s % 2 ? 1 : -1) * 0.003;
        const double c = 0.002 * s + wiggle, r = -0.004 * s - wiggle;
        StepMetrics m;
        m.step = s;
        m.set("rewards/chosen", c);
        m.set("rewards/rejected", r);
        m.set("rewards/margins", c - r);
        m.set("loss", std::log1p(std::exp(-(c - r))));
        m.set("grad_norm", 1.0);
        out.push_back(m);
    }
    return out;
}

}  // namespace

class TestAnswerCheck : public QObject {
    Q_OBJECT
private slots:
    void matchesByTokensOrTrimmedText() {
        const ExpectedAnswer chosen{{54, 49}, "61"}, rejected{{54, 48}, "60"};
        QCOMPARE(ps::classify_answer({54, 49}, "61", chosen, rejected), AnswerMatch::Chosen);
        QCOMPARE(ps::classify_answer({54, 48}, "60", chosen, rejected), AnswerMatch::Rejected);
        // Another tokenisation of the same text, surrounding whitespace ignored.
        QCOMPARE(ps::classify_answer({999}, " 61\n", chosen, rejected), AnswerMatch::Chosen);
        QCOMPARE(ps::classify_answer({54, 49, 49}, "611", chosen, rejected), AnswerMatch::Other);
        // An empty answer equals nothing, even an answer whose text is empty.
        const ExpectedAnswer empty{{}, ""};
        QCOMPARE(ps::classify_answer({}, "", empty, empty), AnswerMatch::Other);
        // Equal answers count as chosen.
        QCOMPARE(ps::classify_answer({54, 49}, "61", chosen, chosen), AnswerMatch::Chosen);
    }

    void metricsAreShares() {
        const StepMetrics m = check_record(25, 3, 1, 4);
        QCOMPARE(m.get(ps::kAnswersChosenMetric), 0.375);
        QCOMPARE(m.get(ps::kAnswersRejectedMetric), 0.125);
        QCOMPARE(m.get(ps::kAnswersOtherMetric), 0.5);
        QCOMPARE(m.get(ps::kAnswersPromptsMetric), 8.0);
        StepMetrics none;
        ps::AnswerCounts().set_metrics(none);
        QVERIFY(none.values.empty());
    }

    void clearChangesByHand() {
        // 11 -> 3 of 200: shares 0.055 -> 0.015; se = sqrt(.055*.945/200 + .015*.985/200)
        // = 0.01827, the fall 0.040 is 2.19 se: clear at z = 2, not at z = 3.
        const std::vector<StepMetrics> demo = {check_record(0, 11, 8, 181), check_record(300, 3, 0, 197)};
        auto s = ps::summarize_answer_checks(demo, 2.0);
        QVERIFY(s);
        QCOMPARE(s->chosen_change, -1);
        // Rejected 8 -> 0 of 200: se = sqrt(.04*.96/200) = 0.01386, the fall 0.04 is 2.9 se.
        QCOMPARE(s->rejected_change, -1);
        // Other 0.905 -> 0.985: se = sqrt(.905*.095/200 + .985*.015/200) = 0.02239, 3.6 se.
        QCOMPARE(s->other_change, 1);
        QVERIFY(s->describe().find("fell from 5.5% to 1.5% of 200 tracked prompts (step 0 -> 300)") != std::string::npos);
        s = ps::summarize_answer_checks(demo, 3.0);
        QCOMPARE(s->chosen_change, 0);
        QCOMPARE(s->rejected_change, 0);
        QCOMPARE(s->other_change, 1);
        QVERIFY(s->describe().find("went from 5.5% to 1.5%") != std::string::npos);
        QVERIFY(s->describe().find("(step 0 -> 300, within the noise)") != std::string::npos);
        // 6 -> 3 of 64 (9.4% -> 4.7%): se = sqrt(.094*.906/64 + .047*.953/64) = 0.0446, 1.05 se.
        s = ps::summarize_answer_checks({check_record(0, 6, 0, 58), check_record(50, 3, 0, 61)});
        QCOMPARE(s->chosen_change, 0);
        // Both shares 0 then 1 of 10: the pooled variance (p = 0.5) gives se = 0.2236; a rise
        // of 1.0 is 4.5 se.
        s = ps::summarize_answer_checks({check_record(0, 0, 0, 10), check_record(10, 10, 0, 0)});
        QCOMPARE(s->chosen_change, 1);
        QCOMPARE(s->other_change, -1);
        // No change at all.
        s = ps::summarize_answer_checks({check_record(0, 0, 0, 10), check_record(10, 0, 0, 10)});
        QCOMPARE(s->chosen_change, 0);
        QVERIFY(s->describe().find("stayed") != std::string::npos);
        // No check in the stream.
        QVERIFY(!ps::summarize_answer_checks(healthy_stream(20)));
    }

    void checksAreReadInStepOrder() {
        std::vector<StepMetrics> stream = healthy_stream(10);
        stream.push_back(check_record(10, 1, 1, 2));
        stream.insert(stream.begin(), check_record(0, 2, 1, 1));
        const auto checks = ps::answer_checks(stream);
        QCOMPARE(checks.size(), size_t(2));
        QCOMPARE(checks[0].step, int64_t(0));
        QCOMPARE(checks[0].chosen, 0.5);
        QCOMPARE(checks[1].step, int64_t(10));
        QCOMPARE(checks[1].prompts, int64_t(4));
    }

    // Rewards alone say fine; the answer check says fewer answers are right: the verdict is
    // "watch" and the headline names it. With steady answers the run stays fine.
    void verdictReadsTheAnswerCheck() {
        std::vector<StepMetrics> stream = healthy_stream(200);
        const nlohmann::json plain = ps::diagnose_series(stream);
        QCOMPARE(plain["severity"].get<std::string>(), std::string("fine"));
        QVERIFY(plain["answer_check"].is_null());

        std::vector<StepMetrics> steady = stream;
        steady.push_back(check_record(0, 30, 10, 60));
        steady.push_back(check_record(200, 31, 9, 60));
        const nlohmann::json ok = ps::diagnose_series(steady);
        QCOMPARE(ok["severity"].get<std::string>(), std::string("fine"));
        QVERIFY(ok["headline"].get<std::string>().find("Answer check") == std::string::npos);
        QVERIFY(ok["verdict"].get<std::string>().find("Answer check: greedy answers equal to the chosen answer went from 30.0% to 31.0%") !=
                std::string::npos);

        std::vector<StepMetrics> worse = stream;
        worse.push_back(check_record(0, 30, 10, 60));
        worse.push_back(check_record(200, 10, 10, 80));  // 30% -> 10% of 100: 3.6 se
        const nlohmann::json w = ps::diagnose_series(worse);
        QCOMPARE(w["severity"].get<std::string>(), std::string("watch"));
        const std::string headline = w["headline"].get<std::string>();
        QVERIFY2(headline.rfind("Watch: ", 0) == 0, headline.c_str());
        QVERIFY2(headline.find("Answer check: greedy answers equal to the chosen answer fell from 30.0% to 10.0% of 100") !=
                     std::string::npos,
                 headline.c_str());
        QCOMPARE(w["answer_check"]["change"]["chosen"].get<int>(), -1);
        QCOMPARE(w["answer_check"]["last"]["step"].get<int64_t>(), int64_t(200));
        // The rewards' phases are the same with or without the check records.
        QCOMPARE(w["regimes"].dump(), plain["regimes"].dump());
    }
};

QTEST_GUILESS_MAIN(TestAnswerCheck)
#include "test_answer_check.moc"
