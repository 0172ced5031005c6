// Logs written by the real libraries (issue #22, 4): TRL 1.16's DPO, KTO, ORPO and CPO trainers
// ran 20 steps each on a tiny random model (tests/fixtures/interop/trl_logs/make_trl_logs.py,
// versions in the README there) and left trainer_state.json, a TensorBoard event file and the
// console log. Each is imported here: every metric and step of the trainer's own log_history
// (read from trainer_state.json with plain JSON below) arrives in the stored run, from all three
// files, and the algorithm is detected right. The event file holds float32 values and the console
// log 4 significant digits (transformers 5 prints them as strings), so those two compare within
// what their format keeps.
#include <QtTest>

#include <QTemporaryDir>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/interop/import_run.h"
#include "core/interop/source_reader.h"
#include "core/store/run_store.h"

namespace {

using Points = std::map<std::string, std::map<int64_t, double>>;

std::string dir_of(const std::string& algo) {
    return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString() + "/tests/fixtures/interop/trl_logs/" + algo;
}

const std::set<std::string> kSummary = {"train_runtime", "train_loss", "train_samples_per_second",
                                        "train_steps_per_second", "total_flos"};

// The Trainer's log_history as step -> metric -> value (train entries; the summary apart).
Points expected_points(const std::string& algo, nlohmann::json& summary) {
    std::ifstream f(dir_of(algo) + "/trainer_state.json");
    const nlohmann::json state = nlohmann::json::parse(f);
    Points p;
    for (const auto& e : state.at("log_history")) {
        const int64_t step = e.at("step").get<int64_t>();
        bool is_summary = false;
        for (const auto& [k, v] : e.items()) is_summary = is_summary || kSummary.count(k);
        for (const auto& [k, v] : e.items()) {
            if (k == "step" || !v.is_number()) continue;
            if (is_summary) {
                if (k != "epoch") summary[k] = v;
                continue;
            }
            p[k][step] = v.get<double>();
        }
    }
    return p;
}

}  // namespace

class TestTrlLogs : public QObject {
    Q_OBJECT

private slots:
    void importsEveryMetricAndStep_data() {
        QTest::addColumn<QString>("algo");
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("format");
        for (const char* a : {"dpo", "kto", "orpo", "cpo"}) {
            QTest::newRow((std::string(a) + " trainer_state").c_str()) << a << "trainer_state.json" << "trainer_state";
            QTest::newRow((std::string(a) + " tensorboard").c_str())
                << a << "runs/tiny/events.out.tfevents.0.tiny" << "tensorboard";
            QTest::newRow((std::string(a) + " console").c_str()) << a << "console.log" << "console_log";
        }
    }

    void importsEveryMetricAndStep() {
        QFETCH(QString, algo);
        QFETCH(QString, file);
        QFETCH(QString, format);
        const std::string a = algo.toStdString();
        nlohmann::json want_summary = nlohmann::json::object();
        const Points want = expected_points(a, want_summary);
        QVERIFY(want.size() >= 8);
        QCOMPARE(want.at("loss").size(), size_t(20));

        const ps::SourceFile source = ps::source_file_for(dir_of(a) + "/" + file.toStdString());
        QCOMPARE(QString(ps::to_string(source.format)), format);
        QTemporaryDir tmp;
        ps::RunStore store(tmp.filePath("runs.db").toStdString());
        const ps::ImportResult r = ps::import_source(store, source);
        QVERIFY(r.run_id > 0);
        // CPO's logs (no config beside them) look like DPO's without a reference: say what we see.
        QVERIFY2(r.algorithm == a, qPrintable(QString::fromStdString("detected '" + r.algorithm + "' for " + a)));

        Points got;
        for (const ps::MetricSeries& s : store.load_metrics(r.run_id))
            for (size_t i = 0; i < s.steps.size(); ++i) got[s.name][s.steps[i]] = s.values[i];
        std::set<std::string> want_names, got_names;
        for (const auto& [n, v] : want) want_names.insert(n);
        for (const auto& [n, v] : got) got_names.insert(n);
        // The event file's tags are the Trainer's train/<key>; the importer strips the prefix.
        QVERIFY2(want_names == got_names, qPrintable(QString::fromStdString(
                                              "metric names differ: " + nlohmann::json(want_names).dump() + " vs " +
                                              nlohmann::json(got_names).dump())));
        for (const auto& [name, steps] : want) {
            const auto& g = got.at(name);
            QVERIFY2(g.size() == steps.size(), qPrintable(QString::fromStdString(name + ": step count")));
            for (const auto& [step, v] : steps) {
                QVERIFY2(g.count(step), qPrintable(QString::fromStdString(name + ": no step " + std::to_string(step))));
                const double x = g.at(step);
                // trainer_state: exact; event file: float32; console: 4 significant digits.
                const double tol = format == "trainer_state" ? 0.0
                                   : format == "tensorboard" ? 6e-8 * std::fabs(v)
                                                             : 5e-4 * std::fabs(v) + 1e-12;
                QVERIFY2(std::fabs(x - v) <= tol,
                         qPrintable(QString::fromStdString(name + " step " + std::to_string(step) + ": ") +
                                    QString::number(x, 'g', 17) + " vs " + QString::number(v, 'g', 17)));
            }
        }
        if (format == "trainer_state") {
            QVERIFY(r.finished);
            QCOMPARE(r.summary.at("train_loss").get<double>(), want_summary.at("train_loss").get<double>());
        }
    }
};

QTEST_GUILESS_MAIN(TestTrlLogs)
#include "test_trl_logs.moc"
