#include "core/engine/onpolicy_data.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/engine/reference_cache.h"
#include "core/engine/run_thread.h"
#include "core/engine/trainer.h"
#include "core/model/generation.h"
#include "core/text/utf8.h"

namespace ps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Hands the SFT warm-up's progress to the caller's callback.
class WarmupProgressSink : public RunSink {
public:
    WarmupProgressSink(const OnPolicyProgress& progress, int64_t sft_steps) : progress_(progress), sft_steps_(sft_steps) {}
    void on_metrics(const StepMetrics&) override {}
    void on_progress(const RunProgress& p) override {
        if (progress_ && p.phase == "sft") progress_("reference", p.step, sft_steps_);
    }

private:
    const OnPolicyProgress& progress_;
    int64_t sft_steps_;
};

std::string trimmed(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

json messages_json(const std::vector<ChatMessage>& messages) {
    json a = json::array();
    for (const auto& m : messages) a.push_back({{"role", m.role}, {"content", m.content}});
    return a;
}

// One TRL record: standard (strings) or conversational (message lists), like its source.
json trl_record(const PreferencePair& p, const std::string& rejected) {
    if (p.conversational)
        return {{"prompt", messages_json(p.prompt_messages)},
                {"chosen", messages_json(p.chosen_messages)},
                {"rejected", json::array({{{"role", "assistant"}, {"content", rejected}}})}};
    return {{"prompt", p.prompt}, {"chosen", p.chosen}, {"rejected", rejected}};
}

// The answer tokens without the end-of-sequence token the data pipeline appends.
size_t answer_length(const std::vector<int64_t>& completion, int64_t eos) {
    return completion.size() - ((!completion.empty() && completion.back() == eos) ? 1 : 0);
}

}  // namespace

void OnPolicyOptions::validate() const {
    if (out.empty()) throw ConfigError("--out", "name the JSONL file to write");
    if (samples < 1 || samples > 64) throw ConfigError("--samples", "must be between 1 and 64");
    if (!(temperature >= 0.0) || temperature > 100.0) throw ConfigError("--temperature", "must be 0 (greedy) or positive");
    if (!(top_p > 0.0 && top_p <= 1.0)) throw ConfigError("--top-p", "must be in (0, 1]");
    if (top_k < 0) throw ConfigError("--top-k", "must be 0 (off) or positive");
    if (max_new_tokens < 0) throw ConfigError("--max-new-tokens", "must be 0 (the data's longest answer) or positive");
    if (batch_size < 1) throw ConfigError("--batch-size", "must be at least 1");
}

std::string default_onpolicy_path(const RunConfig& config, const OnPolicyOptions& o) {
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    const int threads = config.train.threads > 0 ? config.train.threads : std::max(1, hw - 1);
    // The reference key covers model, seed, SFT warm-up, data and limits; the sampling
    // settings are added so other settings never reuse a file made with these.
    std::string key = reference_cache_key(config, threads, config.sft.steps);
    key += json{o.samples, o.temperature, o.top_p, o.top_k, o.max_new_tokens, o.seed}.dump();
    const uint64_t h = std::hash<std::string>{}(key);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    const fs::path train(config.data.train);
    return (train.parent_path() / (train.stem().string() + "-onpolicy-" + std::string(hex, 8) + ".jsonl")).string();
}

OnPolicyReport make_onpolicy_data(const RunConfig& config, const OnPolicyOptions& o, RunControl& control,
                                  const OnPolicyProgress& progress) {
    o.validate();
    const auto t0 = std::chrono::steady_clock::now();
    WarmupProgressSink sink(progress, config.sft.steps);
    std::vector<RunSink*> sinks{&sink};
    SamplingReference ref = build_sampling_reference(config, sinks, control);
    if (ref.pairs.empty())
        throw DataError(config.data.train, 0, "no pair is left after the length limits; nothing to sample for");
    const int64_t eos = ref.tokenizer->eos_id();

    OnPolicyReport report;
    report.path = o.out;
    report.reference_sft_steps = ref.sft_steps;
    int longest = 0, longest_prompt = 0;
    for (const auto& r : ref.pairs.rows) longest = std::max<int>(longest, static_cast<int>(answer_length(r.completion, eos)));
    for (const auto& p : ref.pairs.prompts) longest_prompt = std::max<int>(longest_prompt, static_cast<int>(p.size()));
    // A longer answer than max_length allows would be cut in training anyway.
    const int room = std::max(1, config.data.max_length - longest_prompt);
    report.max_new_tokens = o.max_new_tokens > 0 ? o.max_new_tokens : std::max(1, std::min(longest, room));

    GenerationOptions g;
    g.max_new_tokens = report.max_new_tokens;
    g.temperature = o.temperature;
    g.top_p = o.top_p;
    g.top_k = o.top_k;
    g.stop_ids = {eos};
    for (int64_t id : ref.model->shape().eos_token_ids)
        if (std::find(g.stop_ids.begin(), g.stop_ids.end(), id) == g.stop_ids.end()) g.stop_ids.push_back(id);
    g.validate();

    // Rows still without an answer that differs from their chosen one; each try samples them
    // again with another seed (greedy decoding gives the same answer every time: one try).
    const size_t n = ref.pairs.groups();
    std::vector<std::string> sampled(n);
    std::vector<bool> done(n, false), unfinished(n, false);
    auto text = [&](size_t i) -> const PreferencePair& { return ref.texts[ref.text_of[i]]; };
    // In the file's order, so a row's sampling stream does not depend on the train/eval split.
    std::vector<size_t> pending(n);
    for (size_t i = 0; i < n; ++i) pending[i] = i;
    std::stable_sort(pending.begin(), pending.end(),
                     [&](size_t a, size_t b) { return text(a).source_line < text(b).source_line; });
    const int tries = o.temperature > 0 ? o.samples : 1;
    const size_t batch = static_cast<size_t>(o.batch_size);
    for (int t = 0; t < tries && !pending.empty(); ++t) {
        std::vector<size_t> still;
        for (size_t b = 0; b < pending.size(); b += batch) {
            if (!control.wait_if_paused()) throw Cancelled("cancelled while sampling on-policy answers");
            const size_t e = std::min(pending.size(), b + batch);
            std::vector<std::vector<int64_t>> prompts;
            for (size_t k = b; k < e; ++k) prompts.push_back(ref.pairs.prompt(pending[k]));
            // A seed per try and batch, so every row of every try draws from its own stream.
            g.seed = o.seed * 1000003ULL + static_cast<uint64_t>(t) * 7919ULL + b;
            const auto out = generate_tokens(ref.model, prompts, g);
            for (size_t k = b; k < e; ++k) {
                const size_t i = pending[k];
                // A byte-level model may stop inside a character: invalid bytes become U+FFFD,
                // as transformers' decode does, so the file stays valid JSON and UTF-8.
                const std::string answer = utf8_lossy(ref.tokenizer->decode(out[k - b].tokens));
                if (trimmed(answer) == trimmed(text(i).chosen) || trimmed(answer).empty()) {
                    still.push_back(i);
                    continue;
                }
                sampled[i] = answer;
                done[i] = true;
                unfinished[i] = out[k - b].finish_reason == "length";
            }
            // First try: every prompt; later tries: the prompts whose answer repeated the chosen one.
            if (progress) progress(t == 0 ? "sample" : "resample", static_cast<int64_t>(e), static_cast<int64_t>(pending.size()));
        }
        pending = std::move(still);
    }

    // Every pair of the file, in the file's order whatever the split; the pairs the length
    // limits drop (in training too) keep their rejected answer, so no data are lost.
    std::vector<long> sampled_of(ref.texts.size(), -1);
    for (size_t i = 0; i < n; ++i) sampled_of[ref.text_of[i]] = static_cast<long>(i);
    std::vector<size_t> order(ref.texts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return ref.texts[a].source_line < ref.texts[b].source_line; });
    const fs::path path(o.out);
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    const std::string tmp = o.out + ".tmp";
    {
        std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
        if (!file) throw DataError(o.out, 0, "cannot write the file (is the directory writable?)");
        for (size_t t : order) {
            const PreferencePair& p = ref.texts[t];
            const long i = sampled_of[t];
            const bool has_sample = i >= 0 && done[static_cast<size_t>(i)];
            file << trl_record(p, has_sample ? sampled[static_cast<size_t>(i)] : p.rejected).dump() << '\n';
            ++report.pairs;
            if (i < 0) {
                ++report.skipped_by_limits;
            } else if (has_sample) {
                ++report.sampled;
                if (unfinished[static_cast<size_t>(i)]) ++report.unfinished;
                if (report.example_prompt.empty()) {
                    report.example_prompt = p.prompt;
                    report.example_chosen = p.chosen;
                    report.example_original_rejected = p.rejected;
                    report.example_sampled_rejected = sampled[static_cast<size_t>(i)];
                }
            } else {
                ++report.kept_original;
            }
        }
        if (!file) throw DataError(o.out, 0, "write failed (disk full?)");
    }
    fs::rename(tmp, o.out);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

}  // namespace ps
