// The both-falling experiment as a user runs it: plain DPO on the demo data is diagnosed as
// both rewards falling, the RPO remedy (sft_weight 1) is not; `diagnose --json` carries the
// regimes with their steps and evidence, and the live regime events are stored with the run.
#include <QtTest>

#include <nlohmann/json.hpp>

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
