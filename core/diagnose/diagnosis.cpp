#include "core/diagnose/diagnosis.h"

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "core/common/errors.h"
#include "core/diagnose/answer_check.h"
#include "core/diagnose/margin_decomposition.h"

namespace ps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string lower_label(Regime r) {
    std::string s = regime_label(r);
    if (!s.empty()) s[0] = static_cast<char>(s[0] - 'A' + 'a');
    return s;
}

std::string steps_text(int64_t a, int64_t b) {
    return a == b ? "step " + std::to_string(a) : "steps " + std::to_string(a) + "-" + std::to_string(b);
}

int64_t phase_steps(const Phase& p) { return p.end_step - p.start_step + 1; }

double movement(const Phase& p) {
    double m = 0.0;
    if (std::isfinite(p.chosen.change)) m += std::fabs(p.chosen.change);
    if (std::isfinite(p.rejected.change)) m += std::fabs(p.rejected.change);
    return m;
}

// A merged phase is one line fit over stretches that were each classified: where the regime
// says which way a side went and the whole phase's line agrees in sign, the evidence says so
// too (the headline, the bands and the evidence never disagree on a phase's direction).
void align_directions(Phase& p) {
    auto force = [](LineFit& f, int d) {
        if (f.direction != d && std::isfinite(f.slope) && (f.slope > 0 ? 1 : -1) == d) f.direction = d;
    };
    switch (p.regime) {
        case Regime::BothFalling: force(p.chosen, -1); force(p.rejected, -1); break;
        case Regime::BothRising: force(p.chosen, 1); force(p.rejected, 1); break;
        case Regime::MarginCollapsing: force(p.margin, -1); break;
        default: break;
    }
}

// Plain words for one phase, with its numbers.
std::string phase_explanation(const Phase& p, const std::string& unit_note) {
    if (p.regime == Regime::Diverging) {
        std::string what;
        if (p.reason == "non_finite")
            what = "Training is diverging: " + (p.metric.empty() ? std::string("a metric") : p.metric) + " became " +
                   (p.value.empty() ? std::string("NaN") : p.value) + " at step " + std::to_string(p.start_step) + ".";
        else if (p.reason == "grad_norm_exploding")
            what = "Training is diverging: grad_norm stayed far above its early level from step " +
                   std::to_string(p.start_step) + ".";
        else
            what = "Training is diverging: the loss stayed above 3x its early median from step " +
                   std::to_string(p.start_step) + ".";
        return what + " Lower the learning rate or raise beta, keep gradient clipping on, and check the data for "
                      "empty or truncated answers.";
    }
    if (p.regime == Regime::WarmingUp)
        return "Not enough logged points with rewards here to judge their trends (a line needs 4).";
    const std::string numbers = " Over " + steps_text(p.start_step, p.end_step) + " chosen changed by " +
                                fmt("%+.3f", p.chosen.change) + " and rejected by " + fmt("%+.3f", p.rejected.change) +
                                " (margin " + fmt("%+.3f", p.margin.change) + ")" + unit_note + ".";
    const char* words[] = {"falling", "flat", "rising"};
    const auto w = [&](const LineFit& f) { return words[f.direction + 1]; };
    switch (p.regime) {
        case Regime::Healthy:
            if (p.chosen.direction >= 0 && p.rejected.direction < 0)
                return regime_explanation(Regime::Healthy) + numbers;
            if (p.chosen.direction == 0 && p.rejected.direction == 0 && p.margin.direction == 0)
                return "No significant trend in chosen, rejected or the margin: nothing moves (a run that stays flat "
                       "for long may need a larger learning rate)." + numbers;
            return std::string("No problem pattern: chosen ") + w(p.chosen) + ", rejected " + w(p.rejected) +
                   ", margin " + w(p.margin) + "." + numbers;
        case Regime::BothFalling:
            if (p.margin.direction > 0) return regime_explanation(p.regime) + numbers;
            return "Both rewards are falling: the policy is moving away from the chosen answers as well as the "
                   "rejected ones, and the margin is not growing. Common causes: chosen answers unlikely under the "
                   "model (off-policy), near-identical pairs, learning rate too high." + numbers;
        case Regime::BothRising:
            if (p.margin.direction > 0) return regime_explanation(p.regime) + numbers;
            return "Both rewards are rising: the policy is moving toward the rejected answers as well as the chosen "
                   "ones, and the margin is not growing. Check that the rejected answers really are worse." + numbers;
        default: return regime_explanation(p.regime) + numbers;
    }
}

// "ORPO" for "orpo"; the name itself when the table has no such algorithm.
std::string algorithm_title_of(const std::string& name) {
    const std::optional<Algorithm> a = find_algorithm(name);
    return a ? algorithm_spec(*a).title : name;
}

struct Level {
    double end = kNaN, se = kNaN, baseline = kNaN, change = kNaN;
    bool fell = false, rose = false;
    nlohmann::json to_json() const {
        return {{"end", num(end)}, {"se", num(se)}, {"baseline", num(baseline)}, {"change", num(change)},
                {"fell", fell}, {"rose", rose}};
    }
};

// "-0.52 ± 0.03"
std::string level_text(const Level& l) {
    return fmt("%+.3f", l.end) + " ± " + fmt("%.3f", std::isfinite(l.se) ? l.se : 0.0);
}

}  // namespace

Regime dominant_problem(const std::vector<Phase>& phases) {
    if (phases.empty()) return Regime::WarmingUp;
    if (phases.back().regime == Regime::Diverging) return Regime::Diverging;
    std::map<Regime, double> steps, moved;
    double total_steps = 0.0, total_moved = 0.0;
    for (const Phase& p : phases) {
        total_steps += double(phase_steps(p));
        total_moved += movement(p);
        if (!is_problem(p.regime)) continue;
        steps[p.regime] += double(phase_steps(p));
        moved[p.regime] += movement(p);
    }
    Regime best = Regime::WarmingUp;
    double best_score = -1.0;
    for (const Phase& p : phases) {  // in phase order: a tie goes to the later regime
        if (!is_problem(p.regime)) continue;
        const double score = std::max(total_steps > 0 ? steps[p.regime] / total_steps : 0.0,
                                      total_moved > 0 ? moved[p.regime] / total_moved : 0.0);
        if (score >= best_score) {
            best_score = score;
            best = p.regime;
        }
    }
    return best;
}

nlohmann::json diagnose_series(const std::vector<StepMetrics>& all_steps, const DiagnosisContext& context) {
    PhaseOptions phase_options = context.phases;
    phase_options.rewards_start_at_zero = context.rewards_relative && context.starts_run;
    PhaseSegmentation seg = segment_phases(all_steps, phase_options);
    for (Phase& p : seg.phases) align_directions(p);
    const bool absolute = !context.rewards_relative;
    const std::string unit_note;  // the phases' numbers are changes: the same for any baseline

    nlohmann::json regimes = nlohmann::json::array();
    for (const Phase& p : seg.phases) {
        nlohmann::json ev = {{"method", "segmentation"}, {"points", p.last - p.first + 1},
                             {"since_step", p.start_step}, {"declared_step", p.start_step}};
        if (p.regime == Regime::Diverging) {
            ev["reason"] = p.reason;
            if (!p.metric.empty()) {
                ev["metric"] = p.metric;
                ev["value"] = p.value;
                ev["step"] = p.start_step;
            }
        } else if (p.regime != Regime::WarmingUp) {
            ev["chosen"] = p.chosen.to_json();
            ev["rejected"] = p.rejected.to_json();
            ev["margin"] = p.margin.to_json();
        }
        ev["regime"] = to_string(p.regime);
        regimes.push_back({{"start_step", p.start_step},
                           {"end_step", p.end_step},
                           {"declared_step", p.start_step},
                           {"regime", to_string(p.regime)},
                           {"evidence", std::move(ev)},
                           {"explanation", phase_explanation(p, unit_note)}});
    }

    nlohmann::json problem_steps = nlohmann::json::object();
    for (const Phase& p : seg.phases)
        if (is_problem(p.regime))
            problem_steps[to_string(p.regime)] = problem_steps.value(to_string(p.regime), int64_t{0}) + phase_steps(p);
    const Regime dominant = dominant_problem(seg.phases);
    const Regime final_regime = seg.phases.empty() ? Regime::WarmingUp : seg.phases.back().regime;

    // Where the run stands: the fitted levels of its last judged phase, against the baseline.
    const Phase* last_fit = nullptr;
    for (const Phase& p : seg.phases)
        if (p.regime != Regime::Diverging && p.regime != Regime::WarmingUp) last_fit = &p;
    Level chosen, rejected;
    const double z = context.phases.z;
    if (last_fit) {
        const auto level = [&](const LineFit& f, double early, bool logged) {
            Level l;
            if (!logged || !std::isfinite(f.end)) return l;
            l.end = f.end;
            l.se = f.end_se;
            l.baseline = absolute ? early : 0.0;
            l.change = l.end - l.baseline;
            // Clearly away from the baseline: z standard errors, and more than the smallest
            // change the phases count (min_relative_rate of the run's scale).
            const double threshold = std::max(z * l.se, context.phases.min_relative_rate * seg.scale);
            l.fell = l.change < -threshold;
            l.rose = l.change > threshold;
            return l;
        };
        chosen = level(last_fit->chosen, seg.chosen_baseline, seg.has_chosen);
        rejected = level(last_fit->rejected, seg.rejected_baseline, seg.has_rejected);
    }
    MarginDecomposition md = decompose_margin(chosen.end, rejected.end, std::isfinite(chosen.baseline) ? chosen.baseline : 0.0,
                                              std::isfinite(rejected.baseline) ? rejected.baseline : 0.0);
    nlohmann::json decomposition = md.to_json();
    decomposition["step"] = last_fit ? last_fit->end_step : (seg.steps.empty() ? 0 : seg.steps.back());
    decomposition["baseline"] = absolute ? "early" : "reference";
    decomposition["chosen_baseline"] = num(chosen.baseline);
    decomposition["rejected_baseline"] = num(rejected.baseline);

    std::string unlogged;
    if (seg.records > 0 && seg.has_chosen != seg.has_rejected) unlogged = seg.has_chosen ? "rejected" : "chosen";

    // Severity and the words.
    bool earlier_problem = false;
    for (size_t i = 0; i + 1 < seg.phases.size(); ++i) earlier_problem = earlier_problem || is_problem(seg.phases[i].regime);
    // Likelihood displacement (Razin et al. 2024): chosen ended clearly below its baseline and
    // lost at least half as much as the (clearly positive) margin gained: the margin was bought
    // mostly by making the chosen answers less likely, which no later flat or healthy stretch
    // undoes. A practitioner reads that end state as a problem, whatever the last phase does.
    const double margin_se = last_fit && std::isfinite(last_fit->margin.end_se) ? last_fit->margin.end_se : 0.0;
    const bool displaced = chosen.fell && std::isfinite(md.margin) && md.margin > z * margin_se && md.margin > 0.0 &&
                           -md.from_chosen >= 0.5 * md.margin;
    std::string severity = "unknown";
    if (last_fit || final_regime == Regime::Diverging) {
        // Both falling while chosen still stands above its baseline (TinyLlama's real run: chosen
        // +0.10 after peaking near +0.3, the margin still growing) is a warning, not yet a loss.
        const bool falling_problem = final_regime == Regime::BothFalling && (chosen.fell || !std::isfinite(chosen.end) ||
                                                                             !chosen.rose);
        if (final_regime == Regime::Diverging || final_regime == Regime::MarginCollapsing || falling_problem ||
            displaced)
            severity = "problem";
        else if (final_regime == Regime::BothFalling)
            severity = "watch";
        else if (final_regime == Regime::BothRising || earlier_problem || chosen.fell)
            severity = "watch";
        else
            severity = "fine";
    }
    // A run whose only phase shows no significant trend in chosen, rejected or the margin has
    // not learned to prefer anything: not a problem pattern, but not "fine" either.
    const bool flat = seg.phases.size() == 1 && final_regime == Regime::Healthy && seg.phases[0].chosen.direction == 0 &&
                      seg.phases[0].rejected.direction == 0 && seg.phases[0].margin.direction == 0;
    if (flat && severity == "fine") severity = "watch";
    // The answer check (greedy answers to the tracked prompts) can show a loss the rewards do
    // not: fewer answers equal to the chosen one, or more equal to neither, is worth watching.
    // (z = 2: one comparison per run, first check against last.)
    const std::optional<AnswerCheckSummary> answers = summarize_answer_checks(all_steps);
    const bool answers_worse = answers && (answers->chosen_fell() || (answers->other_rose() && answers->chosen_change <= 0));
    if (answers_worse && severity == "fine") severity = "watch";
    const std::string ref = absolute ? "its early level" : "the reference";
    const std::string ref_value = absolute ? std::string() : std::string(" (0)");
    std::string headline, verdict;
    const int64_t n = seg.records;
    if (n == 0) {
        headline = verdict = "No preference-training metrics to diagnose (the stream holds only SFT or eval records, or nothing).";
    } else if (!seg.has_chosen && !seg.has_rejected && final_regime != Regime::Diverging) {
        headline = verdict = "The run logs no chosen and rejected rewards (rewards/chosen, rewards/rejected), so their trends "
                             "cannot be judged.";
    } else if (!last_fit && final_regime != Regime::Diverging) {
        headline = verdict = "Not enough data yet: " + std::to_string(seg.finite_points) +
                             " logged points with rewards, a trend needs 4.";
    } else {
        std::string state;
        const Phase& fin = seg.phases.back();
        const bool whole = seg.phases.size() == 1;
        const std::string when = (whole ? "throughout (" : "at the end (") + steps_text(fin.start_step, fin.end_step) + ")";
        switch (final_regime) {
            case Regime::Diverging: state = "training is diverging from step " + std::to_string(fin.start_step); break;
            case Regime::BothFalling: state = "both rewards are falling " + when; break;
            case Regime::BothRising: state = "both rewards are rising " + when; break;
            case Regime::MarginCollapsing: state = "the margin is collapsing " + when; break;
            default:
                state = flat ? "nothing moves throughout (no significant trend in chosen, rejected or the margin)"
                             : whole ? "healthy throughout" : "healthy " + when;
                break;
        }
        std::string levels;
        if (std::isfinite(chosen.end)) {
            levels = "chosen ended at " + level_text(chosen);
            if (chosen.fell) {
                levels += ", below " + ref + ref_value + ": the chosen answers lost likelihood";
                if (displaced)
                    levels += " (likelihood displacement: " + fmt("%.3f", -md.from_chosen) +
                              " of chosen lost for a margin of " + fmt("%.3f", md.margin) +
                              ", which grows only because rejected fell further)";
            }
            else if (chosen.rose) levels += ", above " + ref + ref_value;
            else levels += ", level with " + ref + ref_value;
        }
        if (std::isfinite(rejected.end)) {
            levels += std::string(levels.empty() ? "" : "; ") + "rejected ended at " + level_text(rejected);
            if (rejected.fell) levels += ", below " + ref;
            else if (rejected.rose) levels += ", above " + ref;
            else levels += ", level with " + ref;
        }
        if (final_regime == Regime::Diverging && last_fit) levels = "before that, " + levels;
        std::string sev = severity;
        sev[0] = char(sev[0] - 'a' + 'A');
        headline = sev + ": " + (displaced && !is_problem(final_regime) ? "likelihood displacement; " : "") + state +
                   (levels.empty() ? "" : "; " + levels) + ".";
        if (absolute)
            headline += " (" + (context.algorithm.empty() ? std::string("These") : algorithm_title_of(context.algorithm)) +
                        " rewards are beta x the policy's own average log-prob, with no reference: levels and changes "
                        "are measured from the run's early level.)";
        if (answers_worse) headline += " Answer check: " + answers->headline() + ".";
        if (!unlogged.empty())
            headline += " Only " + std::string(unlogged == "rejected" ? "chosen" : "rejected") +
                        " rewards are logged: the data holds no " +
                        (unlogged == "rejected" ? "undesirable" : "desirable") + " examples, so " + unlogged +
                        " is not logged and the margin cannot be judged.";
        // The phases, in order.
        std::string phases;
        constexpr size_t kMaxListed = 6;
        for (size_t i = 0; i < seg.phases.size() && i < kMaxListed; ++i) {
            const Phase& p = seg.phases[i];
            phases += (i ? ", " : "") + lower_label(p.regime) + " at " + steps_text(p.start_step, p.end_step);
            if (p.regime != Regime::Diverging && p.regime != Regime::WarmingUp && std::isfinite(p.chosen.change) &&
                std::isfinite(p.rejected.change))
                phases += " (chosen " + fmt("%+.3f", p.chosen.change) + ", rejected " + fmt("%+.3f", p.rejected.change) + ")";
        }
        if (seg.phases.size() > kMaxListed) phases += " and " + std::to_string(seg.phases.size() - kMaxListed) + " more";
        verdict = headline + " Phases: " + phases + ".";
        if (std::isfinite(md.margin)) {
            verdict += " The final " + md.describe() + (absolute ? " (from the early level)" : "") + ".";
            if (std::isfinite(md.share_rejected) && md.margin > 0 && md.from_chosen < 0)
                verdict += " All of the margin comes from pushing rejected down; chosen fell and takes " +
                           fmt("%.3f", -md.from_chosen) + " off it.";
        }
        if (answers) verdict += std::string(answers_worse ? " Answer check in detail: " : " Answer check: ") + answers->describe() + ".";
    }

    return {{"regimes", std::move(regimes)},
            {"final_regime", to_string(final_regime)},
            {"training_steps", seg.records},
            {"last_step", seg.steps.empty() ? int64_t{0} : seg.steps.back()},
            {"levels", {{"baseline", absolute ? "early" : "reference"}, {"chosen", chosen.to_json()}, {"rejected", rejected.to_json()}}},
            {"margin_decomposition", std::move(decomposition)},
            {"problem_steps", std::move(problem_steps)},
            {"dominant_problem", dominant == Regime::WarmingUp ? nlohmann::json(nullptr) : nlohmann::json(to_string(dominant))},
            {"severity", severity},
            {"likelihood_displacement", displaced},
            {"answer_check", answers ? answers->to_json() : nlohmann::json(nullptr)},
            {"headline", headline},
            {"verdict", verdict},
            {"noise", {{"chosen", num(seg.noise_chosen)}, {"rejected", num(seg.noise_rejected)}, {"margin", num(seg.noise_margin)}}},
            {"unlogged_side", unlogged.empty() ? nlohmann::json(nullptr) : nlohmann::json(unlogged)},
            {"early_levels", last_fit ? nlohmann::json{{"chosen", num(seg.chosen_baseline)},
                                                       {"rejected", num(seg.rejected_baseline)},
                                                       {"margin", num(seg.margin_baseline)}}
                                      : nlohmann::json(nullptr)},
            {"options", phase_options.to_json()}};
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

DiagnosisContext diagnosis_context_for(const std::string& algorithm_name, const nlohmann::json& resolved_config,
                                       const nlohmann::json& config) {
    DiagnosisContext context;
    context.algorithm = algorithm_name;
    const std::optional<Algorithm> algorithm = find_algorithm(algorithm_name);
    if (!algorithm) return context;
    const AlgorithmSpec& row = algorithm_spec(*algorithm);
    context.data = row.data;
    context.rewards_relative = row.rewards == RewardKind::RelativeToReference;
    // Reference-free DPO: the reference is uniform, so the rewards are the policy's own.
    for (const nlohmann::json* c : {&resolved_config, &config})
        if (c->is_object() && c->contains("objective") && (*c)["objective"].is_object()) {
            const nlohmann::json& objective = (*c)["objective"];
            if (objective.contains("reference_free") && objective["reference_free"].is_boolean() &&
                objective["reference_free"].get<bool>())
                context.rewards_relative = false;
            break;
        }
    return context;
}

void LiveDiagnosisOptions::validate() const {
    if (window < 16) throw Error("live diagnosis option window must be >= 16, got " + std::to_string(window));
    if (stride < 1 || stride > window)
        throw Error("live diagnosis option stride must be in [1, window], got " + std::to_string(stride));
    if (hold < 1) throw Error("live diagnosis option hold must be >= 1, got " + std::to_string(hold));
}

LiveDiagnosis::LiveDiagnosis(DiagnosisContext context, LiveDiagnosisOptions options)
    : context_(std::move(context)), options_(options) {
    options_.validate();
    context_.phases.validate();
}

void LiveDiagnosis::reset(DiagnosisContext context) {
    context.phases.validate();
    const LiveDiagnosisOptions options = options_;
    *this = LiveDiagnosis();
    options_ = options;
    context_ = std::move(context);
}

bool LiveDiagnosis::add(const StepMetrics& m) {
    // The training records, as segment_phases reads them; only the metrics it reads are kept.
    StepMetrics kept;
    kept.step = m.step;
    kept.wall_time = m.wall_time;
    for (const auto& [name, value] : m.values)
        if (name == "rewards/chosen" || name == "rewards/rejected" || name == "rewards/margins" || name == "loss" ||
            name == "grad_norm")
            kept.values.emplace_back(name, value);
    if (kept.values.empty()) return false;
    if (records_ > 0 && m.step <= last_step_) return false;
    last_step_ = m.step;
    ++records_;
    window_.push_back(std::move(kept));
    if (window_.size() > size_t(options_.window)) window_.pop_front();
    ++since_diagnosis_;
    // Every records / 128 records, at least 1, at most `stride`: a bounded cost per record.
    const int64_t stride = std::clamp<int64_t>(records_ / 128, 1, options_.stride);
    if (since_diagnosis_ < stride) return false;
    diagnose(m.step, false);
    return true;
}

bool LiveDiagnosis::finish() {
    if (window_.empty()) return false;
    // The held-back label too: the run is over, its last diagnosis is what it ended as.
    if (since_diagnosis_ > 0) diagnose(window_.back().step, true);
    else if (!candidate_.empty()) announce(window_.back().step);
    return true;
}

void LiveDiagnosis::diagnose(int64_t step, bool final) {
    since_diagnosis_ = 0;
    DiagnosisContext context = context_;
    const bool whole = records_ <= int64_t(window_.size());
    context.starts_run = whole;
    if (!whole && early_.is_object()) {
        const auto level = [&](const char* key) {
            const auto it = early_.find(key);
            return it != early_.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
        };
        context.phases.chosen_baseline = level("chosen");
        context.phases.rejected_baseline = level("rejected");
        context.phases.margin_baseline = level("margin");
    }
    const std::vector<StepMetrics> stream(window_.begin(), window_.end());
    latest_ = diagnose_series(stream, context);
    if (whole && latest_["early_levels"].is_object()) early_ = latest_["early_levels"];

    const std::string final_name = latest_.value("final_regime", std::string("warming_up"));
    const Regime final_regime = regime_from_string(final_name);
    const nlohmann::json& regimes = latest_["regimes"];
    const nlohmann::json& levels = latest_["levels"];
    const auto side = [&](const char* name) {
        const nlohmann::json& l = levels[name];
        if (!l.is_object()) return std::string("-");
        return std::string(l.value("fell", false) ? "fell" : l.value("rose", false) ? "rose" : "level");
    };
    const std::string severity = latest_.value("severity", std::string("unknown"));
    const std::string key = final_name + "|" + severity + "|" + side("chosen") + "|" + side("rejected");
    // Nothing judged yet (too few points, no rewards): no label to announce.
    if (final_regime == Regime::WarmingUp || regimes.empty() || key == key_) {
        candidate_.clear();
        return;
    }
    if (key != candidate_) {
        candidate_ = key;
        candidate_since_ = records_;
    }
    if (!final && final_regime != Regime::Diverging && records_ - candidate_since_ + 1 < options_.hold) return;
    announce(step);
}

void LiveDiagnosis::announce(int64_t step) {
    const nlohmann::json& regimes = latest_["regimes"];
    const std::string final_name = latest_.value("final_regime", std::string("warming_up"));
    const std::string severity = latest_.value("severity", std::string("unknown"));
    const nlohmann::json& last = regimes.back();
    RunEvent e;
    e.step = step;
    e.kind = "regime";
    e.message = last.value("explanation", std::string());
    e.data = last.contains("evidence") && last["evidence"].is_object() ? last["evidence"] : nlohmann::json::object();
    e.data["from"] = to_string(label_);
    e.data["to"] = final_name;
    e.data["since_step"] = last.value("start_step", step);
    e.data["declared_step"] = step;
    e.data["live"] = true;
    e.data["severity"] = severity;
    e.data["headline"] = latest_.value("headline", std::string());
    e.data["window_start_step"] = window_.front().step;
    e.data["records"] = records_;
    pending_.push_back(std::move(e));
    label_ = regime_from_string(final_name);
    key_ = candidate_;
    candidate_.clear();
}

std::vector<RunEvent> LiveDiagnosis::take_events() {
    std::vector<RunEvent> out;
    out.swap(pending_);
    return out;
}

DiagnosisSink::DiagnosisSink(EventCallback emit, LiveDiagnosisOptions options)
    : emit_(std::move(emit)), live_(DiagnosisContext{}, options) {
    if (!emit_) throw Error("a DiagnosisSink needs a callback for its regime events, got none");
}

void DiagnosisSink::on_start(const RunInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.reset(diagnosis_context_for(info.algorithm, info.resolved_config, info.config));
}

void DiagnosisSink::on_metrics(const StepMetrics& metrics) {
    std::vector<RunEvent> events;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        live_.add(metrics);
        events = live_.take_events();
        last_wall_ = metrics.wall_time;
    }
    // Outside the lock: the callback may forward to sinks that ask this one for its label.
    for (RunEvent& e : events) {
        e.wall_time = metrics.wall_time;
        emit_(e);
    }
}

void DiagnosisSink::on_progress(const RunProgress& progress) {
    if (progress.phase == "done") finish();
}

void DiagnosisSink::on_finish(RunStatus status, const nlohmann::json& final_metrics, const std::string& error) {
    (void)status;
    (void)final_metrics;
    (void)error;
    finish();
}

void DiagnosisSink::finish() {
    std::vector<RunEvent> events;
    double wall = 0.0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        live_.finish();
        events = live_.take_events();
        wall = last_wall_;
    }
    for (RunEvent& e : events) {
        e.wall_time = wall;
        emit_(e);
    }
}

Regime DiagnosisSink::current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.current();
}

nlohmann::json DiagnosisSink::latest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.latest();
}

}  // namespace ps
