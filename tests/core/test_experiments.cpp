// The both-falling experiment as a user runs it: plain DPO on the demo data is diagnosed as
// both rewards falling, the RPO remedy (sft_weight 1) is not; `diagnose --json` carries the
// regimes with their steps and evidence, and the live regime events are stored with the run.
// The per-pair evidence (tracked pairs, CHES) and the remedies come with the diagnosis; data
// whose chosen answers are off-policy (experiments/make_offpolicy_data.py, rebuilt here in C++)
// fires the off-policy warning, the demo data does not.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <string>

class TestExperiments : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString cli_, db_, root_;

    nlohmann::json cli_json(const QStringList& args) {
        QProcess p;
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

private slots:
    void initTestCase() {
        cli_ = qEnvironmentVariable("PREFSTUDIO_CLI");
        root_ = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR");
        db_ = dir_.filePath("exp.db");
        QVERIFY(QFileInfo::exists(root_ + "/experiments/data/arith-dpo.jsonl"));  // made by the build
        QCOMPARE(cli({"run", "experiments/both-falling-dpo.json", "--db", db_}), 0);
        QCOMPARE(cli({"run", "experiments/both-falling-rpo.json", "--db", db_}), 0);
    }

    void plainDpoIsDiagnosedBothFalling() {
        auto d = cli_json({"diagnose", "both-falling-dpo", "--db", db_, "--json"});
        int falling = 0;
        for (const auto& r : d["regimes"]) {
            QVERIFY(r["start_step"].get<int>() <= r["end_step"].get<int>());
            if (r["regime"] == "both_falling") {
                ++falling;
                const auto& ev = r["evidence"];
                QVERIFY(ev["chosen"]["slope"].get<double>() < 0);
                QVERIFY(ev["rejected"]["slope"].get<double>() < 0);
                QCOMPARE(ev["chosen"]["trend"].get<std::string>(), std::string("falling"));
                QVERIFY(!r["explanation"].get<std::string>().empty());
            }
        }
        QVERIFY(falling >= 1);
        // The final margin comes from rejected falling, while chosen fell too.
        const auto& md = d["margin_decomposition"];
        QVERIFY(md["from_chosen"].get<double>() < 0);
        QVERIFY(md["from_rejected"].get<double>() > 0);
        QCOMPARE(d["run"]["name"].get<std::string>(), std::string("both-falling-dpo"));
        // Per-pair evidence: 64 eval pairs tracked from step 0 to the end; most lost chosen
        // likelihood; the most falling comes first, with its text and curve.
        const auto& pt = d["pair_tracking"];
        QCOMPARE(pt["tracked"].get<int>(), 64);
        QCOMPARE(pt["first_step"].get<int>(), 0);
        QCOMPARE(pt["last_step"].get<int>(), 300);
        QVERIFY(pt["chosen_fell"].get<int>() > 32);
        QVERIFY(pt["pairs"][0]["prompt"].get<std::string>().find('=') != std::string::npos);
        QVERIFY(pt["pairs"][0]["chosen_logp_change"].get<double>() < 0);
        QCOMPARE(pt["pairs"][0]["curve"]["step"].size(), size_t(13));  // 0, 25, ..., 300
        QVERIFY(pt["correlations"]["ches"]["drop"]["spearman"].is_number());
        // What to try: the RPO remedy first, on-policy answers last (they make a data file).
        QCOMPARE(d["remedies"]["regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(d["remedies"]["remedies"][0]["id"].get<std::string>(), std::string("sft_weight"));
        QCOMPARE(d["remedies"]["remedies"].back()["id"].get<std::string>(), std::string("on_policy_rejected"));
        QCOMPARE(d["remedies"]["remedies"].back()["makes_data"].get<bool>(), true);
        // The demo's chosen answers are the model's own kind of answer: no off-policy warning.
        QCOMPARE(d["offpolicy"]["warn"].get<bool>(), false);
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
        // The check runs before the first preference step: two steps are enough.
        QCOMPARE(cli({"run", "experiments/offpolicy-dpo.json", "--db", db_, "--set", "data.train=" + QString::fromStdString(data),
                      "--set", "train.steps=2", "--set", "train.eval_every=0"}),
                 0);
        auto d = cli_json({"diagnose", "offpolicy-dpo", "--db", db_, "--json"});
        QVERIFY2(d["offpolicy"]["warn"].get<bool>(), d["offpolicy"].dump().c_str());
        QVERIFY(d["offpolicy"]["share_chosen_far_less_likely"].get<double>() > 0.25);
        QVERIFY(d["offpolicy"]["message"].get<std::string>().find("Off-policy data") != std::string::npos);
    }

    void rpoRemedyIsNotDiagnosedBothFalling() {
        auto d = cli_json({"diagnose", "both-falling-rpo", "--db", db_, "--json"});
        for (const auto& r : d["regimes"]) QVERIFY2(r["regime"] != "both_falling", r.dump().c_str());
        QVERIFY(d["margin_decomposition"]["from_chosen"].get<double>() > 0);  // chosen rose
    }

    void liveRegimeEventsAreStored() {
        auto j = cli_json({"export", "both-falling-dpo", "--db", db_, "--format", "json"});
        int regime_events = 0;
        for (const auto& e : j["events"])
            if (e["kind"] == "regime" && e["data"]["to"] == "both_falling") ++regime_events;
        QVERIFY(regime_events >= 1);
    }
};

QTEST_GUILESS_MAIN(TestExperiments)
#include "test_experiments.moc"
