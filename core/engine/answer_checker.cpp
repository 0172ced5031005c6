#include "core/engine/answer_checker.h"

#include <algorithm>
#include <string>

#include "core/engine/reference_model.h"
#include "core/model/generation.h"
#include "core/model/model_source.h"

namespace ps {

namespace {

// Longest answers checked: a prompt's greedy answer gets this many tokens more than the
// longest answer of its pairs, so an answer that runs on past the chosen one is seen as such.
constexpr int kExtraTokens = 4;

// A row's completion as an answer to compare with: its tokens without the trailing stop token.
ExpectedAnswer expected_answer(const TokenRow& row, const std::string& text, const std::vector<int64_t>& stop_ids) {
    ExpectedAnswer a;
    a.tokens = row.completion;
    if (!a.tokens.empty() && std::find(stop_ids.begin(), stop_ids.end(), a.tokens.back()) != stop_ids.end())
        a.tokens.pop_back();
    a.text = text;
    return a;
}

}  // namespace

AnswerChecker::AnswerChecker(const RunConfig& config, RunSetup& setup, RunStream& stream)
    : config_(config), setup_(setup), stream_(stream) {}

void AnswerChecker::start(const PairTracker& tracker) {
    groups_.clear();
    chosen_.clear();
    rejected_.clear();
    if (!tracker.active() || !answer_check_enabled(config_.train.answer_check, config_.model.source)) return;
    from_eval_ = tracker.from_eval();
    groups_ = tracker.tracked_groups();
    stop_ids_ = generation_stop_ids(setup_.loaded, setup_.tokenizer.get());
    const TokenRows& rows = tracker.split();
    const auto& texts = from_eval_ ? setup_.data.eval_text : setup_.data.train_text;
    size_t longest = 0;
    for (size_t g : groups_) {
        const size_t source = rows.sources[g];
        const PreferencePair* text = source < texts.size() ? &texts[source] : nullptr;
        chosen_.push_back(expected_answer(rows.row(g, 0), text ? text->chosen : std::string(), stop_ids_));
        rejected_.push_back(expected_answer(rows.row(g, 1), text ? text->rejected : std::string(), stop_ids_));
        longest = std::max({longest, chosen_.back().tokens.size(), rejected_.back().tokens.size()});
    }
    max_new_tokens_ = static_cast<int>(longest) + kExtraTokens;
    stream_.event("info",
                  "Answer check: the " + std::to_string(groups_.size()) + " tracked " + (from_eval_ ? "eval" : "train") +
                      " prompts are answered greedily (up to " + std::to_string(max_new_tokens_) +
                      " tokens) at step 0 and at every eval (train.answer_check).",
                  {{"answer_check_prompts", groups_.size()}, {"max_new_tokens", max_new_tokens_}});
    StepMetrics m;
    m.step = 0;
    check(0, m);
    stream_.emit(m);
}

void AnswerChecker::check(int64_t step, StepMetrics& metrics) {
    if (!active()) return;
    const std::string phase = stream_.phase;
    stream_.phase = "eval";
    const TokenRows& rows = setup_.rows(from_eval_ ? Split::Eval : Split::Train);
    GenerationOptions options;
    options.max_new_tokens = max_new_tokens_;
    options.stop_ids = stop_ids_;
    AnswerCounts counts;
    nlohmann::json answers = nlohmann::json::array();
    for (const std::vector<size_t>& positions : pass_batches(groups_.size(), config_)) {
        stream_.check_control();
        std::vector<std::vector<int64_t>> prompts;
        for (size_t k : positions) prompts.push_back(rows.prompt(groups_[k]));
        const std::vector<GeneratedSequence> out = generate_tokens(setup_.policy, prompts, options);
        for (size_t j = 0; j < positions.size(); ++j) {
            const size_t k = positions[j];
            const std::string text = setup_.tokenizer->decode_text(out[j].tokens);
            const AnswerMatch match = classify_answer(out[j].tokens, text, chosen_[k], rejected_[k]);
            counts.add(match);
            answers.push_back({{"pair", k}, {"answer", text}, {"match", to_string(match)},
                               {"finish_reason", out[j].finish_reason}});
        }
    }
    counts.set_metrics(metrics);
    const auto pct = [&](int64_t c) { return std::to_string(int(100.0 * double(c) / double(counts.prompts()) + 0.5)) + "%"; };
    stream_.event("answers",
                  "Answer check at step " + std::to_string(step) + ": of " + std::to_string(counts.prompts()) +
                      " greedy answers, " + pct(counts.chosen) + " equal the chosen answer, " + pct(counts.rejected) +
                      " the rejected one, " + pct(counts.other) + " neither.",
                  {{"step", step}, {"chosen", counts.chosen}, {"rejected", counts.rejected}, {"other", counts.other},
                   {"answers", std::move(answers)}});
    stream_.phase = phase;
}

}  // namespace ps
