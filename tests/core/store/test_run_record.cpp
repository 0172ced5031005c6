// Qt Test for the run record (core/store/run_record.h): runs written into a temporary store by
// hand (a native run with sft/, eval/ and train metrics, events and tracked pairs; a run shaped
// like an import from TRL with only loss and rewards/* every 10 steps; runs with only a loss),
// read back with load_run_record, every field checked against values worked out by hand; and
// `prefstudio-cli diagnose` printing that same record.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/common/metric_name.h"
#include "core/diagnose/diagnosis.h"
#include "core/store/run_record.h"

using nlohmann::json;
using ps::MetricPhase;

namespace {

// One record per step for `steps`, each with the named values f(step).
struct Series {
    std::string name;
    std::vector<int64_t> steps;
    double (*value)(int64_t);
};

void write(ps::RunStore& store, int64_t run, const std::vector<Series>& series) {
    std::vector<ps::StepMetrics> batch;
    for (const Series& s : series)
        for (int64_t step : s.steps) {
            ps::StepMetrics m;
            m.step = step;
            m.wall_time = 0.5 * double(step);
            m.set(s.name, s.value(step));
            batch.push_back(m);
        }
    store.append_metrics(run, batch);
}

std::vector<int64_t> range(int64_t first, int64_t last, int64_t every = 1) {
    std::vector<int64_t> out;
    for (int64_t s = first; s <= last; s += every) out.push_back(s);
    return out;
}

ps::RunEvent runEvent(int64_t step, const char* kind, const char* message, json data) {
    ps::RunEvent e;
    e.step = step;
    e.kind = kind;
    e.message = message;
    e.data = std::move(data);
    return e;
}

std::vector<std::string> ids(const std::vector<ps::Remedy>& remedies) {
    std::vector<std::string> out;
    for (const auto& r : remedies) out.push_back(r.id);
    return out;
}

std::vector<std::string> names(const std::vector<ps::MetricSeries>& series) {
    std::vector<std::string> out;
    for (const auto& s : series) out.push_back(s.name);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

class TestRunRecord : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string db_;
    int64_t native_ = 0, imported_ = 0, lossOnly_ = 0, shortLossOnly_ = 0;

    // `prefstudio-cli diagnose ARGS --db DB`: exit code and standard output.
    std::pair<int, QString> diagnose(const QStringList& args) {
        QProcess p;
        p.start(qEnvironmentVariable("PREFSTUDIO_CLI"), QStringList{"diagnose"} + args + QStringList{"--db", QString::fromStdString(db_)});
        if (!p.waitForFinished(60000)) return {-1, QString()};
        return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput())};
    }

private slots:
    void initTestCase() {
        db_ = dir_.filePath("runs.db").toStdString();
        ps::RunStore store(db_);

        // Native KTO run: 3 SFT steps, 60 training steps with both rewards falling straight
        // down (chosen -0.01/step, rejected -0.03/step), learning_rate logged every 10 steps,
        // eval at steps 30 and 60, its events and two tracked pairs.
        ps::RunInfo info;
        info.name = "native";
        info.algorithm = "kto";
        info.config = {{"train", {{"steps", 60}}}, {"sft", {{"steps", 3}}}};
        native_ = store.create_run(info);
        write(store, native_,
              {{"sft/loss", range(1, 3), [](int64_t s) { return 2.0 - 0.1 * double(s); }},
               {"sft/grad_norm", range(1, 3), [](int64_t) { return 1.0; }},
               {"rewards/chosen", range(1, 60), [](int64_t s) { return -0.01 * double(s); }},
               {"rewards/rejected", range(1, 60), [](int64_t s) { return -0.03 * double(s); }},
               {"loss", range(1, 60), [](int64_t s) { return 0.7 - 0.001 * double(s); }},
               {"learning_rate", range(10, 60, 10), [](int64_t) { return 5e-4; }},
               {"eval/rewards/chosen", {30, 60}, [](int64_t s) { return -0.01 * double(s); }},
               {"eval/loss", {30, 60}, [](int64_t) { return 0.6; }}});
        store.append_events(native_,
                            {runEvent(0, "phase", "Preference training starts.", json::object()),
                             runEvent(0, "warning", "Half the chosen answers are far less likely.",
                                   json{{"offpolicy", {{"pairs", 4}, {"share_far_less_likely", 0.5}, {"warn", true}}}}),
                             runEvent(39, "regime", "Both rewards are falling.",
                                   json{{"from", "warming_up"}, {"to", "both_falling"}, {"since_step", 30}, {"declared_step", 39}}),
                             runEvent(45, "regime", "no target regime: not a regime change", json{{"from", "both_falling"}}),
                             runEvent(60, "info", "Saved the trained model.", json{{"save_dir", "/nowhere/native-model"}})});
        ps::TrackedPair a, b;
        a.index = 0;
        a.prompt = "1+1=";
        a.chosen = "2";
        a.rejected = "3";
        a.chosen_tokens = 2;
        a.rejected_tokens = 2;
        a.ches = 1.0;
        b = a;
        b.index = 1;
        b.ches = 2.0;
        store.append_tracked_pairs(native_, {a, b});
        // Pair 0's chosen falls 2 nats, pair 1's rises 0.5.
        store.append_pair_logps(native_, {{0, 0, -5.0, -6.0}, {0, 60, -7.0, -9.0}, {1, 0, -3.0, -4.0}, {1, 60, -2.5, -5.0}});
        store.finish_run(native_, ps::RunStatus::Completed, {{"loss", 0.64}}, "", 12.0);

        // Imported from TRL: loss and rewards/* every 10 steps (logging_steps = 10), no
        // algorithm, no config, no events, no pairs. Both rewards rise (0.002 and 0.001 a step).
        info = ps::RunInfo{};
        info.name = "imported";
        imported_ = store.create_run(info);
        write(store, imported_,
              {{"loss", range(10, 400, 10), [](int64_t) { return 0.69; }},
               {"rewards/chosen", range(10, 400, 10), [](int64_t s) { return 0.002 * double(s); }},
               {"rewards/rejected", range(10, 400, 10), [](int64_t s) { return 0.001 * double(s); }},
               {"rewards/margins", range(10, 400, 10), [](int64_t s) { return 0.001 * double(s); }},
               {"rewards/accuracies", range(10, 400, 10), [](int64_t) { return 1.0; }}});

        // Only a loss: 50 steps, and 5 steps.
        info.name = "loss-only";
        lossOnly_ = store.create_run(info);
        write(store, lossOnly_, {{"loss", range(1, 50), [](int64_t s) { return 1.0 / double(s); }}});
        info.name = "short-loss-only";
        shortLossOnly_ = store.create_run(info);
        write(store, shortLossOnly_, {{"loss", range(1, 5), [](int64_t) { return 0.5; }}});
    }

    void metricNamesSplitIntoPhaseAndKey() {
        const auto check = [](const char* name, MetricPhase phase, const char* key) {
            const ps::MetricName m = ps::split_metric_name(name);
            QCOMPARE(int(m.phase), int(phase));
            QCOMPARE(std::string(m.key), std::string(key));
        };
        check("sft/loss", MetricPhase::Sft, "loss");
        check("eval/rewards/chosen", MetricPhase::Eval, "rewards/chosen");
        check("rewards/chosen", MetricPhase::Train, "rewards/chosen");
        check("loss", MetricPhase::Train, "loss");
        check("eval/", MetricPhase::Eval, "");
        // Only the two prefixes with their slash are phases.
        check("evaluation/loss", MetricPhase::Train, "evaluation/loss");
        check("sft", MetricPhase::Train, "sft");
        check("eval_loss", MetricPhase::Train, "eval_loss");
        QCOMPARE(std::string(ps::to_string(MetricPhase::Sft)), std::string("sft"));
        QCOMPARE(std::string(ps::to_string(MetricPhase::Eval)), std::string("eval"));
    }

    void nativeRunRecord() {
        ps::RunStore store(db_);
        const ps::RunRecord r = ps::load_run_record(store, native_);
        QCOMPARE(r.run.id, native_);
        QCOMPARE(r.run.name, std::string("native"));
        QCOMPARE(r.run.algorithm, std::string("kto"));
        QCOMPARE(int(r.run.status), int(ps::RunStatus::Completed));

        QCOMPARE(names(r.sft_series), (std::vector<std::string>{"sft/grad_norm", "sft/loss"}));
        QCOMPARE(names(r.train_series),
                 (std::vector<std::string>{"learning_rate", "loss", "rewards/chosen", "rewards/rejected"}));
        QCOMPARE(names(r.eval_series), (std::vector<std::string>{"eval/loss", "eval/rewards/chosen"}));
        QVERIFY(r.find_series("eval/loss") && r.find_series("eval/loss")->steps == (std::vector<int64_t>{30, 60}));
        QVERIFY(r.find_series("sft/loss") && r.find_series("sft/loss")->values.size() == 3);
        QVERIFY(!r.find_series("eval/rewards/rejected"));
        QVERIFY(r.has_rewards());
        QCOMPARE(r.last_step(MetricPhase::Sft), int64_t(3));
        QCOMPARE(r.last_step(MetricPhase::Train), int64_t(60));
        QCOMPARE(r.last_step(MetricPhase::Eval), int64_t(60));

        // The stream: steps 1..60 of the train phase only; learning_rate joins every 10th.
        QCOMPARE(r.stream.size(), size_t(60));
        for (size_t i = 0; i < r.stream.size(); ++i) {
            const ps::StepMetrics& m = r.stream[i];
            QCOMPARE(m.step, int64_t(i + 1));
            QCOMPARE(m.values.size(), size_t(m.step % 10 == 0 ? 4 : 3));
            QCOMPARE(m.get("rewards/chosen"), -0.01 * double(m.step));
            QCOMPARE(m.get("rewards/rejected"), -0.03 * double(m.step));
            QCOMPARE(m.wall_time, 0.5 * double(m.step));
            QVERIFY(std::isnan(m.get("eval/loss")) && std::isnan(m.get("sft/loss")));
        }

        // Events: all five kept; the one regime change with a target is the regime event.
        QCOMPARE(r.events.size(), size_t(5));
        QCOMPARE(r.regime_events.size(), size_t(1));
        QCOMPARE(r.regime_events[0].step, int64_t(39));
        const auto change = ps::parse_regime_event(r.regime_events[0]);
        QVERIFY(change);
        QCOMPARE(change->from, std::string("warming_up"));
        QCOMPARE(change->to, std::string("both_falling"));
        QCOMPARE(change->since_step, int64_t(30));
        QCOMPARE(change->declared_step, int64_t(39));
        QCOMPARE(change->message, std::string("Both rewards are falling."));
        // Diagnosed: the timeline draws the retrospective phase (the stored live event came 9
        // steps late), one change from warming up to both falling at the first step.
        const std::vector<ps::RunEvent> timeline = r.timeline_events();
        QCOMPARE(timeline.size(), size_t(1));
        QCOMPARE(ps::parse_regime_event(timeline[0])->to, std::string("both_falling"));
        QCOMPARE(ps::parse_regime_event(timeline[0])->since_step, int64_t(1));

        // Diagnosis: straight lines, no noise, both falling from the first logged point (issue 16:
        // the old detector waited for a 30-record window and called steps 1-29 warming up).
        // Chosen ends at -0.60 and rejected at -1.80 (exact lines), below the reference.
        const json& d = r.diagnosis;
        QCOMPARE(d["training_steps"].get<int64_t>(), int64_t(60));
        QCOMPARE(d["last_step"].get<int64_t>(), int64_t(60));
        QCOMPARE(d["final_regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(d["regimes"].size(), size_t(1));
        QCOMPARE(d["regimes"][0]["regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(d["regimes"][0]["start_step"].get<int64_t>(), int64_t(1));
        QCOMPARE(d["regimes"][0]["declared_step"].get<int64_t>(), int64_t(1));
        QCOMPARE(d["regimes"][0]["end_step"].get<int64_t>(), int64_t(60));
        QCOMPARE(d["problem_steps"], (json{{"both_falling", 60}}));
        QCOMPARE(d["dominant_problem"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(d["severity"].get<std::string>(), std::string("problem"));
        QVERIFY(std::fabs(d["levels"]["chosen"]["end"].get<double>() + 0.60) < 1e-9);
        QVERIFY(std::fabs(d["levels"]["rejected"]["end"].get<double>() + 1.80) < 1e-9);
        QVERIFY(d["levels"]["chosen"]["fell"].get<bool>());
        QVERIFY(r.dominant_problem && *r.dominant_problem == ps::Regime::BothFalling);
        // The pair table is part of the verdict: 1 of the 2 tracked chosen answers lost likelihood.
        QVERIFY2(d["verdict"].get<std::string>().find("lost likelihood in 1 of 2") != std::string::npos,
                 d["verdict"].get<std::string>().c_str());

        // KTO's remedies: for its unpaired data, neither "switch to KTO" nor on-policy rejected
        // answers (they need pairs).
        QCOMPARE(ids(r.remedies), ids(ps::remedies_for(ps::Regime::BothFalling, "kto", ps::DataKind::Unpaired)));
        const std::vector<std::string> remedyIds = ids(r.remedies);
        QVERIFY(!remedyIds.empty());
        QVERIFY(std::find(remedyIds.begin(), remedyIds.end(), "switch_to_kto") == remedyIds.end());
        QVERIFY(std::find(remedyIds.begin(), remedyIds.end(), "on_policy_rejected") == remedyIds.end());

        QCOMPARE(r.offpolicy["pairs"].get<int>(), 4);
        QCOMPARE(r.offpolicy["share_far_less_likely"].get<double>(), 0.5);
        QCOMPARE(r.offpolicy["message"].get<std::string>(), std::string("Half the chosen answers are far less likely."));
        QVERIFY(r.saved_model_dir && *r.saved_model_dir == "/nowhere/native-model");

        // Pairs: pair 0 lost 2 nats of chosen (first), pair 1 gained 0.5.
        QCOMPARE(r.pairs.pairs.size(), size_t(2));
        QCOMPARE(r.pairs.pairs[0].pair.index, int64_t(0));
        QCOMPARE(r.pairs.pairs[0].chosen_change, -2.0);
        QCOMPARE(r.pairs.pairs[1].chosen_change, 0.5);
        QCOMPARE(r.pairs.chosen_fell, size_t(1));
        QCOMPARE(r.pairs.first_step, int64_t(0));
        QCOMPARE(r.pairs.last_step, int64_t(60));

        // The CLI's JSON shape.
        const json j = r.to_json();
        QCOMPARE(j["run"], (json{{"id", native_}, {"name", "native"}, {"algorithm", "kto"}, {"status", "completed"}}));
        QCOMPARE(j["remedies"]["regime"].get<std::string>(), std::string("both_falling"));
        QCOMPARE(j["remedies"]["remedies"].size(), r.remedies.size());
        for (const auto& rm : j["remedies"]["remedies"])
            for (const char* key : {"id", "title", "change", "why", "one_click", "makes_data"}) QVERIFY(rm.contains(key));
        QCOMPARE(j["pair_tracking"]["tracked"].get<size_t>(), size_t(2));
        QCOMPARE(j["offpolicy"], r.offpolicy);
        for (const char* key : {"regimes", "final_regime", "training_steps", "last_step", "margin_decomposition",
                                "problem_steps", "dominant_problem", "verdict", "options"})
            QCOMPARE(j[key], d[key]);
    }

    void importedRunHasOnlyScalars() {
        ps::RunStore store(db_);
        const ps::RunRecord r = ps::load_run_record(store, imported_);
        QCOMPARE(r.run.algorithm, std::string());
        QVERIFY(r.sft_series.empty() && r.eval_series.empty());
        QCOMPARE(r.train_series.size(), size_t(5));
        QVERIFY(r.has_rewards());
        QCOMPARE(r.stream.size(), size_t(40));
        QCOMPARE(r.stream.front().step, int64_t(10));
        QCOMPARE(r.stream.back().step, int64_t(400));
        QCOMPARE(r.stream.back().values.size(), size_t(5));
        QVERIFY(r.events.empty() && r.regime_events.empty());
        QVERIFY(r.offpolicy.is_null());
        QVERIFY(!r.saved_model_dir);
        QVERIFY(r.pairs.empty());

        // 40 records, 10 steps apart, both rising on straight lines: both rising from the first
        // logged point (step 10) to the last (issue 16: the old detector called steps 10-290
        // warming up and declared the rise at step 390).
        const json& d = r.diagnosis;
        QCOMPARE(d["training_steps"].get<int64_t>(), int64_t(40));
        QCOMPARE(d["regimes"].size(), size_t(1));
        QCOMPARE(d["regimes"][0]["regime"].get<std::string>(), std::string("both_rising"));
        QCOMPARE(d["regimes"][0]["start_step"].get<int64_t>(), int64_t(10));
        QCOMPARE(d["regimes"][0]["declared_step"].get<int64_t>(), int64_t(10));
        QCOMPARE(d["problem_steps"], (json{{"both_rising", 391}}));  // steps 10..400
        QCOMPARE(d["severity"].get<std::string>(), std::string("watch"));
        QVERIFY(r.dominant_problem && *r.dominant_problem == ps::Regime::BothRising);
        // No algorithm, no data kind: every remedy of the regime is offered.
        QCOMPARE(ids(r.remedies), ids(ps::remedies_for(ps::Regime::BothRising, "")));

        // Stored without regime events: the timeline draws the diagnosis' change.
        const std::vector<ps::RunEvent> timeline = r.timeline_events();
        QCOMPARE(timeline.size(), size_t(1));
        const auto change = ps::parse_regime_event(timeline[0]);
        QVERIFY(change);
        QCOMPARE(change->from, std::string("warming_up"));
        QCOMPARE(change->to, std::string("both_rising"));
        QCOMPARE(change->since_step, int64_t(10));
        QCOMPARE(change->declared_step, int64_t(10));
        QCOMPARE(change->message, d["regimes"][0]["explanation"].get<std::string>());
    }

    void lossOnlyRunSaysItHasNoRewards() {
        ps::RunStore store(db_);
        for (const int64_t id : {lossOnly_, shortLossOnly_}) {
            const ps::RunRecord r = ps::load_run_record(store, id);
            const size_t steps = id == lossOnly_ ? 50 : 5;
            QCOMPARE(r.train_series.size(), size_t(1));
            QVERIFY(!r.has_rewards());
            QCOMPARE(r.stream.size(), steps);
            QCOMPARE(r.stream.back().values.size(), size_t(1));
            QCOMPARE(r.diagnosis["training_steps"].get<size_t>(), steps);
            QCOMPARE(r.diagnosis["final_regime"].get<std::string>(), std::string("warming_up"));
            QVERIFY(r.diagnosis["dominant_problem"].is_null());
            QVERIFY(r.diagnosis["margin_decomposition"]["margin"].is_null());
            // Said whatever the number of steps.
            QVERIFY(r.diagnosis["verdict"].get<std::string>().find("logs no chosen and rejected rewards") != std::string::npos);
            QVERIFY(!r.dominant_problem);
            QVERIFY(r.remedies.empty());
            QVERIFY(r.timeline_events().empty());
            const json j = r.to_json();
            QVERIFY(j["remedies"]["regime"].is_null());
            QVERIFY(j["remedies"]["remedies"].empty());
            QVERIFY(j["offpolicy"].is_null());
            QCOMPARE(j["pair_tracking"]["tracked"].get<size_t>(), size_t(0));
        }
    }

    void recordWithoutStore() {
        // What an importer does: rows in, record out, series in any order.
        ps::RunRecordSource source;
        source.run.name = "rows";
        source.series.push_back({"rewards/chosen", {3, 1, 2}, {0.0, 0.0, 0.0}, {0.3, 0.1, 0.2}});
        source.series.push_back({"eval/loss", {2}, {0.0}, {0.5}});
        source.series.push_back({"loss", {4}, {0.0}, {0.4}});
        const ps::RunRecord r = ps::make_run_record(std::move(source));
        QCOMPARE(r.stream.size(), size_t(4));
        QCOMPARE(r.stream[0].get("rewards/chosen"), 0.1);
        QCOMPARE(r.stream[2].get("rewards/chosen"), 0.3);
        QCOMPARE(r.stream[3].get("loss"), 0.4);
        QCOMPARE(r.eval_series.size(), size_t(1));
        QVERIFY(!r.has_rewards());  // no rewards/rejected
    }

    void diagnosisCanComeLater() {
        // The studio reads a record without its diagnosis and diagnoses it off the GUI thread.
        ps::RunStore store(db_);
        ps::RunRecordOptions options;
        options.diagnose = false;
        ps::RunRecord r = ps::load_run_record(store, native_, options);
        QVERIFY(!r.diagnosed);
        QVERIFY(r.diagnosis.empty() && !r.dominant_problem && r.remedies.empty() && r.stream.empty());
        QCOMPARE(r.regime_events.size(), size_t(1));
        QCOMPARE(r.pairs.pairs.size(), size_t(2));
        ps::diagnose_run_record(r);
        const ps::RunRecord full = ps::load_run_record(store, native_);
        QVERIFY(r.diagnosed && full.diagnosed);
        QCOMPARE(r.stream.size(), size_t(60));
        QCOMPARE(r.diagnosis.dump(), full.diagnosis.dump());
        QCOMPARE(ids(r.remedies), ids(full.remedies));
        QCOMPARE(r.to_json().dump(), full.to_json().dump());
    }

    void unknownRunIsAStoreError() {
        ps::RunStore store(db_);
        QVERIFY_THROWS_EXCEPTION(ps::StoreError, ps::load_run_record(store, 999));
    }

    void cliPrintsTheRecord() {
        QVERIFY2(QFileInfo::exists(qEnvironmentVariable("PREFSTUDIO_CLI")), "PREFSTUDIO_CLI must point at the built prefstudio-cli");
        ps::RunStore store(db_);
        for (const int64_t id : {native_, imported_, lossOnly_}) {
            const auto [code, out] = diagnose({QString::number(id), "--json"});
            QCOMPARE(code, 0);
            // Through text both ways: NaN is null in either.
            QCOMPARE(json::parse(out.toStdString()), json::parse(ps::load_run_record(store, id).to_json().dump()));
        }
        auto [code, out] = diagnose({"native"});
        QCOMPARE(code, 0);
        QVERIFY(out.startsWith("run " + QString::number(native_) + " 'native' (kto, completed): Problem: both rewards are falling"));
        QVERIFY(out.contains("what to try (both_falling):"));
        QVERIFY(!out.contains("Switch to KTO", Qt::CaseInsensitive));
        QVERIFY(out.contains("warning: Half the chosen answers are far less likely."));
        QVERIFY(out.contains("#0  chosen -2.000"));
        std::tie(code, out) = diagnose({"loss-only"});
        QCOMPARE(code, 0);
        QVERIFY(out.contains("logs no chosen and rejected rewards"));
        QVERIFY(!out.contains("what to try"));
        QVERIFY(out.contains("per-pair tracking: none stored"));
    }
};

QTEST_GUILESS_MAIN(TestRunRecord)
#include "test_run_record.moc"
