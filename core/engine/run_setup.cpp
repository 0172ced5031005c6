#include "core/engine/run_setup.h"

#include "core/engine/save_dir.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "core/common/errors.h"
#include "core/config/algorithm.h"
#include "core/model/device.h"
#include "core/model/lora.h"
#include "core/model/model_io.h"
#include "core/model/source_tokenizer.h"
#include "core/objectives/objective.h"

namespace ps {

RunInfo run_info(const RunConfig& c, const nlohmann::json& config_json, const RunSetup& setup, const std::string& device) {
    RunInfo info;
    info.name = c.name;
    info.algorithm = c.objective.algorithm;
    info.model = c.model.source;
    info.dataset = c.data.train;
    info.config = config_json;
    info.resolved_config = c.to_json();
    if (setup.started) {
        // "auto" settings as they were resolved for this run.
        info.resolved_config["train"]["device"] = device;
        info.resolved_config["train"]["threads"] = setup.threads;
    }
    info.device = device;
    return info;
}

namespace {

// The data's kind against the algorithm's row: unpaired examples need an unpaired algorithm.
void check_data_kind(const RunConfig& c, const PreparedData& data) {
    if (!data.unpaired || algorithm_spec(c.objective).data != DataKind::Paired) return;
    std::string unpaired;  // the algorithms that train on unpaired examples
    for (Algorithm a : kAlgorithms)
        if (algorithm_spec(a).data == DataKind::Unpaired) unpaired += (unpaired.empty() ? "" : " or ") + algorithm_spec(a).name;
    throw ConfigError("objective.algorithm",
                      "the data are unpaired examples (" + data.format + ": a completion with a desirable/undesirable "
                      "label, no chosen/rejected pair), which " + c.objective.algorithm + " cannot train on; set "
                      "objective.algorithm to " + unpaired + " or give preference pairs");
}

void log_data(const RunConfig& c, const PreparedData& data, RunStream& stream) {
    const TokenizeStats& ts = data.train_stats;
    const TokenizeStats& es = data.eval_stats;
    // Padding share of one epoch of training batches, with the configured batching and
    // without length grouping, so the log says what grouping saves.
    const size_t bs = static_cast<size_t>(c.train.batch_size);
    const auto lengths = group_lengths(data.train);
    BatchSampler grouped(lengths, bs, static_cast<uint64_t>(c.seed) + 2, c.data.group_by_length);
    BatchSampler plain(lengths, bs, static_cast<uint64_t>(c.seed) + 2, false);
    const double padding = padding_fraction(data.train, grouped.epoch_batches());
    const double padding_plain = padding_fraction(data.train, plain.epoch_batches());

    for (const auto& w : data.warnings) stream.event("warning", w);
    const std::string unit = data.unpaired ? " examples" : " pairs";
    char pad_text[96];
    std::snprintf(pad_text, sizeof pad_text, "%.1f%% of batch tokens are padding (%.1f%% without length grouping)",
                  100.0 * padding, 100.0 * padding_plain);
    stream.event("info", "Data (" + data.format + ", template " + data.template_name + "): " +
                             std::to_string(data.train_size()) + " train and " + std::to_string(data.eval_size()) +
                             " eval" + unit + "; " +
                             (c.data.group_by_length ? std::string(pad_text) : "length grouping off, " + std::string(pad_text)) + ".",
                 {{"format", data.format}, {"template", data.template_name}, {"unpaired", data.unpaired},
                  {"train_pairs", data.train_size()}, {"eval_pairs", data.eval_size()},
                  {"dropped_prompt_too_long", ts.dropped_prompt_too_long + es.dropped_prompt_too_long},
                  {"truncated_prompts", ts.truncated_prompts + es.truncated_prompts},
                  {"truncated_completions", ts.truncated_completions + es.truncated_completions},
                  {"implicit_prompts", data.implicit_prompts},
                  {"padding_fraction", padding}, {"padding_fraction_ungrouped", padding_plain}});
    if (ts.dropped_prompt_too_long + es.dropped_prompt_too_long > 0)
        stream.event("warning", std::to_string(ts.dropped_prompt_too_long + es.dropped_prompt_too_long) + unit +
                                    " dropped: prompt longer than data.max_prompt_length (data.truncation_mode drop)");
    if (ts.truncated_prompts + es.truncated_prompts > 0)
        stream.event("warning", std::to_string(ts.truncated_prompts + es.truncated_prompts) + unit +
                                    " had their prompt cut to data.max_prompt_length (" + choice_name(c.data.truncation_mode) + ")");
    if (data.unpaired) {
        int64_t nd = 0;
        for (const auto& r : data.train.rows) nd += r.desirable ? 1 : 0;
        if (auto w = kto_balance_warning(nd, static_cast<int64_t>(data.train.rows.size()) - nd, c.objective))
            stream.event("warning", "Training data: " + *w);
    }
}

void log_model(const RunConfig& c, const RunSetup& setup, RunStream& stream) {
    int64_t trainable = 0;
    for (const auto& p : trainable_parameters(setup.policy)) trainable += p.numel();
    std::string lora_text;
    if (c.model.lora)
        lora_text = "; LoRA rank " + std::to_string(c.model.lora->rank) + " trains " + std::to_string(trainable) +
                    " adapter parameters, the base weights are frozen";
    const int threads = setup.threads;
    stream.event("info", "Model " + c.model.source + ": " + std::to_string(setup.policy->shape().parameter_count()) +
                             " parameters on " + setup.device.str() + " (" + std::to_string(threads) + " CPU thread" +
                             (threads == 1 ? "" : "s") + ")" + lora_text +
                             (c.train.gradient_checkpointing ? "; activation checkpointing per decoder block" : "") + ".",
                 {{"parameters", setup.policy->shape().parameter_count()}, {"trainable_parameters", trainable}});
}

}  // namespace

void setup_run(const RunConfig& c, const nlohmann::json& config_json, RunStream& stream, RunSetup& s) {
    stream.progress("prepare");
    s.device = resolve_device(c.train.device);
    check_dtype_on_device(c.model.dtype, s.device);  // before the data and model, not after the warm-up
    check_save_dir(c);  // before training: a run must not end by overwriting what it did not write
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    s.threads = c.train.threads > 0 ? c.train.threads : std::max(1, hw - 1);
    torch::set_num_threads(s.threads);
    s.tokenizer = load_source_tokenizer(c.model.source);
    s.data = prepare_data(c, *s.tokenizer);
    check_data_kind(c, s.data);

    // Seed, base weights and LoRA adapters under the generator lock, so a model built in
    // another thread at the same time (the Samples panel) cannot reseed in between.
    auto generator_lock = lock_global_generator();
    torch::manual_seed(static_cast<uint64_t>(c.seed));
    s.loaded = load_model_source(c.model.source, model_dtype(c.model.dtype));
    s.policy = s.loaded.model;
    // Adapters are drawn after the base weights, from the same seeded generator.
    if (c.model.lora) add_lora(s.policy, *c.model.lora);
    generator_lock.unlock();
    // An adapter directory as the source was merged on load: new adapters belong to that merge.
    s.base_merged = s.loaded.merged_adapter;
    s.policy->set_gradient_checkpointing(c.train.gradient_checkpointing);
    if (s.tokenizer->vocab_size() > s.policy->shape().vocab_size)
        throw ModelError("the tokenizer has " + std::to_string(s.tokenizer->vocab_size()) + " tokens but " + c.model.source +
                         " has only " + std::to_string(s.policy->shape().vocab_size) +
                         " embeddings; model.source and its tokenizer do not belong together");
    s.policy->to(s.device);
    s.policy->train();

    s.started = true;
    const RunInfo info = run_info(c, config_json, s, s.device.str());
    stream.start(info);
    log_data(c, s.data, stream);
    log_model(c, s, stream);
}

}  // namespace ps
