#include "core/engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "core/common/errors.h"
#include "core/common/run_types.h"
#include "core/data/data_pipeline.h"
#include "core/diagnose/diagnosis.h"
#include "core/diagnose/offpolicy.h"
#include "core/diagnose/pair_tracking.h"
#include "core/engine/master_weights.h"
#include "core/engine/reference_cache.h"
#include "core/engine/run_thread.h"
#include "core/engine/schedule.h"
#include "core/model/lora.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"
#include "core/objectives/objective.h"

namespace ps {

SequenceLogps forward_logps(CausalLM& model, const SequenceBatch& batch, const torch::Device& device) {
    auto ids = batch.input_ids.to(device);
    auto mask = batch.completion_mask.to(device);
    // The head runs only on the positions that predict a completion token.
    return completion_logps_from_hidden(
        model->hidden_states(ids), [&model](const torch::Tensor& h) { return model->head(h); }, ids, mask);
}

torch::Tensor completion_hidden_sums(const torch::Tensor& hidden, const torch::Tensor& completion_mask) {
    // The hidden state at position t predicts token t+1 (as the logits do in completion_logps),
    // so completion token t is paired with the hidden state at t-1: CHES's h_{x, y_{<k}}.
    const int64_t T = hidden.size(1);
    auto h = hidden.narrow(1, 0, T - 1).to(torch::kFloat64);
    auto mask = completion_mask.narrow(1, 1, T - 1).to(hidden.device()).to(torch::kFloat64);
    return (h * mask.unsqueeze(-1)).sum(1);
}

namespace {

using Clock = std::chrono::steady_clock;

// Thrown inside the pipeline when the user stops the run; caught at the top.
struct StopRequested {};

// CUDA's caching allocator (c10::OutOfMemoryError, "CUDA out of memory" before it had a type),
// the CPU allocator ("DefaultCPUAllocator: can't allocate memory") or operator new.
bool is_out_of_memory(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e) || dynamic_cast<const c10::OutOfMemoryError*>(&e)) return true;
    const std::string what = e.what();
    for (const char* sign : {"CUDA out of memory", "out of memory", "can't allocate memory", "not enough memory"})
        if (what.find(sign) != std::string::npos) return true;
    return false;
}

double grad_norm_and_clip(const std::vector<torch::Tensor>& params, double max_norm) {
    // clip_grad_norm_ returns the norm before clipping (TRL logs that one).
    if (max_norm > 0) return torch::nn::utils::clip_grad_norm_(params, max_norm);
    double sq = 0;
    for (const auto& p : params)
        if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    return std::sqrt(sq);
}

class Pipeline {
public:
    Pipeline(const RunConfig& c, const nlohmann::json& config_json, const std::vector<RunSink*>& sinks,
             RunControl& control)
        : c_(c), config_json_(config_json), sinks_(sinks), control_(control), start_(Clock::now()) {}

    RunStatus run() {
        RunStatus status = RunStatus::Completed;
        std::string error;
        try {
            execute();
        } catch (const std::exception& e) {
            status = RunStatus::Failed;
            error = failure_message(e);
        } catch (const StopRequested&) {
            status = RunStatus::Stopped;
        }
        if (!started_) {
            // Sinks have not seen the run yet (it failed while preparing): introduce it first so
            // the failure is stored like any other run.
            RunInfo info = make_info("unknown");
            for (auto* s : sinks_) s->on_start(info);
        }
        if (status == RunStatus::Failed) event("error", error, {});
        if (status == RunStatus::Stopped) event("phase", "Stopped by the user at step " + std::to_string(step_) + ".", {});
        nlohmann::json final_metrics = nlohmann::json::object();
        for (const auto& [k, v] : last_values_) final_metrics[k] = v;
        RunProgress p;
        p.phase = "done";
        p.step = global_step();
        p.total_steps = c_.sft.steps + c_.train.steps;
        p.elapsed_s = elapsed();
        p.eta_s = 0;
        p.memory_bytes = process_resident_bytes();
        p.memory_kind = "process RSS";
        for (auto* s : sinks_) s->on_progress(p);
        for (auto* s : sinks_) s->on_finish(status, final_metrics, error);
        return status;
    }

    SamplingReference sampling_reference() {
        try {
            prepare();
            if (unpaired_)
                throw DataError(c_.data.train, 0, "the data are unpaired (KTO) examples; on-policy rejected answers need "
                                                  "preference pairs (a prompt with a chosen and a rejected answer)");
            sft_warmup();
        } catch (const StopRequested&) {
            throw Cancelled("cancelled while building the reference model");
        }
        SamplingReference r;
        r.model = policy_;
        r.model->eval();
        r.tokenizer = tokenizer_;
        r.device = device_;
        r.sft_steps = sft_step_;
        r.texts = train_text_;
        for (const auto& p : train_) {
            r.pairs.push_back(p);
            r.text_of.push_back(p.index);
        }
        if (!c_.data.eval) {  // the eval split comes from data.train: its pairs are part of the file too
            const size_t offset = r.texts.size();
            r.texts.insert(r.texts.end(), eval_text_.begin(), eval_text_.end());
            for (const auto& p : eval_) {
                r.pairs.push_back(p);
                r.text_of.push_back(offset + p.index);
            }
        }
        return r;
    }

private:
    // One sentence for the store and the studio. Out of memory says where and what to change:
    // the run ends as failed and the process (the studio) goes on.
    std::string failure_message(const std::exception& e) const {
        if (dynamic_cast<const Error*>(&e)) return e.what();
        if (is_out_of_memory(e)) {
            std::string m = "Out of memory ";
            if (phase_ == "train") m += "in preference step " + std::to_string(step_ + 1);
            else if (phase_ == "eval") m += "in the evaluation after preference step " + std::to_string(step_);
            else if (phase_ == "sft") m += "in SFT warm-up step " + std::to_string(sft_step_ + 1);
            else if (phase_ == "reference") m += "while computing the reference log-probs";
            else if (phase_ == "save") m += "while saving the model";
            else m += "while preparing the run";
            m += " on " + (started_ ? device_.str() : c_.train.device) +
                 "; lower train.batch_size or data.max_length, or enable model.lora or train.gradient_checkpointing "
                 "(`prefstudio-cli run CONFIG --dry-run` estimates the memory a setting needs).";
            return m;
        }
        if (const auto* t = dynamic_cast<const c10::Error*>(&e)) return std::string("libtorch error: ") + t->what_without_backtrace();
        return e.what();
    }

    double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
    int64_t global_step() const { return sft_step_ + step_; }

    RunInfo make_info(const std::string& device) const {
        RunInfo info;
        info.name = c_.name;
        info.algorithm = c_.objective.algorithm;
        info.model = c_.model.source;
        info.dataset = c_.data.train;
        info.config = config_json_;
        info.resolved_config = c_.to_json();
        if (started_) {
            // "auto" settings as they were resolved for this run.
            info.resolved_config["train"]["device"] = device;
            info.resolved_config["train"]["threads"] = threads_;
        }
        info.device = device;
        return info;
    }

    void event(const std::string& kind, const std::string& message, nlohmann::json data) {
        RunEvent e;
        e.step = step_;
        e.wall_time = elapsed();
        e.kind = kind;
        e.message = message;
        e.data = data.is_null() ? nlohmann::json::object() : std::move(data);
        for (auto* s : sinks_) s->on_event(e);
    }

    void emit(StepMetrics& m) {
        m.wall_time = elapsed();
        for (const auto& [k, v] : m.values) last_values_[k] = v;
        for (auto* s : sinks_) s->on_metrics(m);
    }

    void progress(const std::string& phase, double tokens_per_second, double loss, double rc, double rr) {
        phase_ = phase;
        RunProgress p;
        p.phase = phase;
        p.step = global_step();
        p.total_steps = c_.sft.steps + c_.train.steps;
        p.elapsed_s = elapsed();
        const double since = std::chrono::duration<double>(Clock::now() - steps_start_).count();
        const int64_t done = global_step() - steps_at_start_;
        if (done > 0) p.eta_s = since / static_cast<double>(done) * static_cast<double>(p.total_steps - p.step);
        p.tokens_per_second = tokens_per_second;
        p.loss = loss;
        p.reward_chosen = rc;
        p.reward_rejected = rr;
        p.memory_bytes = process_resident_bytes();
        p.memory_kind = "process RSS";
        for (auto* s : sinks_) s->on_progress(p);
    }

    void check_control() {
        if (!control_.wait_if_paused()) throw StopRequested{};
    }

    void prepare() {
        progress("prepare", 0, 0, 0, 0);
        device_ = resolve_device(c_.train.device);
        const int hw = static_cast<int>(std::thread::hardware_concurrency());
        threads_ = c_.train.threads > 0 ? c_.train.threads : std::max(1, hw - 1);
        torch::set_num_threads(threads_);
        tokenizer_ = load_source_tokenizer(c_.model.source);
        PreparedData data = prepare_data(c_, *tokenizer_);
        if (data.unpaired && algorithm_spec(c_.objective).data == DataKind::Paired) {
            std::string unpaired;  // the algorithms that train on unpaired examples
            for (Algorithm a : kAlgorithms)
                if (algorithm_spec(a).data == DataKind::Unpaired)
                    unpaired += (unpaired.empty() ? "" : " or ") + algorithm_spec(a).name;
            throw ConfigError("objective.algorithm",
                              "the data are unpaired examples (" + data.format + ": a completion with a desirable/undesirable "
                              "label, no chosen/rejected pair), which " + c_.objective.algorithm + " cannot train on; set "
                              "objective.algorithm to " + unpaired + " or give preference pairs");
        }
        unpaired_ = data.unpaired;
        train_ = std::move(data.train);
        eval_ = std::move(data.eval);
        train_ex_ = std::move(data.train_examples);
        eval_ex_ = std::move(data.eval_examples);
        train_text_ = std::move(data.train_text);  // per-pair tracking shows the tracked pairs' text
        eval_text_ = std::move(data.eval_text);
        const TokenizeStats& ts = data.train_stats;
        const TokenizeStats& es = data.eval_stats;
        // Padding share of one epoch of training batches, with the configured batching and
        // without length grouping, so the log says what grouping saves.
        const size_t bs = static_cast<size_t>(c_.train.batch_size);
        const auto lengths = unpaired_ ? batch_lengths(train_ex_) : batch_lengths(train_);
        BatchSampler grouped(lengths, bs, static_cast<uint64_t>(c_.seed) + 2, c_.data.group_by_length);
        BatchSampler plain(lengths, bs, static_cast<uint64_t>(c_.seed) + 2, false);
        const double padding = unpaired_ ? padding_fraction(train_ex_, grouped.epoch_batches()) : padding_fraction(train_, grouped.epoch_batches());
        const double padding_plain = unpaired_ ? padding_fraction(train_ex_, plain.epoch_batches()) : padding_fraction(train_, plain.epoch_batches());

        // Seed, base weights and LoRA adapters under the generator lock, so a model built in
        // another thread at the same time (the Samples panel) cannot reseed in between.
        auto generator_lock = lock_global_generator();
        torch::manual_seed(static_cast<uint64_t>(c_.seed));
        loaded_ = load_model_source(c_.model.source, model_dtype_from_string(c_.model.dtype));
        policy_ = loaded_.model;
        // Adapters are drawn after the base weights, from the same seeded generator.
        if (c_.model.lora) add_lora(policy_, *c_.model.lora);
        generator_lock.unlock();
        // An adapter directory as the source was merged on load: new adapters belong to that merge.
        base_merged_ = loaded_.merged_adapter;
        policy_->set_gradient_checkpointing(c_.train.gradient_checkpointing);
        if (tokenizer_->vocab_size() > policy_->shape().vocab_size)
            throw ModelError("the tokenizer has " + std::to_string(tokenizer_->vocab_size()) + " tokens but " +
                             c_.model.source + " has only " + std::to_string(policy_->shape().vocab_size) +
                             " embeddings; model.source and its tokenizer do not belong together");
        policy_->to(device_);
        policy_->train();

        started_ = true;
        const RunInfo info = make_info(device_.str());
        for (auto* s : sinks_) s->on_start(info);
        for (const auto& w : data.warnings) event("warning", w, {});
        const std::string unit = unpaired_ ? " examples" : " pairs";
        char pad_text[96];
        std::snprintf(pad_text, sizeof pad_text, "%.1f%% of batch tokens are padding (%.1f%% without length grouping)",
                      100.0 * padding, 100.0 * padding_plain);
        event("info", "Data (" + data.format + ", template " + data.template_name + "): " + std::to_string(train_size()) +
                          " train and " + std::to_string(eval_size()) + " eval" + unit + "; " +
                          (c_.data.group_by_length ? std::string(pad_text) : "length grouping off, " + std::string(pad_text)) + ".",
              {{"format", data.format}, {"template", data.template_name}, {"unpaired", unpaired_},
               {"train_pairs", train_size()}, {"eval_pairs", eval_size()},
               {"dropped_prompt_too_long", ts.dropped_prompt_too_long + es.dropped_prompt_too_long},
               {"truncated_prompts", ts.truncated_prompts + es.truncated_prompts},
               {"truncated_completions", ts.truncated_completions + es.truncated_completions},
               {"implicit_prompts", data.implicit_prompts},
               {"padding_fraction", padding}, {"padding_fraction_ungrouped", padding_plain}});
        if (ts.dropped_prompt_too_long + es.dropped_prompt_too_long > 0)
            event("warning",
                  std::to_string(ts.dropped_prompt_too_long + es.dropped_prompt_too_long) + unit +
                      " dropped: prompt longer than data.max_prompt_length (data.truncation_mode drop)",
                  {});
        if (ts.truncated_prompts + es.truncated_prompts > 0)
            event("warning",
                  std::to_string(ts.truncated_prompts + es.truncated_prompts) + unit + " had their prompt cut to data.max_prompt_length (" +
                      c_.data.truncation_mode + ")",
                  {});
        if (unpaired_) {
            int64_t nd = 0;
            for (const auto& e : train_ex_) nd += e.desirable ? 1 : 0;
            if (auto w = kto_balance_warning(nd, static_cast<int64_t>(train_ex_.size()) - nd, c_.objective))
                event("warning", "Training data: " + *w, {});
        }
        int64_t trainable = 0;
        for (const auto& p : trainable_parameters(policy_)) trainable += p.numel();
        std::string lora_text;
        if (c_.model.lora)
            lora_text = "; LoRA rank " + std::to_string(c_.model.lora->rank) + " trains " + std::to_string(trainable) +
                        " adapter parameters, the base weights are frozen";
        event("info", "Model " + c_.model.source + ": " + std::to_string(policy_->shape().parameter_count()) +
                          " parameters on " + device_.str() + " (" + std::to_string(threads_) + " CPU thread" +
                          (threads_ == 1 ? "" : "s") + ")" + lora_text +
                          (c_.train.gradient_checkpointing ? "; activation checkpointing per decoder block" : "") + ".",
              {{"parameters", policy_->shape().parameter_count()}, {"trainable_parameters", trainable}});
    }

    std::vector<const TokenizedPair*> pick(const std::vector<TokenizedPair>& split, const std::vector<size_t>& idx) {
        std::vector<const TokenizedPair*> out;
        out.reserve(idx.size());
        for (size_t i : idx) out.push_back(&split[i]);
        return out;
    }

    void sft_warmup() {
        if (c_.sft.steps <= 0) return;
        event("phase", "SFT warm-up: " + std::to_string(c_.sft.steps) + " steps on the chosen answers.", {});
        phase_ = "sft";
        MasterWeights weights(trainable_parameters(policy_));
        torch::optim::AdamW opt(weights.optimized(), torch::optim::AdamWOptions(c_.sft.learning_rate).weight_decay(0.0));
        // Unpaired (KTO) data: the warm-up learns the desirable completions.
        const std::vector<TokenizedPair>& sft_split = unpaired_ ? desirable_pairs() : train_;
        if (sft_split.empty())
            throw DataError(c_.data.train, 0, "sft.steps is " + std::to_string(c_.sft.steps) +
                                                  " but the training data hold no desirable example to warm up on; set sft.steps to 0");
        BatchSampler sampler(batch_lengths(sft_split), static_cast<size_t>(c_.train.batch_size),
                             static_cast<uint64_t>(c_.seed) + 1, c_.data.group_by_length);
        const int warmup = std::max(1, c_.sft.steps / 20);
        steps_start_ = Clock::now();
        steps_at_start_ = 0;
        policy_->train();
        for (int s = 1; s <= c_.sft.steps; ++s) {
            check_control();
            auto t0 = Clock::now();
            const double lr = c_.sft.learning_rate * lr_factor("cosine", s, warmup, c_.sft.steps);
            for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
            opt.zero_grad();
            auto batch = collate_chosen(pick(sft_split, sampler.next(static_cast<size_t>(c_.train.batch_size))), tokenizer_->pad_id());
            auto lp = forward_logps(policy_, batch, device_);
            auto loss = -lp.sum.sum() / lp.tokens.sum();
            loss.backward();
            weights.gradients_to_master();
            const double gn = grad_norm_and_clip(weights.optimized(), c_.train.max_grad_norm);
            opt.step();
            weights.master_to_model();
            const double l = loss.item<double>();
            if (!std::isfinite(l))
                throw TrainingError("the SFT loss became " + std::to_string(l) + " at warm-up step " + std::to_string(s) +
                                    "; lower sft.learning_rate");
            sft_step_ = s;
            const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
            StepMetrics m;
            m.step = s;
            m.set("sft/loss", l);
            m.set("sft/grad_norm", gn);
            m.set("sft/learning_rate", lr);
            m.set("sft/tokens_per_second", static_cast<double>(batch.real_tokens) / std::max(dt, 1e-9));
            emit(m);
            progress("sft", static_cast<double>(batch.real_tokens) / std::max(dt, 1e-9), l, 0, 0);
        }
    }

    // Reference log-probs of every pair, computed once: a preference step then needs no
    // reference forward.
    void cache_reference() {
        if (!needs_reference(c_.objective)) return;
        progress("reference", 0, 0, 0, 0);
        if (has_lora(policy_)) {
            // The reference is the policy with its adapters off. After an SFT warm-up the
            // warm-up's adapters are merged into the base (the reference is then the warmed-up
            // model, as without LoRA) and fresh adapters start the preference training.
            if (sft_step_ > 0) {
                merge_lora(policy_);
                add_lora(policy_, *c_.model.lora);
                policy_->train();
                base_merged_ = true;
            }
            reference_ = policy_;
        } else {
            reference_ = clone_frozen(policy_);
        }
        if (on_the_fly_reference()) {
            event("info", "Reference log-probs are computed on the fly (train.reference_logps).", {});
            return;
        }
        // An algorithm that runs the reference in every step (KTO: the batch's mismatched pairs)
        // keeps it; the others drop it once the log-probs are cached.
        struct DropReference {
            Pipeline* p;
            ~DropReference() {
                if (algorithm_spec(p->c_.objective).reference != ReferenceUse::EveryStep) p->reference_ = CausalLM(nullptr);
            }
        } drop{this};
        const std::string key = reference_cache_key(c_, threads_, sft_step_);
        ReferenceLogps cached;
        if (load_reference_logps(key, train_size(), eval_size(), cached)) {
            ref_train_c_ = std::move(cached.train_chosen);
            ref_train_r_ = std::move(cached.train_rejected);
            ref_eval_c_ = std::move(cached.eval_chosen);
            ref_eval_r_ = std::move(cached.eval_rejected);
            event("info", "Reference log-probs of " + std::to_string(train_size() + eval_size()) +
                              " pairs loaded from the disk cache (" + reference_cache_dir() + "/" + key + ".bin).",
                  {{"reference_cache", key}, {"from_disk", true}});
            report_off_policy();
            return;
        }
        torch::NoGradGuard no_grad;
        auto fill = [&](const std::vector<TokenizedPair>& split, std::vector<float>& rc, std::vector<float>& rr) {
            rc.assign(split.size(), 0.0f);
            rr.assign(split.size(), 0.0f);
            reference_pass(
                split.size(),
                [&](const std::vector<size_t>& idx) { return collate_pairs(pick(split, idx), tokenizer_->pad_id()); },
                [&](const std::vector<size_t>& idx, const float* v) {
                    const size_t n = idx.size();  // rows: the chosen of each pair, then the rejected
                    for (size_t j = 0; j < n; ++j) {
                        rc[idx[j]] = v[j];
                        rr[idx[j]] = v[n + j];
                    }
                });
        };
        if (unpaired_) {
            fill_examples(train_ex_, ref_train_c_, ref_train_r_);
            fill_examples(eval_ex_, ref_eval_c_, ref_eval_r_);
        } else {
            fill(train_, ref_train_c_, ref_train_r_);
            fill(eval_, ref_eval_c_, ref_eval_r_);
        }
        const std::string failed =
            save_reference_logps(key, {ref_train_c_, ref_train_r_, ref_eval_c_, ref_eval_r_});
        event("info", "Reference log-probs computed for " + std::to_string(train_size() + eval_size()) +
                          " pairs and cached" + (failed.empty() ? " in memory and on disk." : " in memory."),
              {{"reference_cache", key}, {"from_disk", false}});
        if (!failed.empty()) event("warning", "Reference cache not written: " + failed, {});
        report_off_policy();
    }

    // How likely the chosen answers are under the reference compared with the rejected ones,
    // over the training pairs, before any preference step.
    void report_off_policy() {
        if (unpaired_) return;  // no chosen/rejected pairs to compare
        std::vector<size_t> lc(train_.size()), lr(train_.size());
        for (size_t i = 0; i < train_.size(); ++i) {
            lc[i] = train_[i].chosen.size();
            lr[i] = train_[i].rejected.size();
        }
        off_policy_ = check_off_policy(ref_train_c_, ref_train_r_, lc, lr);
        event(off_policy_.warn ? "warning" : "info", off_policy_.message, {{"offpolicy", off_policy_.to_json()}});
    }

    bool on_the_fly_reference() const { return c_.train.reference_logps == "on_the_fly"; }

    // A forward of the reference model: under LoRA the policy itself with its adapters off (the
    // base has no dropout, so this draws no random numbers and leaves the policy's stream alone).
    SequenceLogps reference_forward(const SequenceBatch& batch) {
        if (reference_.get() != policy_.get()) return forward_logps(reference_, batch, device_);
        AdaptersDisabled off(policy_);
        return forward_logps(policy_, batch, device_);
    }

    // Reference log-probs of a batch: from the cache, or a reference forward when configured so.
    std::pair<torch::Tensor, torch::Tensor> reference_logps(const SequenceBatch& batch, const std::vector<size_t>& idx,
                                                            const std::vector<float>& rc, const std::vector<float>& rr) {
        const int64_t B = static_cast<int64_t>(idx.size());
        if (on_the_fly_reference() || rc.empty()) {
            torch::NoGradGuard no_grad;
            auto lp = reference_forward(batch).sum;
            return {lp.narrow(0, 0, B), lp.narrow(0, B, B)};
        }
        std::vector<float> c(idx.size()), r(idx.size());
        for (size_t j = 0; j < idx.size(); ++j) {
            c[j] = rc[idx[j]];
            r[j] = rr[idx[j]];
        }
        return {torch::tensor(c).to(device_), torch::tensor(r).to(device_)};
    }

    // The configured objective on one micro-batch whose policy log-probs are `lp`.
    ObjectiveOutput objective(const SequenceLogps& lp, const SequenceBatch& batch,
                              const std::vector<const TokenizedPair*>& pairs, const std::vector<size_t>& idx,
                              const std::vector<float>& rc, const std::vector<float>& rr) {
        const int64_t B = static_cast<int64_t>(idx.size());
        torch::Tensor ref_c, ref_r;
        if (needs_reference(c_.objective)) std::tie(ref_c, ref_r) = reference_logps(batch, idx, rc, rr);
        if (algorithm_spec(c_.objective).data == DataKind::Paired) {
            PairedLogps p;
            p.chosen = lp.sum.narrow(0, 0, B);
            p.rejected = lp.sum.narrow(0, B, B);
            p.chosen_tokens = lp.tokens.narrow(0, 0, B);
            p.rejected_tokens = lp.tokens.narrow(0, B, B);
            p.ref_chosen = ref_c;
            p.ref_rejected = ref_r;
            return paired_objective(p, c_.objective);
        }
        // KTO: a paired batch is split on the fly into B desirable (chosen) and B undesirable
        // (rejected) examples; its reference point comes from mismatched pairs of this batch.
        UnpairedLogps u;
        u.logps = lp.sum;
        u.tokens = lp.tokens;
        u.ref_logps = torch::cat({ref_c, ref_r});
        u.desirable = torch::cat({torch::ones({B}, torch::kBool), torch::zeros({B}, torch::kBool)}).to(device_);
        {
            torch::NoGradGuard no_grad;
            auto kl_batch = collate_mismatched(pairs, tokenizer_->pad_id());
            u.kl_logps = forward_logps(policy_, kl_batch, device_).sum;
            u.ref_kl_logps = reference_forward(kl_batch).sum;
        }
        return kto_objective(u, c_.objective);
    }

    void warn_once(const std::vector<std::string>& warnings) {
        for (const auto& w : warnings)
            if (warned_.insert(w).second) event("warning", w, {});
    }

    void train() {
        event("phase", "Preference training (" + c_.objective.algorithm + "): " + std::to_string(c_.train.steps) + " steps.", {});
        MasterWeights weights(trainable_parameters(policy_));
        torch::optim::AdamW opt(weights.optimized(),
                                torch::optim::AdamWOptions(c_.train.learning_rate).weight_decay(c_.train.weight_decay));
        BatchSampler sampler(unpaired_ ? batch_lengths(train_ex_) : batch_lengths(train_), static_cast<size_t>(c_.train.batch_size),
                             static_cast<uint64_t>(c_.seed) + 2, c_.data.group_by_length);
        steps_start_ = Clock::now();
        steps_at_start_ = global_step();
        phase_ = "train";
        for (int s = 1; s <= c_.train.steps; ++s) {
            check_control();
            policy_->train();
            auto t0 = Clock::now();
            const double lr = c_.train.learning_rate * lr_factor(c_.train.schedule, s, c_.train.warmup_steps, c_.train.steps);
            for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
            opt.zero_grad();
            std::map<std::string, double> sums;
            double loss_sum = 0, logits_c = 0, logits_r = 0;
            int64_t tokens = 0;
            for (int micro = 0; micro < c_.train.grad_accum; ++micro) {
                auto idx = sampler.next(static_cast<size_t>(c_.train.batch_size));
                if (unpaired_) {
                    unpaired_micro_batch(idx, sums, loss_sum, logits_c, logits_r, tokens);
                    weights.gradients_to_master();
                    continue;
                }
                auto pairs = pick(train_, idx);
                auto batch = collate_pairs(pairs, tokenizer_->pad_id());
                auto lp = forward_logps(policy_, batch, device_);
                auto out = objective(lp, batch, pairs, idx, ref_train_c_, ref_train_r_);
                warn_once(out.warnings);
                (out.loss / static_cast<double>(c_.train.grad_accum)).backward();
                weights.gradients_to_master();
                loss_sum += out.loss.item<double>();
                for (const auto& [k, v] : out.metrics) sums[k] += v;
                const int64_t B = static_cast<int64_t>(idx.size());
                logits_c += lp.logits_mean.narrow(0, 0, B).mean().item<double>();
                logits_r += lp.logits_mean.narrow(0, B, B).mean().item<double>();
                tokens += batch.real_tokens;
            }
            const double k = static_cast<double>(c_.train.grad_accum);
            const double loss = loss_sum / k;
            if (!std::isfinite(loss))
                throw TrainingError("the loss became " + std::to_string(loss) + " at step " + std::to_string(s) +
                                    "; lower train.learning_rate or raise objective.beta");
            weights.gradients_to_master();
            const double gn = grad_norm_and_clip(weights.optimized(), c_.train.max_grad_norm);
            opt.step();
            weights.master_to_model();
            step_ = s;
            const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
            const double tps = static_cast<double>(tokens) / std::max(dt, 1e-9);
            StepMetrics m;
            m.step = s;
            m.set("loss", loss);
            for (const auto& [name, v] : sums) m.set(name, v / k);
            // A side the data lacks (KTO with only desirable or only undesirable examples) is
            // not logged, rather than stored as a NaN row every step (which reads as divergence).
            if (std::isfinite(logits_c)) m.set("logits/chosen", logits_c / k);
            if (std::isfinite(logits_r)) m.set("logits/rejected", logits_r / k);
            m.set("grad_norm", gn);
            m.set("learning_rate", lr);
            m.set("tokens_per_second", tps);
            emit(m);
            progress("train", tps, loss, m.get("rewards/chosen"), m.get("rewards/rejected"));
            if ((c_.train.eval_every > 0 && s % c_.train.eval_every == 0) || s == c_.train.steps) evaluate(s);
        }
    }

    void evaluate(int s) {
        phase_ = "eval";
        // The tracked pairs' log-probs come from the eval forward itself when they are eval
        // pairs: tracking then costs no extra forward.
        const bool capture = tracking() && tracked_from_eval_;
        std::vector<float> split_c, split_r;
        if (eval_size() > 0) {
            StepMetrics m = eval_metrics(eval_, ref_eval_c_, ref_eval_r_, "eval/", capture ? &split_c : nullptr,
                                         capture ? &split_r : nullptr);
            m.step = s;
            emit(m);
        }
        if (tracking()) record_tracked(s, capture ? &split_c : nullptr, capture ? &split_r : nullptr);
        policy_->train();
        phase_ = "train";
    }

    // ---- Per-pair tracking (train.track_pairs; core/diagnose/pair_tracking.h) ----

    bool tracking() const { return !tracked_.empty(); }
    const std::vector<TokenizedPair>& tracked_split() const { return tracked_from_eval_ ? eval_ : train_; }

    // Policy log-probs (summed) of the tracked pairs, and with `hidden` the sums of the final
    // hidden states over the positions that predict each answer token, [2 x n, H] (chosen rows
    // first). Evaluation only: no gradient, no random numbers.
    void tracked_forward(std::vector<double>& chosen, std::vector<double>& rejected, torch::Tensor* hidden) {
        torch::NoGradGuard no_grad;
        policy_->eval();
        const auto& split = tracked_split();
        const size_t n = tracked_.size();
        chosen.assign(n, 0.0);
        rejected.assign(n, 0.0);
        std::vector<torch::Tensor> hc, hr;
        for (const std::vector<size_t>& positions : pass_batches(n)) {
            check_control();
            const size_t i = positions.front();  // first position in the tracked subset
            std::vector<size_t> idx;             // the same pairs' indices in the split
            for (size_t k : positions) idx.push_back(tracked_[k]);
            auto batch = collate_pairs(pick(split, idx), tokenizer_->pad_id());
            auto ids = batch.input_ids.to(device_);
            const int64_t B = static_cast<int64_t>(idx.size());
            if (hidden) {
                auto h = policy_->hidden_states(ids);
                auto sums = completion_hidden_sums(h, batch.completion_mask).to(torch::kCPU);
                hc.push_back(sums.narrow(0, 0, B));
                hr.push_back(sums.narrow(0, B, B));
            }
            auto lp = completion_logps(policy_->forward(ids), ids, batch.completion_mask.to(device_))
                          .sum.to(torch::kCPU).to(torch::kFloat64).contiguous();
            const double* v = lp.data_ptr<double>();
            for (int64_t j = 0; j < B; ++j) {
                chosen[i + static_cast<size_t>(j)] = v[j];
                rejected[i + static_cast<size_t>(j)] = v[B + j];
            }
        }
        if (hidden) *hidden = torch::cat({torch::cat(hc), torch::cat(hr)});
    }

    // Before the first preference step: pick the fixed subset, measure CHES on the reference
    // (the policy is still identical to it here: the reference was just cloned from it, or for
    // reference-free objectives the initial model is the reference) and record step 0.
    void start_tracking() {
        tracked_.clear();
        pair_records_.clear();
        tracked_pairs_.clear();
        // Unpaired KTO examples have no chosen/rejected pair to follow.
        if (c_.train.track_pairs <= 0 || unpaired_) return;
        tracked_from_eval_ = !eval_.empty();
        const auto& split = tracked_split();
        tracked_ = tracked_subset(split.size(), static_cast<size_t>(c_.train.track_pairs),
                                  static_cast<uint64_t>(c_.seed));
        if (tracked_.empty()) return;
        std::vector<double> lc, lr;
        torch::Tensor hidden;
        tracked_forward(lc, lr, &hidden);
        policy_->train();
        const auto& texts = tracked_from_eval_ ? eval_text_ : train_text_;
        const size_t n = tracked_.size();
        hidden = hidden.contiguous();
        const int64_t H = hidden.size(1);
        const double* hv = hidden.data_ptr<double>();
        for (size_t i = 0; i < n; ++i) {
            const TokenizedPair& tp = split[tracked_[i]];
            TrackedPair p;
            p.index = static_cast<int64_t>(i);
            p.split = tracked_from_eval_ ? "eval" : "train";
            p.split_index = static_cast<int64_t>(tp.index);
            if (tp.index < texts.size()) {
                p.prompt = texts[tp.index].prompt;
                p.chosen = texts[tp.index].chosen;
                p.rejected = texts[tp.index].rejected;
            }
            p.chosen_tokens = static_cast<int64_t>(tp.chosen.size());
            p.rejected_tokens = static_cast<int64_t>(tp.rejected.size());
            const std::vector<double> sc(hv + i * H, hv + (i + 1) * H);
            const std::vector<double> sr(hv + (n + i) * H, hv + (n + i + 1) * H);
            const ChesScore ches = ches_from_sums(sc, tp.chosen.size(), sr, tp.rejected.size());
            p.ches = ches.ches;
            p.ln_ches = ches.ln_ches;
            tracked_pairs_.push_back(std::move(p));
        }
        for (auto* s : sinks_) s->on_tracked_pairs(tracked_pairs_);
        emit_pair_logps(0, lc, lr);
        event("info",
              "Tracking " + std::to_string(n) + " " + (tracked_from_eval_ ? "eval" : "train") +
                  " pairs: their log-probs are recorded at step 0 and at every eval (train.track_pairs).",
              {{"tracked_pairs", n}, {"split", tracked_from_eval_ ? "eval" : "train"}});
    }

    void emit_pair_logps(int64_t step, const std::vector<double>& chosen, const std::vector<double>& rejected) {
        std::vector<PairLogpRecord> records(chosen.size());
        for (size_t i = 0; i < chosen.size(); ++i) records[i] = {static_cast<int64_t>(i), step, chosen[i], rejected[i]};
        pair_records_.insert(pair_records_.end(), records.begin(), records.end());
        for (auto* s : sinks_) s->on_pair_logps(records);
    }

    // At an eval: from the eval forward's per-pair values when given, else a forward of its own.
    void record_tracked(int64_t step, const std::vector<float>* split_c, const std::vector<float>* split_r) {
        std::vector<double> lc, lr;
        if (split_c && split_r && split_c->size() == tracked_split().size()) {
            for (size_t i : tracked_) {
                lc.push_back((*split_c)[i]);
                lr.push_back((*split_r)[i]);
            }
        } else {
            tracked_forward(lc, lr, nullptr);
        }
        emit_pair_logps(step, lc, lr);
    }

    // After the last eval: which pairs lost the most chosen likelihood, and whether CHES saw it
    // coming. The full report is rebuilt from the store by `prefstudio-cli diagnose`.
    void finish_tracking() {
        if (!tracking()) return;
        const PairTrackingReport report = analyse_tracked_pairs(tracked_pairs_, pair_records_);
        nlohmann::json data = report.to_json(3);
        event("info", "Per-pair tracking: " + report.summary, {{"pair_tracking", std::move(data)}});
    }

    // Size-weighted means of the objective's metrics over a whole split. With `per_pair_c` /
    // `per_pair_r`, also each pair's summed policy log-probs, by position in the split.
    StepMetrics eval_metrics(const std::vector<TokenizedPair>& split, const std::vector<float>& ref_c,
                             const std::vector<float>& ref_r, const std::string& prefix,
                             std::vector<float>* per_pair_c = nullptr, std::vector<float>* per_pair_r = nullptr) {
        if (unpaired_) return eval_metrics_unpaired(&split == &eval_ ? eval_ex_ : train_ex_, ref_c, prefix);
        torch::NoGradGuard no_grad;
        policy_->eval();
        std::map<std::string, double> sums;
        double loss_sum = 0, n_total = 0;
        for (const std::vector<size_t>& idx : pass_batches(split.size())) {
            check_control();
            auto pairs = pick(split, idx);
            auto batch = collate_pairs(pairs, tokenizer_->pad_id());
            auto lp = forward_logps(policy_, batch, device_);
            auto out = objective(lp, batch, pairs, idx, ref_c, ref_r);
            if (per_pair_c && per_pair_r) {
                per_pair_c->resize(split.size());
                per_pair_r->resize(split.size());
                auto sums = lp.sum.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
                const float* v = sums.data_ptr<float>();
                for (size_t j = 0; j < idx.size(); ++j) {
                    (*per_pair_c)[idx[j]] = v[j];
                    (*per_pair_r)[idx[j]] = v[idx.size() + j];
                }
            }
            const double n = static_cast<double>(idx.size());
            loss_sum += out.loss.item<double>() * n;
            for (const auto& [k, v] : out.metrics) sums[k] += v * n;
            const int64_t B = static_cast<int64_t>(idx.size());
            sums["logits/chosen"] += lp.logits_mean.narrow(0, 0, B).mean().item<double>() * n;
            sums["logits/rejected"] += lp.logits_mean.narrow(0, B, B).mean().item<double>() * n;
            n_total += n;
        }
        StepMetrics m;
        m.set(prefix + "loss", loss_sum / n_total);
        for (const auto& [k, v] : sums) m.set(prefix + k, v / n_total);
        return m;
    }

public:
    nlohmann::json evaluate_initial() {
        prepare();
        const bool use_eval = eval_size() > 0;
        const auto& split = use_eval ? eval_ : train_;
        if (needs_reference(c_.objective)) {
            // The reference is the model itself: every reward starts at 0.
            cache_reference();
        }
        StepMetrics m = eval_metrics(split, use_eval ? ref_eval_c_ : ref_train_c_, use_eval ? ref_eval_r_ : ref_train_r_, "");
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [k, v] : m.values) out[k] = v;
        out["pairs"] = use_eval ? eval_size() : train_size();
        out["split"] = use_eval ? "eval" : "all";
        if (off_policy_.pairs > 0) out["offpolicy"] = off_policy_.to_json();
        return out;
    }

private:
    // ---- Unpaired KTO data (TRL's prompt/completion/label, LLaMA-Factory's KTO sharegpt) ----
    size_t train_size() const { return unpaired_ ? train_ex_.size() : train_.size(); }
    size_t eval_size() const { return unpaired_ ? eval_ex_.size() : eval_.size(); }

    // The desirable training examples as (prompt, chosen) rows for the SFT warm-up.
    const std::vector<TokenizedPair>& desirable_pairs() {
        if (desirable_pairs_.empty())
            for (const auto& e : train_ex_)
                if (e.desirable) {
                    TokenizedPair p;
                    p.prompt = e.prompt;
                    p.chosen = e.completion;
                    p.index = e.index;
                    desirable_pairs_.push_back(std::move(p));
                }
        return desirable_pairs_;
    }

    std::vector<const TokenizedExample*> pick_examples(const std::vector<TokenizedExample>& split,
                                                       const std::vector<size_t>& idx) {
        std::vector<const TokenizedExample*> out;
        out.reserve(idx.size());
        for (size_t i : idx) out.push_back(&split[i]);
        return out;
    }

    // Reference log-prob of every example in `rc` (`rr` is zeros: the cache file keeps the
    // paired layout).
    void fill_examples(const std::vector<TokenizedExample>& split, std::vector<float>& rc, std::vector<float>& rr) {
        rc.assign(split.size(), 0.0f);
        rr.assign(split.size(), 0.0f);
        reference_pass(
            split.size(),
            [&](const std::vector<size_t>& idx) { return collate_examples(pick_examples(split, idx), tokenizer_->pad_id()); },
            [&](const std::vector<size_t>& idx, const float* v) {
                for (size_t j = 0; j < idx.size(); ++j) rc[idx[j]] = v[j];
            });
    }

    // Consecutive index batches over `n` items for the passes without gradients (evaluation,
    // reference log-probs, tracking): twice the training batch, at least 8.
    std::vector<std::vector<size_t>> pass_batches(size_t n) const {
        const size_t bs = static_cast<size_t>(std::max(8, c_.train.batch_size * 2));
        std::vector<std::vector<size_t>> out;
        for (size_t i = 0; i < n; i += bs) {
            std::vector<size_t>& idx = out.emplace_back();
            for (size_t j = i; j < std::min(n, i + bs); ++j) idx.push_back(j);
        }
        return out;
    }

    // One reference forward over `n` items in batches of max(8, 2 x batch size): `collate`
    // makes the batch of those indices, `store` takes its summed log-probs, one per row.
    template <class Collate, class Store>
    void reference_pass(size_t n, Collate collate, Store store) {
        torch::NoGradGuard no_grad;
        for (const std::vector<size_t>& idx : pass_batches(n)) {
            check_control();
            auto lp = reference_forward(collate(idx)).sum.to(torch::kCPU).to(torch::kFloat32).contiguous();
            store(idx, lp.template data_ptr<float>());
        }
    }

    // KTO on a batch of unpaired examples: each is desirable or undesirable as labelled; the
    // reference point z0 comes from the batch's mismatched pairs (prompt j with completion
    // j-1), as TRL's KTOTrainer builds them.
    ObjectiveOutput unpaired_objective(const SequenceLogps& lp, const SequenceBatch& batch,
                                       const std::vector<const TokenizedExample*>& examples,
                                       const std::vector<size_t>& idx, const std::vector<float>& ref) {
        UnpairedLogps u;
        u.logps = lp.sum;
        u.tokens = lp.tokens;
        {
            torch::NoGradGuard no_grad;  // the reference and the reference point are constants
            if (on_the_fly_reference() || ref.empty()) {
                u.ref_logps = reference_forward(batch).sum;
            } else {
                std::vector<float> r;
                r.reserve(idx.size());
                for (size_t i : idx) r.push_back(ref[i]);
                u.ref_logps = torch::tensor(r).to(device_);
            }
            u.desirable = desirable_mask(examples);
            auto kl_batch = collate_examples_mismatched(examples, tokenizer_->pad_id());
            u.kl_logps = forward_logps(policy_, kl_batch, device_).sum;
            u.ref_kl_logps = reference_forward(kl_batch).sum;
        }
        return kto_objective(u, c_.objective);
    }

    torch::Tensor desirable_mask(const std::vector<const TokenizedExample*>& examples) const {
        std::vector<uint8_t> d;
        d.reserve(examples.size());
        for (const auto* e : examples) d.push_back(e->desirable ? 1 : 0);
        return torch::from_blob(d.data(), {static_cast<int64_t>(d.size())}, torch::kUInt8).to(torch::kBool).to(device_);
    }

    // logits/chosen and logits/rejected over the desirable and undesirable rows (NaN for a side
    // the batch lacks).
    std::pair<double, double> unpaired_logits(const SequenceLogps& lp, const std::vector<const TokenizedExample*>& examples) {
        torch::NoGradGuard no_grad;
        const auto mask = desirable_mask(examples);
        const auto logits = lp.logits_mean.detach();
        const double c = mask.any().item<bool>() ? logits.masked_select(mask).mean().item<double>() : NAN;
        const double r = (~mask).any().item<bool>() ? logits.masked_select(~mask).mean().item<double>() : NAN;
        return {c, r};
    }

    void unpaired_micro_batch(const std::vector<size_t>& idx, std::map<std::string, double>& sums, double& loss_sum,
                              double& logits_c, double& logits_r, int64_t& tokens) {
        auto examples = pick_examples(train_ex_, idx);
        auto batch = collate_examples(examples, tokenizer_->pad_id());
        auto lp = forward_logps(policy_, batch, device_);
        auto out = unpaired_objective(lp, batch, examples, idx, ref_train_c_);
        warn_once(out.warnings);
        (out.loss / static_cast<double>(c_.train.grad_accum)).backward();
        loss_sum += out.loss.item<double>();
        for (const auto& [k, v] : out.metrics) sums[k] += v;
        const auto [lc, lr] = unpaired_logits(lp, examples);
        logits_c += lc;
        logits_r += lr;
        tokens += batch.real_tokens;
    }

    StepMetrics eval_metrics_unpaired(const std::vector<TokenizedExample>& split, const std::vector<float>& ref,
                                      const std::string& prefix) {
        torch::NoGradGuard no_grad;
        policy_->eval();
        std::map<std::string, double> sums, weights;
        double loss_sum = 0, n_total = 0;
        for (const std::vector<size_t>& idx : pass_batches(split.size())) {
            check_control();
            auto examples = pick_examples(split, idx);
            auto batch = collate_examples(examples, tokenizer_->pad_id());
            auto lp = forward_logps(policy_, batch, device_);
            auto out = unpaired_objective(lp, batch, examples, idx, ref);
            const double n = static_cast<double>(idx.size());
            loss_sum += out.loss.item<double>() * n;
            // A metric a batch leaves out (a side it lacks) is averaged over the batches that have it.
            for (const auto& [k, v] : out.metrics) {
                sums[k] += v * n;
                weights[k] += n;
            }
            const auto [lc, lr] = unpaired_logits(lp, examples);
            if (std::isfinite(lc)) { sums["logits/chosen"] += lc * n; weights["logits/chosen"] += n; }
            if (std::isfinite(lr)) { sums["logits/rejected"] += lr * n; weights["logits/rejected"] += n; }
            n_total += n;
        }
        StepMetrics m;
        m.set(prefix + "loss", loss_sum / std::max(n_total, 1.0));
        for (const auto& [k, v] : sums) m.set(prefix + k, v / weights[k]);
        return m;
    }

    void execute() {
        prepare();
        sft_warmup();
        cache_reference();
        start_tracking();
        train();
        save_trained();
        finish_tracking();
        event("phase", "Run completed after " + std::to_string(step_) + " preference steps.", {});
    }

    // train.save_dir: the trained policy as a directory transformers loads.
    void save_trained() {
        if (!c_.train.save_dir) return;
        progress("save", 0, 0, 0, 0);
        if (has_lora(policy_)) {
            save_adapter();
            return;
        }
        save_hf_model(policy_, *c_.train.save_dir, save_options_for(loaded_));
        event("info", "Saved the trained model to " + *c_.train.save_dir + " (config.json, model.safetensors" +
                          (loaded_.dir.empty() ? "" : ", tokenizer files") + ").",
              {{"save_dir", *c_.train.save_dir}});
    }

    // LoRA: the adapters in PEFT's format. When the base is not model.source's weights any more
    // (an SFT warm-up or a source adapter merged into it), the adapters belong to that merged
    // base, which is saved next to them and named as their base.
    void save_adapter() {
        namespace fs = std::filesystem;
        const std::string dir = *c_.train.save_dir;
        std::string base = c_.model.source;
        if (!loaded_.dir.empty()) base = fs::absolute(loaded_.dir).lexically_normal().string();
        if (base_merged_) {
            save_hf_model(policy_, dir, save_options_for(loaded_));
            base = fs::absolute(dir).lexically_normal().string();
        }
        save_lora_adapter(policy_, *c_.model.lora, dir, base, loaded_.dir);
        event("info", "Saved the LoRA adapter to " + dir + " (adapter_config.json, adapter_model.safetensors" +
                          (base_merged_ ? ", and the base it belongs to, merged: config.json, model.safetensors" : "") +
                          (loaded_.dir.empty() ? "" : ", tokenizer files") + ").",
              {{"save_dir", dir}, {"lora", true}});
    }

    const RunConfig& c_;
    nlohmann::json config_json_;
    const std::vector<RunSink*>& sinks_;
    RunControl& control_;
    Clock::time_point start_;
    Clock::time_point steps_start_;
    int64_t steps_at_start_ = 0;
    bool started_ = false;
    int threads_ = 1;
    int64_t sft_step_ = 0;
    int64_t step_ = 0;
    std::string phase_ = "prepare";  // of the last progress report: where a failure happened
    std::map<std::string, double> last_values_;

    torch::Device device_{torch::kCPU};
    std::shared_ptr<Tokenizer> tokenizer_;
    LoadedModel loaded_;
    std::vector<TokenizedPair> train_, eval_;
    bool unpaired_ = false;  // KTO on unpaired examples: train_ex_/eval_ instead of train_/eval_
    std::vector<TokenizedExample> train_ex_, eval_ex_;
    std::vector<TokenizedPair> desirable_pairs_;
    std::vector<PreferencePair> train_text_, eval_text_;  // the splits' text, by TokenizedPair::index
    // Per-pair tracking: indices into the tracked split, the pairs, every record so far.
    std::vector<size_t> tracked_;
    bool tracked_from_eval_ = true;
    std::vector<TrackedPair> tracked_pairs_;
    std::vector<PairLogpRecord> pair_records_;
    CausalLM policy_{nullptr};
    CausalLM reference_{nullptr};  // under LoRA the policy itself (reference_forward turns its adapters off)
    bool base_merged_ = false;     // LoRA: the SFT warm-up's adapters were merged into the base
    std::set<std::string> warned_;
    OffPolicyReport off_policy_;
    std::vector<float> ref_train_c_, ref_train_r_, ref_eval_c_, ref_eval_r_;
};

}  // namespace

nlohmann::json evaluate_initial_model(const RunConfig& config) {
    std::vector<RunSink*> no_sinks;
    RunControl control;
    Pipeline pipeline(config, config.to_json(), no_sinks, control);
    return pipeline.evaluate_initial();
}

SamplingReference build_sampling_reference(const RunConfig& config, const std::vector<RunSink*>& sinks,
                                           RunControl& control) {
    Pipeline pipeline(config, config.to_json(), sinks, control);
    return pipeline.sampling_reference();
}

RunStatus run_training(const RunConfig& config, const nlohmann::json& config_json,
                       const std::vector<RunSink*>& sinks, RunControl& control) {
    // The live diagnosis reads the same stream and hands its regime changes to every sink (the
    // store keeps them as events, the studio shades them). Last, so a step's metrics reach the
    // sinks before the regime event that step triggers.
    DiagnosisSink diagnosis([&sinks](const RunEvent& e) {
        for (auto* s : sinks) s->on_event(e);
    });
    std::vector<RunSink*> all = sinks;
    all.push_back(&diagnosis);
    Pipeline pipeline(config, config_json, all, control);
    return pipeline.run();
}

}  // namespace ps
