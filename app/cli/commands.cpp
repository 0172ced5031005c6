#include "commands.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "common/errors.h"
#include "config/run_config.h"
#include "data/make_data.h"
#include "diagnose/diagnosis.h"
#include "diagnose/pair_tracking.h"
#include "diagnose/remedies.h"
#include "engine/run_thread.h"
#include "progress_printer.h"
#include "store/run_store.h"

namespace ps::cli {
namespace {

std::atomic<RunControl*> g_control{nullptr};

extern "C" void on_interrupt(int) {
    // Only an atomic store: the engine sees it at the next step and ends the run as stopped.
    if (RunControl* c = g_control.load()) c->request_stop();
}

std::string db_or_default(const std::string& db) { return db.empty() ? RunStore::default_path() : db; }

std::string fmt(double v, const char* f = "%.4f") {
    if (!std::isfinite(v)) return "-";
    char b[32];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

double metric(const nlohmann::json& m, const char* key) {
    auto it = m.find(key);
    return it != m.end() && it->is_number() ? it->get<double>() : NAN;
}

}  // namespace

int run_command(const std::string& config_path, const std::vector<std::string>& overrides,
                const std::string& db_path) {
    RunConfig config = load_run_config(config_path, overrides);
    nlohmann::json raw = read_config_json(config_path, overrides);
    auto store = std::make_shared<RunStore>(db_or_default(db_path));
    auto store_sink = std::make_shared<StoreSink>(store);
    ProgressPrinter printer(stderr);
    std::vector<RunSink*> sinks{store_sink.get(), &printer};

    RunControl control;
    g_control = &control;
    auto previous = std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    RunStatus status = run_training(config, raw, sinks, control);
    std::signal(SIGINT, previous);
    g_control = nullptr;

    auto run = store->find_run(store_sink->run_id());
    if (!store_sink->last_error().empty())
        std::fprintf(stderr, "warning: the run store reported: %s\n", store_sink->last_error().c_str());
    if (run) {
        const auto& m = run->final_metrics;
        std::printf("run %lld '%s' %s in %s; stored in %s\n", static_cast<long long>(run->id), run->name.c_str(),
                    to_string(status), format_duration(run->duration_s).c_str(), store->path().c_str());
        if (status != RunStatus::Failed)
            std::printf("  rewards/chosen %s  rewards/rejected %s  rewards/margins %s  eval/rewards/accuracies %s\n",
                        fmt(metric(m, "rewards/chosen")).c_str(), fmt(metric(m, "rewards/rejected")).c_str(),
                        fmt(metric(m, "rewards/margins")).c_str(), fmt(metric(m, "eval/rewards/accuracies"), "%.3f").c_str());
        else
            std::fprintf(stderr, "prefstudio-cli: run failed: %s\n", run->error.c_str());
    }
    return status == RunStatus::Completed ? 0 : 1;
}

int eval_command(const std::string& config_path, const std::vector<std::string>& overrides, bool json) {
    RunConfig config = load_run_config(config_path, overrides);
    nlohmann::json metrics = evaluate_initial_model(config);
    if (json) {
        std::cout << metrics.dump(2) << "\n";
        return 0;
    }
    std::printf("%s on %s (%lld pairs, %s split), model in its initial state:\n", config.objective.algorithm.c_str(),
                config.data.train.c_str(), metrics["pairs"].get<long long>(), metrics["split"].get<std::string>().c_str());
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
        if (it->is_number_float()) std::printf("  %-22s %s\n", it.key().c_str(), fmt(it->get<double>(), "%.6g").c_str());
    return 0;
}

int runs_command(const std::string& db_path, bool json) {
    RunStore store(db_or_default(db_path));
    auto runs = store.list_runs();
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : runs)
            out.push_back({{"id", r.id}, {"name", r.name}, {"algorithm", r.algorithm}, {"model", r.model},
                           {"dataset", r.dataset}, {"device", r.device}, {"status", to_string(r.status)},
                           {"created_at", r.created_at}, {"duration_s", r.duration_s}, {"error", r.error},
                           {"final_metrics", r.final_metrics}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    if (runs.empty()) {
        std::printf("No runs in %s yet. Start one with `prefstudio-cli run experiments/demo-dpo.json`.\n",
                    store.path().c_str());
        return 0;
    }
    std::printf("%-4s %-20s %-6s %-10s %-20s %8s %9s %9s %8s %8s\n", "id", "name", "algo", "status", "created (UTC)",
                "duration", "chosen", "rejected", "margin", "eval acc");
    for (const auto& r : runs) {
        const auto& m = r.final_metrics;
        std::string created = r.created_at.substr(0, 19);
        for (auto& ch : created) if (ch == 'T') ch = ' ';
        std::printf("%-4lld %-20.20s %-6s %-10s %-20s %8s %9s %9s %8s %8s\n", static_cast<long long>(r.id),
                    r.name.c_str(), r.algorithm.c_str(), to_string(r.status), created.c_str(),
                    format_duration(r.duration_s).c_str(), fmt(metric(m, "rewards/chosen")).c_str(),
                    fmt(metric(m, "rewards/rejected")).c_str(), fmt(metric(m, "rewards/margins")).c_str(),
                    fmt(metric(m, "eval/rewards/accuracies"), "%.3f").c_str());
    }
    return 0;
}

int export_command(const std::string& db_path, const std::string& run_text, const std::string& format,
                   const std::string& out_path) {
    RunStore store(db_or_default(db_path));
    StoredRun run = store.resolve_run(run_text);
    auto series = store.load_metrics(run.id);
    std::ofstream file;
    std::ostream* out = &std::cout;
    if (!out_path.empty() && out_path != "-") {
        file.open(out_path);
        if (!file) throw Error("cannot write '" + out_path + "'");
        out = &file;
    }
    if (format == "json") {
        nlohmann::json j;
        j["run"] = {{"id", run.id}, {"name", run.name}, {"algorithm", run.algorithm}, {"model", run.model},
                    {"dataset", run.dataset}, {"status", to_string(run.status)}, {"created_at", run.created_at},
                    {"duration_s", run.duration_s}, {"config", run.resolved_config},
                    {"final_metrics", run.final_metrics}};
        nlohmann::json metrics = nlohmann::json::object();
        for (const auto& s : series) {
            nlohmann::json values = nlohmann::json::array();
            for (double v : s.values) values.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
            metrics[s.name] = {{"step", s.steps}, {"wall_time", s.wall_times}, {"value", values}};
        }
        j["metrics"] = metrics;
        nlohmann::json events = nlohmann::json::array();
        for (const auto& e : store.load_events(run.id))
            events.push_back({{"step", e.step}, {"wall_time", e.wall_time}, {"kind", e.kind}, {"message", e.message},
                              {"data", e.data}});
        j["events"] = events;
        *out << j.dump(2) << "\n";
        return 0;
    }
    // CSV in long form (one row per metric value) keeps SFT, train and eval steps apart without
    // empty cells; pandas: df.pivot(index="step", columns="metric", values="value").
    *out << "metric,step,wall_time,value\n";
    char buf[128];
    for (const auto& s : series)
        for (size_t i = 0; i < s.values.size(); ++i) {
            std::snprintf(buf, sizeof buf, "%lld,%.6f,", static_cast<long long>(s.steps[i]), s.wall_times[i]);
            *out << s.name << "," << buf;
            if (std::isfinite(s.values[i])) {
                std::snprintf(buf, sizeof buf, "%.17g", s.values[i]);
                *out << buf;
            }
            *out << "\n";
        }
    return 0;
}

int diagnose_command(const std::string& db_path, const std::string& run_text, bool json, int top) {
    RunStore store(db_or_default(db_path));
    StoredRun run = store.resolve_run(run_text);
    // Rebuild the preference-training stream (SFT and eval series count steps of their own).
    std::map<int64_t, StepMetrics> by_step;
    for (const auto& s : store.load_metrics(run.id)) {
        if (s.name.rfind("sft/", 0) == 0 || s.name.rfind("eval/", 0) == 0) continue;
        for (size_t i = 0; i < s.steps.size(); ++i) {
            auto& m = by_step[s.steps[i]];
            m.step = s.steps[i];
            m.wall_time = s.wall_times[i];
            m.set(s.name, s.values[i]);
        }
    }
    std::vector<StepMetrics> stream;
    stream.reserve(by_step.size());
    for (auto& [step, m] : by_step) stream.push_back(std::move(m));
    nlohmann::json d = diagnose_series(stream);
    d["run"] = {{"id", run.id}, {"name", run.name}, {"algorithm", run.algorithm}, {"status", to_string(run.status)}};
    // What to try: the remedies of the last problem regime (the final one when it is a problem).
    nlohmann::json remedies = nlohmann::json::array();
    std::string remedy_regime;
    for (const auto& r : d["regimes"]) {
        const Regime regime = regime_from_string(r["regime"].get<std::string>());
        if (is_problem(regime)) remedy_regime = r["regime"].get<std::string>();
    }
    if (!remedy_regime.empty())
        for (const Remedy& r : remedies_for(regime_from_string(remedy_regime), run.algorithm))
            remedies.push_back({{"id", r.id}, {"title", r.title}, {"change", r.change}, {"why", r.why},
                                {"one_click", r.one_click}});
    d["remedies"] = {{"regime", remedy_regime.empty() ? nlohmann::json(nullptr) : nlohmann::json(remedy_regime)},
                     {"remedies", remedies}};
    // Per-pair evidence: the tracked pairs whose chosen answer lost the most likelihood, and how
    // their CHES similarity relates to that loss. Every tracked pair in JSON, most falling first.
    const PairTrackingReport pairs = analyse_tracked_pairs(store.load_tracked_pairs(run.id), store.load_pair_logps(run.id));
    d["pair_tracking"] = pairs.to_json();
    // The off-policy check made before training, as the run logged it (null when it has none:
    // an objective without a reference model, or a run stopped before it).
    d["offpolicy"] = nullptr;
    for (const RunEvent& e : store.load_events(run.id))
        if (e.data.is_object() && e.data.contains("offpolicy") && e.data["offpolicy"].is_object()) {
            d["offpolicy"] = e.data["offpolicy"];
            d["offpolicy"]["message"] = e.message;
        }
    if (json) {
        std::cout << d.dump(2) << "\n";
        return 0;
    }
    std::printf("run %lld '%s' (%s, %s): %s\n", static_cast<long long>(run.id), run.name.c_str(), run.algorithm.c_str(),
                to_string(run.status), d.value("verdict", std::string()).c_str());
    for (const auto& r : d["regimes"]) {
        std::printf("  steps %5lld-%-5lld %-18s", r["start_step"].get<long long>(), r["end_step"].get<long long>(),
                    r["regime"].get<std::string>().c_str());
        const auto& ev = r["evidence"];
        auto slope = [&ev](const char* side) {
            return ev.contains(side) && ev[side].contains("slope") && ev[side]["slope"].is_number()
                       ? ev[side]["slope"].get<double>() : NAN;
        };
        if (std::isfinite(slope("chosen")))
            std::printf(" chosen slope %s/step  rejected slope %s/step", fmt(slope("chosen"), "%+.2e").c_str(),
                        fmt(slope("rejected"), "%+.2e").c_str());
        std::printf("\n");
    }
    if (d.contains("margin_decomposition") && d["margin_decomposition"].is_object()) {
        const auto& md = d["margin_decomposition"];
        auto num = [&md](const char* k) { return md.contains(k) && md[k].is_number() ? md[k].get<double>() : NAN; };
        std::printf("  final margin %s: chosen contributes %s, rejected contributes %s (positive = moved the right way)\n",
                    fmt(num("margin"), "%.3f").c_str(), fmt(num("from_chosen"), "%+.3f").c_str(),
                    fmt(num("from_rejected"), "%+.3f").c_str());
    }
    if (d["offpolicy"].is_object())
        std::printf("%s%s\n", d["offpolicy"].value("warn", false) ? "warning: " : "",
                    d["offpolicy"].value("message", std::string()).c_str());
    if (!remedies.empty()) {
        std::printf("what to try (%s):\n", remedy_regime.c_str());
        for (const auto& r : remedies)
            std::printf("  - %s: %s%s\n", r["title"].get<std::string>().c_str(), r["change"].get<std::string>().c_str(),
                        r["one_click"].get<bool>() ? "" : " [advice only]");
    }
    if (pairs.empty()) {
        std::printf("per-pair tracking: none stored for this run (train.track_pairs = 0, or a run from before tracking)\n");
        return 0;
    }
    std::printf("per-pair tracking: %s\n", pairs.summary.c_str());
    // One line of text per answer, cut to fit a terminal.
    auto clip = [](std::string t, size_t width) {
        for (auto& ch : t)
            if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
        if (t.size() > width) t = t.substr(0, width - 3) + "...";
        return t;
    };
    const size_t shown = std::min(pairs.pairs.size(), static_cast<size_t>(std::max(0, top)));
    if (shown > 0)
        std::printf("  pairs whose chosen log-prob fell most (change from step %lld to %lld, nats; CHES before training):\n",
                    static_cast<long long>(pairs.first_step), static_cast<long long>(pairs.last_step));
    for (size_t i = 0; i < shown; ++i) {
        const PairTrajectory& t = pairs.pairs[i];
        std::printf("  #%lld  chosen %s (%s/token)  rejected %s  CHES %s  LN-CHES %s\n",
                    static_cast<long long>(t.pair.index), fmt(t.chosen_change, "%+.3f").c_str(),
                    fmt(t.chosen_change_per_token, "%+.3f").c_str(), fmt(t.rejected_change, "%+.3f").c_str(),
                    fmt(t.pair.ches, "%.4g").c_str(), fmt(t.pair.ln_ches, "%.4g").c_str());
        std::printf("      prompt:   %s\n      chosen:   %s\n      rejected: %s\n", clip(t.pair.prompt, 100).c_str(),
                    clip(t.pair.chosen, 100).c_str(), clip(t.pair.rejected, 100).c_str());
    }
    return 0;
}

int make_data_command(const std::string& kind, const std::string& out_path, int count, int max_operand,
                      long long seed) {
    if (kind != "arith")
        throw Error("make-data: unknown dataset kind '" + kind + "' (available: arith)");
    ArithDataOptions o;
    o.count = count;
    o.max_operand = max_operand;
    o.seed = static_cast<uint64_t>(seed);
    auto pairs = make_arith_pairs(o);
    write_preference_jsonl(pairs, out_path);
    std::printf("wrote %zu pairs to %s\n", pairs.size(), out_path.c_str());
    return 0;
}

}  // namespace ps::cli
