// Per-pair tracking end to end on the tiny model: the hidden-state sums behind CHES against the
// torch reference fixture, tracking leaves the training curve exactly as it was, the tracked
// log-probs agree with the eval metrics, the store keeps them (schema 2, migrated from a
// version 1 file without losing its runs), and `prefstudio-cli diagnose` shows them.
#include <QtTest>

#include <sqlite3.h>

#include <cmath>
#include <fstream>
#include <map>
#include <mutex>

#include "tests/common/collect_sink.h"
#include "core/data/make_data.h"
#include "core/diagnose/pair_tracking.h"
#include "core/engine/run_thread.h"
#include "core/engine/trainer.h"
#include "core/store/run_store.h"
#include "tests/common/tiny_config.h"

using nlohmann::json;

namespace {

using ps::test::CollectSink;

// The schema of a version 1 store, as PrefStudio 0.x wrote it (the file format a migration
// must accept), with one run, one metric value and one event.
const char* kVersion1Store = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', algorithm TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL DEFAULT '', device TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'created', created_at TEXT NOT NULL DEFAULT '', duration_s REAL NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
  config_json TEXT NOT NULL DEFAULT 'null', resolved_config_json TEXT NOT NULL DEFAULT 'null',
  final_metrics_json TEXT NOT NULL DEFAULT '{}');
CREATE INDEX runs_by_name ON runs(name);
CREATE TABLE metric_keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE metrics(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key_id INTEGER NOT NULL REFERENCES metric_keys(id), step INTEGER NOT NULL, wall_time REAL, value REAL,
  PRIMARY KEY(run_id, key_id, step)) WITHOUT ROWID;
CREATE TABLE events(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL DEFAULT 0, wall_time REAL, kind TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',
  data_json TEXT NOT NULL DEFAULT '{}');
CREATE INDEX events_by_run ON events(run_id);
INSERT INTO meta VALUES('schema_version', '1');
INSERT INTO runs(id, name, algorithm, status) VALUES(1, 'old-run', 'dpo', 'completed');
INSERT INTO metric_keys VALUES(1, 'loss');
INSERT INTO metrics VALUES(1, 1, 5, 0.5, 0.25);
INSERT INTO events(run_id, step, kind, message) VALUES(1, 5, 'info', 'kept');
)sql";

}  // namespace

class TestEvidence : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string data_;

    ps::RunConfig config(int track_pairs, double eval_fraction = 0.1) {
        ps::RunConfig c = ps::test::tiny_run_config(data_, 12, "evidence");
        c.seed = 5;
        c.data.eval_fraction = eval_fraction;
        c.sft.steps = 10;
        c.sft.learning_rate = 3e-3;
        c.train.eval_every = 4;
        c.train.threads = 1;
        c.train.track_pairs = track_pairs;
        c.validate();
        return c;
    }

    void run(const ps::RunConfig& c, std::vector<ps::RunSink*> sinks) {
        ps::RunControl control;
        QCOMPARE(ps::run_training(c, c.to_json(), sinks, control), ps::RunStatus::Completed);
    }

private slots:
    void initTestCase() {
        ps::ArithDataOptions o;
        o.count = 80;
        o.max_operand = 10;
        data_ = dir_.filePath("arith.jsonl").toStdString();
        ps::write_preference_jsonl(ps::make_arith_pairs(o), data_);
    }

    void hiddenSumsGiveTheReferenceChes() {
        std::ifstream in(qgetenv("PREFSTUDIO_SOURCE_DIR").toStdString() + "/tests/fixtures/diagnose/pair_cases.json");
        QVERIFY(in.good());
        const json f = json::parse(in);
        for (const json& c : f["ches"]) {
            const int64_t prompt_len = c["prompt_len"];
            // Whole-sequence hidden states [1, T, H] and the completion mask of batching.h (1 on
            // answer tokens): the function must pick the positions that predict them.
            auto sums = [&](const json& rows) {
                const auto h = rows.get<std::vector<std::vector<double>>>();
                const int64_t T = static_cast<int64_t>(h.size()), H = static_cast<int64_t>(h[0].size());
                auto hidden = torch::zeros({1, T, H}, torch::kFloat64);
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t d = 0; d < H; ++d) hidden[0][t][d] = h[size_t(t)][size_t(d)];
                auto mask = torch::zeros({1, T});
                mask.narrow(1, prompt_len, T - prompt_len).fill_(1.0);
                auto s = ps::completion_hidden_sums(hidden, mask).contiguous();
                return std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + H);
            };
            const auto s = ps::ches_from_sums(sums(c["chosen_hidden"]), c["chosen_tokens"], sums(c["rejected_hidden"]),
                                              c["rejected_tokens"]);
            QVERIFY(std::fabs(s.ches - c["ches"].get<double>()) < 1e-9 * std::max(1.0, std::fabs(s.ches)));
            QVERIFY(std::fabs(s.ln_ches - c["ln_ches"].get<double>()) < 1e-9 * std::max(1.0, std::fabs(s.ln_ches)));
        }
    }

    void trackingLeavesTheCurveUnchanged() {
        CollectSink off, on, again;
        run(config(0), {&off});
        run(config(64), {&on});
        run(config(64), {&again});
        QVERIFY(off.pairs.empty() && off.records.empty());
        for (const char* name : {"loss", "rewards/chosen", "rewards/rejected", "grad_norm", "eval/loss"}) {
            const auto a = off.series(name), b = on.series(name);
            QVERIFY2(!a.empty() && a == b, name);  // bit for bit: no RNG draw, no gradient
        }
        // Same config and seed: the same pairs and the same tracked values.
        QCOMPARE(on.pairs.size(), again.pairs.size());
        QCOMPARE(on.records.size(), again.records.size());
        for (size_t i = 0; i < on.records.size(); ++i) QCOMPARE(on.records[i].chosen, again.records[i].chosen);
    }

    void trackedPairsAgreeWithTheEvalMetrics() {
        CollectSink sink;
        run(config(64), {&sink});
        // 80 pairs, 10% held out: the 8 eval pairs are all tracked (fewer than 64).
        QCOMPARE(sink.pairs.size(), size_t(8));
        for (size_t i = 0; i < sink.pairs.size(); ++i) {
            const auto& p = sink.pairs[i];
            QCOMPARE(p.index, int64_t(i));
            QCOMPARE(p.split, std::string("eval"));
            QVERIFY(p.prompt.find('=') != std::string::npos);  // arithmetic prompts "a+b="
            QVERIFY(!p.chosen.empty() && !p.rejected.empty() && p.chosen != p.rejected);
            QCOMPARE(p.chosen_tokens, int64_t(p.chosen.size() + 1));  // byte tokens + EOS
            QVERIFY(std::isfinite(p.ches) && std::isfinite(p.ln_ches));
        }
        // Records at step 0 and at each eval (4, 8, 12), every pair each time.
        std::map<int64_t, std::vector<ps::PairLogpRecord>> by_step;
        for (const auto& r : sink.records) by_step[r.step].push_back(r);
        QCOMPARE(by_step.size(), size_t(4));
        for (int64_t s : {0, 4, 8, 12}) QCOMPARE(by_step[s].size(), size_t(8));
        // The mean of the tracked chosen log-probs at an eval is eval/logps/chosen (all eval
        // pairs are tracked); at step 0 the policy is the reference.
        const auto eval_chosen = sink.series("eval/logps/chosen");
        const auto eval_rejected = sink.series("eval/logps/rejected");
        QCOMPARE(eval_chosen.size(), size_t(3));
        int k = 0;
        for (int64_t s : {4, 8, 12}) {
            double c = 0, r = 0;
            for (const auto& rec : by_step[s]) {
                c += rec.chosen / 8.0;
                r += rec.rejected / 8.0;
            }
            QVERIFY2(std::fabs(c - eval_chosen[size_t(k)]) < 1e-4, qPrintable(QString("%1 vs %2").arg(c).arg(eval_chosen[size_t(k)])));
            QVERIFY(std::fabs(r - eval_rejected[size_t(k)]) < 1e-4);
            ++k;
        }
        // The closing event sums it up.
        bool summary = false;
        for (const auto& e : sink.events)
            if (e.data.contains("pair_tracking")) {
                summary = true;
                QCOMPARE(e.data["pair_tracking"]["tracked"].get<int>(), 8);
                QCOMPARE(e.data["pair_tracking"]["last_step"].get<int>(), 12);
            }
        QVERIFY(summary);
    }

    void withoutAnEvalSplitTrainPairsAreTracked() {
        CollectSink sink;
        run(config(5, 0.0), {&sink});
        QCOMPARE(sink.pairs.size(), size_t(5));
        QCOMPARE(sink.pairs[0].split, std::string("train"));
        // Step 0 and every eval step (4, 8, 12), even without eval metrics to log; the train
        // pairs need a forward of their own.
        QCOMPARE(sink.records.size(), size_t(5 * 4));
        QCOMPARE(sink.records.back().step, int64_t(12));
        QVERIFY(sink.series("eval/loss").empty());
    }

    void storeKeepsTheTrackingAndCliShowsIt() {
        const std::string db = dir_.filePath("runs.db").toStdString();
        auto store = std::make_shared<ps::RunStore>(db);
        auto store_sink = std::make_shared<ps::StoreSink>(store);
        CollectSink sink;
        run(config(64), {store_sink.get(), &sink});
        QVERIFY2(store_sink->last_error().empty(), store_sink->last_error().c_str());
        const int64_t id = store_sink->run_id();
        const auto pairs = store->load_tracked_pairs(id);
        const auto records = store->load_pair_logps(id);
        QCOMPARE(pairs.size(), sink.pairs.size());
        QCOMPARE(records.size(), sink.records.size());
        for (size_t i = 0; i < pairs.size(); ++i) {
            QCOMPARE(pairs[i].prompt, sink.pairs[i].prompt);
            QCOMPARE(pairs[i].rejected, sink.pairs[i].rejected);
            QCOMPARE(pairs[i].ches, sink.pairs[i].ches);
            QCOMPARE(pairs[i].ln_ches, sink.pairs[i].ln_ches);
        }
        const auto report = ps::analyse_tracked_pairs(pairs, records);
        QCOMPARE(report.last_step, int64_t(12));

        QProcess p;
        p.start(qEnvironmentVariable("PREFSTUDIO_CLI"),
                {"diagnose", QString::number(id), "--db", QString::fromStdString(db), "--json"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const json d = json::parse(p.readAllStandardOutput().toStdString());
        const json& pt = d["pair_tracking"];
        QCOMPARE(pt["tracked"].get<size_t>(), pairs.size());
        QCOMPARE(pt["pairs"].size(), pairs.size());
        // Most falling first, with text and curve.
        const json& top = pt["pairs"][0];
        QCOMPARE(top["chosen_logp_change"].get<double>(), report.pairs[0].chosen_change);
        QCOMPARE(top["prompt"].get<std::string>(), report.pairs[0].pair.prompt);
        QCOMPARE(top["curve"]["step"].size(), size_t(4));
        for (size_t i = 1; i < pt["pairs"].size(); ++i)
            QVERIFY(pt["pairs"][i]["chosen_logp_change"].get<double>() >= pt["pairs"][i - 1]["chosen_logp_change"].get<double>());
        QVERIFY(pt["correlations"]["ches"]["drop"].contains("spearman"));

        p.start(qEnvironmentVariable("PREFSTUDIO_CLI"),
                {"diagnose", QString::number(id), "--db", QString::fromStdString(db), "--top", "2"});
        QVERIFY(p.waitForFinished(60000));
        const QString text = QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY2(text.contains("per-pair tracking: Chosen log-prob fell in"), qPrintable(text));
        QVERIFY(text.contains("CHES"));
        QCOMPARE(text.count("      prompt:   "), 2);
        QVERIFY(text.contains(QString::fromStdString(report.pairs[0].pair.prompt)));
    }

    void versionOneStoreIsMigrated() {
        const std::string path = dir_.filePath("v1.db").toStdString();
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        QCOMPARE(sqlite3_exec(db, kVersion1Store, nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);

        ps::RunStore store(path);  // migrates
        const auto runs = store.list_runs();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].name, std::string("old-run"));
        QCOMPARE(store.load_metric(1, "loss").values, std::vector<double>{0.25});
        QCOMPARE(store.load_events(1).size(), size_t(1));
        QVERIFY(store.load_tracked_pairs(1).empty());  // an old run has no tracking
        ps::TrackedPair p;
        p.index = 0;
        p.prompt = "1+1=";
        p.ches = std::nan("");
        store.append_tracked_pairs(1, {p});
        store.append_pair_logps(1, {{0, 0, -1.5, -2.5}, {0, 10, -1.0, -3.0}});
        QCOMPARE(store.load_tracked_pairs(1)[0].prompt, std::string("1+1="));
        QVERIFY(std::isnan(store.load_tracked_pairs(1)[0].ches));
        QCOMPARE(store.load_pair_logps(1)[1].rejected, -3.0);
        // Deleting the run deletes its tracking too.
        store.delete_run(1);
        QVERIFY(store.load_pair_logps(1).empty());

        sqlite3_open(path.c_str(), &db);
        sqlite3_stmt* s = nullptr;
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &s, nullptr);
        QCOMPARE(sqlite3_step(s), SQLITE_ROW);
        QCOMPARE(QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))), QString::number(ps::RunStore::kSchemaVersion));
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
};

QTEST_GUILESS_MAIN(TestEvidence)
#include "test_evidence.moc"
