#include "core/diagnose/answer_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ps {

namespace {

std::string trimmed(const std::string& s) {
    const char* ws = " \t\r\n\f\v";
    const size_t a = s.find_first_not_of(ws);
    if (a == std::string::npos) return {};
    return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

bool equal_answer(const std::vector<int64_t>& tokens, const std::string& text, const ExpectedAnswer& expected) {
    if (!tokens.empty() && tokens == expected.tokens) return true;
    const std::string t = trimmed(text);
    return !t.empty() && t == trimmed(expected.text);
}

std::string percent(double share) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * share);
    return buf;
}

// Whether `to` differs from `from` by more than z standard errors and at least one prompt.
int clear_change(double from, int64_t n0, double to, int64_t n1, double z) {
    if (n0 <= 0 || n1 <= 0 || !std::isfinite(from) || !std::isfinite(to)) return 0;
    double var = from * (1 - from) / double(n0) + to * (1 - to) / double(n1);
    if (var <= 0) {  // both shares 0 or 1: the pooled share's variance
        const double p = (from * double(n0) + to * double(n1)) / double(n0 + n1);
        var = p * (1 - p) * (1.0 / double(n0) + 1.0 / double(n1));
    }
    const double d = to - from;
    const double one_prompt = 1.0 / double(std::max(n0, n1));
    if (std::fabs(d) < one_prompt - 1e-12 || std::fabs(d) <= z * std::sqrt(var)) return 0;
    return d > 0 ? 1 : -1;
}

}  // namespace

const char* to_string(AnswerMatch match) {
    switch (match) {
        case AnswerMatch::Chosen: return "chosen";
        case AnswerMatch::Rejected: return "rejected";
        case AnswerMatch::Other: return "other";
    }
    return "other";
}

AnswerMatch classify_answer(const std::vector<int64_t>& tokens, const std::string& text, const ExpectedAnswer& chosen,
                            const ExpectedAnswer& rejected) {
    if (equal_answer(tokens, text, chosen)) return AnswerMatch::Chosen;
    if (equal_answer(tokens, text, rejected)) return AnswerMatch::Rejected;
    return AnswerMatch::Other;
}

void AnswerCounts::add(AnswerMatch match) {
    switch (match) {
        case AnswerMatch::Chosen: ++chosen; break;
        case AnswerMatch::Rejected: ++rejected; break;
        case AnswerMatch::Other: ++other; break;
    }
}

void AnswerCounts::set_metrics(StepMetrics& m) const {
    const int64_t n = prompts();
    if (n == 0) return;
    m.set(kAnswersChosenMetric, double(chosen) / double(n));
    m.set(kAnswersRejectedMetric, double(rejected) / double(n));
    m.set(kAnswersOtherMetric, double(other) / double(n));
    m.set(kAnswersPromptsMetric, double(n));
}

std::vector<AnswerShares> answer_checks(const std::vector<StepMetrics>& stream) {
    std::vector<AnswerShares> out;
    for (const StepMetrics& m : stream) {
        const double c = m.get(kAnswersChosenMetric);
        if (!std::isfinite(c)) continue;
        AnswerShares a;
        a.step = m.step;
        a.chosen = c;
        a.rejected = m.get(kAnswersRejectedMetric);
        a.other = m.get(kAnswersOtherMetric);
        const double n = m.get(kAnswersPromptsMetric);
        a.prompts = std::isfinite(n) && n > 0 ? int64_t(std::llround(n)) : 0;
        out.push_back(a);
    }
    std::stable_sort(out.begin(), out.end(), [](const AnswerShares& a, const AnswerShares& b) { return a.step < b.step; });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const AnswerShares& a, const AnswerShares& b) { return a.step == b.step; }),
              out.end());
    return out;
}

std::optional<AnswerCheckSummary> summarize_answer_checks(const std::vector<StepMetrics>& stream, double z) {
    const std::vector<AnswerShares> checks = answer_checks(stream);
    if (checks.empty()) return std::nullopt;
    AnswerCheckSummary s;
    s.first = checks.front();
    s.last = checks.back();
    s.checks = int64_t(checks.size());
    s.z = z;
    s.chosen_change = clear_change(s.first.chosen, s.first.prompts, s.last.chosen, s.last.prompts, z);
    s.rejected_change = clear_change(s.first.rejected, s.first.prompts, s.last.rejected, s.last.prompts, z);
    s.other_change = clear_change(s.first.other, s.first.prompts, s.last.other, s.last.prompts, z);
    return s;
}

std::string AnswerCheckSummary::describe() const {
    const std::string steps = "step " + std::to_string(first.step) + " -> " + std::to_string(last.step);
    const std::string of = " of " + std::to_string(last.prompts) + " tracked prompts";
    if (checks < 2)
        return "greedy answers at step " + std::to_string(last.step) + ": " + percent(last.chosen) +
               " equal to the chosen answer, " + percent(last.rejected) + " to the rejected one, " +
               percent(last.other) + " to neither" + of;
    // "fell" / "rose" only for a clear change; otherwise the numbers and "within the noise".
    const auto moved = [](int change, double from, double to) {
        const std::string words = change < 0 ? "fell" : change > 0 ? "rose" : from == to ? "stayed" : "went";
        return words + " from " + percent(from) + " to " + percent(to);
    };
    const auto noise = [](int change, double from, double to) { return change == 0 && from != to; };
    return "greedy answers equal to the chosen answer " + moved(chosen_change, first.chosen, last.chosen) + of + " (" +
           steps + (noise(chosen_change, first.chosen, last.chosen) ? ", within the noise" : "") +
           "); equal to the rejected one " + moved(rejected_change, first.rejected, last.rejected) +
           (noise(rejected_change, first.rejected, last.rejected) ? " (within the noise)" : "") + "; equal to neither " +
           moved(other_change, first.other, last.other) +
           (noise(other_change, first.other, last.other) ? " (within the noise)" : "");
}

std::string AnswerCheckSummary::headline() const {
    const std::string of = " of " + std::to_string(last.prompts) + " tracked prompts";
    if (chosen_fell())
        return "greedy answers equal to the chosen answer fell from " + percent(first.chosen) + " to " +
               percent(last.chosen) + of;
    return "greedy answers equal to neither answer rose from " + percent(first.other) + " to " + percent(last.other) + of;
}

nlohmann::json AnswerCheckSummary::to_json() const {
    const auto shares = [](const AnswerShares& a) {
        return nlohmann::json{{"step", a.step}, {"chosen", a.chosen}, {"rejected", a.rejected},
                              {"other", a.other}, {"prompts", a.prompts}};
    };
    return {{"first", shares(first)}, {"last", shares(last)}, {"checks", checks},
            {"change", {{"chosen", chosen_change}, {"rejected", rejected_change}, {"other", other_change}}},
            {"z", z}, {"summary", describe()}};
}

}  // namespace ps
