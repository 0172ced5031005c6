// A run sink that keeps everything a training run reports, for tests to assert on: metrics,
// events, progress, tracked pairs and their log-probs, the final status. The engine calls it
// from its own thread; the test reads it after run_training returns.
#pragma once
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

namespace ps::test {

struct CollectSink : RunSink {
    std::mutex m;
    bool started = false;
    nlohmann::json resolved_config;
    std::string algorithm;  // objective.algorithm as the run resolved it
    std::vector<StepMetrics> metrics;
    std::vector<RunEvent> events;
    std::vector<RunProgress> progress;
    std::vector<TrackedPair> pairs;
    std::vector<PairLogpRecord> records;
    RunStatus status = RunStatus::Created;
    std::string error;
    nlohmann::json final_metrics;

    CollectSink() = default;
    CollectSink(const CollectSink& o)
        : started(o.started), resolved_config(o.resolved_config), algorithm(o.algorithm), metrics(o.metrics),
          events(o.events), progress(o.progress), pairs(o.pairs), records(o.records), status(o.status),
          error(o.error), final_metrics(o.final_metrics) {}

    void on_start(const RunInfo& info) override {
        started = true;
        resolved_config = info.resolved_config;
        if (resolved_config.contains("objective")) algorithm = resolved_config["objective"].value("algorithm", "");
    }
    void on_metrics(const StepMetrics& s) override {
        std::lock_guard<std::mutex> l(m);
        metrics.push_back(s);
    }
    void on_event(const RunEvent& e) override {
        std::lock_guard<std::mutex> l(m);
        events.push_back(e);
    }
    void on_progress(const RunProgress& p) override {
        std::lock_guard<std::mutex> l(m);
        progress.push_back(p);
    }
    void on_tracked_pairs(const std::vector<TrackedPair>& p) override { pairs.insert(pairs.end(), p.begin(), p.end()); }
    void on_pair_logps(const std::vector<PairLogpRecord>& r) override { records.insert(records.end(), r.begin(), r.end()); }
    void on_finish(RunStatus st, const nlohmann::json& fm, const std::string& err) override {
        status = st;
        final_metrics = fm;
        error = err;
    }

    // Every value of one metric, in step order (steps without it are skipped).
    std::vector<double> series(const std::string& name) const {
        std::vector<double> out;
        for (const auto& s : metrics) {
            const double v = s.get(name);
            if (!std::isnan(v)) out.push_back(v);
        }
        return out;
    }
    // The first event whose data has `key`, or null.
    const RunEvent* event_with(const std::string& key) const {
        for (const auto& e : events)
            if (e.data.contains(key)) return &e;
        return nullptr;
    }
    nlohmann::json event_data(const std::string& key) const {
        const RunEvent* e = event_with(key);
        return e ? e->data : nlohmann::json(nullptr);
    }
};

}  // namespace ps::test
