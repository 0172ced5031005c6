#include "commands.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>
#include <unistd.h>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/config/run_config.h"
#include "core/data/dataset_summary.h"
#include "core/data/data_pipeline.h"
#include "core/data/make_data.h"
#include "core/engine/onpolicy_data.h"
#include "core/text/byte_tokenizer.h"
#include "core/text/hf_tokenizer.h"
#include "core/text/chat_template.h"
#include "core/diagnose/diagnosis.h"
#include "core/diagnose/pair_tracking.h"
#include "core/diagnose/remedies.h"
#include "core/engine/run_thread.h"
#include "core/engine/runtime_info.h"
#include "core/engine/save_dir.h"
#include "core/model/memory_estimate.h"
#include "core/model/source_tokenizer.h"
#include "core/model/text_generator.h"
#include "progress_printer.h"
#include "core/store/run_record.h"
#include "core/store/resume_run.h"
#include "core/store/run_store.h"

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

// "Run 3 'x' was interrupted at step 37: its process 1234 on host h is gone." (user text escaped)
std::string interrupted_note(const StoredRun& r) {
    std::string note = "Run " + std::to_string(r.id) + " '" + printable(r.name) + "' was interrupted at step " +
                       std::to_string(std::max<int64_t>(r.last_step, 0)) + ": ";
    if (!r.owner.recorded()) return note + "it was left running by a PrefStudio that recorded no owner.";
    return note + "its process " + std::to_string(r.owner.pid) + " on " + printable(r.owner.host) +
           " is gone (killed, or its machine stopped).";
}

double metric(const nlohmann::json& m, const char* key) {
    auto it = m.find(key);
    return it != m.end() && it->is_number() ? it->get<double>() : NAN;
}

}  // namespace

namespace {

// A run (new or resumed) on this thread, Ctrl-C stopping it, then its summary from the store.
int train_and_report(const std::shared_ptr<RunStore>& store, const std::shared_ptr<StoreSink>& store_sink,
                     const std::function<RunStatus(const std::vector<RunSink*>&, RunControl&)>& train) {
    ProgressPrinter printer(stderr);
    // The run's own last word, also when the store could not keep it.
    struct FinishCapture : RunSink {
        std::string error;
        void on_metrics(const StepMetrics&) override {}
        void on_finish(RunStatus, const nlohmann::json&, const std::string& e) override { error = e; }
    } finish;
    std::vector<RunSink*> sinks{store_sink.get(), &printer, &finish};

    RunControl control;
    g_control = &control;
    auto previous = std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    RunStatus status = train(sinks, control);
    std::signal(SIGINT, previous);
    g_control = nullptr;

    std::optional<StoredRun> run;
    try {
        if (store_sink->run_id() > 0) run = store->find_run(store_sink->run_id());
    } catch (const StoreError&) {
        // reported below through the sink's error
    }
    if (run) {
        const auto& m = run->final_metrics;
        std::printf("run %lld '%s' %s in %s; stored in %s\n", static_cast<long long>(run->id), printable(run->name).c_str(),
                    to_string(status), format_duration(run->duration_s).c_str(), store->path().c_str());
        if (status == RunStatus::Completed)
            std::printf("  rewards/chosen %s  rewards/rejected %s  rewards/margins %s  eval/rewards/accuracies %s\n",
                        fmt(metric(m, "rewards/chosen")).c_str(), fmt(metric(m, "rewards/rejected")).c_str(),
                        fmt(metric(m, "rewards/margins")).c_str(), fmt(metric(m, "eval/rewards/accuracies"), "%.3f").c_str());
    }
    if (status == RunStatus::Failed)
        std::fprintf(stderr, "prefstudio-cli: run failed: %s\n", printable(finish.error).c_str());
    if (!store_sink->all_stored()) {
        // Nothing is reported completed that the store does not hold (said once when the store's
        // failure is what stopped the run).
        if (status == RunStatus::Failed && finish.error.find(store_sink->last_error()) != std::string::npos) return 1;
        std::fprintf(stderr, "prefstudio-cli: the run store '%s' does not hold the whole run: %s\n",
                     printable(store->path()).c_str(), printable(store_sink->last_error()).c_str());
        return 1;
    }
    if (!store_sink->last_error().empty())
        std::fprintf(stderr, "warning: the run store failed for a moment (everything was stored at a retry): %s\n",
                     printable(store_sink->last_error()).c_str());
    return status == RunStatus::Completed ? 0 : 1;
}

}  // namespace

int run_command(const std::string& config_path, const std::vector<std::string>& overrides,
                const std::string& db_path) {
    RunConfig config = load_run_config(config_path, overrides);
    nlohmann::json raw = read_config_json(config_path, overrides);
    auto store = std::make_shared<RunStore>(db_or_default(db_path));
    auto store_sink = std::make_shared<StoreSink>(store);
    return train_and_report(store, store_sink, [&](const std::vector<RunSink*>& sinks, RunControl& control) {
        return run_training(config, raw, sinks, control);
    });
}

int resume_command(const std::string& run, const std::string& db_path) {
    auto store = std::make_shared<RunStore>(db_or_default(db_path));
    const ResumePlan plan = plan_resume(*store, run);
    auto store_sink = std::make_shared<StoreSink>(store);
    prepare_store_sink(*store_sink, plan);
    std::fprintf(stderr, "Resuming run %lld '%s' from its checkpoint of step %lld (%s).\n",
                 static_cast<long long>(plan.run.id), printable(plan.run.name).c_str(),
                 static_cast<long long>(plan.checkpoint.step), plan.resume.checkpoint.c_str());
    return train_and_report(store, store_sink, [&](const std::vector<RunSink*>& sinks, RunControl& control) {
        return resume_training(plan.checkpoint.config, plan.run.config, plan.resume, sinks, control);
    });
}

int dry_run_command(const std::string& config_path, const std::vector<std::string>& overrides, bool json) {
    // Values are validated, the data are not read: an estimate needs only the shapes.
    const RunConfig config = RunConfig::from_json(read_config_json(config_path, overrides));
    const std::string device = resolve_device_name(config.train.device);
    check_dtype_for_device(config.model.dtype, device);  // "Fits" only for what can run
    check_save_dir(config);
    const MemoryEstimate e = estimate_training_memory(config);
    const int64_t available = device_available_bytes(device);
    if (json) {
        nlohmann::json out = {{"name", config.name}, {"model", config.model.source}, {"device", device},
                              {"device_available_bytes", available > 0 ? nlohmann::json(available) : nlohmann::json(nullptr)},
                              {"memory", e.to_json()}};
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::printf("Dry run of '%s': nothing is trained or stored.\n", printable(config.name).c_str());
    std::printf("  model      %s (%s, %lld parameters, %lld trainable%s)\n", config.model.source.c_str(), e.dtype.c_str(),
                static_cast<long long>(e.parameters), static_cast<long long>(e.trainable_parameters),
                e.lora ? ", LoRA" : "");
    std::printf("  device     %s (train.device %s)\n", device.c_str(), config.train.device.c_str());
    std::printf("  step       batch %d pairs x max_length %d = %lld tokens (chosen + rejected)%s\n", config.train.batch_size,
                config.data.max_length, static_cast<long long>(e.tokens_per_step),
                e.gradient_checkpointing ? ", gradient checkpointing" : "");
    std::printf("Memory estimate:\n%s", format_memory_table(e).c_str());
    if (available > 0) {
        const bool fits = e.total_bytes <= available;
        std::printf("%s: %s available on %s.%s\n", fits ? "Fits" : "Does not fit", format_memory_bytes(available).c_str(),
                    device.c_str(),
                    fits ? "" : " Lower train.batch_size or data.max_length, or enable model.lora or train.gradient_checkpointing.");
    }
    return 0;
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
    const std::string path = db_or_default(db_path);
    std::error_code missing;
    if (!std::filesystem::exists(path, missing)) {
        if (json) std::cout << "[]\n";
        else std::printf("No runs in %s yet. Start one with `prefstudio-cli run experiments/demo-dpo.json`.\n", path.c_str());
        return 0;
    }
    RunStore store(path, RunStore::Access::ReadOnly);
    auto runs = store.list_runs();
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : runs)
            out.push_back({{"id", r.id}, {"name", r.name}, {"algorithm", r.algorithm}, {"model", r.model},
                           {"dataset", r.dataset}, {"device", r.device}, {"status", to_string(r.status)},
                           {"created_at", r.created_at}, {"duration_s", r.duration_s}, {"error", r.error},
                           {"final_metrics", r.final_metrics}, {"source_format", r.source_format},
                           {"source_path", r.source_path},
                           {"last_step", r.status == RunStatus::Interrupted ? nlohmann::json(r.last_step) : nlohmann::json(nullptr)},
                           {"owner", {{"host", r.owner.host}, {"pid", r.owner.pid}}}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    if (runs.empty()) {
        std::printf("No runs in %s yet. Start one with `prefstudio-cli run experiments/demo-dpo.json`.\n",
                    store.path().c_str());
        return 0;
    }
    std::printf("%-4s %-20s %-6s %-11s %-20s %8s %9s %9s %8s %8s\n", "id", "name", "algo", "status", "created (UTC)",
                "duration", "chosen", "rejected", "margin", "eval acc");
    for (const auto& r : runs) {
        // Names are user text: a terminal must not run their escape codes.
        const auto& m = r.final_metrics;
        std::string created = r.created_at.substr(0, 19);
        for (auto& ch : created) if (ch == 'T') ch = ' ';
        std::printf("%-4lld %-20.20s %-6s %-11s %-20s %8s %9s %9s %8s %8s\n", static_cast<long long>(r.id),
                    printable(r.name).c_str(), printable(r.algorithm).c_str(), to_string(r.status), printable(created).c_str(),
                    format_duration(r.duration_s).c_str(), fmt(metric(m, "rewards/chosen")).c_str(),
                    fmt(metric(m, "rewards/rejected")).c_str(), fmt(metric(m, "rewards/margins")).c_str(),
                    fmt(metric(m, "eval/rewards/accuracies"), "%.3f").c_str());
    }
    for (const auto& r : runs)
        if (r.status == RunStatus::Interrupted) std::printf("%s\n", interrupted_note(r).c_str());
    return 0;
}

int export_command(const std::string& db_path, const std::string& run_text, const std::string& format,
                   const std::string& out_path) {
    RunStore store(db_or_default(db_path), RunStore::Access::ReadOnly);
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
    RunStore store(db_or_default(db_path), RunStore::Access::ReadOnly);
    const RunRecord record = load_run_record(store, store.resolve_run(run_text).id);
    const StoredRun& run = record.run;
    const PairTrackingReport& pairs = record.pairs;
    const nlohmann::json d = record.to_json();
    const nlohmann::json& remedies = d["remedies"]["remedies"];
    const std::string remedy_regime = record.dominant_problem ? to_string(*record.dominant_problem) : "";
    if (json) {
        std::cout << d.dump(2) << "\n";
        return 0;
    }
    std::string status = to_string(run.status);
    if (run.status == RunStatus::Interrupted) status += " at step " + std::to_string(std::max<int64_t>(run.last_step, 0));
    std::printf("run %lld '%s' (%s, %s): %s\n", static_cast<long long>(run.id), printable(run.name).c_str(), printable(run.algorithm).c_str(),
                status.c_str(), d.value("verdict", std::string()).c_str());
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
            std::printf("  - %s: %s%s\n      why: %s\n", r["title"].get<std::string>().c_str(),
                        r["change"].get<std::string>().c_str(), r["one_click"].get<bool>() ? "" : " [advice only]",
                        r["why"].get<std::string>().c_str());
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

namespace {

std::vector<int64_t> parse_ids(const std::string& text) {
    std::vector<int64_t> ids;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, ',')) {
        size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(part, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        while (used < part.size() && part[used] == ' ') ++used;
        if (used != part.size() || part.empty() || v < 0)
            throw Error("--ids expects comma-separated non-negative token ids, got '" + text + "'");
        ids.push_back(v);
    }
    if (ids.empty()) throw Error("--ids expects at least one token id");
    return ids;
}

std::string ids_text(const std::vector<int64_t>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out;
}

}  // namespace

int generate_command(const GenerateArgs& a) {
    if (a.model.empty() == a.config.empty()) throw Error("generate: give exactly one of --model SOURCE or --config RUN_CONFIG");
    if (a.prompts.empty() && a.id_prompts.empty()) throw Error("generate: give at least one --prompt TEXT or --ids 1,2,3");
    if (!a.prompts.empty() && !a.id_prompts.empty()) throw Error("generate: use either --prompt or --ids, not both");
    TextGeneratorOptions o;
    o.dtype = a.dtype;
    o.device = a.device;
    o.seed = a.seed;
    o.need_tokenizer = a.id_prompts.empty();
    o.chat_template = a.raw ? "none" : a.chat_template;
    std::string source = a.model, which = "model";
    if (!a.config.empty()) {
        RunConfig c = load_run_config(a.config);
        source = c.model.source;
        // The run's template, also for its saved model (whose directory says nothing of it).
        if (!a.raw && a.chat_template == "auto") o.chat_template = resolve_template_name(c.model.chat_template, c.model.source);
        o.template_kwargs = c.model.template_kwargs;
        o.seed = c.seed;
        o.dtype = choice_name(resolved_dtype(c.model.dtype));
        which = "initial model (model.source)";
        // A LoRA run saves adapter_config.json (its base merged in on load), a full run config.json.
        if (!a.initial && c.train.save_dir &&
            (std::filesystem::is_regular_file(*c.train.save_dir + "/config.json") ||
             std::filesystem::is_regular_file(*c.train.save_dir + "/adapter_config.json"))) {
            source = *c.train.save_dir;
            which = "trained model (train.save_dir)";
        }
    }
    if (!a.template_kwargs.empty()) {
        const nlohmann::json extra = nlohmann::json::parse(a.template_kwargs, nullptr, false);
        if (extra.is_discarded() || !extra.is_object())
            throw Error("generate: --template-kwargs must be a JSON object, e.g. '{\"enable_thinking\": false}', got '" +
                        a.template_kwargs + "'");
        for (auto it = extra.begin(); it != extra.end(); ++it) o.template_kwargs[it.key()] = it.value();
    }
    auto gen = TextGenerator::open(source, o);
    GenerationOptions g;
    g.max_new_tokens = a.max_new_tokens;
    g.temperature = a.temperature;
    g.top_k = a.top_k;
    g.top_p = a.top_p;
    g.seed = static_cast<uint64_t>(a.seed);
    std::vector<GenerationResult> results;
    if (!a.id_prompts.empty()) {
        std::vector<std::vector<int64_t>> ids;
        for (const auto& t : a.id_prompts) ids.push_back(parse_ids(t));
        results = gen->generate_ids(ids, g);
    } else {
        results = gen->generate(a.prompts, g);
    }
    if (a.json) {
        nlohmann::json out = {{"model", source}, {"which", which}, {"device", gen->device()},
                              {"template", gen->template_name()},
                              {"options", {{"max_new_tokens", g.max_new_tokens}, {"temperature", g.temperature},
                                           {"top_k", g.top_k}, {"top_p", g.top_p}, {"seed", g.seed}}}};
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& r : results) {
            nlohmann::json row = {{"prompt_ids", r.prompt_ids}, {"completion_ids", r.completion_ids},
                                  {"finish_reason", r.finish_reason}};
            if (gen->has_tokenizer()) {
                row["prompt"] = r.prompt;
                row["completion"] = r.completion;  // invalid UTF-8 (a cut byte sequence) is replaced on output
            }
            rows.push_back(row);
        }
        out["results"] = rows;
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }
    std::fprintf(stderr, "%s: %s on %s, template %s\n", which.c_str(), source.c_str(), gen->device().c_str(),
                 gen->template_name().c_str());
    for (const auto& r : results) {
        if (gen->has_tokenizer())
            std::printf("### %s\n%s\n[%s, %zu tokens]\n", r.prompt.c_str(), r.completion.c_str(), r.finish_reason.c_str(),
                        r.completion_ids.size());
        else
            std::printf("### %s\n%s\n[%s, %zu tokens]\n", ids_text(r.prompt_ids).c_str(), ids_text(r.completion_ids).c_str(),
                        r.finish_reason.c_str(), r.completion_ids.size());
    }
    return 0;
}

int save_model_command(const std::string& model, const std::string& out_dir, const std::string& dtype, long long seed) {
    TextGeneratorOptions o;
    o.seed = seed;
    o.need_tokenizer = false;
    auto gen = TextGenerator::open(model, o);
    gen->save(out_dir, dtype);
    std::printf("saved %s to %s (config.json, model.safetensors)\n", model.c_str(), out_dir.c_str());
    return 0;
}

namespace {

int make_onpolicy_data_command(const MakeDataArgs& a) {
    if (a.config.empty())
        throw ConfigError("--config", "make-data onpolicy needs the run config whose reference model answers the prompts");
    const RunConfig config = load_run_config(a.config, a.overrides);
    OnPolicyOptions o;
    o.out = a.out;
    o.samples = a.samples;
    o.temperature = a.temperature;
    o.top_p = a.top_p;
    o.top_k = a.top_k;
    o.max_new_tokens = a.max_new_tokens;
    o.seed = static_cast<uint64_t>(a.seed);
    o.batch_size = a.batch_size;
    o.validate();
    RunControl control;
    // Progress on stderr (stdout stays the report): one line rewritten in place on a terminal,
    // the end of each phase otherwise.
    const bool tty = isatty(fileno(stderr));
    auto progress = [&](const std::string& phase, int64_t done, int64_t total) {
        const char* what = phase == "reference" ? "reference model: SFT warm-up step"
                           : phase == "sample"  ? "sampling answers: prompt"
                                                : "sampling again where the answer repeated the chosen one:";
        if (tty) std::fprintf(stderr, "\r%s %lld/%lld%s", what, static_cast<long long>(done), static_cast<long long>(total),
                              done == total ? "\n" : "");
        else if (done == total) std::fprintf(stderr, "%s %lld/%lld\n", what, static_cast<long long>(done), static_cast<long long>(total));
        std::fflush(stderr);
    };
    const OnPolicyReport r = make_onpolicy_data(config, o, control, progress);
    if (a.json) {
        const nlohmann::json j = {{"path", r.path},
                                  {"pairs", r.pairs},
                                  {"sampled", r.sampled},
                                  {"kept_original", r.kept_original},
                                  {"unfinished", r.unfinished},
                                  {"skipped_by_limits", r.skipped_by_limits},
                                  {"reference_sft_steps", r.reference_sft_steps},
                                  {"max_new_tokens", r.max_new_tokens},
                                  {"seconds", r.seconds},
                                  {"example", {{"prompt", r.example_prompt},
                                               {"chosen", r.example_chosen},
                                               {"original_rejected", r.example_original_rejected},
                                               {"sampled_rejected", r.example_sampled_rejected}}}};
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("wrote %zu pairs to %s in %.1f s\n", r.pairs, r.path.c_str(), r.seconds);
    std::printf("  rejected answers sampled from the reference model (%lld SFT warm-up steps): %zu\n",
                static_cast<long long>(r.reference_sft_steps), r.sampled);
    if (r.kept_original)
        std::printf("  original rejected kept (every try repeated the chosen answer): %zu\n", r.kept_original);
    if (r.unfinished) std::printf("  sampled answers cut at %d tokens: %zu\n", r.max_new_tokens, r.unfinished);
    if (r.skipped_by_limits)
        std::printf("  pairs over the length limits, written unchanged (training drops them): %zu\n", r.skipped_by_limits);
    if (!r.example_prompt.empty())
        std::printf("  example: prompt %s chosen %s rejected %s (was %s)\n",
                    nlohmann::json(r.example_prompt).dump().c_str(), nlohmann::json(r.example_chosen).dump().c_str(),
                    nlohmann::json(r.example_sampled_rejected).dump().c_str(),
                    nlohmann::json(r.example_original_rejected).dump().c_str());
    const bool renamed = config.data.format != "auto" && config.data.format != "trl";
    std::printf("train on it: set data.train to %s%s\n", r.path.c_str(),
                renamed || !config.data.columns.empty() ? " (TRL JSONL: data.format auto, no data.columns or data.tags)" : "");
    return 0;
}

}  // namespace

int make_data_command(const MakeDataArgs& a) {
    if (a.kind == "onpolicy") return make_onpolicy_data_command(a);
    if (a.kind != "arith")
        throw Error("make-data: unknown dataset kind '" + a.kind + "' (available: arith, onpolicy)");
    ArithDataOptions o;
    o.count = a.count;
    o.max_operand = a.max_operand;
    o.seed = static_cast<uint64_t>(a.seed);
    auto pairs = make_arith_pairs(o);
    write_preference_jsonl(pairs, a.out);
    std::printf("wrote %zu pairs to %s\n", pairs.size(), a.out.c_str());
    return 0;
}

namespace {

void print_lengths(const char* name, const std::vector<uint32_t>& v) {
    const LengthPercentiles p = length_percentiles(v);
    if (p.count == 0) {
        std::printf("  %-12s %8s\n", name, "0");
        return;
    }
    std::printf("  %-12s %8zu %8.1f %6zu %6zu %6zu %6zu %6zu %6zu\n", name, p.count, p.mean, p.min, p.p50, p.p90, p.p95,
                p.p99, p.max);
}

std::string human_bytes(uint64_t b) {
    char buf[32];
    if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(b) / (1ull << 30));
    else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / (1ull << 20));
    else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(b) / 1024);
    else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(b));
    return buf;
}

std::string pct(size_t part, size_t whole) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
    return buf;
}

void parse_names(const std::vector<std::string>& items, const char* option, const std::vector<std::string>& keys,
                 std::map<std::string, std::string>& out) {
    for (const auto& item : items) {
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw Error(std::string(option) + " expects key=name, got '" + item + "'");
        const std::string key = item.substr(0, eq);
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            std::string list;
            for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
            throw Error(std::string(option) + ": unknown key '" + key + "' (valid: " + list + ")");
        }
        out[key] = item.substr(eq + 1);
    }
}

}  // namespace

int data_command(const DataCommandOptions& o) {
    // Settings: defaults, then the run config's data.* and model.template, then the options.
    RunConfig config;
    if (!o.config.empty()) config = RunConfig::from_json(read_config_json(o.config));
    DataConfig d = config.data;
    if (!o.format.empty()) d.format = o.format;
    if (o.max_length > 0) d.max_length = o.max_length;
    if (o.max_prompt_length > 0) d.max_prompt_length = o.max_prompt_length;
    if (!o.truncation_mode.empty()) d.truncation_mode = *parse_choice<TruncationMode>(o.truncation_mode);  // CLI11 checked it
    parse_names(o.columns, "--column", data_column_keys(), d.columns);
    parse_names(o.tags, "--tag", data_tag_keys(), d.tags);
    // The same checks a run makes (format, limits, truncation mode, names).
    RunConfig check = config;
    check.data = d;
    check.data.train = o.file;
    if (!o.template_name.empty()) check.model.chat_template = o.template_name;
    check.validate();

    // --tokenizer: a tokenizer.json or model directory, or byte; default: the model's tokenizer
    // (the one a run of the config trains with; builtin:tiny's byte tokenizer without --config).
    const bool named = !o.tokenizer.empty() && o.tokenizer != "byte";
    const std::shared_ptr<Tokenizer> tokenizer = named                  ? std::shared_ptr<Tokenizer>(load_hf_tokenizer(o.tokenizer))
                                                 : o.tokenizer == "byte" ? std::make_shared<ByteTokenizer>()
                                                                         : load_source_tokenizer(check.model.source);
    SummaryOptions so;
    so.data = data_options(d);
    so.limits = truncation_options(d);
    // "auto" follows the model whose tokenizer is used: --tokenizer's directory, else the config's.
    std::string template_model = check.model.source;
    if (named) {
        namespace fs = std::filesystem;
        template_model = fs::is_directory(o.tokenizer) ? o.tokenizer : fs::path(o.tokenizer).parent_path().string();
    }
    so.template_name = resolve_template_name(check.model.chat_template, template_model);
    so.template_kwargs = check.model.template_kwargs;
    so.keep_examples = static_cast<size_t>(std::max(0, o.preview));
    const DatasetSummary s = summarize_dataset(o.file, *tokenizer, so);

    if (o.json) {
        std::cout << s.to_json().dump(2) << "\n";
    } else {
        std::printf("%s: %s%s, %s, %zu records\n", s.path.c_str(), s.format.empty() ? "format unknown" : s.format.c_str(),
                    s.json_array ? " (JSON array)" : " (JSON Lines)", human_bytes(s.bytes).c_str(), s.records);
        std::printf("template %s, tokenizer %s; max_length %d, max_prompt_length %d, truncation_mode %s\n",
                    s.template_name.c_str(), s.tokenizer.c_str(), s.limits.max_length, s.limits.max_prompt_length,
                    choice_name(s.limits.mode).c_str());
        const char* unit = s.unpaired ? "examples" : "pairs";
        std::printf("%zu valid %s: %zu kept, %zu dropped (prompt over max_prompt_length); %zu invalid record(s)\n",
                    s.examples, unit, s.fit.kept, s.fit.dropped_prompt_too_long, s.records - s.examples);
        std::printf("truncated: %zu prompt(s) (%s), %zu with a completion cut to max_length\n", s.fit.truncated_prompts,
                    choice_name(s.limits.mode).c_str(), s.fit.truncated_completions);
        if (s.implicit_prompts > 0)
            std::printf("implicit prompt: %zu %s had no prompt field; their prompt is what chosen and rejected share\n",
                        s.implicit_prompts, unit);
        std::printf("\ntoken lengths (before truncation)\n  %-12s %8s %8s %6s %6s %6s %6s %6s %6s\n", "", "count", "mean",
                    "min", "p50", "p90", "p95", "p99", "max");
        print_lengths("prompt", s.prompt_lengths);
        print_lengths(s.unpaired ? "desirable" : "chosen", s.chosen_lengths);
        print_lengths(s.unpaired ? "undesirable" : "rejected", s.rejected_lengths);
        if (s.unpaired) {
            std::printf("\nlabels: %zu desirable, %zu undesirable (%s desirable)\n", s.desirable, s.undesirable,
                        pct(s.desirable, s.desirable + s.undesirable).c_str());
        } else if (s.examples > 0) {
            const size_t n = s.chosen_longer + s.rejected_longer + s.same_length;
            std::printf("\nlength bias: chosen longer than rejected in %s of pairs (rejected longer %s, same length %s);\n"
                        "  far from 50%% means the preference partly rewards length (SimPO's length normalisation targets this)\n",
                        pct(s.chosen_longer, n).c_str(), pct(s.rejected_longer, n).c_str(), pct(s.same_length, n).c_str());
        }
        if (!s.warnings.empty()) {
            std::printf("\nwarnings\n");
            for (const auto& w : s.warnings) std::printf("  %s\n", w.message.c_str());
        }
        if (!s.errors.empty()) {
            std::printf("\nproblems (a run stops on these)\n");
            for (const auto& e : s.errors) std::printf("  %s\n", e.text(s.path).c_str());
        }
        for (const auto& e : s.preview) {
            std::printf("\n--- %s %ld: prompt %zu tokens, %s %zu", s.json_array ? "record" : "line", e.source_line,
                        e.prompt_tokens, s.unpaired ? (e.desirable ? "desirable completion" : "undesirable completion") : "chosen",
                        e.chosen_tokens);
            if (!s.unpaired) std::printf(", rejected %zu", e.rejected_tokens);
            std::printf("%s\n[prompt]\n%s\n[%s]\n%s\n", e.dropped ? " (dropped: prompt too long)" : "", e.prompt.c_str(),
                        s.unpaired ? "completion" : "chosen", e.chosen.c_str());
            if (!s.unpaired) std::printf("[rejected]\n%s\n", e.rejected.c_str());
        }
    }
    if (!s.errors.empty()) {
        std::fprintf(stderr, "prefstudio-cli: %s has %zu problem(s); first: %s\n", s.path.c_str(), s.errors.size(),
                     s.errors.front().text(s.path).c_str());
        return 2;
    }
    return 0;
}

}  // namespace ps::cli
