#include "core/data/dataset_summary.h"

#include <algorithm>
#include <cmath>

#include "core/text/chat_template.h"

namespace ps {

LengthPercentiles length_percentiles(std::vector<uint32_t> v) {
    LengthPercentiles p;
    p.count = v.size();
    if (v.empty()) return p;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (auto x : v) sum += x;
    p.mean = sum / static_cast<double>(v.size());
    // Nearest rank: the smallest value with at least q of the values at or below it.
    auto at = [&](double q) {
        size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
        return static_cast<size_t>(v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1]);
    };
    p.min = v.front();
    p.p50 = at(0.50);
    p.p90 = at(0.90);
    p.p95 = at(0.95);
    p.p99 = at(0.99);
    p.max = v.back();
    return p;
}

DatasetSummary summarize_dataset(const std::string& path, const Tokenizer& tok, const SummaryOptions& o) {
    DatasetSummary s;
    s.path = path;
    s.template_name = o.template_name;
    s.tokenizer = tok.name();
    s.limits = o.limits;
    const ChatTemplate tmpl(o.template_name, o.template_kwargs);
    TokenizedPair tp;
    TokenizedExample te;
    DataVisitor visitor;
    visitor.pair = [&](PreferencePair& p) {
        encode_pair(p, tok, tmpl, tp);
        s.prompt_lengths.push_back(static_cast<uint32_t>(tp.prompt.size()));
        s.chosen_lengths.push_back(static_cast<uint32_t>(tp.chosen.size()));
        s.rejected_lengths.push_back(static_cast<uint32_t>(tp.rejected.size()));
        if (tp.chosen.size() > tp.rejected.size()) ++s.chosen_longer;
        else if (tp.chosen.size() < tp.rejected.size()) ++s.rejected_longer;
        else ++s.same_length;
        ExamplePreview e;
        e.prompt_tokens = tp.prompt.size();
        e.chosen_tokens = tp.chosen.size();
        e.rejected_tokens = tp.rejected.size();
        e.dropped = !fit_pair(tp, tok, o.limits, s.fit);
        if (s.preview.size() < o.keep_examples) {
            const RenderedPair r = render_pair(p, tmpl);
            e.source_line = p.source_line;
            e.prompt = r.prompt;
            e.chosen = r.chosen;
            e.rejected = r.rejected;
            s.preview.push_back(std::move(e));
        }
        return false;  // statistics only: memory does not grow with the file
    };
    visitor.unpaired = [&](UnpairedExample& x) {
        encode_example(x, tok, tmpl, te);
        s.prompt_lengths.push_back(static_cast<uint32_t>(te.prompt.size()));
        (x.desirable ? s.chosen_lengths : s.rejected_lengths).push_back(static_cast<uint32_t>(te.completion.size()));
        ++(x.desirable ? s.desirable : s.undesirable);
        ExamplePreview e;
        e.prompt_tokens = te.prompt.size();
        e.chosen_tokens = te.completion.size();
        e.desirable = x.desirable;
        e.dropped = !fit_example(te, tok, o.limits, s.fit);
        if (s.preview.size() < o.keep_examples) {
            const RenderedExample r = render_example(x, tmpl);
            e.source_line = x.source_line;
            e.prompt = r.prompt;
            e.chosen = r.completion;
            s.preview.push_back(std::move(e));
        }
        return false;
    };
    PreferenceDataset ds = scan_preference_file(path, o.data, &visitor);
    s.format = ds.format;
    s.unpaired = ds.unpaired;
    s.json_array = ds.json_array;
    s.bytes = ds.bytes;
    s.records = ds.records;
    s.examples = s.prompt_lengths.size();
    s.implicit_prompts = ds.implicit_prompts;
    s.errors = std::move(ds.errors);
    s.warnings = std::move(ds.warning_counts);
    return s;
}

namespace {

nlohmann::json percentiles_json(const std::vector<uint32_t>& v) {
    const LengthPercentiles p = length_percentiles(v);
    return {{"count", p.count}, {"mean", p.mean}, {"min", p.min}, {"p50", p.p50}, {"p90", p.p90},
            {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}};
}

}  // namespace

nlohmann::json DatasetSummary::to_json() const {
    nlohmann::json j;
    j["path"] = path;
    j["format"] = format.empty() ? nlohmann::json(nullptr) : nlohmann::json(format);
    j["kind"] = unpaired ? "unpaired" : "paired";
    j["template"] = template_name;
    j["tokenizer"] = tokenizer;
    j["bytes"] = bytes;
    j["records"] = records;
    j["examples"] = examples;
    j["kept"] = fit.kept;
    j["dropped"] = {{"prompt_too_long", fit.dropped_prompt_too_long}, {"invalid", records - examples}};
    j["truncated"] = {{"prompts", fit.truncated_prompts}, {"completions", fit.truncated_completions}};
    j["limits"] = {{"max_length", limits.max_length}, {"max_prompt_length", limits.max_prompt_length},
                   {"truncation_mode", choice_name(limits.mode)}};
    j["implicit_prompts"] = implicit_prompts;
    nlohmann::json lengths;
    lengths["prompt"] = percentiles_json(prompt_lengths);
    lengths[unpaired ? "desirable" : "chosen"] = percentiles_json(chosen_lengths);
    lengths[unpaired ? "undesirable" : "rejected"] = percentiles_json(rejected_lengths);
    j["token_lengths"] = lengths;
    if (unpaired) {
        j["desirable"] = desirable;
        j["undesirable"] = undesirable;
    } else {
        j["length_bias"] = {{"chosen_longer", chosen_longer}, {"rejected_longer", rejected_longer},
                            {"same_length", same_length}, {"chosen_longer_share", chosen_longer_share()}};
    }
    nlohmann::json errs = nlohmann::json::array();
    for (const auto& e : errors)
        errs.push_back({{"line", e.line}, {"column", e.column}, {"record", e.record}, {"field", e.field},
                        {"message", e.message}, {"text", e.text(path)}});
    j["errors"] = errs;
    nlohmann::json warns = nlohmann::json::array();
    for (const auto& w : warnings) warns.push_back({{"kind", w.kind}, {"count", w.count}, {"first_line", w.first_line}, {"message", w.message}});
    j["warnings"] = warns;
    nlohmann::json prev = nlohmann::json::array();
    for (const auto& e : preview) {
        nlohmann::json x = {{"line", e.source_line}, {"prompt", e.prompt}, {"prompt_tokens", e.prompt_tokens},
                            {"dropped", e.dropped}};
        if (unpaired) {
            x["completion"] = e.chosen;
            x["completion_tokens"] = e.chosen_tokens;
            x["label"] = e.desirable;
        } else {
            x["chosen"] = e.chosen;
            x["rejected"] = e.rejected;
            x["chosen_tokens"] = e.chosen_tokens;
            x["rejected_tokens"] = e.rejected_tokens;
        }
        prev.push_back(std::move(x));
    }
    j["preview"] = prev;
    return j;
}

DiffSpan diff_span(const std::string& a, const std::string& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t p = 0;
    while (p < n && a[p] == b[p]) ++p;
    // Back to a character boundary (a continuation byte is 10xxxxxx).
    while (p > 0 && p < a.size() && (static_cast<unsigned char>(a[p]) & 0xC0) == 0x80) --p;
    size_t q = 0;
    while (q < n - p && a[a.size() - 1 - q] == b[b.size() - 1 - q]) ++q;
    while (q > 0 && (static_cast<unsigned char>(a[a.size() - q]) & 0xC0) == 0x80) --q;
    return {p, q};
}

}  // namespace ps
