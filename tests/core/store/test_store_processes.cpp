// Two PrefStudio processes on one run store: while one trains and writes its metrics, a second
// trains another run into the same file and a third keeps listing the runs. Nobody blocks
// (every process exits 0, the readers never see "database is locked"), and afterwards both
// runs are complete, with one metric row per step, and SQLite's integrity check passes.
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

using nlohmann::json;

class TestStoreProcesses : public QObject {
    Q_OBJECT
    QString cli_;
    QTemporaryDir dir_;

    QString writeConfig(const QString& name, int steps) {
        const json config = {{"name", name.toStdString()},
                             {"data", {{"train", dir_.filePath("pairs.jsonl").toStdString()},
                                       {"max_length", 24}, {"max_prompt_length", 12}}},
                             {"train", {{"steps", steps}, {"batch_size", 4}, {"eval_every", 0},
                                        {"threads", 1}}}};
        const QString path = dir_.filePath(name + ".json");
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly)) return QString();
        f.write(QByteArray::fromStdString(config.dump()));
        return path;
    }

private slots:
    void initTestCase() {
        cli_ = qEnvironmentVariable("PREFSTUDIO_CLI");
        QVERIFY2(QFileInfo::exists(cli_), "PREFSTUDIO_CLI must point at the built prefstudio-cli");
        QProcess make;
        make.start(cli_, {"make-data", "arith", "--out", dir_.filePath("pairs.jsonl"), "--count", "64"});
        QVERIFY(make.waitForFinished(60000));
        QCOMPARE(make.exitCode(), 0);
    }

    void writersAndReadersShareOneStore() {
        const QString db = dir_.filePath("shared.db");
        const auto list = [&](json* runs) {
            QProcess reader;
            reader.start(cli_, {"runs", "--json", "--db", db});
            if (!reader.waitForFinished(60000) || reader.exitCode() != 0) {
                qWarning("runs --json failed: %s", reader.readAllStandardError().constData());
                return false;
            }
            *runs = json::parse(reader.readAllStandardOutput().toStdString());  // a whole, valid list
            return true;
        };
        const auto status = [](const json& runs, const std::string& name) {
            for (const json& r : runs)
                if (r["name"] == name) return r["status"].get<std::string>();
            return std::string();
        };

        QProcess longRun, shortRun;
        longRun.start(cli_, {"run", writeConfig("long", 4000), "--db", db});
        QVERIFY(longRun.waitForStarted());
        // Wait (by what the store says, not by the clock) until the first writer is writing.
        json runs;
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(db) && list(&runs) && status(runs, "long") == "running", 60000);
        shortRun.start(cli_, {"run", writeConfig("short", 600), "--db", db});
        QVERIFY(shortRun.waitForStarted());

        // Keep listing while both write; the short run must finish while the long one still runs.
        bool sawBothWriting = false;
        while (longRun.state() != QProcess::NotRunning || shortRun.state() != QProcess::NotRunning) {
            QVERIFY(list(&runs));
            if (status(runs, "long") == "running" && status(runs, "short") == "running") sawBothWriting = true;
            QTest::qWait(100);
        }
        QVERIFY2(sawBothWriting, "the two runs never wrote at the same time; make the long run longer");
        // Both have ended (the loop waited for them); collect their exit status.
        QCOMPARE(longRun.exitStatus(), QProcess::NormalExit);
        QCOMPARE(shortRun.exitStatus(), QProcess::NormalExit);
        QVERIFY2(longRun.exitCode() == 0, longRun.readAllStandardError().constData());
        QVERIFY2(shortRun.exitCode() == 0, shortRun.readAllStandardError().constData());
        QVERIFY(list(&runs));
        QCOMPARE(int(runs.size()), 2);
        for (const json& run : runs) QCOMPARE(run["status"].get<std::string>(), std::string("completed"));

        // One loss row per training step of each run, and an intact file.
        sqlite3* handle = nullptr;
        QCOMPARE(sqlite3_open_v2(db.toUtf8().constData(), &handle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
        const auto scalar = [&](const char* sql) {
            sqlite3_stmt* s = nullptr;
            sqlite3_prepare_v2(handle, sql, -1, &s, nullptr);
            QString out;
            if (sqlite3_step(s) == SQLITE_ROW) out = QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
            sqlite3_finalize(s);
            return out;
        };
        QCOMPARE(scalar("PRAGMA integrity_check"), QStringLiteral("ok"));
        QCOMPARE(scalar("SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id "
                        "JOIN metric_keys k ON k.id = m.key_id WHERE r.name = 'long' AND k.name = 'loss'"),
                 QStringLiteral("4000"));
        QCOMPARE(scalar("SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id "
                        "JOIN metric_keys k ON k.id = m.key_id WHERE r.name = 'short' AND k.name = 'loss'"),
                 QStringLiteral("600"));
        sqlite3_close(handle);
    }
};

QTEST_GUILESS_MAIN(TestStoreProcesses)
#include "test_store_processes.moc"
