// The answer check end to end on the built-in tiny model (core/engine/answer_checker). The
// reference is built by hand: an SFT warm-up on pairs whose chosen answer is always "7" teaches
// the model to answer "7" to any prompt, and the eval pairs are made so that a third has chosen
// "7", a third rejected "7" and a third neither: at step 0 the shares must be exactly 1/3 each.
// Also: the check runs at every eval and stores the answers, is off when asked (and for Hugging
// Face models under auto), and never changes the training curve.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "core/diagnose/answer_check.h"
#include "core/engine/run_thread.h"
#include "core/engine/trainer.h"
#include "tests/common/collect_sink.h"
#include "tests/common/tiny_config.h"

using ps::test::CollectSink;

namespace {

void write_pairs(const std::string& path, const std::vector<std::vector<std::string>>& rows) {
    std::ofstream out(path);
    for (const auto& r : rows) {
        const nlohmann::json j = {{"prompt", r[0]}, {"chosen", r[1]}, {"rejected", r[2]}};
        out << j.dump() << "\n";
    }
}

std::string prompt(int a, int b) { return std::to_string(a) + "+" + std::to_string(b) + "="; }

}  // namespace

class TestAnswerChecker : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string train_, eval_;

    ps::RunConfig config(int64_t seed) const {
        ps::RunConfig c = ps::test::tiny_run_config(train_, 4, "answers");
        c.seed = seed;
        c.data.eval = eval_;
        c.sft.steps = 80;
        c.sft.learning_rate = 3e-3;
        c.train.eval_every = 2;
        c.train.track_pairs = 64;  // more than the 30 eval pairs: all of them
        return c;
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        std::vector<std::vector<std::string>> train, eval;
        for (int a = 0; a < 16; ++a)
            for (int b = 0; b < 16; ++b) train.push_back({prompt(a, b), "7", "x"});
        for (int i = 0; i < 30; ++i) {
            const std::string p = prompt(20 + i, 3 * i);
            if (i % 3 == 0) eval.push_back({p, "7", "x"});       // greedy "7" = chosen
            else if (i % 3 == 1) eval.push_back({p, "x", "7"});  // = rejected
            else eval.push_back({p, "y", "z"});                  // = neither
        }
        train_ = dir_.filePath("train.jsonl").toStdString();
        eval_ = dir_.filePath("eval.jsonl").toStdString();
        write_pairs(train_, train);
        write_pairs(eval_, eval);
    }

    void autoIsOnForBuiltInModelsOnly() {
        QVERIFY(ps::answer_check_enabled(ps::AnswerCheck::Auto, "builtin:tiny"));
        QVERIFY(!ps::answer_check_enabled(ps::AnswerCheck::Auto, "/models/Qwen2.5-0.5B"));
        QVERIFY(ps::answer_check_enabled(ps::AnswerCheck::On, "/models/Qwen2.5-0.5B"));
        QVERIFY(!ps::answer_check_enabled(ps::AnswerCheck::Off, "builtin:tiny"));
    }

    void sharesMatchTheHandMadeAnswers_data() {
        QTest::addColumn<int>("seed");
        for (int seed : {0, 1, 2}) QTest::newRow(("seed " + std::to_string(seed)).c_str()) << seed;
    }
    void sharesMatchTheHandMadeAnswers() {
        QFETCH(int, seed);
        const ps::RunConfig c = config(seed);
        CollectSink sink;
        ps::RunControl control;
        QVERIFY2(ps::run_training(c, c.to_json(), {&sink}, control) == ps::RunStatus::Completed, sink.error.c_str());

        // Checks at step 0 (a record of its own), and in the eval records of steps 2 and 4.
        std::vector<int64_t> steps;
        const ps::StepMetrics* first = nullptr;
        for (const ps::StepMetrics& m : sink.metrics)
            if (std::isfinite(m.get(ps::kAnswersChosenMetric))) {
                steps.push_back(m.step);
                if (!first) first = &m;
                QCOMPARE(m.get(ps::kAnswersPromptsMetric), 30.0);
                QVERIFY(std::fabs(m.get(ps::kAnswersChosenMetric) + m.get(ps::kAnswersRejectedMetric) +
                                  m.get(ps::kAnswersOtherMetric) - 1.0) < 1e-12);
                if (m.step > 0) QVERIFY(std::isfinite(m.get("eval/loss")));
            }
        QCOMPARE(steps, (std::vector<int64_t>{0, 2, 4}));
        QCOMPARE(first->get(ps::kAnswersChosenMetric), 1.0 / 3.0);
        QCOMPARE(first->get(ps::kAnswersRejectedMetric), 1.0 / 3.0);
        QCOMPARE(first->get(ps::kAnswersOtherMetric), 1.0 / 3.0);

        // The answers themselves, one event per check: at step 0 every answer is "7", ended by EOS.
        std::vector<const ps::RunEvent*> answers;
        for (const ps::RunEvent& e : sink.events)
            if (e.kind == "answers") answers.push_back(&e);
        QCOMPARE(answers.size(), size_t(3));
        const nlohmann::json& a0 = answers[0]->data["answers"];
        QCOMPARE(a0.size(), size_t(30));
        for (const auto& a : a0) {
            QCOMPARE(a["answer"].get<std::string>(), std::string("7"));
            QCOMPARE(a["finish_reason"].get<std::string>(), std::string("stop"));
        }
        QCOMPARE(answers[0]->data["chosen"].get<int>(), 10);
        QCOMPARE(answers[2]->step, int64_t(4));
    }

    // The check draws no random numbers and restores the model's mode: the curve is the same
    // with it off (bit for bit: same machine, same process), and off leaves no trace.
    void offLeavesTheCurveAsItWas() {
        ps::RunConfig on = config(0), off = config(0);
        off.train.answer_check = ps::AnswerCheck::Off;
        CollectSink a, b;
        ps::RunControl ca, cb;
        QVERIFY(ps::run_training(on, on.to_json(), {&a}, ca) == ps::RunStatus::Completed);
        QVERIFY(ps::run_training(off, off.to_json(), {&b}, cb) == ps::RunStatus::Completed);
        QVERIFY(!a.series(ps::kAnswersChosenMetric).empty());
        QVERIFY(b.series(ps::kAnswersChosenMetric).empty());
        for (const ps::RunEvent& e : b.events) QVERIFY(e.kind != "answers");
        for (const char* k : {"loss", "rewards/chosen", "rewards/rejected", "eval/loss", "eval/rewards/margins"})
            QCOMPARE(a.series(k), b.series(k));
    }
};

QTEST_GUILESS_MAIN(TestAnswerChecker)
#include "test_answer_checker.moc"
