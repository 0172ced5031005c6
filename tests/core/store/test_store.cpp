// Qt Test for the SQLite run store (core/store): round trips through a fresh RunStore, schema
// and file checks, two connections on one file, and the StoreSink the engine writes through.
#include <QtTest>

#include <sqlite3.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/common/errors.h"
#include "core/common/run_types.h"
#include "core/store/run_store.h"

#include <sys/wait.h>
#include <unistd.h>

using ps::RunStatus;
using ps::RunStore;
using ps::StoreError;
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QString qs(const std::string& s) { return QString::fromStdString(s); }

std::string path_in(const QTemporaryDir& dir, const char* name) {
    return dir.filePath(QString::fromLatin1(name)).toStdString();
}

ps::RunInfo demo_info(const std::string& name = "demo-dpo") {
    ps::RunInfo info;
    info.name = name;
    info.algorithm = "dpo";
    info.model = "builtin:tiny";
    info.dataset = "experiments/data/pairs.jsonl";
    info.device = "cpu";
    info.config = json{{"name", name}, {"objective", {{"algorithm", "dpo"}, {"beta", 0.1}}}};
    info.resolved_config = json{{"name", name},
                                {"objective", {{"algorithm", "dpo"}, {"beta", 0.1},
                                               {"loss_type", "sigmoid"}}},
                                {"train", {{"steps", 250}, {"learning_rate", 5e-4}}}};
    return info;
}

// The metrics of step `step` as the round-trip test writes them.
ps::StepMetrics demo_step(int64_t step) {
    ps::StepMetrics m;
    m.step = step;
    m.wall_time = 0.25 * static_cast<double>(step);
    m.set("loss", 1.0 / static_cast<double>(step));
    m.set("rewards/chosen", 0.01 * static_cast<double>(step));
    m.set("grad_norm", step == 7 ? kNaN : 2.0 + 1.0 / static_cast<double>(step));
    if (step % 50 == 0) m.set("eval/loss", 0.5 / static_cast<double>(step));
    return m;
}

// The message of the StoreError `f` throws; fails the test when it throws nothing or another type.
template <typename F>
std::string store_error_of(F&& f) {
    try {
        f();
    } catch (const StoreError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("WRONG EXCEPTION TYPE: ") + e.what();
    }
    return "NO EXCEPTION";
}

// Runs one SQL statement through the raw sqlite3 API (a second, independent connection).
void raw_exec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
        sqlite3_close(db);
        throw std::runtime_error("raw open failed");
    }
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string message = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error("raw exec failed: " + message);
}

// The single integer or text a query returns, through the raw sqlite3 API.
std::string raw_query(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* s = nullptr;
    std::string out = "<error>";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        out = text ? text : "<null>";
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

const ps::MetricSeries* series_named(const std::vector<ps::MetricSeries>& all,
                                     const std::string& name) {
    for (const auto& s : all)
        if (s.name == name) return &s;
    return nullptr;
}

}  // namespace

class TestStore : public QObject {
    Q_OBJECT

private slots:
    void roundTripThroughFreshStore();
    void relogAtSameStepReplaces();
    void listAndResolveRuns();
    void deleteRunRemovesItsRows();
    void tagsNotesAndStatus();
    void missingRunIsAStoreError();
    void walModeAndSchemaVersion();
    void newerSchemaIsRejected();
    void notSqliteFileIsRejected();
    void foreignSqliteFileIsRejected();
    void createsParentDirectories();
    void unopenablePathNamesTheFile();
    void defaultPathFollowsXdg();
    void twoStoresOnOneFile();
    void sinkRecordsStoppedRun();
    void sinkFlushesByWallTime();
    void sinkRetriesAfterStoreFailure();
    void sinkDestructorFlushesUnfinishedRun();
    void runOfAGoneOwnerIsInterrupted();
    void olderStoreGetsOwnersAndReadsInterrupted();
    void readOnlyStoreReadsAndRefusesWrites();
    void immutableUriEscapesThePath();
    void sinkStopsRunWhenStoreKeepsFailing();
    void sinkRefusesToStartWithoutTheRunRow();
};

void TestStore::roundTripThroughFreshStore() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = path_in(dir, "runs.db");

    int64_t id = 0;
    {
        RunStore store(path);
        QCOMPARE(qs(store.path()), qs(path));
        id = store.create_run(demo_info());
        QVERIFY(id > 0);
        QCOMPARE(qs(ps::to_string(store.find_run(id)->status)), QStringLiteral("created"));
        store.set_status(id, RunStatus::Running);

        std::vector<ps::StepMetrics> batch;
        for (int64_t step = 1; step <= 250; ++step) {
            batch.push_back(demo_step(step));
            if (batch.size() == 64 || step == 250) {  // several batches, the last one short
                store.append_metrics(id, batch);
                batch.clear();
            }
        }
        std::vector<ps::RunEvent> events(2);
        events[0].step = 0;
        events[0].wall_time = 0.0;
        events[0].kind = "phase";
        events[0].message = "Preference training started.";
        events[1].step = 120;
        events[1].wall_time = 30.0;
        events[1].kind = "regime";
        events[1].message = "Both rewards are falling.";
        events[1].data = json{{"slope_chosen", -0.02}, {"slope_rejected", -0.05}};
        store.append_events(id, events);
        store.finish_run(id, RunStatus::Completed, json{{"loss", 0.004}, {"rewards/chosen", 2.5}},
                         "", 62.5);
    }

    RunStore store(path);  // a fresh connection reads what the first one wrote
    const auto runs = store.list_runs();
    QCOMPARE(runs.size(), size_t(1));
    const ps::StoredRun& run = runs[0];
    QCOMPARE(run.id, id);
    QCOMPARE(qs(run.name), QStringLiteral("demo-dpo"));
    QCOMPARE(qs(run.algorithm), QStringLiteral("dpo"));
    QCOMPARE(qs(run.model), QStringLiteral("builtin:tiny"));
    QCOMPARE(qs(run.dataset), QStringLiteral("experiments/data/pairs.jsonl"));
    QCOMPARE(qs(run.device), QStringLiteral("cpu"));
    QCOMPARE(qs(ps::to_string(run.status)), QStringLiteral("completed"));
    QVERIFY2(QRegularExpression(QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$"))
                 .match(qs(run.created_at))
                 .hasMatch(),
             run.created_at.c_str());
    QCOMPARE(run.duration_s, 62.5);
    QCOMPARE(qs(run.error), QString());
    QCOMPARE(qs(run.config.dump()), qs(demo_info().config.dump()));
    QCOMPARE(qs(run.resolved_config.dump()), qs(demo_info().resolved_config.dump()));
    QCOMPARE(qs(run.final_metrics.dump()), QStringLiteral(R"({"loss":0.004,"rewards/chosen":2.5})"));

    const std::vector<std::string> names = store.metric_names(id);
    QCOMPARE(names.size(), size_t(4));
    QCOMPARE(qs(names[0]), QStringLiteral("loss"));  // in the order they were first logged
    QCOMPARE(qs(names[1]), QStringLiteral("rewards/chosen"));
    QCOMPARE(qs(names[2]), QStringLiteral("grad_norm"));
    QCOMPARE(qs(names[3]), QStringLiteral("eval/loss"));

    const auto all = store.load_metrics(id);
    QCOMPARE(all.size(), size_t(4));
    const ps::MetricSeries* loss = series_named(all, "loss");
    const ps::MetricSeries* chosen = series_named(all, "rewards/chosen");
    const ps::MetricSeries* grad = series_named(all, "grad_norm");
    const ps::MetricSeries* eval = series_named(all, "eval/loss");
    QVERIFY(loss && chosen && grad && eval);
    QCOMPARE(loss->steps.size(), size_t(250));
    QCOMPARE(loss->values.size(), size_t(250));
    QCOMPARE(loss->wall_times.size(), size_t(250));
    QCOMPARE(chosen->steps.size(), size_t(250));
    for (int64_t step = 1; step <= 250; ++step) {
        const size_t i = static_cast<size_t>(step - 1);
        QCOMPARE(loss->steps[i], step);
        QCOMPARE(chosen->steps[i], step);
        // Exact doubles: the store must give back the very bits it was given.
        QVERIFY2(loss->values[i] == 1.0 / static_cast<double>(step), qPrintable(QString::number(step)));
        QVERIFY2(chosen->values[i] == 0.01 * static_cast<double>(step),
                 qPrintable(QString::number(step)));
        QVERIFY(loss->wall_times[i] == 0.25 * static_cast<double>(step));
        if (step == 7)
            QVERIFY(std::isnan(grad->values[i]));  // NaN in, NaN out (NULL in the file)
        else
            QVERIFY(grad->values[i] == 2.0 + 1.0 / static_cast<double>(step));
    }
    QCOMPARE(eval->steps, (std::vector<int64_t>{50, 100, 150, 200, 250}));
    QVERIFY(eval->values[1] == 0.5 / 100.0);
    QCOMPARE(qs(raw_query(path, "SELECT count(*) FROM metrics WHERE value IS NULL")),
             QStringLiteral("1"));

    const ps::MetricSeries one = store.load_metric(id, "rewards/chosen");
    QCOMPARE(qs(one.name), QStringLiteral("rewards/chosen"));
    QCOMPARE(one.steps, chosen->steps);
    QCOMPARE(one.values, chosen->values);
    const ps::MetricSeries none = store.load_metric(id, "no/such/metric");
    QCOMPARE(qs(none.name), QStringLiteral("no/such/metric"));
    QVERIFY(none.steps.empty() && none.values.empty() && none.wall_times.empty());
    QVERIFY(store.load_metrics(id + 1).empty());

    const auto events = store.load_events(id);
    QCOMPARE(events.size(), size_t(2));
    QCOMPARE(qs(events[0].kind), QStringLiteral("phase"));
    QCOMPARE(qs(events[0].message), QStringLiteral("Preference training started."));
    QCOMPARE(events[1].step, int64_t(120));
    QCOMPARE(events[1].wall_time, 30.0);
    QCOMPARE(qs(events[1].kind), QStringLiteral("regime"));
    QCOMPARE(qs(events[1].message), QStringLiteral("Both rewards are falling."));
    QCOMPARE(events[1].data.at("slope_rejected").get<double>(), -0.05);
}

void TestStore::relogAtSameStepReplaces() {
    QTemporaryDir dir;
    RunStore store(path_in(dir, "runs.db"));
    const int64_t id = store.create_run(demo_info());
    ps::StepMetrics m;
    m.step = 5;
    m.wall_time = 1.0;
    m.set("loss", 1.0);
    store.append_metrics(id, {m});
    m.values.clear();
    m.wall_time = 2.0;
    m.set("loss", 2.0);
    store.append_metrics(id, {m});
    const auto loss = store.load_metric(id, "loss");
    QCOMPARE(loss.steps, std::vector<int64_t>{5});
    QCOMPARE(loss.values, std::vector<double>{2.0});
    QCOMPARE(loss.wall_times, std::vector<double>{2.0});
}

void TestStore::listAndResolveRuns() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    RunStore store(path);
    const int64_t a1 = store.create_run(demo_info("alpha"));
    const int64_t b = store.create_run(demo_info("beta"));
    const int64_t a2 = store.create_run(demo_info("alpha"));
    const int64_t named_number = store.create_run(demo_info("2024"));

    const auto runs = store.list_runs();
    QCOMPARE(runs.size(), size_t(4));
    QCOMPARE(runs[0].id, named_number);  // newest first
    QCOMPARE(runs[1].id, a2);
    QCOMPARE(runs[2].id, b);
    QCOMPARE(runs[3].id, a1);

    QCOMPARE(store.resolve_run(std::to_string(a1)).id, a1);
    QCOMPARE(qs(store.resolve_run(std::to_string(b)).name), QStringLiteral("beta"));
    QCOMPARE(store.resolve_run("alpha").id, a2);  // the newest run of that name
    QCOMPARE(store.resolve_run("beta").id, b);
    QCOMPARE(store.resolve_run("2024").id, named_number);  // no run 2024, but one named so

    QVERIFY(!store.find_run(12345).has_value());
    QCOMPARE(qs(store.find_run(b)->name), QStringLiteral("beta"));

    QCOMPARE(qs(store_error_of([&] { store.resolve_run("gamma"); })),
             qs("no run 'gamma' in " + path + "; list runs with `prefstudio-cli runs`"));
    QCOMPARE(qs(store_error_of([&] { store.resolve_run("999"); })),
             qs("no run '999' in " + path + "; list runs with `prefstudio-cli runs`"));
    QCOMPARE(qs(store_error_of([&] { store.resolve_run(""); })),
             qs("no run '' in " + path + "; list runs with `prefstudio-cli runs`"));
}

void TestStore::deleteRunRemovesItsRows() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    RunStore store(path);
    const int64_t gone = store.create_run(demo_info("gone"));
    const int64_t kept = store.create_run(demo_info("kept"));
    std::vector<ps::StepMetrics> batch;
    for (int64_t step = 1; step <= 30; ++step) batch.push_back(demo_step(step));
    store.append_metrics(gone, batch);
    store.append_metrics(kept, batch);
    ps::RunEvent e;
    e.kind = "info";
    e.message = "hello";
    store.append_events(gone, {e});
    store.append_events(kept, {e});

    const std::string count_gone = "SELECT count(*) FROM metrics WHERE run_id = " +
                                   std::to_string(gone);
    QCOMPARE(qs(raw_query(path, count_gone)), QStringLiteral("90"));  // 30 steps x 3 metrics
    store.delete_run(gone);
    QCOMPARE(qs(raw_query(path, count_gone)), QStringLiteral("0"));
    QCOMPARE(qs(raw_query(path, "SELECT count(*) FROM events WHERE run_id = " +
                                    std::to_string(gone))),
             QStringLiteral("0"));
    QVERIFY(!store.find_run(gone).has_value());
    QVERIFY(store.load_metrics(gone).empty());
    QVERIFY(store.load_events(gone).empty());

    // The other run is untouched.
    QCOMPARE(store.list_runs().size(), size_t(1));
    QCOMPARE(store.load_metric(kept, "loss").steps.size(), size_t(30));
    QCOMPARE(store.load_events(kept).size(), size_t(1));

    QVERIFY(qs(store_error_of([&] { store.delete_run(gone); })).contains("there is no run"));
}

void TestStore::tagsNotesAndStatus() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    int64_t id = 0;
    {
        RunStore store(path);
        id = store.create_run(demo_info());
        store.set_status(id, RunStatus::Paused);
        store.set_tags_notes(id, "baseline,beta-0.1", "chosen answers are off-policy");
    }
    RunStore store(path);
    const auto run = store.find_run(id);
    QVERIFY(run.has_value());
    QCOMPARE(qs(ps::to_string(run->status)), QStringLiteral("paused"));
    QCOMPARE(qs(run->tags), QStringLiteral("baseline,beta-0.1"));
    QCOMPARE(qs(run->notes), QStringLiteral("chosen answers are off-policy"));
    store.finish_run(id, RunStatus::Failed, json::object(), "loss became NaN at step 17", 3.0);
    QCOMPARE(qs(store.find_run(id)->error), QStringLiteral("loss became NaN at step 17"));
    QCOMPARE(qs(ps::to_string(store.find_run(id)->status)), QStringLiteral("failed"));
    QCOMPARE(store.find_run(id)->duration_s, 3.0);
}

void TestStore::missingRunIsAStoreError() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    RunStore store(path);
    const QString metrics = qs(store_error_of([&] { store.append_metrics(77, {demo_step(1)}); }));
    QVERIFY2(metrics.contains("run 77") && metrics.contains(qs(path)), qPrintable(metrics));
    const QString status = qs(store_error_of([&] { store.set_status(77, RunStatus::Running); }));
    QVERIFY2(status.contains("run 77") && status.contains(qs(path)), qPrintable(status));
    const QString finish = qs(store_error_of(
        [&] { store.finish_run(77, RunStatus::Completed, json::object(), "", 1.0); }));
    QVERIFY2(finish.contains("run 77"), qPrintable(finish));
    ps::RunEvent e;
    QVERIFY(qs(store_error_of([&] { store.append_events(77, {e}); })).contains("run 77"));
    // The failed transactions left nothing behind, and the store still works.
    QCOMPARE(qs(raw_query(path, "SELECT count(*) FROM metrics")), QStringLiteral("0"));
    const int64_t id = store.create_run(demo_info());
    store.append_metrics(id, {demo_step(1)});
    QCOMPARE(store.load_metric(id, "loss").values, std::vector<double>{1.0});
}

void TestStore::walModeAndSchemaVersion() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    RunStore store(path);
    QCOMPARE(qs(raw_query(path, "PRAGMA journal_mode")), QStringLiteral("wal"));
    QCOMPARE(qs(raw_query(path, "SELECT value FROM meta WHERE key = 'schema_version'")),
             QString::number(RunStore::kSchemaVersion));
    // Metric names live once in metric_keys; metric rows refer to them by id.
    const int64_t id = store.create_run(demo_info());
    store.append_metrics(id, {demo_step(1), demo_step(2)});
    const int64_t id2 = store.create_run(demo_info("second"));
    store.append_metrics(id2, {demo_step(1)});
    QCOMPARE(qs(raw_query(path, "SELECT count(*) FROM metric_keys")), QStringLiteral("3"));
}

void TestStore::newerSchemaIsRejected() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    { RunStore store(path); }
    raw_exec(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    const QString message = qs(store_error_of([&] { RunStore again(path); }));
    QVERIFY2(message.contains(qs(path)), qPrintable(message));
    QVERIFY2(message.contains("schema version 99"), qPrintable(message));
    QVERIFY2(message.contains("upgrade PrefStudio"), qPrintable(message));
    // The file was left as it was.
    QCOMPARE(qs(raw_query(path, "SELECT value FROM meta WHERE key = 'schema_version'")),
             QStringLiteral("99"));
}

void TestStore::notSqliteFileIsRejected() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "notes.txt");
    {
        std::ofstream out(path, std::ios::binary);
        for (int i = 0; i < 200; ++i) out << "this is not a database, just some text " << i << "\n";
    }
    const QString message = qs(store_error_of([&] { RunStore store(path); }));
    QVERIFY2(message.contains(qs("'" + path + "'")), qPrintable(message));
    QVERIFY2(message.contains("not a database"), qPrintable(message));
}

void TestStore::foreignSqliteFileIsRejected() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "other.sqlite");
    raw_exec(path, "CREATE TABLE contacts(name TEXT, phone TEXT)");
    const QString message = qs(store_error_of([&] { RunStore store(path); }));
    QVERIFY2(message.contains(qs(path)), qPrintable(message));
    QVERIFY2(message.contains("not a PrefStudio run store"), qPrintable(message));
    QCOMPARE(qs(raw_query(path, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'")),
             QStringLiteral("0"));  // nothing was added to someone else's database
}

void TestStore::createsParentDirectories() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "a/b/c/runs.db");
    {
        RunStore store(path);
        store.create_run(demo_info());
    }
    QVERIFY(QFileInfo::exists(qs(path)));
    RunStore store(path);
    QCOMPARE(store.list_runs().size(), size_t(1));
}

void TestStore::unopenablePathNamesTheFile() {
    QTemporaryDir dir;
    const std::string blocker = path_in(dir, "plainfile");
    { std::ofstream(blocker) << "x"; }
    const std::string below_file = blocker + "/runs.db";  // a folder that cannot exist
    const QString m1 = qs(store_error_of([&] { RunStore store(below_file); }));
    QVERIFY2(m1.contains(qs(below_file)), qPrintable(m1));

    const std::string folder = path_in(dir, "a-folder");
    QVERIFY(QDir().mkpath(qs(folder)));
    const QString m2 = qs(store_error_of([&] { RunStore store(folder); }));
    QVERIFY2(m2.contains(qs(folder)), qPrintable(m2));

    QVERIFY(qs(store_error_of([&] { RunStore store(""); })).contains("empty"));
}

void TestStore::defaultPathFollowsXdg() {
    const QByteArray old_xdg = qgetenv("XDG_DATA_HOME");
    const bool had_xdg = qEnvironmentVariableIsSet("XDG_DATA_HOME");
    const QByteArray old_home = qgetenv("HOME");

    qputenv("XDG_DATA_HOME", "/srv/xdg-data");
    QCOMPARE(qs(RunStore::default_path()), QStringLiteral("/srv/xdg-data/prefstudio/runs.db"));
    qputenv("XDG_DATA_HOME", "/srv/xdg-data/");
    QCOMPARE(qs(RunStore::default_path()), QStringLiteral("/srv/xdg-data/prefstudio/runs.db"));

    qputenv("HOME", "/home/someone");
    qputenv("XDG_DATA_HOME", "relative/dir");  // not absolute: ignored, as the spec says
    QCOMPARE(qs(RunStore::default_path()),
             QStringLiteral("/home/someone/.local/share/prefstudio/runs.db"));
    qunsetenv("XDG_DATA_HOME");
    QCOMPARE(qs(RunStore::default_path()),
             QStringLiteral("/home/someone/.local/share/prefstudio/runs.db"));

    qputenv("HOME", old_home);
    if (had_xdg)
        qputenv("XDG_DATA_HOME", old_xdg);
    else
        qunsetenv("XDG_DATA_HOME");
}

void TestStore::twoStoresOnOneFile() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    auto writer = std::make_unique<RunStore>(path);
    RunStore reader(path);  // as a second PrefStudio or the CLI would
    const int64_t id = writer->create_run(demo_info("live"));
    QCOMPARE(reader.list_runs().size(), size_t(1));

    constexpr int kBatches = 60;
    constexpr int kStepsPerBatch = 20;
    std::atomic<bool> done{false};
    std::string writer_error;
    std::thread thread([&] {
        try {
            for (int b = 0; b < kBatches; ++b) {
                std::vector<ps::StepMetrics> batch;
                for (int i = 1; i <= kStepsPerBatch; ++i) batch.push_back(demo_step(b * kStepsPerBatch + i));
                writer->append_metrics(id, batch);
                std::this_thread::yield();
            }
            writer->finish_run(id, RunStatus::Completed, json{{"loss", 0.1}}, "", 5.0);
        } catch (const std::exception& e) {
            writer_error = e.what();
        }
        done = true;
    });

    // Meanwhile the reader lists and reads: it always sees whole batches, never a torn one.
    size_t last_seen = 0;
    int reads = 0;
    QString reader_error;
    while (!done || reads < 3) {
        try {
            const auto runs = reader.list_runs();
            if (runs.size() != 1) reader_error = "list_runs saw " + QString::number(runs.size());
            const auto loss = reader.load_metric(id, "loss");
            if (loss.steps.size() < last_seen) reader_error = "the series shrank";
            if (loss.steps.size() % kStepsPerBatch != 0) reader_error = "saw a partial batch";
            for (size_t i = 0; i < loss.steps.size(); ++i)
                if (loss.steps[i] != static_cast<int64_t>(i + 1)) reader_error = "steps out of order";
            last_seen = loss.steps.size();
        } catch (const std::exception& e) {
            reader_error = QString::fromUtf8(e.what());
        }
        ++reads;
        if (!reader_error.isEmpty()) break;
    }
    thread.join();
    QVERIFY2(writer_error.empty(), writer_error.c_str());
    QVERIFY2(reader_error.isEmpty(), qPrintable(reader_error));

    const auto all = reader.load_metrics(id);
    const auto* loss = series_named(all, "loss");
    QVERIFY(loss);
    QCOMPARE(loss->steps.size(), size_t(kBatches * kStepsPerBatch));
    QCOMPARE(qs(ps::to_string(reader.find_run(id)->status)), QStringLiteral("completed"));

    // And the other way round: the reader's connection can write while the writer is open.
    const int64_t other = reader.create_run(demo_info("from-cli"));
    QCOMPARE(writer->list_runs().front().id, other);
    writer.reset();
    QCOMPARE(reader.list_runs().size(), size_t(2));
}

void TestStore::sinkRecordsStoppedRun() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    int64_t id = 0;
    {
        auto store = std::make_shared<RunStore>(path);
        ps::StoreSink sink(store, 50);
        sink.on_start(demo_info("sink-run"));
        id = sink.run_id();
        QVERIFY(id > 0);
        QCOMPARE(qs(ps::to_string(store->find_run(id)->status)), QStringLiteral("running"));
        for (int64_t step = 1; step <= 120; ++step) {
            ps::StepMetrics m;
            m.step = step;
            m.wall_time = 0.01 * static_cast<double>(step);
            m.set("loss", 1.0 / static_cast<double>(step));
            m.set("rewards/chosen", 0.01 * static_cast<double>(step));
            sink.on_metrics(m);
            if (step == 60) {
                ps::RunEvent e;
                e.step = 60;
                e.wall_time = 0.6;
                e.kind = "warning";
                e.message = "Both rewards are falling.";
                e.data = json{{"window", 20}};
                sink.on_event(e);
            }
            ps::RunProgress p;
            p.step = step;
            p.total_steps = 300;
            sink.on_progress(p);
        }
        // 100 steps flushed in two batches of 50; the last 20 wait for the next flush.
        QCOMPARE(store->load_metric(id, "loss").steps.size(), size_t(100));
        sink.on_finish(RunStatus::Stopped, json{{"loss", 1.0 / 120.0}}, "");
        QCOMPARE(qs(sink.last_error()), QString());
    }
    RunStore store(path);
    const auto run = store.find_run(id);
    QVERIFY(run.has_value());
    QCOMPARE(qs(run->name), QStringLiteral("sink-run"));
    QCOMPARE(qs(ps::to_string(run->status)), QStringLiteral("stopped"));
    QCOMPARE(run->duration_s, 1.2);  // the last wall time seen
    QVERIFY(run->final_metrics.at("loss").get<double>() == 1.0 / 120.0);
    const auto loss = store.load_metric(id, "loss");
    QCOMPARE(loss.steps.size(), size_t(120));
    QCOMPARE(loss.steps.front(), int64_t(1));
    QCOMPARE(loss.steps.back(), int64_t(120));
    QVERIFY(loss.values.back() == 1.0 / 120.0);
    QCOMPARE(store.load_metric(id, "rewards/chosen").steps.size(), size_t(120));
    const auto events = store.load_events(id);
    QCOMPARE(events.size(), size_t(1));
    QCOMPARE(events[0].step, int64_t(60));
    QCOMPARE(qs(events[0].kind), QStringLiteral("warning"));
    QCOMPARE(events[0].data.at("window").get<int>(), 20);
}

void TestStore::sinkFlushesByWallTime() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    auto store = std::make_shared<RunStore>(path);
    ps::StoreSink sink(store, 1000);  // the step count alone would not flush
    sink.on_start(demo_info());
    RunStore other(path);
    for (int64_t step = 1; step <= 3; ++step) {
        ps::StepMetrics m;
        m.step = step;
        m.wall_time = 0.2 * static_cast<double>(step);  // 0.6 s at step 3
        m.set("loss", 1.0);
        sink.on_metrics(m);
    }
    QCOMPARE(other.load_metric(sink.run_id(), "loss").steps.size(), size_t(3));
    ps::StepMetrics m;
    m.step = 4;
    m.wall_time = 0.7;
    m.set("loss", 1.0);
    sink.on_metrics(m);  // 0.1 s after the last flush: buffered
    QCOMPARE(other.load_metric(sink.run_id(), "loss").steps.size(), size_t(3));
    sink.flush();
    QCOMPARE(other.load_metric(sink.run_id(), "loss").steps.size(), size_t(4));
}

void TestStore::sinkRetriesAfterStoreFailure() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    auto store = std::make_shared<RunStore>(path);
    auto sink = std::make_unique<ps::StoreSink>(store, 10);
    sink->on_start(demo_info());
    const int64_t id = sink->run_id();

    auto feed = [&](int64_t from, int64_t to) {
        for (int64_t step = from; step <= to; ++step) {
            ps::StepMetrics m;
            m.step = step;
            m.wall_time = 0.001 * static_cast<double>(step);
            m.set("loss", 1.0 / static_cast<double>(step));
            sink->on_metrics(m);  // must not throw while the store fails
        }
    };
    feed(1, 10);
    QCOMPARE(store->load_metric(id, "loss").steps.size(), size_t(10));

    // Another process's trigger makes every metric write fail.
    raw_exec(path,
             "CREATE TRIGGER refuse BEFORE INSERT ON metrics "
             "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    feed(11, 40);
    QVERIFY2(QString::fromStdString(sink->last_error()).contains("injected failure"),
             sink->last_error().c_str());
    QVERIFY(QString::fromStdString(sink->last_error()).contains(qs(path)));
    QCOMPARE(store->load_metric(id, "loss").steps.size(), size_t(10));

    // The store recovers: the buffered steps are written at a later flush, none lost.
    raw_exec(path, "DROP TRIGGER refuse");
    feed(41, 200);
    sink->on_finish(RunStatus::Completed, json{{"loss", 1.0 / 200.0}}, "");
    const auto loss = store->load_metric(id, "loss");
    QCOMPARE(loss.steps.size(), size_t(200));
    for (size_t i = 0; i < loss.steps.size(); ++i) QCOMPARE(loss.steps[i], int64_t(i + 1));
    QCOMPARE(qs(ps::to_string(store->find_run(id)->status)), QStringLiteral("completed"));
    QVERIFY(sink->all_stored());  // recovered: everything is in the store after all

    // A run deleted under the sink: errors are kept, nothing is thrown, not even on destruction.
    sink = std::make_unique<ps::StoreSink>(store, 5);
    sink->on_start(demo_info("doomed"));
    const int64_t doomed = sink->run_id();
    store->delete_run(doomed);
    feed(1, 30);
    sink->on_finish(RunStatus::Completed, json::object(), "");
    QVERIFY2(QString::fromStdString(sink->last_error()).contains("no run"),
             sink->last_error().c_str());
    sink.reset();
    QVERIFY(!store->find_run(doomed).has_value());
}

void TestStore::sinkDestructorFlushesUnfinishedRun() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    auto store = std::make_shared<RunStore>(path);
    int64_t id = 0;
    {
        ps::StoreSink sink(store, 100);
        sink.on_start(demo_info());
        id = sink.run_id();
        for (int64_t step = 1; step <= 7; ++step) {
            ps::StepMetrics m;
            m.step = step;
            m.wall_time = 0.01 * static_cast<double>(step);
            m.set("loss", 2.0);
            sink.on_metrics(m);
        }
        ps::RunEvent e;
        e.step = 7;
        e.kind = "error";
        e.message = "engine thread ended";
        sink.on_event(e);
        QCOMPARE(store->load_metric(id, "loss").steps.size(), size_t(0));  // still buffered
    }  // no on_finish: the destructor writes what is pending and marks the run
    QCOMPARE(store->load_metric(id, "loss").steps.size(), size_t(7));
    QCOMPARE(store->load_events(id).size(), size_t(1));
    const auto run = store->find_run(id);
    QCOMPARE(qs(ps::to_string(run->status)), QStringLiteral("failed"));
    QVERIFY(!run->error.empty());
    QCOMPARE(run->duration_s, 0.07);
}

// The owner columns of run `id` set by hand (a second connection), as another process left them.
void set_owner(const std::string& path, int64_t id, const std::string& host, int64_t pid, const std::string& start,
               double heartbeat) {
    raw_exec(path, "UPDATE runs SET owner_host = '" + host + "', owner_pid = " + std::to_string(pid) +
                       ", owner_start = '" + start + "', heartbeat_at = " + std::to_string(heartbeat) +
                       " WHERE id = " + std::to_string(id));
}

void TestStore::runOfAGoneOwnerIsInterrupted() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    RunStore store(path);
    const int64_t id = store.create_run(demo_info());
    store.set_status(id, RunStatus::Running);
    ps::StepMetrics sft;
    sft.step = 40;
    sft.set("sft/loss", 1.0);
    std::vector<ps::StepMetrics> steps{sft, demo_step(1), demo_step(2), demo_step(3)};
    store.append_metrics(id, steps);

    // This process owns it: running, as recorded.
    const ps::RunOwner me = ps::current_run_owner();
    auto run = store.find_run(id);
    QCOMPARE(run->owner.pid, int64_t(getpid()));
    QCOMPARE(qs(run->owner.host), qs(me.host));
    QCOMPARE(qs(run->owner.process_start), qs(me.process_start));
    QVERIFY(std::abs(run->owner.heartbeat_at - ps::unix_now()) < 60);
    QCOMPARE(run->status, RunStatus::Running);

    // A child process that has exited: its pid names no process (or another one, started later).
    const pid_t child = fork();
    if (child == 0) _exit(0);
    QVERIFY(child > 0);
    int wstatus = 0;
    QCOMPARE(waitpid(child, &wstatus, 0), child);
    const std::string boot = me.process_start.substr(0, me.process_start.rfind(':'));
    set_owner(path, id, me.host, child, boot + ":1", ps::unix_now());
    run = store.find_run(id);
    QCOMPARE(run->status, RunStatus::Interrupted);
    QCOMPARE(run->last_step, int64_t(3));  // the SFT step 40 counts apart
    QCOMPARE(qs(ps::to_string(store.list_runs().front().status)), QStringLiteral("interrupted"));

    // Our own pid with another start time: the pid was reused, the owner is gone.
    set_owner(path, id, me.host, getpid(), boot + ":1", ps::unix_now());
    QCOMPARE(store.find_run(id)->status, RunStatus::Interrupted);
    // The same process after a reboot (another boot id) is another process.
    set_owner(path, id, me.host, getpid(), "another-boot:" + me.process_start.substr(me.process_start.rfind(':') + 1),
              ps::unix_now());
    QCOMPARE(store.find_run(id)->status, RunStatus::Interrupted);
    // Another host: its heartbeat decides, alive for kForeignOwnerTimeoutS.
    set_owner(path, id, "elsewhere.example", 1, "x:1", ps::unix_now() - 5);
    QCOMPARE(store.find_run(id)->status, RunStatus::Running);
    set_owner(path, id, "elsewhere.example", 1, "x:1", ps::unix_now() - ps::kForeignOwnerTimeoutS - 1);
    QCOMPARE(store.find_run(id)->status, RunStatus::Interrupted);
    // The heartbeat write brings it back (this process writes it: it is the owner again).
    store.claim_run(id);
    QCOMPARE(store.find_run(id)->status, RunStatus::Running);
    store.heartbeat(id);
    QVERIFY(std::abs(store.find_run(id)->owner.heartbeat_at - ps::unix_now()) < 60);

    // A finished run stays what it was, whoever owned it.
    set_owner(path, id, me.host, child, boot + ":1", 0);
    store.finish_run(id, RunStatus::Completed, json::object(), "", 1.0);
    QCOMPARE(store.find_run(id)->status, RunStatus::Completed);
    QCOMPARE(store.find_run(id)->last_step, int64_t(-1));
}

void TestStore::olderStoreGetsOwnersAndReadsInterrupted() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    int64_t id = 0;
    {
        RunStore store(path);
        id = store.create_run(demo_info());
        store.set_status(id, RunStatus::Running);
    }
    // The same store as schema version 3 wrote it: no owner columns.
    for (const char* column : {"owner_host", "owner_pid", "owner_start", "heartbeat_at"})
        raw_exec(path, std::string("ALTER TABLE runs DROP COLUMN ") + column);
    raw_exec(path, "UPDATE meta SET value = '3' WHERE key = 'schema_version'");
    // A reading open migrates it (the file is writable) and reads the owner-less running run as
    // interrupted: no process can be shown to write it.
    RunStore reader(path, RunStore::Access::ReadOnly);
    QCOMPARE(qs(raw_query(path, "SELECT value FROM meta WHERE key = 'schema_version'")),
             QString::number(RunStore::kSchemaVersion));
    const auto run = reader.find_run(id);
    QCOMPARE(run->status, RunStatus::Interrupted);
    QVERIFY(!run->owner.recorded());
}

void TestStore::readOnlyStoreReadsAndRefusesWrites() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    QVERIFY(qs(store_error_of([&] { RunStore s(path, RunStore::Access::ReadOnly); })).contains("does not exist"));
    QVERIFY(!QFileInfo::exists(qs(path)));  // a reading command creates nothing
    int64_t id = 0;
    {
        RunStore store(path);
        id = store.create_run(demo_info());
        store.append_metrics(id, {demo_step(1), demo_step(2)});
    }
    RunStore reader(path, RunStore::Access::ReadOnly);
    QVERIFY(reader.read_only());
    QCOMPARE(reader.list_runs().size(), size_t(1));
    QCOMPARE(reader.load_metric(id, "loss").steps.size(), size_t(2));
    const QString refused = qs(store_error_of([&] { reader.create_run(demo_info("x")); }));
    QVERIFY2(refused.contains("readonly") && refused.contains(qs(path)), qPrintable(refused));
    QCOMPARE(RunStore(path).list_runs().size(), size_t(1));
}

void TestStore::immutableUriEscapesThePath() {
    // RFC 3986: what a URI path may not hold as is is percent-encoded, '?' and '#' included.
    QCOMPARE(qs(RunStore::immutable_uri("/data/my runs?#%.db")),
             QStringLiteral("file:/data/my%20runs%3F%23%25.db?immutable=1"));
    QCOMPARE(qs(RunStore::immutable_uri("/a/b-c_d~e.f")), QStringLiteral("file:/a/b-c_d~e.f?immutable=1"));
    // It opens the file: SQLite reads the store through it.
    QTemporaryDir dir;
    const std::string path = path_in(dir, "odd name?.db");
    {
        RunStore store(path);
        store.create_run(demo_info());
    }
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open_v2(RunStore::immutable_uri(path).c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr),
             SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    QCOMPARE(sqlite3_prepare_v2(db, "SELECT count(*) FROM runs", -1, &s, nullptr), SQLITE_OK);
    QCOMPARE(sqlite3_step(s), SQLITE_ROW);
    QCOMPARE(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

void TestStore::sinkStopsRunWhenStoreKeepsFailing() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    auto store = std::make_shared<RunStore>(path);
    ps::StoreSink sink(store, 1, 0.5, /*give_up_seconds=*/0.3);
    sink.on_start(demo_info());
    const int64_t id = sink.run_id();
    raw_exec(path, "CREATE TRIGGER refuse BEFORE INSERT ON metrics BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    // Steps 100 s of run time apart: every step is a flush attempt, whatever the back-off.
    std::string stopped;
    int64_t step = 1;
    for (; step <= 200 && stopped.empty(); ++step) {
        ps::StepMetrics m;
        m.step = step;
        m.wall_time = 100.0 * static_cast<double>(step);
        m.set("loss", 1.0);
        try {
            sink.on_metrics(m);
        } catch (const StoreError& e) {
            stopped = e.what();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    QVERIFY2(!stopped.empty(), "the sink never stopped the run");
    QVERIFY2(qs(stopped).contains("injected failure") && qs(stopped).contains("stopped at step") &&
                 qs(stopped).contains(qs(path)),
             stopped.c_str());
    QVERIFY(step >= 4);  // not at the first failure: at least 0.3 s and three attempts
    // The engine then ends the run as failed; that end is stored (only metrics are refused),
    // and the sink says the whole run is not in the store.
    sink.on_finish(RunStatus::Failed, json::object(), stopped);
    QCOMPARE(store->find_run(id)->status, RunStatus::Failed);
    QVERIFY(!sink.all_stored());
}

void TestStore::sinkRefusesToStartWithoutTheRunRow() {
    QTemporaryDir dir;
    const std::string path = path_in(dir, "runs.db");
    auto store = std::make_shared<RunStore>(path);
    raw_exec(path, "CREATE TRIGGER refuse BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END");
    ps::StoreSink sink(store);
    const QString message = qs(store_error_of([&] { sink.on_start(demo_info()); }));
    QVERIFY2(message.contains("disk full (injected)") && message.contains("not started"), qPrintable(message));
    sink.on_finish(RunStatus::Failed, json::object(), message.toStdString());  // never throws
    QVERIFY(!sink.all_stored());
    QCOMPARE(store->list_runs().size(), size_t(0));
}

QTEST_GUILESS_MAIN(TestStore)
#include "test_store.moc"
