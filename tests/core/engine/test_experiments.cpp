// The both-falling experiment as a user runs it, stated as what holds on every machine: plain DPO
// on the demo data (seeds 0, 1, 2) lets both rewards fall and the chosen answers lose likelihood,
// the RPO remedy (sft_weight 1) keeps chosen up. The six runs are made by CTest fixtures
// (experiment_<config>_s<seed>, one `prefstudio-cli run` each, in parallel under ctest -j) into
// PREFSTUDIO_EXPERIMENT_DIR; this test reads them with `diagnose --json` and `export`.
//
// Exact curves depend on the BLAS kernel's rounding (experiments/README.md gives the spread across
// kernels), so nothing here is one trajectory's number: every assertion held for every seed under
// every OpenBLAS kernel measured (tests/portability.sh), with room to spare. The phase
// boundaries move with the trajectory, so the test checks that both falling is flagged at all,
// that the verdict names the fall of chosen, and that the remedies follow the dominant problem.
//
// Also: data whose chosen answers are off-policy (experiments/make_offpolicy_data.py, rebuilt
// here in C++) fires the off-policy warning, the demo data does not; every problem the live
// detector announced is a phase of the stored (retrospective) diagnosis.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <set>
#include <string>

class TestExperiments : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString cli_, root_, runs_;

    nlohmann::json cli_json(const QStringList& args) {
        QProcess p;
        p.setWorkingDirectory(root_);
        p.start(cli_, args);
        p.waitForFinished(300000);
        if (p.exitCode() != 0) qWarning() << p.readAllStandardError();
        return nlohmann::json::parse(p.readAllStandardOutput().toStdString());
    }
    int cli(const QStringList& args) {
        QProcess p;
        p.setWorkingDirectory(root_);
        p.start(cli_, args);
        p.waitForFinished(300000);
        return p.exitCode();
    }
    // The fixture's run of `config` with `seed`: its store and name.
    QStringList run(const char* config, int seed) const {
        const QString name = QStringLiteral("%1-s%2").arg(QLatin1String(config)).arg(seed);
        return {name, "--db", runs_ + "/" + name + ".db"};
    }
    nlohmann::json diagnose(const char* config, int seed) { return cli_json(QStringList{"diagnose"} + run(config, seed) + QStringList{"--json"}); }
    nlohmann::json exported(const char* config, int seed) {
        return cli_json(QStringList{"export"} + run(config, seed) + QStringList{"--format", "json"});
    }
    static double last_value(const nlohmann::json& exported, const char* metric) {
        const auto& values = exported["metrics"][metric]["value"];
        for (auto it = values.rbegin(); it != values.rend(); ++it)
            if (it->is_number()) return it->get<double>();
        return std::nan("");
    }

private slots:
    void initTestCase() {
        cli_ = qEnvironmentVariable("PREFSTUDIO_CLI");
        root_ = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR");
        runs_ = qEnvironmentVariable("PREFSTUDIO_EXPERIMENT_DIR");
        QVERIFY(QFileInfo::exists(root_ + "/experiments/data/arith-dpo.jsonl"));  // made by the build
        QVERIFY2(!runs_.isEmpty(), "PREFSTUDIO_EXPERIMENT_DIR: where the experiment_* fixtures put their runs");
    }

    void plainDpoLetsBothRewardsFall_data() {
        QTest::addColumn<int>("seed");
        for (int seed = 0; seed < 3; ++seed) QTest::addRow("seed %d", seed) << seed;
    }
    void plainDpoLetsBothRewardsFall() {
        QFETCH(int, seed);
        const auto d = diagnose("both-falling-dpo", seed);
        const auto e = exported("both-falling-dpo", seed);
        QCOMPARE(d["run"]["status"].get<std::string>(), std::string("completed"));
        // Both rewards end below the reference, on the training batches and on the eval pairs
        // (measured: chosen -0.19 to -0.98 in training, -0.39 to -0.79 in eval).
        for (const char* m : {"rewards/chosen", "rewards/rejected", "eval/rewards/chosen", "eval/rewards/rejected"})
            QVERIFY2(last_value(e, m) < 0, qPrintable(QString("%1 ends at %2").arg(m).arg(last_value(e, m))));
        // The final margin comes from rejected falling while chosen fell too.
        const auto& md = d["margin_decomposition"];
        QVERIFY2(md["from_chosen"].get<double>() < 0, md.dump().c_str());
        QVERIFY2(md["from_rejected"].get<double>() > 0, md.dump().c_str());
        // Per-pair evidence: all 200 eval pairs tracked from step 0 to the end; the chosen
        // answer of most of them lost likelihood (measured: 181-193 of 200); the most falling
        // comes first.
        const auto& pt = d["pair_tracking"];
        QCOMPARE(pt["tracked"].get<int>(), 200);
        QCOMPARE(pt["first_step"].get<int>(), 0);
        QCOMPARE(pt["last_step"].get<int>(), 300);
        QVERIFY2(pt["chosen_fell"].get<int>() > 150, qPrintable(QString::number(pt["chosen_fell"].get<int>())));
        QVERIFY(pt["pairs"][0]["prompt"].get<std::string>().find('=') != std::string::npos);
        QVERIFY(pt["pairs"][0]["chosen_logp_change"].get<double>() < 0);
        QCOMPARE(pt["pairs"][0]["curve"]["step"].size(), size_t(13));  // 0, 25, ..., 300
        QVERIFY(pt["correlations"]["ches"]["drop"]["spearman"].is_number());
        // The detector flags both rewards falling for a stretch of the run, with falling slopes
        // as its evidence.
        int falling = 0;
        for (const auto& r : d["regimes"]) {
            QVERIFY(r["start_step"].get<int>() <= r["end_step"].get<int>());
            if (r["regime"] != "both_falling") continue;
            ++falling;
            const auto& ev = r["evidence"];
            QVERIFY(ev["chosen"]["slope"].get<double>() < 0);
            QVERIFY(ev["rejected"]["slope"].get<double>() < 0);
            QCOMPARE(ev["chosen"]["trend"].get<std::string>(), std::string("falling"));
            QVERIFY(!r["explanation"].get<std::string>().empty());
        }
        QVERIFY2(falling >= 1 && d["problem_steps"].value("both_falling", 0) > 0, d["regimes"].dump().c_str());
        // The verdict names the fall of chosen (issue 16: "Healthy at the end" on 4 of 6 seeds):
        // the final chosen level is clearly below the reference, the headline says so, and the
        // severity is never "fine".
        QVERIFY2(d["levels"]["chosen"]["fell"].get<bool>(), d["levels"].dump().c_str());
        const std::string headline = d["headline"].get<std::string>();
        QVERIFY2(headline.find("chosen ended at -") != std::string::npos &&
                     headline.find("below the reference") != std::string::npos, headline.c_str());
        QVERIFY2(d["severity"] != "fine", headline.c_str());
        QVERIFY2(d["verdict"].get<std::string>().find("lost likelihood in") != std::string::npos, d["verdict"].dump().c_str());
        // What to try follows the run's dominant problem (most steps or the largest share of
        // the rewards' movement); for both falling the RPO remedy comes first and on-policy
        // answers last (they make a data file); never "switch to KTO" on paired data.
        QVERIFY(d["dominant_problem"].is_string());
        QCOMPARE(d["remedies"]["regime"], d["dominant_problem"]);
        QVERIFY(d["problem_steps"].contains(d["dominant_problem"].get<std::string>()));
        QVERIFY(!d["remedies"]["remedies"].empty());
        for (const auto& r : d["remedies"]["remedies"]) QVERIFY(r["id"] != "switch_to_kto");
        if (d["dominant_problem"] == "both_falling") {
            QCOMPARE(d["remedies"]["remedies"][0]["id"].get<std::string>(), std::string("sft_weight"));
            QCOMPARE(d["remedies"]["remedies"].back()["id"].get<std::string>(), std::string("on_policy_rejected"));
            QCOMPARE(d["remedies"]["remedies"].back()["makes_data"].get<bool>(), true);
        }
        // The demo's chosen answers are the model's own kind of answer: no off-policy warning.
        QCOMPARE(d["offpolicy"]["warn"].get<bool>(), false);
    }

    void rpoRemedyKeepsChosenUp_data() { plainDpoLetsBothRewardsFall_data(); }
    void rpoRemedyKeepsChosenUp() {
        QFETCH(int, seed);
        const auto d = diagnose("both-falling-rpo", seed);
        const auto e = exported("both-falling-rpo", seed);
        // Chosen ends above the reference and rejected below it (measured on the eval pairs:
        // chosen +0.03 to +0.07, rejected -0.04 to -0.16); few chosen answers lost likelihood
        // (measured: 12-17 of 200, against 181-193 under plain DPO); never both falling.
        QVERIFY2(last_value(e, "eval/rewards/chosen") > 0, qPrintable(QString::number(last_value(e, "eval/rewards/chosen"))));
        QVERIFY2(last_value(e, "eval/rewards/rejected") < 0, qPrintable(QString::number(last_value(e, "eval/rewards/rejected"))));
        QVERIFY2(d["margin_decomposition"]["from_chosen"].get<double>() > 0, d["margin_decomposition"].dump().c_str());
        QVERIFY2(d["pair_tracking"]["chosen_fell"].get<int>() < 75, d["pair_tracking"]["chosen_fell"].dump().c_str());
        for (const auto& r : d["regimes"]) QVERIFY2(r["regime"] != "both_falling", r.dump().c_str());
        QCOMPARE(d["problem_steps"].value("both_falling", 0), 0);
    }

    // The answer check (greedy answers to the 200 eval prompts at step 0 and every eval) shows
    // what the margin hides: under plain DPO fewer greedy answers equal the chosen answer at the
    // end than at step 0, and RPO ends with more of them than DPO. Over the three seeds together,
    // as a phenomenon (measured: DPO 9.5% -> 4.2% on average, per seed 7.5 -> 6.0, 14.5 -> 3.0,
    // 6.5 -> 3.5; RPO ends at 9.5-11.5%); one seed's few prompts move with the BLAS kernel.
    void answerCheckShowsWhatTheMarginHides() {
        double dpo_first = 0, dpo_last = 0, rpo_last = 0;
        for (int seed : {0, 1, 2}) {
            const auto dpo = diagnose("both-falling-dpo", seed)["answer_check"];
            const auto rpo = diagnose("both-falling-rpo", seed)["answer_check"];
            QVERIFY2(dpo.is_object() && rpo.is_object(), dpo.dump().c_str());
            for (const auto* a : {&dpo, &rpo}) {
                QCOMPARE((*a)["checks"].get<int>(), 13);  // step 0, 25, ..., 300
                QCOMPARE((*a)["first"]["step"].get<int>(), 0);
                QCOMPARE((*a)["last"]["step"].get<int>(), 300);
                QCOMPARE((*a)["last"]["prompts"].get<int>(), 200);
            }
            // Both start from the same SFT model: the same answers at step 0.
            QCOMPARE(dpo["first"]["chosen"].get<double>(), rpo["first"]["chosen"].get<double>());
            dpo_first += dpo["first"]["chosen"].get<double>();
            dpo_last += dpo["last"]["chosen"].get<double>();
            rpo_last += rpo["last"]["chosen"].get<double>();
        }
        QVERIFY2(dpo_last < dpo_first, qPrintable(QString("DPO %1 -> %2").arg(dpo_first / 3).arg(dpo_last / 3)));
        QVERIFY2(rpo_last > dpo_last, qPrintable(QString("RPO %1, DPO %2").arg(rpo_last / 3).arg(dpo_last / 3)));
    }

    void liveRegimeEventsAreTheStoredDiagnosis_data() { plainDpoLetsBothRewardsFall_data(); }
    void liveRegimeEventsAreTheStoredDiagnosis() {
        // The live labels (the segmentation of the run so far: 300 records fit its window) came
        // with a delay and may have been revised; the stored diagnosis is the retrospective one
        // over the whole curve, judged from step 1. Every problem the live diagnosis announced
        // is a phase of the stored diagnosis too, the stored phases tile the run from its first
        // step, and the last live label is the stored final regime.
        QFETCH(int, seed);
        const auto d = diagnose("both-falling-dpo", seed);
        const auto e = exported("both-falling-dpo", seed);
        std::set<std::string> live, stored;
        for (const auto& ev : e["events"])
            if (ev["kind"] == "regime" && ev["data"]["to"] == "both_falling") live.insert("both_falling");
        int64_t next = 1;
        for (const auto& r : d["regimes"]) {
            stored.insert(r["regime"].get<std::string>());
            QCOMPARE(r["start_step"].get<int64_t>(), next);
            next = r["end_step"].get<int64_t>() + 1;
        }
        QCOMPARE(next, int64_t(301));
        for (const std::string& regime : live) QVERIFY2(stored.count(regime), regime.c_str());
        std::string last_live;
        for (const auto& ev : e["events"])
            if (ev["kind"] == "regime") last_live = ev["data"]["to"].get<std::string>();
        QCOMPARE(last_live, d["final_regime"].get<std::string>());
    }

    void offPolicyChosenAnswersFireTheWarning() {
        // experiments/make_offpolicy_data.py's rule: every other pair gets a chosen answer with
        // a random 20-character remark (text the model cannot learn to say) and the plain
        // correct sum as rejected.
        std::ifstream in((root_ + "/experiments/data/arith-dpo.jsonl").toStdString());
        const std::string data = dir_.filePath("arith-offpolicy.jsonl").toStdString();
        std::ofstream out(data);
        const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~";
        std::mt19937_64 rng(0);
        std::string line;
        for (int i = 0; std::getline(in, line); ++i) {
            auto pair = nlohmann::json::parse(line);
            if (i % 2 == 1) {
                std::string remark;
                for (int k = 0; k < 20; ++k) remark += alphabet[rng() % alphabet.size()];
                pair["rejected"] = pair["chosen"];
                pair["chosen"] = pair["chosen"].get<std::string>() + " " + remark;
            }
            out << pair.dump() << "\n";
        }
        out.close();
        // The check runs before the first preference step: two steps are enough. Half the pairs
        // are off-policy by construction, so the share is about 0.5 on any machine (measured
        // 0.49-0.50); the warning threshold sits well below it.
        const QString db = dir_.filePath("offpolicy.db");
        QCOMPARE(cli({"run", "experiments/offpolicy-dpo.json", "--db", db, "--set", "data.train=" + QString::fromStdString(data),
                      "--set", "train.steps=2", "--set", "train.eval_every=0"}),
                 0);
        auto d = cli_json({"diagnose", "offpolicy-dpo", "--db", db, "--json"});
        QVERIFY2(d["offpolicy"]["warn"].get<bool>(), d["offpolicy"].dump().c_str());
        QVERIFY(d["offpolicy"]["share_chosen_far_less_likely"].get<double>() > 0.25);
        QVERIFY(d["offpolicy"]["message"].get<std::string>().find("Off-policy data") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestExperiments)
#include "test_experiments.moc"
