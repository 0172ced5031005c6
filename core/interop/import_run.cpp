#include "core/interop/import_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "core/common/errors.h"
#include "core/diagnose/diagnosis.h"
#include "core/store/run_store.h"

namespace fs = std::filesystem;

namespace ps {

namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// Which source of one output directory is read when several were written within a minute of
// each other: the most complete first.
int richness(const SourceFile& s) {
    if (s.format == ImportFormat::TrainerState && s.key_path == s.path) return 5;
    if (s.format == ImportFormat::TensorBoard) return 4;
    if (s.format == ImportFormat::LlamaFactoryLog) return 3;
    if (s.format == ImportFormat::TrainerState) return 2;  // a checkpoint's state lags the run
    return 1;
}

bool is_source_name(const std::string& file, const fs::path& dir) {
    if (starts_with(file, "events.out.tfevents.")) return true;
    if (file == "trainer_state.json" || file == "trainer_log.jsonl" || file == "training_history.json") return true;
    (void)dir;
    return file == "output.log";  // W&B's console log (wandb/run-*/files/output.log)
}

void search(const fs::path& dir, int depth, std::vector<SourceFile>& out) {
    std::error_code ec;
    std::vector<fs::path> subdirs;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string file = it->path().filename().string();
        if (file.empty() || file[0] == '.') continue;
        std::error_code e;
        if (it->is_directory(e)) {
            if (depth > 0) subdirs.push_back(it->path());
        } else if (it->is_regular_file(e) && is_source_name(file, dir)) {
            try {
                out.push_back(source_file_for(it->path().string()));
            } catch (const Error&) {
            }
        }
    }
    for (const fs::path& d : subdirs) search(d, depth - 1, out);
}

fs::file_time_type mtime_of(const std::string& path) {
    std::error_code ec;
    const auto t = fs::last_write_time(path, ec);
    return ec ? fs::file_time_type{} : t;
}

}  // namespace

std::vector<SourceFile> find_sources(const std::string& path_text) {
    std::error_code ec;
    const fs::path path = fs::absolute(path_text, ec).lexically_normal();
    if (fs::is_regular_file(path, ec)) return {source_file_for(path.string())};
    if (!fs::is_directory(path, ec)) throw DataError(path_text, 0, "no such file or directory");
    std::vector<SourceFile> all;
    search(path, 4, all);
    if (all.empty())
        throw DataError(path.string(), 0,
                        "holds no run to import (searched for runs/**/events.out.tfevents.*, trainer_state.json, "
                        "checkpoint-*/trainer_state.json, trainer_log.jsonl, training_history.json, wandb/*/files/output.log)");
    // One run per output directory; event files in several directories under it are runs of
    // their own (each launch of a Trainer opens a new runs/<date_host>/).
    std::map<std::string, std::set<std::string>> event_dirs;
    for (const SourceFile& s : all)
        if (s.format == ImportFormat::TensorBoard) event_dirs[s.run_dir].insert(fs::path(s.path).parent_path().string());
    // The other sources of such a directory (its trainer_state.json, ...) go with its newest launch.
    std::map<std::string, std::pair<std::string, fs::file_time_type>> newest_launch;  // run_dir -> (dir, time)
    for (const SourceFile& s : all)
        if (s.format == ImportFormat::TensorBoard && event_dirs[s.run_dir].size() > 1) {
            const std::string dir = fs::path(s.path).parent_path().string();
            const auto t = mtime_of(s.path);
            auto it = newest_launch.find(s.run_dir);
            if (it == newest_launch.end() || t > it->second.second) newest_launch[s.run_dir] = {dir, t};
        }
    std::map<std::string, std::vector<SourceFile>> groups;
    for (SourceFile& s : all) {
        std::string key = s.run_dir;
        if (event_dirs[s.run_dir].size() > 1) {
            key = s.format == ImportFormat::TensorBoard ? fs::path(s.path).parent_path().string() : newest_launch[s.run_dir].first;
            s.name = fs::path(s.run_dir).filename().string() + "/" + fs::path(key).filename().string();
        }
        groups[key].push_back(std::move(s));
    }
    std::vector<SourceFile> runs;
    for (auto& [key, group] : groups) {
        (void)key;
        auto newest = std::max_element(group.begin(), group.end(), [](const SourceFile& a, const SourceFile& b) {
            return mtime_of(a.path) < mtime_of(b.path);
        });
        const auto newest_time = mtime_of(newest->path);
        const SourceFile* best = nullptr;
        for (const SourceFile& s : group) {
            if (newest_time - mtime_of(s.path) > std::chrono::seconds(60)) continue;
            if (!best || richness(s) > richness(*best) ||
                (richness(s) == richness(*best) && mtime_of(s.path) > mtime_of(best->path)))
                best = &s;
        }
        runs.push_back(*best);
    }
    std::sort(runs.begin(), runs.end(), [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
    return runs;
}

nlohmann::json ImportResult::to_json() const {
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [name, n] : metric_points) metrics[name] = n;
    nlohmann::json out = {{"id", run_id},
                          {"name", name},
                          {"format", to_string(source.format)},
                          {"path", source.path},
                          {"source", source.key_path},
                          {"algorithm", algorithm},
                          {"loss_type", loss_type},
                          {"status", to_string(status)},
                          {"finished", finished},
                          {"steps", steps},
                          {"points", points},
                          {"metrics", metrics},
                          {"warnings", warnings}};
    nlohmann::json s = nlohmann::json::object();
    for (auto it = summary.begin(); it != summary.end(); ++it) {
        double v = 0.0;
        if (it->is_number()) v = it->get<double>();
        s[it.key()] = std::isfinite(v) ? *it : nlohmann::json(nullptr);
    }
    out["summary"] = s;
    return out;
}

ImportResult stream_source(const SourceFile& source, const std::vector<RunSink*>& sinks, bool follow,
                           const std::atomic<bool>* stop, const ImportOptions& options) {
    ImportResult result;
    result.source = source;
    result.name = options.name.empty() ? source.name : options.name;
    std::unique_ptr<SourceReader> reader = open_source_reader(source);

    // The live diagnosis reads the stream and hands its regime changes to every sink, as in a
    // native run (engine's run_training): after the step's metrics.
    DiagnosisSink diagnosis([&sinks](const RunEvent& e) {
        for (RunSink* s : sinks) s->on_event(e);
    }, options.live);
    std::vector<RunSink*> all = sinks;
    if (follow || options.live_diagnosis) all.push_back(&diagnosis);

    std::map<std::string, std::set<int64_t>> seen;  // distinct steps per metric
    nlohmann::json last_values = nlohmann::json::object();
    std::optional<int64_t> total_steps;
    int64_t last_step = 0;
    double last_wall = 0.0;
    bool started = false;
    const auto t0 = std::chrono::steady_clock::now();

    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    auto start = [&](const ReadBatch& first) {
        std::vector<std::string> names;
        for (const StepMetrics& m : first.steps)
            for (const auto& nv : m.values)
                if (std::find(names.begin(), names.end(), nv.first) == names.end()) names.push_back(nv.first);
        const DetectedAlgorithm algo = detect_algorithm(reader->config(), names, first.steps);
        result.algorithm = algo.algorithm;
        result.loss_type = algo.loss_type;
        RunInfo info;
        info.name = result.name;
        info.algorithm = algo.algorithm;
        const nlohmann::json& c = reader->config();
        for (const char* k : {"model_name_or_path", "_name_or_path", "model_name", "base_model"})
            if (info.model.empty() && c.contains(k) && c[k].is_string()) info.model = c[k].get<std::string>();
        for (const char* k : {"dataset", "dataset_name", "train_file"})
            if (info.dataset.empty() && c.contains(k) && c[k].is_string()) info.dataset = c[k].get<std::string>();
        info.device = "imported";
        info.config = c;
        info.resolved_config = c;
        info.resolved_config["imported_from"] = {{"format", to_string(source.format)},
                                                 {"path", source.path},
                                                 {"algorithm", algo.algorithm},
                                                 {"loss_type", algo.loss_type},
                                                 {"detected_by", algo.evidence}};
        info.source_format = to_string(source.format);
        info.source_path = source.key_path;
        for (RunSink* s : all) s->on_start(info);
        started = true;
    };
    auto finish = [&](RunStatus status, const std::string& error) {
        nlohmann::json final_metrics = last_values;
        for (auto it = result.summary.begin(); it != result.summary.end(); ++it) final_metrics[it.key()] = *it;
        result.status = status;
        for (RunSink* s : all) s->on_finish(status, final_metrics, error);
    };

    bool final_seen = false;
    try {
        while (true) {
            // Stopping: one last read as if the file were complete (a torn tail is left out
            // with a warning).
            const bool stopping = follow && stop && stop->load();
            ReadBatch batch = reader->read(follow && !stopping);
            if (!started && (!follow || !batch.steps.empty() || batch.finished)) start(batch);
            if (batch.total_steps) total_steps = batch.total_steps;
            for (StepMetrics& m : batch.steps) {
                for (const auto& [name, v] : m.values) {
                    seen[name].insert(m.step);
                    ++result.points;
                    last_values[name] = v;
                }
                ++result.steps;
                last_step = std::max(last_step, m.step);
                if (std::isfinite(m.wall_time)) last_wall = m.wall_time;
                for (RunSink* s : all) s->on_metrics(m);
            }
            if (batch.finished) {
                final_seen = true;
                result.summary.update(batch.summary);
            }
            if (started && (!batch.steps.empty() || batch.finished)) {
                RunProgress p;
                p.phase = final_seen ? "done" : "train";
                p.step = last_step;
                p.total_steps = total_steps.value_or(0);
                p.elapsed_s = std::isfinite(last_wall) && last_wall > 0 ? last_wall : elapsed();
                auto last = [&](const char* name) {
                    return last_values.contains(name) && last_values[name].is_number() ? last_values[name].get<double>() : 0.0;
                };
                p.loss = last("loss");
                p.reward_chosen = last("rewards/chosen");
                p.reward_rejected = last("rewards/rejected");
                for (RunSink* s : all) s->on_progress(p);
                if (options.after_read) options.after_read();
            }
            if (!follow || final_seen || stopping) break;
            std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_seconds));
        }
    } catch (const Error& e) {
        if (started) finish(RunStatus::Failed, e.what());
        throw;
    }
    if (!started) {
        ReadBatch none;
        start(none);
    }
    // Step dedupe: the store keeps one value per (metric, step).
    for (const auto& [name, steps] : seen) result.metric_points[name] = int64_t(steps.size());
    result.finished = final_seen;
    result.warnings = reader->warnings();
    finish(final_seen ? RunStatus::Completed : RunStatus::Stopped, "");
    return result;
}

namespace {

// Collects a run's stream as the rows a store would hold.
class RecordSink : public RunSink {
public:
    void on_start(const RunInfo& info) override {
        run.name = info.name;
        run.algorithm = info.algorithm;
        run.model = info.model;
        run.dataset = info.dataset;
        run.device = info.device;
        run.config = info.config;
        run.resolved_config = info.resolved_config;
        run.source_format = info.source_format;
        run.source_path = info.source_path;
        run.status = RunStatus::Running;
    }
    void on_metrics(const StepMetrics& m) override {
        for (const auto& [name, v] : m.values) points[name][m.step] = {m.wall_time, v};
        if (std::isfinite(m.wall_time)) run.duration_s = std::max(run.duration_s, m.wall_time);
    }
    void on_event(const RunEvent& e) override { events.push_back(e); }
    void on_finish(RunStatus status, const nlohmann::json& final_metrics, const std::string& error) override {
        run.status = status;
        run.final_metrics = final_metrics;
        run.error = error;
    }

    StoredRun run;
    std::map<std::string, std::map<int64_t, std::pair<double, double>>> points;  // name -> step -> (wall, value)
    std::vector<RunEvent> events;
};

ImportResult store_stream(RunStore& store, const SourceFile& source, bool follow, const std::atomic<bool>* stop,
                          ImportOptions options) {
    // The sink shares the caller's store without owning it.
    std::shared_ptr<RunStore> shared(std::shared_ptr<RunStore>{}, &store);
    // Written after every read (one transaction for a plain import), never on the sink's
    // own clock: imported wall times are the source's, not ours.
    StoreSink sink(shared, 10000, std::numeric_limits<double>::infinity());
    auto user_after = options.after_read;
    options.after_read = [&sink, user_after] {
        sink.flush();
        if (user_after) user_after();
    };
    ImportResult r = stream_source(source, {&sink}, follow, stop, options);
    r.run_id = sink.run_id();
    if (!sink.last_error().empty()) throw StoreError(sink.last_error());
    return r;
}

}  // namespace

RunRecordSource read_run_record_source(const SourceFile& source, const ImportOptions& options) {
    RecordSink sink;
    stream_source(source, {&sink}, false, nullptr, options);
    RunRecordSource out;
    out.run = std::move(sink.run);
    for (auto& [name, by_step] : sink.points) {
        MetricSeries s;
        s.name = name;
        for (const auto& [step, wv] : by_step) {
            s.steps.push_back(step);
            s.wall_times.push_back(wv.first);
            s.values.push_back(wv.second);
        }
        out.series.push_back(std::move(s));
    }
    out.events = std::move(sink.events);
    return out;
}

ImportResult import_source(RunStore& store, const SourceFile& source, const ImportOptions& options) {
    return store_stream(store, source, false, nullptr, options);
}

ImportResult follow_source(RunStore& store, const SourceFile& source, const std::atomic<bool>& stop,
                           const ImportOptions& options) {
    return store_stream(store, source, true, &stop, options);
}

}  // namespace ps
