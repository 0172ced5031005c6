#include "core/store/run_record.h"

#include <algorithm>
#include <utility>

#include "core/common/errors.h"
#include "core/diagnose/answer_check.h"
#include "core/diagnose/diagnosis.h"

namespace ps {

namespace {

// The train-phase series merged into one record per step. Series may come in any step order
// (an importer's files) and need not share their steps; a store's are sorted and mostly share
// them, which the merge walks in one pass (a run of 1,000,000 rows opens in the studio).
std::vector<StepMetrics> merge_stream(const std::vector<const MetricSeries*>& train) {
    std::vector<int64_t> steps;
    for (const MetricSeries* series : train) {
        const MetricSeries& s = *series;
        const size_t n = std::min(s.steps.size(), s.values.size());
        if (steps.size() == n && std::equal(steps.begin(), steps.end(), s.steps.begin())) continue;
        steps.insert(steps.end(), s.steps.begin(), s.steps.begin() + long(n));
        std::sort(steps.begin(), steps.end());
        steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
    }
    std::vector<StepMetrics> stream(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
        stream[i].step = steps[i];
        stream[i].values.reserve(train.size());
    }
    std::vector<bool> timed(steps.size(), false);
    for (const MetricSeries* series : train) {
        const MetricSeries& s = *series;
        const size_t n = std::min(s.steps.size(), s.values.size());
        size_t at = 0;
        for (size_t i = 0; i < n; ++i) {
            // The next step is usually the next record; otherwise search for it.
            if (at >= steps.size() || steps[at] != s.steps[i])
                at = size_t(std::lower_bound(steps.begin(), steps.end(), s.steps[i]) - steps.begin());
            StepMetrics& m = stream[at];
            if (!timed[at] && i < s.wall_times.size()) {
                m.wall_time = s.wall_times[i];
                timed[at] = true;
            }
            ++at;
            m.values.emplace_back(s.name, s.values[i]);
        }
    }
    return stream;
}

nlohmann::json remedy_json(const Remedy& r) {
    return {{"id", r.id}, {"title", r.title}, {"change", r.change}, {"why", r.why},
            {"one_click", r.one_click}, {"makes_data", r.makes_data}};
}

}  // namespace

// The tracked pairs as part of the verdict, so the headline and the pair table are read
// together: how many chosen answers lost likelihood, and whether that agrees with the levels.
static void add_pair_evidence(RunRecord& r) {
    if (!r.diagnosed || r.pairs.pairs.empty() || !r.diagnosis.contains("verdict")) return;
    const size_t tracked = r.pairs.pairs.size(), fell = r.pairs.chosen_fell;
    std::string text = " Tracked pairs: the chosen answer lost likelihood in " + std::to_string(fell) + " of " +
                       std::to_string(tracked) + ".";
    const nlohmann::json& level = r.diagnosis["levels"]["chosen"];
    const bool level_fell = level.is_object() && level.value("fell", false);
    if (level_fell && 2 * fell < tracked)
        text += " Most tracked chosen answers gained likelihood although the chosen reward fell: the pairs are a "
                "sample of the eval split, the rewards a mean over training batches.";
    r.diagnosis["verdict"] = r.diagnosis["verdict"].get<std::string>() + text;
    r.diagnosis["pairs_chosen_fell"] = fell;
    r.diagnosis["pairs_tracked"] = tracked;
}

nlohmann::json offpolicy_of(const std::vector<RunEvent>& events) {
    nlohmann::json report = nullptr;
    for (const RunEvent& e : events)
        if (e.data.is_object() && e.data.contains("offpolicy") && e.data["offpolicy"].is_object()) {
            report = e.data["offpolicy"];
            report["message"] = e.message;
        }
    return report;
}

std::optional<std::string> saved_model_dir_of(const std::vector<RunEvent>& events) {
    // The trainer's event after it wrote the weights names the directory (engine: save_trained).
    for (auto it = events.rbegin(); it != events.rend(); ++it)
        if (it->data.is_object() && it->data.contains("save_dir") && it->data["save_dir"].is_string())
            return it->data["save_dir"].get<std::string>();
    return std::nullopt;
}

DiagnosisContext diagnosis_context(const StoredRun& run) {
    return diagnosis_context_for(run.algorithm, run.resolved_config, run.config);
}

void diagnose_run_record(RunRecord& r, const PhaseOptions& options) {
    // The train-phase series, and the answer check's (eval/answers/*), which the verdict reads.
    std::vector<const MetricSeries*> series;
    for (const MetricSeries& s : r.train_series) series.push_back(&s);
    for (const MetricSeries& s : r.eval_series)
        if (s.name.rfind(kAnswersMetricPrefix, 0) == 0) series.push_back(&s);
    r.stream = merge_stream(series);
    DiagnosisContext context = diagnosis_context(r.run);
    context.phases = options;
    r.diagnosis = diagnose_series(r.stream, context);
    r.dominant_problem.reset();
    r.remedies.clear();
    const nlohmann::json& dominant = r.diagnosis["dominant_problem"];
    if (dominant.is_string()) {
        r.dominant_problem = regime_from_string(dominant.get<std::string>());
        // An imported run may name no algorithm: then remedies_for("") offers every remedy.
        r.remedies = remedies_for(*r.dominant_problem, r.run.algorithm, context.data);
    }
    r.diagnosed = true;
    add_pair_evidence(r);
}

RunRecord make_run_record(RunRecordSource source, const RunRecordOptions& options) {
    RunRecord r;
    r.run = std::move(source.run);
    for (MetricSeries& s : source.series) {
        switch (split_metric_name(s.name).phase) {
            case MetricPhase::Sft: r.sft_series.push_back(std::move(s)); break;
            case MetricPhase::Train: r.train_series.push_back(std::move(s)); break;
            case MetricPhase::Eval: r.eval_series.push_back(std::move(s)); break;
        }
    }
    r.events = std::move(source.events);
    for (const RunEvent& e : r.events)
        if (parse_regime_event(e)) r.regime_events.push_back(e);

    if (options.diagnose) diagnose_run_record(r, options.phases);
    r.offpolicy = offpolicy_of(r.events);
    r.pairs = analyse_tracked_pairs(source.tracked_pairs, source.pair_logps);
    add_pair_evidence(r);
    r.saved_model_dir = saved_model_dir_of(r.events);
    return r;
}

RunRecord load_run_record(RunStore& store, int64_t run_id, const RunRecordOptions& options) {
    std::optional<StoredRun> run = store.find_run(run_id);
    if (!run) throw StoreError("run " + std::to_string(run_id) + " is not in the store " + store.path());
    RunRecordSource source;
    source.run = std::move(*run);
    source.series = store.load_metrics(run_id);
    source.events = store.load_events(run_id);
    source.tracked_pairs = store.load_tracked_pairs(run_id);
    source.pair_logps = store.load_pair_logps(run_id);
    return make_run_record(std::move(source), options);
}

const std::vector<MetricSeries>& RunRecord::series(MetricPhase phase) const {
    switch (phase) {
        case MetricPhase::Sft: return sft_series;
        case MetricPhase::Eval: return eval_series;
        case MetricPhase::Train: break;
    }
    return train_series;
}

const MetricSeries* RunRecord::find_series(const std::string& name) const {
    for (const MetricSeries& s : series(split_metric_name(name).phase))
        if (s.name == name) return &s;
    return nullptr;
}

bool RunRecord::has_rewards() const {
    return find_series("rewards/chosen") != nullptr && find_series("rewards/rejected") != nullptr;
}

int64_t RunRecord::last_step(MetricPhase phase) const {
    int64_t last = 0;
    for (const MetricSeries& s : series(phase))
        for (int64_t step : s.steps) last = std::max(last, step);
    return last;
}

std::vector<RunEvent> RunRecord::timeline_events() const {
    if (!diagnosed) return regime_events;
    std::vector<RunEvent> out;
    const nlohmann::json& regimes = diagnosis.contains("regimes") ? diagnosis["regimes"] : nlohmann::json::array();
    std::string from = to_string(Regime::WarmingUp);
    for (const nlohmann::json& s : regimes) {
        const std::string to = s.value("regime", std::string());
        if (to.empty() || to == from) continue;  // the opening warm-up is no change
        RunEvent e;
        e.kind = "regime";
        e.step = s.value("declared_step", int64_t{0});
        e.message = s.value("explanation", std::string());
        e.data = s.contains("evidence") && s["evidence"].is_object() ? s["evidence"] : nlohmann::json::object();
        e.data["from"] = from;
        e.data["to"] = to;
        e.data["since_step"] = s.value("start_step", e.step);
        e.data["declared_step"] = e.step;
        out.push_back(std::move(e));
        from = to;
    }
    return out;
}

nlohmann::json RunRecord::to_json() const {
    nlohmann::json d = diagnosis;
    d["run"] = {{"id", run.id}, {"name", run.name}, {"algorithm", run.algorithm}, {"status", to_string(run.status)}};
    if (run.status == RunStatus::Interrupted) d["run"]["last_step"] = run.last_step;
    nlohmann::json list = nlohmann::json::array();
    for (const Remedy& rm : remedies) list.push_back(remedy_json(rm));
    d["remedies"] = {{"regime", dominant_problem ? nlohmann::json(to_string(*dominant_problem)) : nlohmann::json(nullptr)},
                     {"remedies", std::move(list)}};
    d["pair_tracking"] = pairs.to_json();
    d["offpolicy"] = offpolicy;
    return d;
}

}  // namespace ps
