// The run store on the sqlite3 C API. One connection per RunStore, serialised by mutex_;
// WAL so that other connections (a second PrefStudio, the CLI) read while a run writes.
#include "core/store/run_store.h"

#include <sqlite3.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/common/errors.h"

namespace fs = std::filesystem;

namespace ps {

namespace {

// Every table of schema version 1. Created in one transaction together with the version row,
// so a file either is a complete store or has none of it.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key   TEXT PRIMARY KEY,
  value TEXT);
CREATE TABLE IF NOT EXISTS runs(
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL DEFAULT '',
  algorithm            TEXT NOT NULL DEFAULT '',
  model                TEXT NOT NULL DEFAULT '',
  dataset              TEXT NOT NULL DEFAULT '',
  device               TEXT NOT NULL DEFAULT '',
  status               TEXT NOT NULL DEFAULT 'created',
  created_at           TEXT NOT NULL DEFAULT '',
  duration_s           REAL NOT NULL DEFAULT 0,
  error                TEXT NOT NULL DEFAULT '',
  tags                 TEXT NOT NULL DEFAULT '',
  notes                TEXT NOT NULL DEFAULT '',
  config_json          TEXT NOT NULL DEFAULT 'null',
  resolved_config_json TEXT NOT NULL DEFAULT 'null',
  final_metrics_json   TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS runs_by_name ON runs(name);
CREATE TABLE IF NOT EXISTS metric_keys(
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS metrics(
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key_id    INTEGER NOT NULL REFERENCES metric_keys(id),
  step      INTEGER NOT NULL,
  wall_time REAL,
  value     REAL,
  PRIMARY KEY(run_id, key_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
  id        INTEGER PRIMARY KEY,
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step      INTEGER NOT NULL DEFAULT 0,
  wall_time REAL,
  kind      TEXT NOT NULL DEFAULT '',
  message   TEXT NOT NULL DEFAULT '',
  data_json TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS events_by_run ON events(run_id);
)sql";

// Added by schema version 2: per-pair tracking (the tracked eval pairs with their text and CHES
// similarity, and each pair's policy log-probs at step 0 and every eval). A version 1 store
// gets these tables on open; its runs stay as they are (with no tracked pairs).
constexpr const char* kSchemaV2Sql = R"sql(
CREATE TABLE IF NOT EXISTS tracked_pairs(
  run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  pair_index      INTEGER NOT NULL,
  split           TEXT NOT NULL DEFAULT '',
  split_index     INTEGER NOT NULL DEFAULT 0,
  prompt          TEXT NOT NULL DEFAULT '',
  chosen          TEXT NOT NULL DEFAULT '',
  rejected        TEXT NOT NULL DEFAULT '',
  chosen_tokens   INTEGER NOT NULL DEFAULT 0,
  rejected_tokens INTEGER NOT NULL DEFAULT 0,
  ches            REAL,
  ln_ches         REAL,
  PRIMARY KEY(run_id, pair_index)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pair_logps(
  run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  pair_index    INTEGER NOT NULL,
  step          INTEGER NOT NULL,
  chosen_logp   REAL,
  rejected_logp REAL,
  PRIMARY KEY(run_id, pair_index, step)) WITHOUT ROWID;
)sql";

// Added by schema version 3: where an imported run came from (its format and the path that
// identifies it), so that importing the same source again updates the run. Native runs keep
// both empty; a version 2 store's runs get them empty.
constexpr const char* kSchemaV3Sql = R"sql(
ALTER TABLE runs ADD COLUMN source_format TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN source_path   TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS runs_by_source ON runs(source_path);
)sql";

// Added by schema version 4: the run's owner (core/store/run_owner.h), so that a run whose
// process was killed reads as interrupted. Runs of an older store have none (pid 0).
constexpr const char* kSchemaV4Sql = R"sql(
ALTER TABLE runs ADD COLUMN owner_host    TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN owner_pid     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN owner_start   TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN heartbeat_at  REAL NOT NULL DEFAULT 0;
)sql";

constexpr const char* kRunColumns =
    "id, name, algorithm, model, dataset, device, status, created_at, duration_s, error, tags, "
    "notes, config_json, resolved_config_json, final_metrics_json, source_format, source_path, "
    "owner_host, owner_pid, owner_start, heartbeat_at";

// The statements, each kept prepared for the life of the connection (keyed by address).
constexpr const char* kSqlMetaTableExists =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'";
constexpr const char* kSqlAnyTable =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
constexpr const char* kSqlSchemaVersion = "SELECT value FROM meta WHERE key = 'schema_version'";
constexpr const char* kSqlSetSchemaVersion =
    "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?1)";
constexpr const char* kSqlInsertRun =
    "INSERT INTO runs(name, algorithm, model, dataset, device, status, created_at, "
    "config_json, resolved_config_json, source_format, source_path, owner_host, owner_pid, owner_start, "
    "heartbeat_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
// An imported run imported again: the same row with the new identity, as if just created.
constexpr const char* kSqlReuseRun =
    "UPDATE runs SET name = ?2, algorithm = ?3, model = ?4, dataset = ?5, device = ?6, status = ?7, "
    "created_at = ?8, config_json = ?9, resolved_config_json = ?10, source_format = ?11, duration_s = 0, "
    "error = '', final_metrics_json = '{}', owner_host = ?12, owner_pid = ?13, owner_start = ?14, "
    "heartbeat_at = ?15 WHERE id = ?1";
constexpr const char* kSqlRunBySource =
    "SELECT id FROM runs WHERE source_path = ?1 AND source_path != '' ORDER BY id DESC LIMIT 1";
constexpr const char* kSqlRunExists = "SELECT 1 FROM runs WHERE id = ?1";
constexpr const char* kSqlSetStatus = "UPDATE runs SET status = ?2 WHERE id = ?1";
constexpr const char* kSqlHeartbeat = "UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1";
constexpr const char* kSqlClaimRun =
    "UPDATE runs SET owner_host = ?2, owner_pid = ?3, owner_start = ?4, heartbeat_at = ?5 WHERE id = ?1";
// The last preference step an interrupted run stored (SFT warm-up steps count apart).
constexpr const char* kSqlLastStep =
    "SELECT max(m.step) FROM metrics m JOIN metric_keys k ON k.id = m.key_id "
    "WHERE m.run_id = ?1 AND k.name NOT LIKE 'sft/%'";
constexpr const char* kSqlFinishRun =
    "UPDATE runs SET status = ?2, final_metrics_json = ?3, error = ?4, duration_s = ?5 "
    "WHERE id = ?1";
constexpr const char* kSqlSetTagsNotes = "UPDATE runs SET tags = ?2, notes = ?3 WHERE id = ?1";
constexpr const char* kSqlDeleteMetrics = "DELETE FROM metrics WHERE run_id = ?1";
constexpr const char* kSqlDeleteEvents = "DELETE FROM events WHERE run_id = ?1";
constexpr const char* kSqlDeleteRun = "DELETE FROM runs WHERE id = ?1";
constexpr const char* kSqlDeleteTrackedPairs = "DELETE FROM tracked_pairs WHERE run_id = ?1";
constexpr const char* kSqlDeletePairLogps = "DELETE FROM pair_logps WHERE run_id = ?1";
// A resumed run: what the killed process stored after its checkpoint's step (the SFT warm-up's
// sft/ series count their own steps and are kept whole) and after its clock then.
constexpr const char* kSqlDeleteMetricsAfter =
    "DELETE FROM metrics WHERE run_id = ?1 AND step > ?2 AND key_id NOT IN "
    "(SELECT id FROM metric_keys WHERE substr(name, 1, 4) = 'sft/')";
constexpr const char* kSqlDeleteEventsAfter =
    "DELETE FROM events WHERE run_id = ?1 AND (step > ?2 OR wall_time > ?3)";
constexpr const char* kSqlDeletePairLogpsAfter = "DELETE FROM pair_logps WHERE run_id = ?1 AND step > ?2";
// A resumed run is this process's from now on.
constexpr const char* kSqlResumeRun =
    "UPDATE runs SET status = ?2, error = '', owner_host = ?3, owner_pid = ?4, owner_start = ?5, "
    "heartbeat_at = ?6 WHERE id = ?1";
constexpr const char* kSqlInsertTrackedPair =
    "INSERT OR REPLACE INTO tracked_pairs(run_id, pair_index, split, split_index, prompt, chosen, "
    "rejected, chosen_tokens, rejected_tokens, ches, ln_ches) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr const char* kSqlInsertPairLogp =
    "INSERT OR REPLACE INTO pair_logps(run_id, pair_index, step, chosen_logp, rejected_logp) "
    "VALUES(?1, ?2, ?3, ?4, ?5)";
constexpr const char* kSqlTrackedPairs =
    "SELECT pair_index, split, split_index, prompt, chosen, rejected, chosen_tokens, "
    "rejected_tokens, ches, ln_ches FROM tracked_pairs WHERE run_id = ?1 ORDER BY pair_index";
constexpr const char* kSqlPairLogps =
    "SELECT pair_index, step, chosen_logp, rejected_logp FROM pair_logps WHERE run_id = ?1 "
    "ORDER BY pair_index, step";
constexpr const char* kSqlInsertKey = "INSERT OR IGNORE INTO metric_keys(name) VALUES(?1)";
constexpr const char* kSqlKeyId = "SELECT id FROM metric_keys WHERE name = ?1";
constexpr const char* kSqlInsertMetric =
    "INSERT OR REPLACE INTO metrics(run_id, key_id, step, wall_time, value) "
    "VALUES(?1, ?2, ?3, ?4, ?5)";
constexpr const char* kSqlInsertEvent =
    "INSERT INTO events(run_id, step, wall_time, kind, message, data_json) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kSqlRunMetricNames =
    "SELECT k.id, k.name FROM metric_keys k WHERE EXISTS "
    "(SELECT 1 FROM metrics m WHERE m.run_id = ?1 AND m.key_id = k.id) ORDER BY k.id";
constexpr const char* kSqlRunMetricSpan =
    "SELECT (SELECT min(step) FROM metrics WHERE run_id = ?1 AND key_id = ?2), "
    "(SELECT max(step) FROM metrics WHERE run_id = ?1 AND key_id = ?2)";
constexpr const char* kSqlOneMetric =
    "SELECT step, wall_time, value FROM metrics WHERE run_id = ?1 AND key_id = ?2 ORDER BY step";
constexpr const char* kSqlEvents =
    "SELECT step, wall_time, kind, message, data_json FROM events WHERE run_id = ?1 ORDER BY id";

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string now_iso8601_utc() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// JSON text for a column; invalid UTF-8 in strings is replaced rather than thrown on.
std::string to_json_text(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A damaged JSON cell must not make the whole run list unreadable: it reads as `fallback`.
nlohmann::json from_json_text(const std::string& text, nlohmann::json fallback) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? fallback : j;
}

std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    if (!p) return {};
    return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

// NULL (how SQLite keeps NaN) reads back as NaN. NULL reads as 0.0, so only a 0.0 needs the
// type check: one sqlite3 call per cell instead of two on the hot path of load_metrics.
double column_double(sqlite3_stmt* s, int i) {
    const double v = sqlite3_column_double(s, i);
    if (v == 0.0 && sqlite3_column_type(s, i) == SQLITE_NULL) return kNaN;
    return v;
}

RunStatus status_from_text(const std::string& text) {
    try {
        return run_status_from_string(text);
    } catch (const Error&) {
        return RunStatus::Failed;  // unknown text (hand-edited file): show the run as failed
    }
}

bool is_run_id(const std::string& text) {
    if (text.empty() || text.size() > 18) return false;
    for (char c : text)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

}  // namespace

// Connection-level state that the header keeps opaque.
struct RunStore::Detail {
    sqlite3* db = nullptr;
    std::string path;
    std::unordered_map<const char*, sqlite3_stmt*> statements;  // by the SQL constant's address
    std::unordered_map<std::string, int64_t> key_ids;            // metric name -> metric_keys.id

    ~Detail() { finalize_all(); }

    void finalize_all() {
        for (auto& entry : statements) sqlite3_finalize(entry.second);
        statements.clear();
    }

    // "<what> run store '<path>': <sqlite message>", e.g. "cannot open run store '/x.db': ...".
    [[noreturn]] void fail(const std::string& what) const {
        throw StoreError(what + " run store '" + path + "': " + sqlite3_errmsg(db));
    }

    sqlite3_stmt* prepare(const char* sql, const std::string& what) {
        auto it = statements.find(sql);
        if (it != statements.end()) return it->second;
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
            sqlite3_finalize(s);
            fail(what);
        }
        statements.emplace(sql, s);
        return s;
    }

    void exec(const char* sql, const std::string& what) {
        if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(what);
    }

    // A cached statement in use: reset and unbound when it leaves scope, so it never holds a
    // read snapshot (which would keep the WAL from being checkpointed).
    class Stmt {
    public:
        Stmt(Detail& d, const char* sql, std::string what)
            : d_(d), s_(d.prepare(sql, what)), what_(std::move(what)) {}
        ~Stmt() {
            sqlite3_reset(s_);
            sqlite3_clear_bindings(s_);
        }
        Stmt(const Stmt&) = delete;
        Stmt& operator=(const Stmt&) = delete;

        sqlite3_stmt* get() const { return s_; }
        Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
        Stmt& bind(int i, const std::string& v) {
            return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()),
                                           SQLITE_TRANSIENT));
        }
        Stmt& bind_real(int i, double v) {  // NaN is stored as NULL
            return check(std::isnan(v) ? sqlite3_bind_null(s_, i) : sqlite3_bind_double(s_, i, v));
        }
        // true while rows come; false when done; throws on error.
        bool step() {
            const int rc = sqlite3_step(s_);
            if (rc == SQLITE_ROW) return true;
            if (rc == SQLITE_DONE) return false;
            d_.fail(what_);
        }
        void run() {
            while (step()) {
            }
        }
        void reset() { sqlite3_reset(s_); }

    private:
        Stmt& check(int rc) {
            if (rc != SQLITE_OK) d_.fail(what_);
            return *this;
        }
        Detail& d_;
        sqlite3_stmt* s_;
        std::string what_;
    };

    // BEGIN IMMEDIATE for writes (takes the write lock up front, so no deadlocked upgrade),
    // BEGIN for reads (one snapshot for several statements). Rolls back unless committed.
    class Transaction {
    public:
        Transaction(Detail& d, bool write, std::string what) : d_(d), what_(std::move(what)) {
            d_.exec(write ? "BEGIN IMMEDIATE" : "BEGIN", what_);
        }
        ~Transaction() {
            if (done_) return;
            sqlite3_exec(d_.db, "ROLLBACK", nullptr, nullptr, nullptr);
            d_.key_ids.clear();  // ids handed out inside the rolled-back transaction are gone
        }
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        void commit() {
            d_.exec("COMMIT", what_);
            done_ = true;
        }

    private:
        Detail& d_;
        std::string what_;
        bool done_ = false;
    };

    // -1 when the file has no schema_version yet.
    int schema_version() {
        {
            Stmt s(*this, kSqlMetaTableExists, "cannot read the schema of");
            if (!s.step() || sqlite3_column_int64(s.get(), 0) == 0) return -1;
        }
        Stmt s(*this, kSqlSchemaVersion, "cannot read the schema version of");
        if (!s.step()) return -1;
        const std::string text = column_text(s.get(), 0);
        try {
            size_t used = 0;
            const int v = std::stoi(text, &used);
            if (used == text.size()) return v;
        } catch (const std::exception&) {
        }
        throw StoreError("run store '" + path + "' has an unreadable schema version '" + text +
                         "'; it was not written by PrefStudio");
    }

    void check_not_newer(int version) const {
        if (version > RunStore::kSchemaVersion)
            throw StoreError("run store '" + path + "' has schema version " +
                             std::to_string(version) + ", newer than this PrefStudio supports (" +
                             std::to_string(RunStore::kSchemaVersion) +
                             "); upgrade PrefStudio to open it");
    }

    void open_schema() {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, 5000);
        // The first statement that reads the file: a file that is not SQLite fails here.
        exec("PRAGMA journal_mode = WAL", "cannot open");
        exec("PRAGMA synchronous = NORMAL", "cannot open");
        exec("PRAGMA foreign_keys = ON", "cannot open");

        int version = schema_version();
        check_not_newer(version);
        if (version == RunStore::kSchemaVersion) return;

        Transaction tx(*this, true, "cannot create the tables of");
        version = schema_version();  // another process may have created it meanwhile
        check_not_newer(version);
        if (version < 0) {
            Stmt any(*this, kSqlAnyTable, "cannot read the schema of");
            if (any.step() && sqlite3_column_int64(any.get(), 0) > 0)
                throw StoreError("'" + path +
                                 "' is an SQLite database but not a PrefStudio run store; "
                                 "choose another file");
        }
        // A new file gets every table; an older store is migrated one version at a time, in
        // this transaction, keeping its runs.
        if (version < 1) exec(kSchemaSql, "cannot create the tables of");
        if (version < 2) exec(kSchemaV2Sql, "cannot add the per-pair tracking tables to");
        if (version < 3) exec(kSchemaV3Sql, "cannot add the imported runs' source to");
        if (version < 4) exec(kSchemaV4Sql, "cannot add the runs' owners to");
        Stmt set(*this, kSqlSetSchemaVersion, "cannot create the tables of");
        set.bind(1, std::to_string(RunStore::kSchemaVersion)).run();
        tx.commit();
    }

    void require_run(int64_t run_id, const std::string& what) {
        Stmt s(*this, kSqlRunExists, what);
        s.bind(1, run_id);
        if (!s.step())
            throw StoreError(what + " run store '" + path + "': there is no run " +
                             std::to_string(run_id));
    }

    void require_changed(int64_t run_id, const std::string& what) {
        if (sqlite3_changes(db) == 0)
            throw StoreError(what + " run store '" + path + "': there is no run " +
                             std::to_string(run_id));
    }

    StoredRun read_run(sqlite3_stmt* s) {
        StoredRun r;
        r.id = sqlite3_column_int64(s, 0);
        r.name = column_text(s, 1);
        r.algorithm = column_text(s, 2);
        r.model = column_text(s, 3);
        r.dataset = column_text(s, 4);
        r.device = column_text(s, 5);
        r.status = status_from_text(column_text(s, 6));
        r.created_at = column_text(s, 7);
        r.duration_s = sqlite3_column_double(s, 8);
        r.error = column_text(s, 9);
        r.tags = column_text(s, 10);
        r.notes = column_text(s, 11);
        r.config = from_json_text(column_text(s, 12), nullptr);
        r.resolved_config = from_json_text(column_text(s, 13), nullptr);
        r.final_metrics = from_json_text(column_text(s, 14), nlohmann::json::object());
        r.source_format = column_text(s, 15);
        r.source_path = column_text(s, 16);
        r.owner.host = column_text(s, 17);
        r.owner.pid = sqlite3_column_int64(s, 18);
        r.owner.process_start = column_text(s, 19);
        r.owner.heartbeat_at = sqlite3_column_double(s, 20);
        // Never written: a run left created, running or paused by a process that is gone.
        const bool unfinished = r.status == RunStatus::Created || r.status == RunStatus::Running ||
                                r.status == RunStatus::Paused;
        if (unfinished && !run_owner_alive(r.owner, unix_now())) {
            r.status = RunStatus::Interrupted;
            Stmt last(*this, kSqlLastStep, "cannot read the last step of run " + std::to_string(r.id) + " from");
            last.bind(1, r.id);
            r.last_step = last.step() ? sqlite3_column_int64(last.get(), 0) : 0;
        }
        return r;
    }

    // Run queries are built from kRunColumns; they are few, so they are cached like the rest.
    static const char* run_query(int which) {
        static const std::string by_id = std::string("SELECT ") + kRunColumns +
                                         " FROM runs WHERE id = ?1";
        static const std::string by_name = std::string("SELECT ") + kRunColumns +
                                           " FROM runs WHERE name = ?1 ORDER BY id DESC LIMIT 1";
        static const std::string all = std::string("SELECT ") + kRunColumns +
                                       " FROM runs ORDER BY id DESC";
        return which == 0 ? by_id.c_str() : which == 1 ? by_name.c_str() : all.c_str();
    }

    int64_t insert_run(const RunInfo& info, const std::string& what) {
        const RunOwner owner = current_run_owner();
        Stmt s(*this, kSqlInsertRun, what);
        s.bind(1, info.name)
            .bind(2, info.algorithm)
            .bind(3, info.model)
            .bind(4, info.dataset)
            .bind(5, info.device)
            .bind(6, std::string(to_string(RunStatus::Created)))
            .bind(7, now_iso8601_utc())
            .bind(8, to_json_text(info.config))
            .bind(9, to_json_text(info.resolved_config))
            .bind(10, info.source_format)
            .bind(11, info.source_path)
            .bind(12, owner.host)
            .bind(13, owner.pid)
            .bind(14, owner.process_start)
            .bind_real(15, owner.heartbeat_at)
            .run();
        return sqlite3_last_insert_rowid(db);
    }

    std::optional<StoredRun> find_run(int64_t run_id) {
        Stmt s(*this, run_query(0), "cannot read run " + std::to_string(run_id) + " from");
        s.bind(1, run_id);
        if (!s.step()) return std::nullopt;
        return read_run(s.get());
    }

    std::optional<StoredRun> find_run_by_name(const std::string& name) {
        Stmt s(*this, run_query(1), "cannot read run '" + name + "' from");
        s.bind(1, name);
        if (!s.step()) return std::nullopt;
        return read_run(s.get());
    }

    // 0 when the name was never logged (nothing is inserted).
    int64_t find_key(const std::string& name) {
        auto it = key_ids.find(name);
        if (it != key_ids.end()) return it->second;
        Stmt s(*this, kSqlKeyId, "cannot read metric names from");
        s.bind(1, name);
        if (!s.step()) return 0;
        const int64_t id = sqlite3_column_int64(s.get(), 0);
        key_ids.emplace(name, id);
        return id;
    }

    // Caller holds a write transaction.
    int64_t key_id(const std::string& name) {
        auto it = key_ids.find(name);
        if (it != key_ids.end()) return it->second;
        {
            Stmt ins(*this, kSqlInsertKey, "cannot add metric '" + name + "' to");
            ins.bind(1, name).run();
        }
        const int64_t id = find_key(name);
        if (id == 0)
            throw StoreError("cannot add metric '" + name + "' to run store '" + path + "'");
        return id;
    }

    // One series in step order, straight from the primary key (run_id, key_id, step).
    void read_series(int64_t run_id, int64_t key, MetricSeries& out, const std::string& what) {
        {
            // Reserve the step span: exact for per-step series; sparse ones give back the slack.
            Stmt span(*this, kSqlRunMetricSpan, what);
            span.bind(1, run_id).bind(2, key);
            if (span.step() && sqlite3_column_type(span.get(), 0) != SQLITE_NULL) {
                const int64_t n = std::min<int64_t>(
                    sqlite3_column_int64(span.get(), 1) - sqlite3_column_int64(span.get(), 0) + 1,
                    int64_t(1) << 24);
                if (n > 0) {
                    out.steps.reserve(static_cast<size_t>(n));
                    out.wall_times.reserve(static_cast<size_t>(n));
                    out.values.reserve(static_cast<size_t>(n));
                }
            }
        }
        Stmt s(*this, kSqlOneMetric, what);
        s.bind(1, run_id).bind(2, key);
        sqlite3_stmt* q = s.get();
        while (s.step()) {
            out.steps.push_back(sqlite3_column_int64(q, 0));
            out.wall_times.push_back(column_double(q, 1));
            out.values.push_back(column_double(q, 2));
        }
        if (out.steps.capacity() > 2 * out.steps.size() + 1024) {
            out.steps.shrink_to_fit();
            out.wall_times.shrink_to_fit();
            out.values.shrink_to_fit();
        }
    }
};

RunStore::RunStore(const std::string& path, Access access)
    : path_(path), access_(access), detail_(std::make_unique<Detail>()) {
    detail_->path = path;
    if (path.empty())
        throw StoreError("the run store path is empty; give a file such as '" + default_path() +
                         "'");
    std::error_code ec;
    if (path != ":memory:") {
        if (fs::is_directory(path, ec))
            throw StoreError("cannot open run store '" + path + "': it is a folder, not a file");
        if (access == Access::ReadOnly && !fs::exists(path, ec))
            throw StoreError("run store '" + path + "' does not exist; nothing has been stored there yet "
                             "(give the store with --db, or run or import something first)");
        const fs::path parent = fs::path(path).parent_path();
        if (access == Access::ReadWrite && !parent.empty() && !fs::is_directory(parent, ec)) {
            fs::create_directories(parent, ec);
            if (ec)
                throw StoreError("cannot create the folder '" + parent.string() +
                                 "' for run store '" + path + "': " + ec.message());
        }
    }
    if (access == Access::ReadWrite) {
        open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, path);
        return;
    }
    int version = -1;
    try {
        open(SQLITE_OPEN_READONLY, path);
        version = detail_->schema_version();
    } catch (const StoreError&) {
        // WAL needs its -shm beside the file; on read-only media it cannot be made. No one can be
        // writing there, so the file is read as immutable. Other errors (not a database, busy)
        // stand.
        const int code = db_ ? (sqlite3_extended_errcode(db_) & 0xff) : SQLITE_CANTOPEN;
        if (code != SQLITE_CANTOPEN && code != SQLITE_READONLY && code != SQLITE_IOERR) throw;
        open(SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, immutable_uri(path));
        version = detail_->schema_version();
    }
    detail_->check_not_newer(version);
    if (version < 0)
        throw StoreError("'" + path + "' is not a PrefStudio run store (no schema version); choose another file");
    if (version < kSchemaVersion) {
        // An older store: upgraded once through a writing connection, then read.
        try {
            RunStore upgrade(path, Access::ReadWrite);
        } catch (const StoreError& e) {
            throw StoreError("run store '" + path + "' has schema version " + std::to_string(version) +
                             ", older than this PrefStudio's (" + std::to_string(kSchemaVersion) +
                             "), and cannot be upgraded here (" + e.what() +
                             "); open it once where the file is writable");
        }
        open(SQLITE_OPEN_READONLY, path);
    }
}

void RunStore::open(int flags, const std::string& name) {
    if (db_) {
        detail_->finalize_all();
        sqlite3_close_v2(db_);
        db_ = nullptr;
        detail_->db = nullptr;
    }
    // NOMUTEX: mutex_ already serialises every call on this connection, and SQLite's own
    // per-call locking cost a quarter of load_metrics' time.
    const int rc = sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw StoreError("cannot open run store '" + path_ + "': " + message);
    }
    detail_->db = db_;
    try {
        if (flags & SQLITE_OPEN_READONLY) {
            sqlite3_extended_result_codes(db_, 1);
            sqlite3_busy_timeout(db_, 5000);
        } else {
            detail_->open_schema();
        }
    } catch (...) {
        detail_->finalize_all();
        sqlite3_close_v2(db_);
        db_ = nullptr;
        detail_->db = nullptr;
        throw;
    }
}

std::string RunStore::immutable_uri(const std::string& path) {
    // RFC 3986 percent-encoding of what a file: URI's path may not hold as is.
    std::string uri = "file:";
    const std::string absolute = fs::absolute(path).string();
    static const char* hex = "0123456789ABCDEF";
    for (unsigned char c : absolute) {
        if (std::isalnum(c) || std::strchr("/-._~", c)) {
            uri += static_cast<char>(c);
        } else {
            uri += '%';
            uri += hex[c >> 4];
            uri += hex[c & 15];
        }
    }
    return uri + "?immutable=1";
}

RunStore::~RunStore() {
    if (detail_) detail_->finalize_all();
    if (db_) sqlite3_close_v2(db_);
}

std::string RunStore::default_path() {
    fs::path base;
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/') {
        base = xdg;
    } else {
        std::string home;
        if (const char* h = std::getenv("HOME"); h && h[0] != '\0') {
            home = h;
        } else if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) {
            home = pw->pw_dir;
        } else {
            home = ".";
        }
        base = fs::path(home) / ".local" / "share";
    }
    return (base / "prefstudio" / "runs.db").string();
}

void RunStore::exec(const char* sql) { detail_->exec(sql, "cannot update"); }

int64_t RunStore::metric_key_id(const std::string& name) { return detail_->key_id(name); }

int64_t RunStore::create_run(const RunInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail& d = *detail_;
    const std::string what = "cannot add run '" + info.name + "' to";
    if (!info.source_path.empty()) {
        Detail::Transaction tx(d, true, what);
        int64_t existing = 0;
        {
            Detail::Stmt s(d, kSqlRunBySource, what);
            s.bind(1, info.source_path);
            if (s.step()) existing = sqlite3_column_int64(s.get(), 0);
        }
        if (existing > 0) {
            for (const char* sql : {kSqlDeleteMetrics, kSqlDeleteEvents, kSqlDeleteTrackedPairs, kSqlDeletePairLogps}) {
                Detail::Stmt s(d, sql, what);
                s.bind(1, existing).run();
            }
            const RunOwner owner = current_run_owner();
            Detail::Stmt s(d, kSqlReuseRun, what);
            s.bind(1, existing)
                .bind(2, info.name)
                .bind(3, info.algorithm)
                .bind(4, info.model)
                .bind(5, info.dataset)
                .bind(6, info.device)
                .bind(7, std::string(to_string(RunStatus::Created)))
                .bind(8, now_iso8601_utc())
                .bind(9, to_json_text(info.config))
                .bind(10, to_json_text(info.resolved_config))
                .bind(11, info.source_format)
                .bind(12, owner.host)
                .bind(13, owner.pid)
                .bind(14, owner.process_start)
                .bind_real(15, owner.heartbeat_at)
                .run();
            tx.commit();
            return existing;
        }
        const int64_t id = d.insert_run(info, what);
        tx.commit();
        return id;
    }
    return d.insert_run(info, what);
}

std::optional<StoredRun> RunStore::find_run_by_source(const std::string& source_path) {
    std::lock_guard<std::mutex> lock(mutex_);
    int64_t id = 0;
    {
        Detail::Stmt s(*detail_, kSqlRunBySource, "cannot read the imported runs of");
        s.bind(1, source_path);
        if (!s.step()) return std::nullopt;
        id = sqlite3_column_int64(s.get(), 0);
    }
    return detail_->find_run(id);
}

void RunStore::set_status(int64_t run_id, RunStatus status) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string what = "cannot set the status of run " + std::to_string(run_id) + " in";
    Detail::Stmt s(*detail_, kSqlSetStatus, what);
    s.bind(1, run_id).bind(2, std::string(to_string(status))).run();
    detail_->require_changed(run_id, what);
}

void RunStore::heartbeat(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string what = "cannot record that run " + std::to_string(run_id) + " is alive in";
    Detail::Stmt s(*detail_, kSqlHeartbeat, what);
    s.bind(1, run_id).bind_real(2, unix_now()).run();
    detail_->require_changed(run_id, what);
}

void RunStore::claim_run(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string what = "cannot take over run " + std::to_string(run_id) + " in";
    const RunOwner owner = current_run_owner();
    Detail::Stmt s(*detail_, kSqlClaimRun, what);
    s.bind(1, run_id).bind(2, owner.host).bind(3, owner.pid).bind(4, owner.process_start).bind_real(5, owner.heartbeat_at).run();
    detail_->require_changed(run_id, what);
}

std::string RunStore::checkpoint_folder(const std::string& store_path, int64_t run_id) {
    return store_path + ".checkpoints/" + std::to_string(run_id);
}

void RunStore::prepare_resume(int64_t run_id, int64_t step, double wall_time) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail& d = *detail_;
    const std::string what = "cannot resume run " + std::to_string(run_id) + " in";
    Detail::Transaction tx(d, true, what);
    d.require_run(run_id, what);
    {
        Detail::Stmt s(d, kSqlDeleteMetricsAfter, what);
        s.bind(1, run_id).bind(2, step).run();
    }
    {
        Detail::Stmt s(d, kSqlDeleteEventsAfter, what);
        s.bind(1, run_id).bind(2, step).bind_real(3, wall_time).run();
    }
    {
        Detail::Stmt s(d, kSqlDeletePairLogpsAfter, what);
        s.bind(1, run_id).bind(2, step).run();
    }
    {
        Detail::Stmt s(d, kSqlResumeRun, what);
        const RunOwner owner = current_run_owner();
        s.bind(1, run_id).bind(2, std::string(to_string(RunStatus::Running))).bind(3, owner.host).bind(4, owner.pid)
            .bind(5, owner.process_start).bind_real(6, owner.heartbeat_at).run();
    }
    tx.commit();
}

std::vector<StepMetrics> RunStore::load_step_metrics(int64_t run_id, int64_t max_step) {
    // In the order the engine emits them: the SFT warm-up's steps, then per preference step its
    // training record and its eval/ record.
    std::map<std::pair<int, int64_t>, StepMetrics> records;
    for (const MetricSeries& series : load_metrics(run_id)) {
        const int part = series.name.rfind("sft/", 0) == 0 ? 0 : series.name.rfind("eval/", 0) == 0 ? 2 : 1;
        for (size_t i = 0; i < series.steps.size(); ++i) {
            if (part != 0 && series.steps[i] > max_step) continue;
            const int64_t step = series.steps[i];
            auto& m = records[{part == 0 ? 0 : 1, step * 2 + (part == 2 ? 1 : 0)}];
            m.step = step;
            m.wall_time = series.wall_times[i];
            m.set(series.name, series.values[i]);
        }
    }
    std::vector<StepMetrics> out;
    for (auto& [key, m] : records) out.push_back(std::move(m));
    return out;
}

void RunStore::append_metrics(int64_t run_id, const std::vector<StepMetrics>& batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (batch.empty()) return;
    Detail& d = *detail_;
    const std::string what = "cannot write metrics of run " + std::to_string(run_id) + " to";
    Detail::Transaction tx(d, true, what);
    d.require_run(run_id, what);
    sqlite3_stmt* s = d.prepare(kSqlInsertMetric, what);
    // The hot loop talks to sqlite directly: one reset per row, no per-row allocations.
    struct Reset {
        sqlite3_stmt* s;
        ~Reset() {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
        }
    } reset{s};
    sqlite3_bind_int64(s, 1, run_id);
    for (const StepMetrics& m : batch) {
        for (const auto& [name, value] : m.values) {
            int rc = sqlite3_bind_int64(s, 2, d.key_id(name));
            if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 3, m.step);
            if (rc == SQLITE_OK)
                rc = std::isnan(m.wall_time) ? sqlite3_bind_null(s, 4)
                                             : sqlite3_bind_double(s, 4, m.wall_time);
            if (rc == SQLITE_OK)
                rc = std::isnan(value) ? sqlite3_bind_null(s, 5) : sqlite3_bind_double(s, 5, value);
            if (rc == SQLITE_OK) rc = sqlite3_step(s);
            if (rc != SQLITE_DONE) d.fail(what);
            sqlite3_reset(s);
        }
    }
    tx.commit();
}

void RunStore::append_events(int64_t run_id, const std::vector<RunEvent>& events) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events.empty()) return;
    Detail& d = *detail_;
    const std::string what = "cannot write events of run " + std::to_string(run_id) + " to";
    Detail::Transaction tx(d, true, what);
    d.require_run(run_id, what);
    for (const RunEvent& e : events) {
        Detail::Stmt s(d, kSqlInsertEvent, what);
        s.bind(1, run_id).bind(2, e.step).bind_real(3, e.wall_time);
        s.bind(4, e.kind).bind(5, e.message).bind(6, to_json_text(e.data)).run();
    }
    tx.commit();
}

void RunStore::append_tracked_pairs(int64_t run_id, const std::vector<TrackedPair>& pairs) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pairs.empty()) return;
    Detail& d = *detail_;
    const std::string what = "cannot write the tracked pairs of run " + std::to_string(run_id) + " to";
    Detail::Transaction tx(d, true, what);
    d.require_run(run_id, what);
    for (const TrackedPair& p : pairs) {
        Detail::Stmt s(d, kSqlInsertTrackedPair, what);
        s.bind(1, run_id).bind(2, p.index).bind(3, p.split).bind(4, p.split_index);
        s.bind(5, p.prompt).bind(6, p.chosen).bind(7, p.rejected);
        s.bind(8, p.chosen_tokens).bind(9, p.rejected_tokens);
        s.bind_real(10, std::isfinite(p.ches) ? p.ches : kNaN);
        s.bind_real(11, std::isfinite(p.ln_ches) ? p.ln_ches : kNaN);
        s.run();
    }
    tx.commit();
}

void RunStore::append_pair_logps(int64_t run_id, const std::vector<PairLogpRecord>& records) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (records.empty()) return;
    Detail& d = *detail_;
    const std::string what = "cannot write the tracked pairs' log-probs of run " + std::to_string(run_id) + " to";
    Detail::Transaction tx(d, true, what);
    d.require_run(run_id, what);
    for (const PairLogpRecord& r : records) {
        Detail::Stmt s(d, kSqlInsertPairLogp, what);
        s.bind(1, run_id).bind(2, r.pair).bind(3, r.step);
        s.bind_real(4, std::isfinite(r.chosen) ? r.chosen : kNaN);
        s.bind_real(5, std::isfinite(r.rejected) ? r.rejected : kNaN);
        s.run();
    }
    tx.commit();
}

std::vector<TrackedPair> RunStore::load_tracked_pairs(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail::Stmt s(*detail_, kSqlTrackedPairs,
                   "cannot read the tracked pairs of run " + std::to_string(run_id) + " from");
    s.bind(1, run_id);
    std::vector<TrackedPair> pairs;
    while (s.step()) {
        sqlite3_stmt* q = s.get();
        TrackedPair p;
        p.index = sqlite3_column_int64(q, 0);
        p.split = column_text(q, 1);
        p.split_index = sqlite3_column_int64(q, 2);
        p.prompt = column_text(q, 3);
        p.chosen = column_text(q, 4);
        p.rejected = column_text(q, 5);
        p.chosen_tokens = sqlite3_column_int64(q, 6);
        p.rejected_tokens = sqlite3_column_int64(q, 7);
        p.ches = column_double(q, 8);
        p.ln_ches = column_double(q, 9);
        pairs.push_back(std::move(p));
    }
    return pairs;
}

std::vector<PairLogpRecord> RunStore::load_pair_logps(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail::Stmt s(*detail_, kSqlPairLogps,
                   "cannot read the tracked pairs' log-probs of run " + std::to_string(run_id) + " from");
    s.bind(1, run_id);
    std::vector<PairLogpRecord> records;
    while (s.step()) {
        sqlite3_stmt* q = s.get();
        PairLogpRecord r;
        r.pair = sqlite3_column_int64(q, 0);
        r.step = sqlite3_column_int64(q, 1);
        r.chosen = column_double(q, 2);
        r.rejected = column_double(q, 3);
        records.push_back(r);
    }
    return records;
}

void RunStore::finish_run(int64_t run_id, RunStatus status, const nlohmann::json& final_metrics,
                          const std::string& error, double duration_s) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string what = "cannot record the end of run " + std::to_string(run_id) + " in";
    Detail::Stmt s(*detail_, kSqlFinishRun, what);
    s.bind(1, run_id).bind(2, std::string(to_string(status)));
    s.bind(3, to_json_text(final_metrics.is_null() ? nlohmann::json::object() : final_metrics));
    s.bind(4, error).bind_real(5, std::isfinite(duration_s) ? duration_s : 0.0);
    s.run();
    detail_->require_changed(run_id, what);
}

void RunStore::set_tags_notes(int64_t run_id, const std::string& tags, const std::string& notes) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string what = "cannot set tags and notes of run " + std::to_string(run_id) + " in";
    Detail::Stmt s(*detail_, kSqlSetTagsNotes, what);
    s.bind(1, run_id).bind(2, tags).bind(3, notes).run();
    detail_->require_changed(run_id, what);
}

void RunStore::delete_run(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail& d = *detail_;
    const std::string what = "cannot delete run " + std::to_string(run_id) + " from";
    Detail::Transaction tx(d, true, what);
    // Explicit deletes (the schema also cascades), so connections without foreign_keys agree.
    for (const char* sql : {kSqlDeleteMetrics, kSqlDeleteEvents, kSqlDeleteTrackedPairs, kSqlDeletePairLogps}) {
        Detail::Stmt s(d, sql, what);
        s.bind(1, run_id).run();
    }
    {
        Detail::Stmt s(d, kSqlDeleteRun, what);
        s.bind(1, run_id).run();
        d.require_changed(run_id, what);
    }
    tx.commit();
    std::error_code ec;  // the run's checkpoints go with it
    std::filesystem::remove_all(checkpoint_folder(path_, run_id), ec);
}

std::vector<StoredRun> RunStore::list_runs() {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail::Stmt s(*detail_, Detail::run_query(2), "cannot list the runs of");
    std::vector<StoredRun> runs;
    while (s.step()) runs.push_back(detail_->read_run(s.get()));
    return runs;
}

std::optional<StoredRun> RunStore::find_run(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return detail_->find_run(run_id);
}

StoredRun RunStore::resolve_run(const std::string& id_or_name) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (is_run_id(id_or_name)) {
        if (auto run = detail_->find_run(std::stoll(id_or_name))) return *run;
    }
    if (!id_or_name.empty()) {
        if (auto run = detail_->find_run_by_name(id_or_name)) return *run;
    }
    throw StoreError("no run '" + id_or_name + "' in " + path_ +
                     "; list runs with `prefstudio-cli runs`");
}

std::vector<std::string> RunStore::metric_names(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail::Stmt s(*detail_, kSqlRunMetricNames,
                   "cannot read the metric names of run " + std::to_string(run_id) + " from");
    s.bind(1, run_id);
    std::vector<std::string> names;
    while (s.step()) names.push_back(column_text(s.get(), 1));
    return names;
}

std::vector<MetricSeries> RunStore::load_metrics(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail& d = *detail_;
    const std::string what = "cannot read metrics of run " + std::to_string(run_id) + " from";
    Detail::Transaction tx(d, false, what);  // one snapshot for the key list and every series
    std::vector<std::pair<int64_t, std::string>> keys;
    {
        Detail::Stmt s(d, kSqlRunMetricNames, what);
        s.bind(1, run_id);
        while (s.step()) keys.emplace_back(sqlite3_column_int64(s.get(), 0), column_text(s.get(), 1));
    }
    std::vector<MetricSeries> series(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        series[i].name = std::move(keys[i].second);
        d.read_series(run_id, keys[i].first, series[i], what);
    }
    tx.commit();
    return series;
}

MetricSeries RunStore::load_metric(int64_t run_id, const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail& d = *detail_;
    MetricSeries out;
    out.name = name;
    const int64_t key = d.find_key(name);
    if (key == 0) return out;
    d.read_series(run_id, key, out,
                  "cannot read metric '" + name + "' of run " + std::to_string(run_id) + " from");
    return out;
}

std::vector<RunEvent> RunStore::load_events(int64_t run_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Detail::Stmt s(*detail_, kSqlEvents,
                   "cannot read events of run " + std::to_string(run_id) + " from");
    s.bind(1, run_id);
    std::vector<RunEvent> events;
    while (s.step()) {
        RunEvent e;
        e.step = sqlite3_column_int64(s.get(), 0);
        e.wall_time = column_double(s.get(), 1);
        e.kind = column_text(s.get(), 2);
        e.message = column_text(s.get(), 3);
        e.data = from_json_text(column_text(s.get(), 4), nlohmann::json::object());
        events.push_back(std::move(e));
    }
    return events;
}

}  // namespace ps
