// The hint after a non-finite loss (issue #17, item 8) points at what the values say is wrong.
#include <QtTest>

#include <string>

#include "core/engine/nan_hint.h"

class TestNanHint : public QObject {
    Q_OBJECT

    static bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

private slots:
    void betaPastFloatRangeSaysLowerBeta() {
        // beta = 1e300 is inf in float32; inf x a zero log-ratio (step 1) is NaN.
        const std::string h = ps::nan_hint(1e300, 5e-4, std::nullopt);
        QVERIFY2(has(h, "objective.beta = 1e+300") && has(h, "; lower objective.beta"), h.c_str());
        QVERIFY2(!has(h, "raise objective.beta") && !has(h, "learning_rate"), h.c_str());
        // beta 1e10 with a last |beta x log-ratio| of 1e20 (> sqrt(FLT_MAX) ~ 1.8e19): its square overflows.
        const std::string r = ps::nan_hint(1e10, 5e-4, 1e20);
        QVERIFY2(has(r, "beta x log-ratio reach 1e+20") && has(r, "lower objective.beta"), r.c_str());
    }

    void runawayPolicyOrLargeRateSaysLowerLearningRate() {
        // beta 0.1 and |reward| 50: a log-ratio of 500 nats, past 100.
        const std::string h = ps::nan_hint(0.1, 5e-4, 50.0);
        QVERIFY2(has(h, "|log-ratio| 500 nats") && has(h, "; lower train.learning_rate"), h.c_str());
        QVERIFY2(!has(h, "objective.beta"), h.c_str());
        const std::string l = ps::nan_hint(0.1, 0.5, 0.2);  // log-ratio 2 nats; lr 0.5 >= 1e-3
        QVERIFY2(has(l, "train.learning_rate = 0.5 is large") && !has(l, "objective.beta"), l.c_str());
    }

    void otherwiseBoth() {
        const std::string h = ps::nan_hint(0.1, 5e-4, 0.3);  // log-ratio 3 nats, lr 5e-4: nothing stands out
        QVERIFY2(has(h, "lower train.learning_rate or raise objective.beta"), h.c_str());
        QVERIFY2(has(h, "objective.beta = 0.1") && has(h, "train.learning_rate = 0.0005"), h.c_str());
        QVERIFY(has(ps::nan_hint(0.1, 5e-4, std::nullopt), "lower train.learning_rate or raise objective.beta"));
    }
};

QTEST_GUILESS_MAIN(TestNanHint)
#include "test_nan_hint.moc"
