// Importing and following runs trained elsewhere (core/interop/). Expected values come from
// tests/fixtures/interop/make_expected.py, which reads the same real files of ../shared/real-runs
// with Python's standard library only (TensorBoard parsed by hand); its output is committed as
// tests/fixtures/interop/expected.json. The follow tests write those real files again, piece by
// piece from another thread, cutting records and lines in half.
#include <QtTest>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/interop/import_run.h"
#include "core/interop/log_entry.h"
#include "core/interop/source_reader.h"
#include "core/store/run_record.h"
#include "core/store/run_store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string source_dir() { return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString(); }
std::string real_runs() { return source_dir() + "/../shared/real-runs"; }

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const nlohmann::json& expected() {
    static const nlohmann::json j = nlohmann::json::parse(slurp(source_dir() + "/tests/fixtures/interop/expected.json"));
    return j;
}

double fixture_value(const nlohmann::json& v) {
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        if (s == "NaN") return std::nan("");
        return s == "Infinity" ? INFINITY : -INFINITY;
    }
    return v.get<double>();
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Metric -> step -> value; a later value of a step replaces an earlier one (as the store does).
using Points = std::map<std::string, std::map<int64_t, double>>;

Points points_of(const std::vector<ps::StepMetrics>& steps) {
    Points p;
    for (const auto& m : steps)
        for (const auto& [name, v] : m.values) p[name][m.step] = v;
    return p;
}

Points points_of(const std::vector<ps::MetricSeries>& series) {
    Points p;
    for (const auto& s : series)
        for (size_t i = 0; i < s.steps.size(); ++i) p[s.name][s.steps[i]] = s.values[i];
    return p;
}

// Every metric of `want` (an expected.json entry) with its count and sampled values.
void check_points(const Points& got, const nlohmann::json& want, const std::string& what) {
    std::set<std::string> want_names, got_names;
    for (auto it = want["metrics"].begin(); it != want["metrics"].end(); ++it) want_names.insert(it.key());
    for (const auto& [name, pts] : got) got_names.insert(name);
    QVERIFY2(want_names == got_names, (what + ": metric names differ").c_str());
    for (auto it = want["metrics"].begin(); it != want["metrics"].end(); ++it) {
        const auto& pts = got.at(it.key());
        QVERIFY2(int64_t(pts.size()) == (*it)["count"].get<int64_t>(),
                 (what + " " + it.key() + ": " + std::to_string(pts.size()) + " points, expected " +
                  std::to_string((*it)["count"].get<int64_t>())).c_str());
        for (const auto& sample : (*it)["samples"]) {
            const int64_t step = sample[0].get<int64_t>();
            const double want_v = fixture_value(sample[1]);
            QVERIFY2(pts.count(step), (what + " " + it.key() + ": no point at step " + std::to_string(step)).c_str());
            QVERIFY2(same(pts.at(step), want_v),
                     (what + " " + it.key() + " step " + std::to_string(step) + ": " + std::to_string(pts.at(step)) +
                      " != " + std::to_string(want_v)).c_str());
        }
    }
}

// Byte offsets of the TFRecord frames of an event file (uint64 length, 4 + data + 4).
std::vector<size_t> record_offsets(const std::string& bytes) {
    std::vector<size_t> out;
    size_t at = 0;
    while (at + 12 <= bytes.size()) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[at + i]);
        out.push_back(at);
        at += 12 + n + 4;
    }
    return out;
}

void append(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string first_event_file(const std::string& folder) {
    for (const auto& e : fs::directory_iterator(real_runs() + "/" + folder + "/runs")) return e.path().string();
    return {};
}

}  // namespace

class TestImport : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    std::string tmp(const std::string& name) const { return dir_.path().toStdString() + "/" + name; }

    bool have_real_runs() const { return fs::is_directory(real_runs()); }

private slots:
    void realRunsRead_data() {
        QTest::addColumn<QString>("file");
        for (auto it = expected().begin(); it != expected().end(); ++it)
            QTest::newRow(it.key().c_str()) << QString::fromStdString(it.key());
    }

    // Every real file: the right number of points per metric and the exact values.
    void realRunsRead() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository (real training logs; see its README)");
        QFETCH(QString, file);
        const std::string rel = file.toStdString();
        const nlohmann::json& want = expected()[rel];
        const ps::SourceFile source = ps::source_file_for(real_runs() + "/" + rel);
        QCOMPARE(std::string(ps::to_string(source.format)), want["format"].get<std::string>());
        auto reader = ps::open_source_reader(source);
        const ps::ReadBatch batch = reader->read(false);
        QCOMPARE(batch.finished, want["finished"].get<bool>());
        QVERIFY(reader->warnings().empty());
        check_points(points_of(batch.steps), want, rel);
    }

    // Through the store: the same points come back, NaN as NaN, with the source recorded; the
    // second import of a source updates its run.
    void realRunsStored() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        ps::RunStore store(tmp("stored.db"));
        std::map<std::string, int64_t> ids;
        for (auto it = expected().begin(); it != expected().end(); ++it) {
            const ps::SourceFile source = ps::source_file_for(real_runs() + "/" + it.key());
            const ps::ImportResult r = ps::import_source(store, source);
            QVERIFY(r.run_id > 0);
            ids[it.key()] = r.run_id;
            check_points(points_of(store.load_metrics(r.run_id)), *it, it.key() + " (stored)");
            const ps::StoredRun run = *store.find_run(r.run_id);
            QCOMPARE(run.source_format, std::string(ps::to_string(source.format)));
            QCOMPARE(run.source_path, source.key_path);
            QCOMPARE(run.status, (*it)["finished"].get<bool>() ? ps::RunStatus::Completed : ps::RunStatus::Stopped);
            QCOMPARE(run.device, std::string("imported"));
        }
        const size_t n = store.list_runs().size();
        QCOMPARE(n, size_t(expected().size()));
        // Again, with another name: the same runs, updated.
        for (auto it = expected().begin(); it != expected().end(); ++it) {
            ps::ImportOptions o;
            o.name = "again";
            const ps::ImportResult r = ps::import_source(store, ps::source_file_for(real_runs() + "/" + it.key()), o);
            QCOMPARE(r.run_id, ids[it.key()]);
            check_points(points_of(store.load_metrics(r.run_id)), *it, it.key() + " (imported again)");
        }
        QCOMPARE(store.list_runs().size(), n);
        QCOMPARE(store.find_run(ids.begin()->second)->name, std::string("again"));

        // The NaN-collapsed run: NaN stays NaN (the store keeps it as NULL).
        const int64_t nan_run = ids["10-corruption-llama2-dpo-nan/trainer_state.json"];
        const ps::MetricSeries chosen = store.load_metric(nan_run, "rewards/chosen");
        QCOMPARE(chosen.values.size(), size_t(3));
        for (double v : chosen.values) QVERIFY(std::isnan(v));
        QCOMPARE(store.load_metric(nan_run, "loss").values.back(), 0.0);

        // Imported runs give the same run record as native ones.
        const ps::RunRecord rec = ps::load_run_record(store, ids["21-cs245-qwen25-05b-dpo-corrupt0.0/runs/events.out.tfevents.1764259879.cs245.435410.0"]);
        QVERIFY(rec.has_rewards());
        QCOMPARE(rec.stream.size(), size_t(877));  // 876 logs + the summary's epoch at the last step
        QCOMPARE(rec.run.algorithm, std::string("dpo"));
        QCOMPARE(rec.run.resolved_config["imported_from"]["format"].get<std::string>(), std::string("tensorboard"));
        QCOMPARE(rec.run.config["loss_type"].get<std::string>(), std::string("sigmoid"));
        QCOMPARE(rec.run.config["logging_steps"].get<int>(), 50);
        QVERIFY(rec.run.final_metrics.contains("train_runtime"));
    }

    // Without a store: the rows of the run record, the same points, and the record that
    // everything showing a run reads.
    void recordSource() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        for (auto it = expected().begin(); it != expected().end(); ++it) {
            const ps::RunRecordSource rows = ps::read_run_record_source(ps::source_file_for(real_runs() + "/" + it.key()));
            check_points(points_of(rows.series), *it, it.key() + " (record source)");
            for (const ps::MetricSeries& s : rows.series) QVERIFY(std::is_sorted(s.steps.begin(), s.steps.end()));
            QVERIFY(rows.run.imported());
            QVERIFY(rows.events.empty());  // a plain read runs no live diagnosis
        }
        const std::string rel = "21-cs245-qwen25-05b-dpo-corrupt0.0/runs/events.out.tfevents.1764259879.cs245.435410.0";
        const ps::RunRecord rec = ps::make_run_record(ps::read_run_record_source(ps::source_file_for(real_runs() + "/" + rel)));
        QVERIFY(rec.has_rewards());
        QCOMPARE(rec.run.algorithm, std::string("dpo"));
        QCOMPARE(rec.run.status, ps::RunStatus::Completed);
        QCOMPARE(rec.find_series("rewards/chosen")->steps.size(), size_t(876));
        QVERIFY(rec.diagnosed);
        QVERIFY(!rec.timeline_events().empty());
    }

    // What each real run is, as its README and its arguments say.
    void algorithms_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("algorithm");
        QTest::addColumn<QString>("loss_type");
        QTest::newRow("zephyr") << "01-zephyr-7b-beta-dpo/trainer_state.json" << "dpo" << "";
        QTest::newRow("wandb console") << "09-translation-gams9b-dpo-wandb/output.log" << "dpo" << "sigmoid";
        QTest::newRow("ipo history") << "11-smollm-gec-ipo/training_history.json" << "dpo" << "ipo";
        QTest::newRow("trl orpo") << "13-isaerft-gemma2-2b-orpo/trainer_state.json" << "orpo" << "";
        QTest::newRow("llamafactory orpo state") << "15-recsys-glm4-orpo-llamafactory/trainer_state.json" << "orpo" << "";
        QTest::newRow("llamafactory dpo stage") << "17-r1distill32b-dpo-stage-llamafactory/trainer_log.jsonl" << "dpo" << "";
        QTest::newRow("llamafactory pretraining") << "18-nsllm-qwen3-8b-pt-llamafactory/trainer_log.jsonl" << "" << "";
        QTest::newRow("tensorboard dpo") << "21-cs245-qwen25-05b-dpo-corrupt0.0/runs/events.out.tfevents.1764259879.cs245.435410.0" << "dpo" << "sigmoid";
    }

    void algorithms() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        QFETCH(QString, file);
        QFETCH(QString, algorithm);
        QFETCH(QString, loss_type);
        ps::RunStore store(":memory:");
        const ps::ImportResult r = ps::import_source(store, ps::source_file_for(real_runs() + "/" + file.toStdString()));
        QCOMPARE(QString::fromStdString(r.algorithm), algorithm);
        QCOMPARE(QString::fromStdString(r.loss_type), loss_type);
        QCOMPARE(QString::fromStdString(store.find_run(r.run_id)->algorithm), algorithm);
    }

    void algorithmFromArguments() {
        using ps::detect_algorithm;
        QCOMPARE(detect_algorithm({{"stage", "dpo"}, {"pref_loss", "simpo"}}, {}).algorithm, std::string("simpo"));
        QCOMPARE(detect_algorithm({{"stage", "dpo"}, {"pref_loss", "orpo"}}, {}).algorithm, std::string("orpo"));
        QCOMPARE(detect_algorithm({{"stage", "dpo"}}, {}).loss_type, std::string("sigmoid"));
        QCOMPARE(detect_algorithm({{"stage", "kto"}}, {}).algorithm, std::string("kto"));
        QCOMPARE(detect_algorithm({{"stage", "sft"}}, {"loss"}).algorithm, std::string());
        QCOMPARE(detect_algorithm({{"cpo_alpha", 1.0}, {"loss_type", "simpo"}}, {}).algorithm, std::string("simpo"));
        QCOMPARE(detect_algorithm({{"cpo_alpha", 1.0}, {"loss_type", "sigmoid"}}, {}).algorithm, std::string("cpo"));
        QCOMPARE(detect_algorithm({{"desirable_weight", 1.0}}, {}).algorithm, std::string("kto"));
        QCOMPARE(detect_algorithm({}, {"loss", "kl", "rewards/chosen"}).algorithm, std::string("kto"));
        QCOMPARE(detect_algorithm({{"loss_type", "ipo"}, {"beta", 0.1}}, {}).loss_type, std::string("ipo"));
    }

    // A directory: the sources of one output directory are one run; several are listed.
    void findSources() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        const auto all = ps::find_sources(real_runs());
        QCOMPARE(all.size(), size_t(14));  // 14 folders; folder 15 holds one run in two formats
        std::set<std::string> names;
        for (const auto& s : all) names.insert(s.name);
        QCOMPARE(names.size(), size_t(14));
        const auto orpo = ps::find_sources(real_runs() + "/15-recsys-glm4-orpo-llamafactory");
        QCOMPARE(orpo.size(), size_t(1));
        QCOMPARE(fs::path(orpo[0].path).filename().string(), std::string("trainer_state.json"));
        const auto tb = ps::find_sources(real_runs() + "/21-cs245-qwen25-05b-dpo-corrupt0.0");
        QCOMPARE(tb.size(), size_t(1));
        QCOMPARE(tb[0].format, ps::ImportFormat::TensorBoard);
        QCOMPARE(tb[0].name, std::string("21-cs245-qwen25-05b-dpo-corrupt0.0"));

        // An output directory written over time: checkpoints and a live event file. The event
        // file is the newest; checkpoint states stand for the output directory's state.
        const std::string out = tmp("outdir");
        fs::create_directories(out + "/checkpoint-500");
        fs::create_directories(out + "/runs/Dec03_10-00-00_host");
        fs::copy_file(real_runs() + "/05-reasoning-llama32-dpo-clean/trainer_state.json", out + "/checkpoint-500/trainer_state.json");
        const ps::SourceFile ck = ps::source_file_for(out + "/checkpoint-500/trainer_state.json");
        QCOMPARE(ck.key_path, out + "/trainer_state.json");
        QCOMPARE(ck.run_dir, out);
        fs::last_write_time(out + "/checkpoint-500/trainer_state.json", fs::file_time_type::clock::now() - std::chrono::hours(1));
        fs::copy_file(first_event_file("21-cs245-qwen25-05b-dpo-corrupt0.0"), out + "/runs/Dec03_10-00-00_host/events.out.tfevents.1.host.1.0");
        auto found = ps::find_sources(out);
        QCOMPARE(found.size(), size_t(1));
        QCOMPARE(found[0].format, ps::ImportFormat::TensorBoard);
        QCOMPARE(found[0].name, std::string("outdir"));
        // A second launch into the same output directory: two runs (the checkpoint's state goes
        // with the newest launch).
        fs::create_directories(out + "/runs/Dec04_10-00-00_host");
        fs::copy_file(first_event_file("22-cs245-qwen25-05b-dpo-corrupt1.0"), out + "/runs/Dec04_10-00-00_host/events.out.tfevents.2.host.1.0");
        found = ps::find_sources(out);
        QCOMPARE(found.size(), size_t(2));
        QVERIFY(found[0].key_path != found[1].key_path);

        QVERIFY_THROWS_EXCEPTION(ps::DataError, ps::find_sources(tmp("missing")));
        fs::create_directories(tmp("empty"));
        QVERIFY_THROWS_EXCEPTION(ps::DataError, ps::find_sources(tmp("empty")));
    }

    // Several eval sets stay apart; KTO's kl in an eval entry is an eval metric.
    void logEntries() {
        using ps::interop::map_log_entry;
        auto m = map_log_entry({{"eval_ultra_loss", 0.5}, {"eval_ultra_rewards/chosen", 0.25}, {"eval_ultra_runtime", 3.0},
                                {"epoch", 1.0}, {"step", 10}}, {"step"});
        QCOMPARE(m.kind, ps::interop::EntryKind::Eval);
        std::map<std::string, double> v(m.values.begin(), m.values.end());
        QCOMPARE(v.size(), size_t(3));
        QCOMPARE(v.at("eval/ultra/loss"), 0.5);
        QCOMPARE(v.at("eval/ultra/rewards/chosen"), 0.25);
        QCOMPARE(v.at("eval/ultra/runtime"), 3.0);
        m = map_log_entry({{"eval_loss", 0.5}, {"kl", 0.125}, {"epoch", 1.0}});
        v = std::map<std::string, double>(m.values.begin(), m.values.end());
        QCOMPARE(v.at("eval/kl"), 0.125);
        QCOMPARE(v.count("epoch"), size_t(0));
        m = map_log_entry({{"loss", "NaN"}, {"grad_norm", "Infinity"}, {"epoch", 0.5}});
        QCOMPARE(m.kind, ps::interop::EntryKind::Train);
        QVERIFY(std::isnan(m.values[2].second) || std::isnan(m.values[1].second) || std::isnan(m.values[0].second));
        QCOMPARE(map_log_entry({{"epoch", 0.5}, {"step", 3}}, {"step"}).values.size(), size_t(0));
        QCOMPARE(map_log_entry({{"train_runtime", 10.0}, {"train_loss", 0.3}}).kind, ps::interop::EntryKind::Summary);

        size_t end = 0;
        const std::string line = "noise {'loss': 0.69, 'rewards/chosen': -1e-3, 'x': nan, 'ok': True, 'n': None, 't': (1, 2)} tail";
        const nlohmann::json j = ps::interop::parse_python_literal(line, line.find('{'), end);
        QVERIFY(j.is_object());
        QCOMPARE(j["loss"].get<double>(), 0.69);
        QCOMPARE(j["rewards/chosen"].get<double>(), -1e-3);
        QVERIFY(std::isnan(j["x"].get<double>()));
        QCOMPARE(line.substr(end), std::string(" tail"));
        QVERIFY(ps::interop::parse_python_literal("{'loss': 0.6", 0, end).is_discarded());

        QCOMPARE(ps::interop::parse_elapsed("0:01:23"), 83.0);
        QCOMPARE(ps::interop::parse_elapsed("3 days, 17:51:32"), 3 * 86400.0 + 17 * 3600 + 51 * 60 + 32);
        QCOMPARE(ps::interop::parse_elapsed("1 day, 0:00:01"), 86401.0);
        QVERIFY(std::isnan(ps::interop::parse_elapsed("soon")));
    }

    // A stored run from before imports (schema 1 and 2) opens, gets the source columns, keeps
    // its runs, and a native run never matches an import.
    void olderStoreOpens() {
        const std::string path = tmp("old.db");
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        const char* v2 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', algorithm TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL DEFAULT '', device TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'created', created_at TEXT NOT NULL DEFAULT '', duration_s REAL NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
  config_json TEXT NOT NULL DEFAULT 'null', resolved_config_json TEXT NOT NULL DEFAULT 'null',
  final_metrics_json TEXT NOT NULL DEFAULT '{}');
CREATE TABLE metric_keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE metrics(run_id INTEGER NOT NULL, key_id INTEGER NOT NULL, step INTEGER NOT NULL, wall_time REAL,
  value REAL, PRIMARY KEY(run_id, key_id, step)) WITHOUT ROWID;
CREATE TABLE events(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, step INTEGER NOT NULL DEFAULT 0,
  wall_time REAL, kind TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '', data_json TEXT NOT NULL DEFAULT '{}');
CREATE TABLE tracked_pairs(run_id INTEGER NOT NULL, pair_index INTEGER NOT NULL, split TEXT NOT NULL DEFAULT '',
  split_index INTEGER NOT NULL DEFAULT 0, prompt TEXT NOT NULL DEFAULT '', chosen TEXT NOT NULL DEFAULT '',
  rejected TEXT NOT NULL DEFAULT '', chosen_tokens INTEGER NOT NULL DEFAULT 0, rejected_tokens INTEGER NOT NULL DEFAULT 0,
  ches REAL, ln_ches REAL, PRIMARY KEY(run_id, pair_index)) WITHOUT ROWID;
CREATE TABLE pair_logps(run_id INTEGER NOT NULL, pair_index INTEGER NOT NULL, step INTEGER NOT NULL,
  chosen_logp REAL, rejected_logp REAL, PRIMARY KEY(run_id, pair_index, step)) WITHOUT ROWID;
INSERT INTO meta VALUES('schema_version', '2');
INSERT INTO runs(id, name, algorithm, status) VALUES(1, 'native', 'dpo', 'completed');
INSERT INTO metric_keys VALUES(1, 'loss');
INSERT INTO metrics VALUES(1, 1, 5, 0.5, 0.25);
)sql";
        QCOMPARE(sqlite3_exec(db, v2, nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
        ps::RunStore store(path);
        const ps::StoredRun old = *store.find_run(1);
        QCOMPARE(old.name, std::string("native"));
        QVERIFY(!old.imported());
        QCOMPARE(store.load_metric(1, "loss").values, std::vector<double>{0.25});
        QVERIFY(!store.find_run_by_source("").has_value());
        ps::RunInfo info;
        info.name = "imported";
        info.source_format = "trainer_state";
        info.source_path = "/x/trainer_state.json";
        const int64_t a = store.create_run(info);
        QVERIFY(a != 1);
        QCOMPARE(store.create_run(info), a);
        QCOMPARE(store.find_run_by_source("/x/trainer_state.json")->id, a);
        ps::RunInfo native;
        native.name = "native again";
        QVERIFY(store.create_run(native) != a);
    }

    // A corrupt record is an error naming the file and the record's byte offset, whether read
    // once or followed; an impossible length likewise.
    void corruptRecord() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        const std::string bytes = slurp(first_event_file("23-adaptive-simpo-argilla-mix"));
        const auto offsets = record_offsets(bytes);
        QVERIFY(offsets.size() > 100);
        const size_t bad = offsets[40];
        std::string broken = bytes;
        broken[bad + 12 + 3] ^= 0x20;  // a byte of the record's data
        const std::string path = tmp("broken/events.out.tfevents.1.host.1.0");
        fs::create_directories(tmp("broken"));
        std::ofstream(path, std::ios::binary).write(broken.data(), std::streamsize(broken.size()));
        auto reader = ps::open_source_reader(ps::source_file_for(path));
        try {
            reader->read(false);
            QFAIL("a record with a bad CRC was read");
        } catch (const ps::DataError& e) {
            const std::string what = e.what();
            QVERIFY2(what.find(path) != std::string::npos, what.c_str());
            QVERIFY2(what.find("byte " + std::to_string(bad)) != std::string::npos, what.c_str());
            QVERIFY2(what.find("CRC") != std::string::npos, what.c_str());
        }
        // The length field of record 50 rewritten: its CRC no longer matches.
        std::string long_one = bytes;
        long_one[offsets[50] + 5] = char(0x7f);
        std::ofstream(path, std::ios::binary | std::ios::trunc).write(long_one.data(), std::streamsize(long_one.size()));
        reader = ps::open_source_reader(ps::source_file_for(path));
        // Following, the records before it are handed out first; the next read is the error.
        const ps::ReadBatch before = reader->read(true);
        QVERIFY(!before.steps.empty());
        try {
            reader->read(true);
            QFAIL("a record with a damaged length was read");
        } catch (const ps::DataError& e) {
            QVERIFY2(std::string(e.what()).find("byte " + std::to_string(offsets[50])) != std::string::npos, e.what());
        }
        // A torn tail read once is left out with a warning, never misread.
        const std::string torn = bytes.substr(0, offsets[60] + 7);
        std::ofstream(path, std::ios::binary | std::ios::trunc).write(torn.data(), std::streamsize(torn.size()));
        reader = ps::open_source_reader(ps::source_file_for(path));
        reader->read(false);
        QCOMPARE(reader->warnings().size(), size_t(1));
        QVERIFY(reader->warnings()[0].find("byte " + std::to_string(offsets[60])) != std::string::npos);
        // A complete JSON line that is not JSON: an error with its line.
        const std::string jsonl = tmp("badlog/trainer_log.jsonl");
        fs::create_directories(tmp("badlog"));
        std::ofstream(jsonl) << "{\"current_steps\": 1, \"total_steps\": 9, \"loss\": 0.5}\n{\"current_steps\": 2, \"lo\n{}\n";
        try {
            ps::open_source_reader(ps::source_file_for(jsonl))->read(true);
            QFAIL("a broken line was read");
        } catch (const ps::DataError& e) {
            QVERIFY2(std::string(e.what()).find("trainer_log.jsonl:2") != std::string::npos, e.what());
        }
    }

    // Following: a writer thread writes a real file again in pieces (records and lines cut in
    // half, pauses between them); the follower stores every point, exactly, and ends at the
    // run's final summary with the status Completed.
    void follow_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("piece");  // bytes per write
        QTest::newRow("tensorboard") << "23-adaptive-simpo-argilla-mix/runs/events.out.tfevents.1776428737.autodl-container-6vqecnq5p1-9659858e.6478.0" << 9973;
        QTest::newRow("llamafactory") << "15-recsys-glm4-orpo-llamafactory/trainer_log.jsonl" << 701;
        QTest::newRow("console") << "09-translation-gams9b-dpo-wandb/output.log" << 21011;
    }

    void follow() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        QFETCH(QString, file);
        QFETCH(int, piece);
        const std::string rel = file.toStdString();
        const std::string bytes = slurp(real_runs() + "/" + rel);
        const std::string out_dir = tmp("follow-" + std::string(QTest::currentDataTag()));
        fs::create_directories(out_dir + "/runs/x");
        const std::string name = fs::path(rel).filename().string();
        const std::string path = name.rfind("events", 0) == 0 ? out_dir + "/runs/x/" + name : out_dir + "/" + name;
        const fs::path side = fs::path(real_runs() + "/" + rel).parent_path() / "config.yaml";
        if (fs::exists(side)) fs::copy_file(side, out_dir + "/config.yaml");
        std::ofstream(path, std::ios::binary).flush();  // the run has opened its log

        std::atomic<bool> stop{false};
        std::thread writer([&] {
            for (size_t at = 0; at < bytes.size(); at += size_t(piece)) {
                append(path, bytes.substr(at, size_t(piece)));
                std::this_thread::sleep_for(std::chrono::milliseconds(15));
            }
        });
        ps::RunStore store(tmp("follow.db"));
        ps::ImportOptions o;
        o.poll_seconds = 0.01;
        ps::ImportResult r;
        try {
            r = ps::follow_source(store, ps::source_file_for(path), stop, o);
        } catch (...) {
            writer.join();
            throw;
        }
        writer.join();
        QVERIFY(r.finished);
        QCOMPARE(store.find_run(r.run_id)->status, ps::RunStatus::Completed);
        check_points(points_of(store.load_metrics(r.run_id)), expected()[rel], rel + " (followed)");
        // Followed or imported at once, the live diagnosis gives the same regime events; without
        // it a plain import stores none, and the record derives the same from its diagnosis.
        ps::RunStore once(":memory:");
        ps::ImportOptions with_detector;
        with_detector.live_diagnosis = true;
        const ps::ImportResult whole = ps::import_source(once, ps::source_file_for(real_runs() + "/" + rel), with_detector);
        const auto followed_events = store.load_events(r.run_id);
        const auto whole_events = once.load_events(whole.run_id);
        QCOMPARE(followed_events.size(), whole_events.size());
        for (size_t i = 0; i < whole_events.size(); ++i) {
            QCOMPARE(followed_events[i].step, whole_events[i].step);
            QCOMPARE(followed_events[i].data["to"], whole_events[i].data["to"]);
        }
        const ps::ImportResult plain = ps::import_source(once, ps::source_file_for(real_runs() + "/" + rel));
        QCOMPARE(plain.run_id, whole.run_id);
        QVERIFY(once.load_events(plain.run_id).empty());
        // The record's timeline is the retrospective segmentation (core/diagnose/phase_segmentation),
        // which by design differs from the live diagnosis's lagging events (#16): it starts at the
        // first logged point and its changes come in step order; a run without rewards (LLaMA-
        // Factory's trainer_log.jsonl) has neither.
        const auto derived = ps::load_run_record(once, plain.run_id).timeline_events();
        QCOMPARE(derived.empty(), whole_events.empty());
        for (size_t i = 1; i < derived.size(); ++i) QVERIFY(derived[i].step > derived[i - 1].step);
    }

    // Latency: each step appended to a followed event file is in the store within a second;
    // a run stopped before its summary ends as Stopped with what it had.
    void followLatency() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        const std::string bytes = slurp(first_event_file("22-cs245-qwen25-05b-dpo-corrupt1.0"));
        const auto offsets = record_offsets(bytes);
        // Records: three header records (file_version, args, model_config), then 12 scalars per logged step.
        fs::create_directories(tmp("latency/runs/x"));
        const std::string path = tmp("latency/runs/x/events.out.tfevents.1.host.1.0");
        const size_t head = 3;  // file_version, args, model_config
        append(path, bytes.substr(0, offsets[head]));
        ps::RunStore store(tmp("latency.db"));
        std::atomic<bool> stop{false};
        ps::ImportResult result;
        std::thread follower([&] {
            ps::ImportOptions o;
            o.poll_seconds = 0.05;
            result = ps::follow_source(store, ps::source_file_for(path), stop, o);
        });
        ps::RunStore reader(tmp("latency.db"));
        double worst = 0.0;
        const int steps = 8;
        for (int k = 0; k < steps; ++k) {
            const size_t from = offsets[head + size_t(k) * 12], to = offsets[head + size_t(k + 1) * 12];
            // Half a step, a pause, then the rest: the torn part waits, nothing is misread. The
            // latency is until the step's last scalar (epoch) is stored.
            const size_t mid = from + (to - from) / 2 + 3;
            append(path, bytes.substr(from, mid - from));
            std::this_thread::sleep_for(std::chrono::milliseconds(120));
            append(path, bytes.substr(mid, to - mid));
            const auto written = Clock::now();
            const int64_t want_step = 50 * (k + 1);
            bool seen = false;
            while (!seen && Clock::now() - written < std::chrono::seconds(3)) {
                for (const auto& run : reader.list_runs())
                    for (int64_t s : reader.load_metric(run.id, "epoch").steps) seen = seen || s == want_step;
                if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            worst = std::max(worst, std::chrono::duration<double>(Clock::now() - written).count());
            QVERIFY2(seen, ("step " + std::to_string(want_step) + " never reached the store").c_str());
        }
        stop = true;
        follower.join();
        qInfo("worst follow latency: %.3f s", worst);
        QVERIFY2(worst < 1.0, std::to_string(worst).c_str());
        QCOMPARE(result.status, ps::RunStatus::Stopped);
        const auto metrics = store.load_metrics(result.run_id);
        const Points p = points_of(metrics);
        QCOMPARE(p.at("rewards/chosen").size(), size_t(steps));
        for (const auto& [name, pts] : p) QCOMPARE(pts.size(), size_t(steps));
    }

    // A corrupt record while following: the follow ends with the error, and the run is stored
    // as failed with what came before it.
    void followCorrupt() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        const std::string bytes = slurp(first_event_file("21-cs245-qwen25-05b-dpo-corrupt0.0"));
        const auto offsets = record_offsets(bytes);
        fs::create_directories(tmp("fcorrupt/runs/x"));
        const std::string path = tmp("fcorrupt/runs/x/events.out.tfevents.1.host.1.0");
        std::string broken = bytes.substr(0, offsets[200]);
        broken[offsets[150] + 12 + 2] ^= 0x01;
        std::ofstream(path, std::ios::binary).flush();
        std::thread writer([&] {
            for (size_t at = 0; at < broken.size(); at += 4099) {
                append(path, broken.substr(at, 4099));
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
        ps::RunStore store(tmp("fcorrupt.db"));
        std::atomic<bool> stop{false};
        ps::ImportOptions o;
        o.poll_seconds = 0.01;
        bool thrown = false;
        try {
            ps::follow_source(store, ps::source_file_for(path), stop, o);
        } catch (const ps::DataError& e) {
            thrown = true;
            QVERIFY2(std::string(e.what()).find("byte " + std::to_string(offsets[150])) != std::string::npos, e.what());
        }
        writer.join();
        QVERIFY(thrown);
        const auto runs = store.list_runs();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].status, ps::RunStatus::Failed);
        QVERIFY(runs[0].error.find("byte " + std::to_string(offsets[150])) != std::string::npos);
    }

    // trainer_state.json is rewritten whole at each checkpoint, not atomically: a half-written
    // file is waited for, and the entries already read are not read again.
    void followTrainerState() {
        if (!have_real_runs()) QSKIP("../shared/real-runs is not beside the repository");
        const std::string rel = "02-tinyllama-1.1b-chat-dpo/trainer_state.json";
        nlohmann::json full = nlohmann::json::parse(slurp(real_runs() + "/" + rel));
        const nlohmann::json history = full["log_history"];
        fs::create_directories(tmp("state/checkpoint-100"));
        fs::create_directories(tmp("state/checkpoint-200"));
        auto state_with = [&](size_t n) {
            nlohmann::json s = full;
            s["log_history"] = nlohmann::json(std::vector<nlohmann::json>(history.begin(), history.begin() + long(n)));
            return s.dump(2);
        };
        const std::string first = state_with(100);
        std::ofstream(tmp("state/checkpoint-100/trainer_state.json")) << first;
        const auto source = ps::source_file_for(tmp("state/checkpoint-100/trainer_state.json"));
        auto reader = ps::open_source_reader(source);
        ps::ReadBatch b = reader->read(true);
        std::vector<ps::StepMetrics> all = b.steps;
        QVERIFY(!b.finished);
        // The next checkpoint, caught half written, then complete.
        const std::string second = state_with(history.size());
        std::ofstream(tmp("state/checkpoint-200/trainer_state.json")) << second.substr(0, second.size() / 2);
        fs::last_write_time(tmp("state/checkpoint-100/trainer_state.json"), fs::file_time_type::clock::now() - std::chrono::minutes(5));
        b = reader->read(true);
        QCOMPARE(b.steps.size(), size_t(0));
        std::ofstream(tmp("state/checkpoint-200/trainer_state.json"), std::ios::trunc) << second;
        b = reader->read(true);
        QVERIFY(b.finished);
        all.insert(all.end(), b.steps.begin(), b.steps.end());
        check_points(points_of(all), expected()[rel], rel + " (checkpoints)");
    }
};

QTEST_GUILESS_MAIN(TestImport)
#include "test_import.moc"
