// Two PrefStudio processes on one run store: while one trains and writes its metrics, a second
// trains another run into the same file and a third keeps listing the runs. Nobody blocks
// (every process exits 0, the readers never see "database is locked"), and afterwards both
// runs are complete, with one metric row per step, and SQLite's integrity check passes.
// A run killed with SIGKILL reads as interrupted at its last stored step; a store that refuses
// writes stops the run with a non-zero exit and never a "completed".
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

    // The single value of `sql` on the store `db` (a read-only connection of its own).
    static QString scalar(const QString& db, const char* sql) {
        sqlite3* handle = nullptr;
        QString out;
        if (sqlite3_open_v2(db.toUtf8().constData(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
            sqlite3_stmt* s = nullptr;
            if (sqlite3_prepare_v2(handle, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
                sqlite3_column_text(s, 0))
                out = QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
            sqlite3_finalize(s);
        }
        sqlite3_close(handle);
        return out;
    }

    static void exec(const QString& db, const char* sql) {
        sqlite3* handle = nullptr;
        QCOMPARE(sqlite3_open(db.toUtf8().constData(), &handle), SQLITE_OK);
        QCOMPARE(sqlite3_exec(handle, sql, nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(handle);
    }

    struct Result {
        int code = -1;
        QString out, err;
    };
    Result cli(const QStringList& args, int timeout_ms = 120000) {
        QProcess p;
        p.start(cli_, args);
        Result r;
        if (!p.waitForFinished(timeout_ms)) return r;
        r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        r.out = QString::fromUtf8(p.readAllStandardOutput());
        r.err = QString::fromUtf8(p.readAllStandardError());
        return r;
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

    void killedRunReadsInterrupted() {
        const QString db = dir_.filePath("killed.db");
        QProcess run;
        run.start(cli_, {"run", writeConfig("killed", 100000), "--db", db});
        QVERIFY(run.waitForStarted());
        const qint64 pid = run.processId();
        const char* lossRows = "SELECT COUNT(*) FROM metrics m JOIN metric_keys k ON k.id = m.key_id WHERE k.name = 'loss'";
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(db) && scalar(db, lossRows).toInt() >= 20, 120000);
        run.kill();  // SIGKILL: no handler runs, the store is left saying "running"
        QVERIFY(run.waitForFinished(30000));
        QCOMPARE(scalar(db, "SELECT status FROM runs"), QStringLiteral("running"));
        const int64_t last = scalar(db, "SELECT max(m.step) FROM metrics m JOIN metric_keys k ON k.id = m.key_id "
                                        "WHERE k.name = 'loss'").toLongLong();
        QVERIFY(last >= 20);

        const Result listed = cli({"runs", "--json", "--db", db});
        QCOMPARE(listed.code, 0);
        const json runs = json::parse(listed.out.toStdString());
        QCOMPARE(runs.at(0)["status"].get<std::string>(), std::string("interrupted"));
        QCOMPARE(runs.at(0)["last_step"].get<int64_t>(), last);
        QCOMPARE(runs.at(0)["owner"]["pid"].get<int64_t>(), int64_t(pid));
        const Result table = cli({"runs", "--db", db});
        QVERIFY2(table.out.contains(QStringLiteral("was interrupted at step %1").arg(last)), qPrintable(table.out));
        const Result diagnosed = cli({"diagnose", "killed", "--db", db});
        QCOMPARE(diagnosed.code, 0);
        QVERIFY2(diagnosed.out.contains(QStringLiteral("(dpo, interrupted at step %1)").arg(last)), qPrintable(diagnosed.out));
        // The reading commands wrote nothing: the stored status is still the one the killed run left.
        QCOMPARE(scalar(db, "SELECT status FROM runs"), QStringLiteral("running"));
    }

    void storeFailureStopsTheRun() {
        const QString db = dir_.filePath("failing.db");
        QCOMPARE(cli({"run", writeConfig("first", 2), "--db", db}).code, 0);
        // Every metrics row refused from now on (as a full disk would refuse them).
        exec(db, "CREATE TRIGGER refuse BEFORE INSERT ON metrics BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END");
        const Result failed = cli({"run", writeConfig("second", 100000), "--db", db});
        QCOMPARE(failed.code, 1);
        QVERIFY2(failed.err.contains("injected: disk full") && failed.err.contains("stopped at step"), qPrintable(failed.err));
        QVERIFY2(!failed.out.contains("completed"), qPrintable(failed.out));
        QCOMPARE(scalar(db, "SELECT status FROM runs WHERE name = 'second'"), QStringLiteral("failed"));

        // A store that cannot even add the run: nothing is trained, the exit is non-zero.
        exec(db, "CREATE TRIGGER refuse_runs BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'injected: read-only'); END");
        const Result refused = cli({"run", writeConfig("third", 100000), "--db", db});
        QCOMPARE(refused.code, 1);
        QVERIFY2(refused.err.contains("injected: read-only") && refused.err.contains("not started"), qPrintable(refused.err));
        QVERIFY2(!refused.err.contains("step 1/"), qPrintable(refused.err));
        QCOMPARE(scalar(db, "SELECT COUNT(*) FROM runs"), QStringLiteral("2"));
    }
};

QTEST_GUILESS_MAIN(TestStoreProcesses)
#include "test_store_processes.moc"
