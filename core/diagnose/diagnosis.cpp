#include "core/diagnose/diagnosis.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "core/common/errors.h"
#include "core/diagnose/margin_decomposition.h"

namespace ps {

namespace {

std::string lower_label(Regime r) {
    std::string s = regime_label(r);
    if (!s.empty()) s[0] = static_cast<char>(s[0] - 'A' + 'a');
    return s;
}

std::string steps_text(const RegimeSegment& s) {
    return s.start_step == s.end_step ? "step " + std::to_string(s.start_step)
                                      : "steps " + std::to_string(s.start_step) + "-" +
                                            std::to_string(s.end_step);
}

std::string verdict_of(const RegimeDetector& det, const MarginDecomposition& md) {
    const int64_t n = det.training_records();
    if (n == 0)
        return "No preference-training metrics to diagnose (the stream holds only SFT or eval "
               "records, or nothing).";
    const auto& segs = det.segments();
    const Regime final_regime = det.current();
    if (final_regime == Regime::WarmingUp && segs.size() == 1) {
        // Runs imported from other tools may log only the loss: say that before counting steps.
        const SmoothedRewards sm = det.smoothed();
        if (!std::isfinite(sm.chosen) || !std::isfinite(sm.rejected))
            return "The run logs no chosen and rejected rewards (rewards/chosen, rewards/rejected), so "
                   "their trends cannot be judged.";
        if (n < det.options().window)
            return "Too few training steps to judge the run: " + std::to_string(n) +
                   " logged, the detector needs " + std::to_string(det.options().window) + ".";
        return "Too few of its steps log chosen and rejected rewards to judge their trends.";
    }

    std::string earlier;  // the first few problem stretches before the last segment
    constexpr int kMaxListed = 3;
    int listed = 0, unlisted = 0;
    for (size_t i = 0; i + 1 < segs.size(); ++i) {
        if (!is_problem(segs[i].regime)) continue;
        if (listed == kMaxListed) {
            ++unlisted;
            continue;
        }
        earlier += (earlier.empty() ? "" : ", ") + lower_label(segs[i].regime) + " at " +
                   steps_text(segs[i]);
        ++listed;
    }
    if (unlisted > 0) earlier += " and " + std::to_string(unlisted) + " more";
    const std::string margin = "final " + md.describe();
    const RegimeSegment& last = segs.back();
    if (is_problem(final_regime)) {
        std::string s = regime_label(final_regime) + " from step " +
                        std::to_string(last.start_step) + " to the end (step " +
                        std::to_string(last.end_step) + ")";
        if (!earlier.empty()) s += ", after " + earlier;
        return s + "; " + margin + ".";
    }
    if (earlier.empty())
        return "Healthy throughout the " + std::to_string(n) + " training steps; " + margin + ".";
    return "Healthy at the end, after " + earlier + "; " + margin + ".";
}

}  // namespace

Regime dominant_problem(const std::vector<RegimeSegment>& segments) {
    std::map<Regime, int64_t> steps;
    Regime best = Regime::WarmingUp;
    for (const RegimeSegment& s : segments) {
        if (!is_problem(s.regime)) continue;
        const int64_t total = steps[s.regime] += s.end_step - s.start_step + 1;
        if (best == Regime::WarmingUp || total >= steps[best]) best = s.regime;
    }
    return best;
}

nlohmann::json diagnose_series(const std::vector<StepMetrics>& all_steps,
                               const RegimeDetectorOptions& options) {
    RegimeDetector det(options);
    for (const StepMetrics& m : all_steps) det.add(m);

    nlohmann::json regimes = nlohmann::json::array();
    for (const RegimeSegment& s : det.segments())
        regimes.push_back({{"start_step", s.start_step},
                           {"end_step", s.end_step},
                           {"declared_step", s.declared_step},
                           {"regime", to_string(s.regime)},
                           {"evidence", s.evidence},
                           {"explanation", s.explanation}});

    nlohmann::json problem_steps = nlohmann::json::object();
    for (const RegimeSegment& s : det.segments())
        if (is_problem(s.regime))
            problem_steps[to_string(s.regime)] =
                problem_steps.value(to_string(s.regime), int64_t{0}) + (s.end_step - s.start_step + 1);
    const Regime dominant = dominant_problem(det.segments());

    const SmoothedRewards sm = det.smoothed();
    const MarginDecomposition md = decompose_margin(sm.chosen, sm.rejected);
    nlohmann::json decomposition = md.to_json();
    decomposition["step"] = det.last_step();

    return {{"regimes", std::move(regimes)},
            {"final_regime", to_string(det.current())},
            {"training_steps", det.training_records()},
            {"last_step", det.last_step()},
            {"margin_decomposition", std::move(decomposition)},
            {"problem_steps", std::move(problem_steps)},
            {"dominant_problem", dominant == Regime::WarmingUp ? nlohmann::json(nullptr)
                                                               : nlohmann::json(to_string(dominant))},
            {"verdict", verdict_of(det, md)},
            {"options", det.options().to_json()}};
}

std::optional<RegimeEvent> parse_regime_event(const RunEvent& e) {
    if (e.kind != "regime" || !e.data.is_object()) return std::nullopt;
    const auto to = e.data.find("to");
    if (to == e.data.end() || !to->is_string()) return std::nullopt;
    const auto step_of = [&](const char* key) {
        const auto it = e.data.find(key);
        return it != e.data.end() && it->is_number() ? it->get<int64_t>() : e.step;
    };
    RegimeEvent r;
    r.step = e.step;
    r.since_step = step_of("since_step");
    r.declared_step = step_of("declared_step");
    const auto from = e.data.find("from");
    if (from != e.data.end() && from->is_string()) r.from = from->get<std::string>();
    r.to = to->get<std::string>();
    r.message = e.message;
    return r;
}

DiagnosisSink::DiagnosisSink(EventCallback emit, RegimeDetectorOptions options)
    : emit_(std::move(emit)), detector_(std::move(options)) {
    if (!emit_) throw Error("a DiagnosisSink needs a callback for its regime events, got none");
}

void DiagnosisSink::on_start(const RunInfo& info) {
    (void)info;
    std::lock_guard<std::mutex> lock(mutex_);
    detector_.reset();
}

void DiagnosisSink::on_metrics(const StepMetrics& metrics) {
    std::vector<RegimeChange> changes;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        detector_.add(metrics);
        changes = detector_.take_changes();
    }
    // Outside the lock: the callback may forward to sinks that ask this one for its segments.
    for (RegimeChange& c : changes) {
        RunEvent e;
        e.step = c.step;
        e.wall_time = metrics.wall_time;
        e.kind = "regime";
        e.message = std::move(c.explanation);
        e.data = c.evidence.is_object() ? std::move(c.evidence) : nlohmann::json::object();
        e.data["from"] = c.from;
        e.data["to"] = c.to;
        emit_(e);
    }
}

Regime DiagnosisSink::current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return detector_.current();
}

std::vector<RegimeSegment> DiagnosisSink::segments() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return detector_.segments();
}

}  // namespace ps
