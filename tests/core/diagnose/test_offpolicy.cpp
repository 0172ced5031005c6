// The off-policy check: per-token reference log-probs of chosen vs rejected, by hand.
#include <QtTest>

#include <cmath>

#include "core/common/errors.h"
#include "core/diagnose/offpolicy.h"

class TestOffPolicy : public QObject {
    Q_OBJECT
private slots:
    void handComputedReport() {
        // Per token: chosen -10/5 = -2, -2/2 = -1, -6/3 = -2; rejected -2/2 = -1, -4/2 = -2, -3/3 = -1.
        // Gaps chosen - rejected: -1, +1, -1. With a 0.5 nat threshold two of three pairs are far
        // less likely; means -5/3 and -4/3; median gap -1.
        auto r = ps::check_off_policy({-10, -2, -6}, {-2, -4, -3}, {5, 2, 3}, {2, 2, 3}, 0.5, 0.25);
        QCOMPARE(r.pairs, size_t(3));
        QVERIFY(std::fabs(r.mean_chosen_per_token - (-5.0 / 3)) < 1e-12);
        QVERIFY(std::fabs(r.mean_rejected_per_token - (-4.0 / 3)) < 1e-12);
        QCOMPARE(r.median_gap_per_token, -1.0);
        QVERIFY(std::fabs(r.share_far_less_likely - 2.0 / 3) < 1e-12);
        QVERIFY(r.warn);
        QVERIFY(r.message.find("67%") != std::string::npos);
        // The default threshold of 1 nat per token: a gap of exactly -1 is not "far".
        auto strict = ps::check_off_policy({-10, -2, -6}, {-2, -4, -3}, {5, 2, 3}, {2, 2, 3});
        QCOMPARE(strict.share_far_less_likely, 0.0);
        QVERIFY(!strict.warn);
        QCOMPARE(strict.to_json()["share_chosen_far_less_likely"].get<double>(), 0.0);
    }
    void badInput() {
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::check_off_policy({-1}, {}, {1}, {1}));
        QCOMPARE(ps::check_off_policy({}, {}, {}, {}).pairs, size_t(0));
    }
};

QTEST_GUILESS_MAIN(TestOffPolicy)
#include "test_offpolicy.moc"
