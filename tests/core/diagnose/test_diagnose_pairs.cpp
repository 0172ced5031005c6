// Qt Test for the per-pair evidence in core/diagnose: CHES and length-normalised CHES on
// hand-made hidden states (values worked out by hand) and on seeded ones against an independent
// torch implementation of the paper's formula (tests/fixtures/diagnose/make_pair_fixtures.py),
// Spearman/Pearson against numpy, the per-pair report on synthetic curves, the tracked subset,
// and the one-click remedies as config overrides.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/diagnose/pair_tracking.h"
#include "core/diagnose/remedies.h"
#include "core/engine/remedy_config.h"

using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

json fixture() {
    const QByteArray root = qgetenv("PREFSTUDIO_SOURCE_DIR");
    std::ifstream in(root.toStdString() + "/tests/fixtures/diagnose/pair_cases.json");
    if (!in) return json();
    return json::parse(in);
}

bool close(double a, double b, double tol = 1e-9) { return std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b)); }

ps::TrackedPair pair(int64_t index, double ches, double ln_ches, int64_t chosen_tokens = 2) {
    ps::TrackedPair p;
    p.index = index;
    p.split = "eval";
    p.split_index = 10 + index;
    p.prompt = "p" + std::to_string(index);
    p.chosen = "c" + std::to_string(index);
    p.rejected = "r" + std::to_string(index);
    p.chosen_tokens = chosen_tokens;
    p.rejected_tokens = 3;
    p.ches = ches;
    p.ln_ches = ln_ches;
    return p;
}

}  // namespace

class TestDiagnosePairs : public QObject {
    Q_OBJECT
private slots:
    void chesByHand() {
        // S+ = (1,0)+(0,1) = (1,1), S- = (1,1), |y+| = 2, |y-| = 1.
        // CHES = <S+,S-> - |S+|^2 = 2 - 2 = 0; LN-CHES = <(.5,.5),(1,1)> - |(.5,.5)|^2 = 1 - 0.5.
        auto s = ps::ches_score({1, 0, 0, 1}, 2, {1, 1}, 1, 2);
        QCOMPARE(s.ches, 0.0);
        QCOMPARE(s.ln_ches, 0.5);
        // S+ = (1,2), S- = (3,-1)+(0,1) = (3,0): CHES = 3 - 5 = -2; LN = 3/(1*2) - 5/1 = -3.5.
        s = ps::ches_score({1, 2}, 1, {3, -1, 0, 1}, 2, 2);
        QCOMPARE(s.ches, -2.0);
        QCOMPARE(s.ln_ches, -3.5);
        // Identical answers: CHES = |S|^2 - |S|^2 = 0 whatever S (the most similar a pair can be
        // relative to its own norm); orthogonal answers: CHES = -|S+|^2.
        s = ps::ches_from_sums({2, 3}, 4, {2, 3}, 4);
        QCOMPARE(s.ches, 0.0);
        s = ps::ches_from_sums({2, 0}, 1, {0, 5}, 1);
        QCOMPARE(s.ches, -4.0);
        QCOMPARE(s.ln_ches, -4.0);
        // Bad shapes are errors, not crashes.
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::ches_score({1, 2, 3}, 2, {1, 1}, 1, 2));
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::ches_from_sums({1}, 1, {1, 2}, 1));
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::ches_from_sums({1}, 0, {1}, 1));
    }

    void chesMatchesTheTorchReference() {
        const json f = fixture();
        QVERIFY2(f.contains("ches"), "tests/fixtures/diagnose/pair_cases.json is missing");
        for (const json& c : f["ches"]) {
            const size_t prompt_len = c["prompt_len"], dim = c["dim"];
            const auto hc = c["chosen_hidden"].get<std::vector<std::vector<double>>>();
            const auto hr = c["rejected_hidden"].get<std::vector<std::vector<double>>>();
            // The rows that predict answer tokens: last prompt position .. second-to-last.
            auto rows = [&](const std::vector<std::vector<double>>& h) {
                std::vector<double> m;
                for (size_t t = prompt_len - 1; t + 1 < h.size(); ++t) m.insert(m.end(), h[t].begin(), h[t].end());
                return m;
            };
            const size_t nc = c["chosen_tokens"], nr = c["rejected_tokens"];
            QCOMPARE(nc, hc.size() - prompt_len);
            const auto s = ps::ches_score(rows(hc), nc, rows(hr), nr, dim);
            QVERIFY2(close(s.ches, c["ches"].get<double>()), qPrintable(QString::number(s.ches)));
            QVERIFY2(close(s.ln_ches, c["ln_ches"].get<double>()), qPrintable(QString::number(s.ln_ches)));
        }
    }

    void correlationsMatchNumpy() {
        const json f = fixture();
        QVERIFY(f.contains("correlation"));
        for (const json& c : f["correlation"]) {
            const auto x = c["x"].get<std::vector<double>>(), y = c["y"].get<std::vector<double>>();
            QVERIFY(close(ps::pearson_correlation(x, y), c["pearson"].get<double>(), 1e-12));
            QVERIFY(close(ps::spearman_correlation(x, y), c["spearman"].get<double>(), 1e-12));
        }
        // By hand: ranks differ by 1 at every position, so rho = 1 - 6*6/(6*35) = 29/35.
        QVERIFY(close(ps::spearman_correlation({1, 2, 3, 4, 5, 6}, {2, 1, 4, 3, 6, 5}), 29.0 / 35.0, 1e-12));
        // Average ranks for ties.
        QCOMPARE(ps::average_ranks({3, 1, 3, 2}), (std::vector<double>{3.5, 1, 3.5, 2}));
        // Monotone but not linear: Spearman 1, Pearson below 1.
        QCOMPARE(ps::spearman_correlation({1, 2, 3, 4}, {1, 4, 9, 100}), 1.0);
        QVERIFY(ps::pearson_correlation({1, 2, 3, 4}, {1, 4, 9, 100}) < 0.9);
        // Non-finite positions are skipped; too few points or a constant side give NaN.
        QVERIFY(close(ps::pearson_correlation({1, kNaN, 2, 3}, {2, 5, 4, 6}), 1.0, 1e-12));
        QVERIFY(std::isnan(ps::pearson_correlation({1, 2}, {1, 2})));
        QVERIFY(std::isnan(ps::spearman_correlation({1, 1, 1}, {1, 2, 3})));
    }

    void reportRanksPairsByChosenDrop() {
        // Three pairs tracked at steps 0, 10, 20 (records arrive out of order).
        std::vector<ps::TrackedPair> pairs = {pair(0, 1.0, 0.1), pair(1, 3.0, 0.3, 4), pair(2, 2.0, 0.2)};
        std::vector<ps::PairLogpRecord> records = {
            {0, 20, -4.0, -9.0}, {0, 0, -5.0, -6.0}, {0, 10, -4.5, -7.0},   // chosen +1, rejected -3
            {1, 0, -2.0, -3.0},  {1, 10, -4.0, -5.0}, {1, 20, -6.0, -8.0},  // chosen -4 (-1/token)
            {2, 0, -1.0, -1.0},  {2, 10, -1.5, -2.0}, {2, 20, -2.0, -4.0},  // chosen -1
            {7, 0, 0.0, 0.0},  // an unknown pair is ignored
        };
        const ps::PairTrackingReport r = ps::analyse_tracked_pairs(pairs, records);
        QCOMPARE(r.pairs.size(), size_t(3));
        QCOMPARE(r.pairs[0].pair.index, int64_t(1));  // fell most
        QCOMPARE(r.pairs[1].pair.index, int64_t(2));
        QCOMPARE(r.pairs[2].pair.index, int64_t(0));  // rose
        QCOMPARE(r.pairs[0].chosen_change, -4.0);
        QCOMPARE(r.pairs[0].chosen_change_per_token, -1.0);
        QCOMPARE(r.pairs[0].rejected_change, -5.0);
        QCOMPARE(r.pairs[2].steps, (std::vector<int64_t>{0, 10, 20}));
        QCOMPARE(r.pairs[2].chosen, (std::vector<double>{-5.0, -4.5, -4.0}));
        QCOMPARE(r.first_step, int64_t(0));
        QCOMPARE(r.last_step, int64_t(20));
        QCOMPARE(r.chosen_fell, size_t(2));
        QCOMPARE(r.rejected_fell, size_t(3));
        QCOMPARE(r.mean_chosen_change, -4.0 / 3.0);
        // Drops 4, 1, -1 against CHES 3, 2, 1: the same order, so Spearman is 1.
        QCOMPARE(r.ches_vs_drop.pairs, size_t(3));
        QVERIFY(close(r.ches_vs_drop.spearman, 1.0));
        QVERIFY(close(r.ln_ches_vs_drop.spearman, 1.0));
        // Pearson of (3,2,1) with (4,1,-1), by hand: sxy = 5, sxx = 2, syy = 38/3.
        QVERIFY(close(r.ches_vs_drop.pearson, 5.0 / std::sqrt(2.0 * 38.0 / 3.0)));
        QVERIFY(r.summary.find("2 of 3") != std::string::npos);

        const json j = r.to_json(2);
        QCOMPARE(j["tracked"].get<int>(), 3);
        QCOMPARE(j["pairs"].size(), size_t(2));
        QCOMPARE(j["pairs"][0]["prompt"].get<std::string>(), std::string("p1"));
        QCOMPARE(j["pairs"][0]["chosen_logp_change"].get<double>(), -4.0);
        QCOMPARE(j["pairs"][0]["curve"]["chosen_logp"].size(), size_t(3));
        QCOMPARE(j["pairs"][0]["curve"]["chosen_logp_per_token"][2].get<double>(), -1.5);
        QCOMPARE(j["correlations"]["ches"]["drop"]["spearman"].get<double>(), 1.0);
        QVERIFY(j["correlations"]["ln_ches"]["drop_per_token"].contains("pearson"));
    }

    void reportWithoutChangesIsHonest() {
        // Only step 0 recorded (the run stopped before its first eval): no change is known.
        const auto r = ps::analyse_tracked_pairs({pair(0, 1, 1), pair(1, 2, 2)}, {{0, 0, -1, -2}, {1, 0, -3, -4}});
        QVERIFY(std::isnan(r.pairs[0].chosen_change));
        QCOMPARE(r.chosen_fell, size_t(0));
        QVERIFY(std::isnan(r.ches_vs_drop.spearman));
        QVERIFY(r.to_json()["correlations"]["ches"]["drop"]["spearman"].is_null());
        QVERIFY(r.summary.find("before their first eval") != std::string::npos);
        QVERIFY(ps::analyse_tracked_pairs({}, {}).empty());
    }

    void trackedSubsetIsFixedAndSeeded() {
        // Fewer pairs than asked: all of them, in order.
        QCOMPARE(ps::tracked_subset(5, 64, 0), (std::vector<size_t>{0, 1, 2, 3, 4}));
        const auto a = ps::tracked_subset(1000, 64, 3);
        QCOMPARE(a.size(), size_t(64));
        QCOMPARE(ps::tracked_subset(1000, 64, 3), a);  // same seed, same subset
        QVERIFY(ps::tracked_subset(1000, 64, 4) != a);
        QVERIFY(std::is_sorted(a.begin(), a.end()));
        QCOMPARE(std::set<size_t>(a.begin(), a.end()).size(), a.size());
        QVERIFY(a.back() < 1000);
        QVERIFY(ps::tracked_subset(10, 0, 1).empty());
    }

    void remediesAreConfigOverrides() {
        // Both falling: every remedy the issue names, in order; on-policy answers need a new data file.
        const auto all = ps::remedies_for(ps::Regime::BothFalling, "dpo");
        std::vector<std::string> ids;
        for (const auto& r : all) ids.push_back(r.id);
        QCOMPARE(ids, (std::vector<std::string>{"sft_weight", "dpop_lambda", "lower_learning_rate", "higher_beta",
                                                "switch_to_kto", "on_policy_rejected"}));
        QVERIFY(all.back().one_click);
        QVERIFY(all.back().makes_data);
        for (size_t i = 0; i + 1 < all.size(); ++i) QVERIFY(!all[i].makes_data);
        QVERIFY(ps::remedies_for(ps::Regime::Healthy, "dpo").empty());
        // Algorithm-specific ones are left out where they do not apply.
        for (const auto& r : ps::remedies_for(ps::Regime::BothFalling, "kto"))
            QVERIFY(r.id != "switch_to_kto" && r.id != "dpop_lambda" && r.id != "sft_weight");
        for (const auto& r : ps::remedies_for(ps::Regime::BothFalling, "orpo")) QVERIFY(r.id != "higher_beta");

        ps::RunConfig c;
        c.data.train = "x.jsonl";
        c.train.learning_rate = 1e-3;
        c.objective.beta = 0.1;
        QCOMPARE(ps::remedy_overrides("lower_learning_rate", c)["train.learning_rate"].get<double>(), 5e-4);
        QVERIFY(close(ps::remedy_overrides("higher_beta", c)["objective.beta"].get<double>(), 0.3));
        QCOMPARE(ps::remedy_overrides("dpop_lambda", c)["objective.dpop_lambda"].get<double>(), 5.0);
        // On-policy answers: data.train moves to a file next to the original, named after it and
        // a hash of what decides the reference model; another seed, another file.
        const std::string onpolicy = ps::remedy_overrides("on_policy_rejected", c)["data.train"].get<std::string>();
        QVERIFY2(QString::fromStdString(onpolicy).contains(QRegularExpression("^x-onpolicy-[0-9a-f]{8}\\.jsonl$")),
                 onpolicy.c_str());
        QCOMPARE(ps::remedy_overrides("on_policy_rejected", c)["data.train"].get<std::string>(), onpolicy);
        ps::RunConfig other = c;
        other.seed = 7;
        QVERIFY(ps::remedy_overrides("on_policy_rejected", other)["data.train"].get<std::string>() != onpolicy);
        // The file is TRL JSONL: a sharegpt experiment with renamed columns reads it as such.
        other = c;
        other.data.format = "sharegpt";
        other.data.columns = {{"messages", "conversations"}};
        const json sharegpt = ps::remedy_overrides("on_policy_rejected", other);
        QCOMPARE(sharegpt["data.format"].get<std::string>(), std::string("auto"));
        QVERIFY(sharegpt["data.columns"].is_object() && sharegpt["data.columns"].empty());
        QVERIFY(!sharegpt.contains("data.tags"));
        QVERIFY(!ps::remedy_overrides("on_policy_rejected", c).contains("data.format"));
        other = c;
        other.data.train = "/data/prefs/x.jsonl";
        QVERIFY(QString::fromStdString(ps::remedy_overrides("on_policy_rejected", other)["data.train"].get<std::string>())
                    .startsWith("/data/prefs/x-onpolicy-"));
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::remedy_overrides("no_such_remedy", c));

        // Applied to an experiment as written: keys set, other keys kept, name suffixed once,
        // and the result is a valid config.
        json e = {{"name", "demo"}, {"data", {{"train", "x.jsonl"}}}, {"train", {{"learning_rate", 1e-3}}}};
        json sft = ps::apply_remedy(e, "sft_weight", c);
        QCOMPARE(sft["objective"]["sft_weight"].get<double>(), 1.0);
        QCOMPARE(sft["name"].get<std::string>(), std::string("demo-rpo"));
        QCOMPARE(sft["train"]["learning_rate"].get<double>(), 1e-3);
        QCOMPARE(ps::apply_remedy(sft, "sft_weight", c)["name"].get<std::string>(), std::string("demo-rpo"));
        ps::RunConfig::from_json(sft);  // does not throw
        json kto = ps::apply_remedy(e, "switch_to_kto", c);
        QCOMPARE(kto["objective"]["algorithm"].get<std::string>(), std::string("kto"));
        QCOMPARE(ps::RunConfig::from_json(kto).objective.algorithm, std::string("kto"));
        c.objective.algorithm = "simpo";
        c.objective.beta = 2.0;
        QCOMPARE(ps::apply_remedy(e, "switch_to_kto", c)["objective"]["beta"].get<double>(), 0.1);
        c.objective.algorithm = "orpo";
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::apply_remedy(e, "dpop_lambda", c));
    }
};

QTEST_GUILESS_MAIN(TestDiagnosePairs)
#include "test_diagnose_pairs.moc"
