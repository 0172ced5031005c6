#include "core/engine/trainer.h"

#include <filesystem>

#include "core/common/errors.h"
#include "core/common/run_types.h"
#include "core/diagnose/diagnosis.h"
#include "core/engine/batch_objective.h"
#include "core/engine/evaluator.h"
#include "core/engine/pair_tracker.h"
#include "core/engine/reference_cache.h"
#include "core/engine/reference_model.h"
#include "core/engine/run_checkpoint.h"
#include "core/engine/run_setup.h"
#include "core/engine/run_stream.h"
#include "core/engine/run_thread.h"
#include "core/engine/save_dir.h"
#include "core/engine/train_loop.h"
#include "core/model/lora.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"

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

// CUDA's caching allocator (c10::OutOfMemoryError, "CUDA out of memory" before it had a type),
// the CPU allocator ("DefaultCPUAllocator: can't allocate memory") or operator new.
bool is_out_of_memory(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e) || dynamic_cast<const c10::OutOfMemoryError*>(&e)) return true;
    const std::string what = e.what();
    for (const char* sign : {"CUDA out of memory", "out of memory", "can't allocate memory", "not enough memory"})
        if (what.find(sign) != std::string::npos) return true;
    return false;
}

// A run of `config` in its parts: setup (data, model), reference, objective, evaluator, pair
// tracker and the loops, all reporting through one stream.
class Pipeline {
public:
    Pipeline(const RunConfig& c, const nlohmann::json& config_json, const std::vector<RunSink*>& sinks,
             RunControl& control, const ResumeFrom* resume = nullptr)
        : c_(c), config_json_(config_json), resume_(resume), stream_(sinks, control, c.sft.steps + c.train.steps),
          reference_(c, setup_, stream_), objective_(c, setup_, reference_), evaluator_(c, setup_, stream_, objective_),
          tracker_(c, setup_, stream_), answers_(c, setup_, stream_) {}

    RunStatus run() {
        RunStatus status = RunStatus::Completed;
        std::string error;
        CheckpointPlan plan;
        try {
            std::optional<CheckpointMeta> resumed;
            if (resume_) {
                // Replayed without reaching the sinks: they hold all of it up to the checkpoint.
                stream_.muted = true;
                plan.resume_from = resume_->checkpoint;
                resumed = read_checkpoint_meta(plan.resume_from);
                if (resumed->model_checksum != model_files_checksum(c_.model.source))
                    throw ModelError("cannot resume from " + plan.resume_from + ": the files of model.source (" +
                                     c_.model.source + ") changed since the checkpoint was written");
            }
            setup_run(c_, config_json_, stream_, setup_);
            for (auto* s : stream_.sinks())
                if (plan.folder.empty()) plan.folder = s->checkpoint_folder();
            sft_warmup(c_, setup_, stream_);
            reference_.prepare();
            tracker_.start();
            answers_.start(tracker_);
            if (resume_ || (!plan.folder.empty() && c_.train.checkpoint_every > 0 && c_.train.checkpoint_every < c_.train.steps)) {
                plan.base.config = c_.to_json();
                plan.base.reference_key = reference_cache_key(c_, setup_.threads, stream_.sft_step);
                plan.base.model_checksum = resumed ? resumed->model_checksum : model_files_checksum(c_.model.source);
            }
            if (resumed && resumed->reference_key != plan.base.reference_key)
                throw TrainingError("cannot resume from " + plan.resume_from +
                                    ": the reference log-probs' key differs from the checkpoint's (the data files, the "
                                    "model files or the thread count changed since); start a new run");
            stream_.muted = false;
            train_preference(c_, setup_, stream_, objective_, evaluator_, tracker_, answers_, plan);
            save_trained();
            tracker_.finish();
            stream_.event("phase", "Run completed after " + std::to_string(stream_.step) + " preference steps.");
            if (!plan.folder.empty()) {
                // A completed run is never resumed: its checkpoints would only take space.
                std::error_code ec;
                std::filesystem::remove_all(plan.folder, ec);
                std::filesystem::remove(std::filesystem::path(plan.folder).parent_path(), ec);  // when empty
            }
        } catch (const std::exception& e) {
            status = RunStatus::Failed;
            error = failure_message(e);
        } catch (const StopRequested&) {
            status = RunStatus::Stopped;
        }
        stream_.muted = false;
        if (!setup_.started) {
            // Sinks have not seen the run yet (it failed while preparing): introduce it first so
            // the failure is stored like any other run.
            const RunInfo info = run_info(c_, config_json_, setup_, "unknown");
            try {
                stream_.start(info);
            } catch (const std::exception&) {
                // The store cannot add the run either; the failure is still reported to the caller.
            }
        }
        if (status == RunStatus::Failed) stream_.event("error", error);
        if (status == RunStatus::Stopped)
            stream_.event("phase", "Stopped by the user at step " + std::to_string(stream_.step) + ".");
        stream_.finish(status, error);
        return status;
    }

    SamplingReference sampling_reference() {
        try {
            setup_run(c_, config_json_, stream_, setup_);
            if (setup_.unpaired())
                throw DataError(c_.data.train, 0, "the data are unpaired (KTO) examples; on-policy rejected answers need "
                                                  "preference pairs (a prompt with a chosen and a rejected answer)");
            sft_warmup(c_, setup_, stream_);
        } catch (const StopRequested&) {
            throw Cancelled("cancelled while building the reference model");
        }
        SamplingReference r;
        r.model = setup_.policy;
        r.model->eval();
        r.tokenizer = setup_.tokenizer;
        r.device = setup_.device;
        r.sft_steps = stream_.sft_step;
        PreparedData& data = setup_.data;
        r.texts = data.train_text;
        r.pairs = data.train;
        r.text_of = data.train.sources;
        if (!c_.data.eval) {  // the eval split comes from data.train: its pairs are part of the file too
            const size_t offset = r.texts.size();
            r.texts.insert(r.texts.end(), data.eval_text.begin(), data.eval_text.end());
            r.pairs.append(data.eval);
            for (size_t source : data.eval.sources) r.text_of.push_back(offset + source);
        }
        return r;
    }

    // Every metric of the objective for the initial model (no warm-up: the reference is the
    // model itself, every reward starts at 0), on the eval split or all data.
    nlohmann::json evaluate_initial() {
        setup_run(c_, config_json_, stream_, setup_);
        const bool use_eval = setup_.data.eval_size() > 0;
        reference_.prepare();
        StepMetrics m = evaluator_.metrics(use_eval ? Split::Eval : Split::Train, "");
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [k, v] : m.values) out[k] = v;
        out["pairs"] = use_eval ? setup_.data.eval_size() : setup_.data.train_size();
        out["split"] = use_eval ? "eval" : "all";
        if (reference_.off_policy().pairs > 0) out["offpolicy"] = reference_.off_policy().to_json();
        return out;
    }

private:
    // One sentence for the store and the studio. Out of memory says where and what to change:
    // the run ends as failed and the process (the studio) goes on.
    std::string failure_message(const std::exception& e) const {
        if (dynamic_cast<const Error*>(&e)) return e.what();
        if (is_out_of_memory(e)) {
            const std::string& phase = stream_.phase;
            std::string m = "Out of memory ";
            if (phase == "train") m += "in preference step " + std::to_string(stream_.step + 1);
            else if (phase == "eval") m += "in the evaluation after preference step " + std::to_string(stream_.step);
            else if (phase == "sft") m += "in SFT warm-up step " + std::to_string(stream_.sft_step + 1);
            else if (phase == "reference") m += "while computing the reference log-probs";
            else if (phase == "save") m += "while saving the model";
            else m += "while preparing the run";
            m += " on " + (setup_.started ? setup_.device.str() : c_.train.device) +
                 "; lower train.batch_size or data.max_length, or enable model.lora or train.gradient_checkpointing "
                 "(`prefstudio-cli run CONFIG --dry-run` estimates the memory a setting needs).";
            return m;
        }
        if (const auto* t = dynamic_cast<const c10::Error*>(&e)) return std::string("libtorch error: ") + t->what_without_backtrace();
        return e.what();
    }

    // train.save_dir: the trained policy as a directory transformers loads.
    void save_trained() {
        if (!c_.train.save_dir) return;
        stream_.progress("save");
        if (has_lora(setup_.policy)) {
            save_adapter();
            return;
        }
        const LoadedModel& loaded = setup_.loaded;
        save_hf_model(setup_.policy, *c_.train.save_dir, save_options_for(loaded));
        write_save_marker(*c_.train.save_dir, c_);
        stream_.event("info", "Saved the trained model to " + *c_.train.save_dir + " (config.json, model.safetensors" +
                                  (loaded.dir.empty() ? "" : ", tokenizer files") + ").",
                      {{"save_dir", *c_.train.save_dir}});
    }

    // LoRA: the adapters in PEFT's format. When the base is not model.source's weights any more
    // (an SFT warm-up or a source adapter merged into it), the adapters belong to that merged
    // base, which is saved next to them and named as their base.
    void save_adapter() {
        namespace fs = std::filesystem;
        const LoadedModel& loaded = setup_.loaded;
        const std::string dir = *c_.train.save_dir;
        std::string base = c_.model.source;
        if (!loaded.dir.empty()) base = fs::absolute(loaded.dir).lexically_normal().string();
        if (setup_.base_merged) {
            save_hf_model(setup_.policy, dir, save_options_for(loaded));
            base = fs::absolute(dir).lexically_normal().string();
        }
        save_lora_adapter(setup_.policy, *c_.model.lora, dir, base, loaded.dir);
        write_save_marker(dir, c_);
        stream_.event("info", "Saved the LoRA adapter to " + dir + " (adapter_config.json, adapter_model.safetensors" +
                                  (setup_.base_merged ? ", and the base it belongs to, merged: config.json, model.safetensors" : "") +
                                  (loaded.dir.empty() ? "" : ", tokenizer files") + ").",
                      {{"save_dir", dir}, {"lora", true}});
    }

    const RunConfig& c_;
    nlohmann::json config_json_;
    const ResumeFrom* resume_;
    RunStream stream_;
    RunSetup setup_;
    ReferenceModel reference_;
    BatchObjective objective_;
    Evaluator evaluator_;
    PairTracker tracker_;
    AnswerChecker answers_;
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

namespace {

// The live diagnosis of a resumed run: after on_start it reads the run's stored metrics up to
// the checkpoint, silently, so it is where the killed run's was.
class PrimedDiagnosis : public RunSink {
public:
    PrimedDiagnosis(const std::vector<RunSink*>& sinks, const std::vector<StepMetrics>* history)
        : history_(history), diagnosis_([this, &sinks](const RunEvent& e) {
              if (!priming_)
                  for (auto* s : sinks) s->on_event(e);
          }) {}
    void on_start(const RunInfo& info) override {
        diagnosis_.on_start(info);
        if (!history_) return;
        priming_ = true;
        for (const StepMetrics& m : *history_) diagnosis_.on_metrics(m);
        priming_ = false;
    }
    void on_metrics(const StepMetrics& m) override { diagnosis_.on_metrics(m); }
    void on_event(const RunEvent& e) override { diagnosis_.on_event(e); }
    void on_progress(const RunProgress& p) override { diagnosis_.on_progress(p); }
    void on_finish(RunStatus status, const nlohmann::json& final_metrics, const std::string& error) override {
        diagnosis_.on_finish(status, final_metrics, error);
    }

private:
    const std::vector<StepMetrics>* history_;
    bool priming_ = false;
    DiagnosisSink diagnosis_;
};

RunStatus run_pipeline(const RunConfig& config, const nlohmann::json& config_json, const std::vector<RunSink*>& sinks,
                       RunControl& control, const ResumeFrom* resume) {
    // The live diagnosis reads the same stream and hands its regime changes to every sink (the
    // store keeps them as events, the studio shades them). Last, so a step's metrics reach the
    // sinks before the regime event that step triggers.
    PrimedDiagnosis diagnosis(sinks, resume ? &resume->history : nullptr);
    std::vector<RunSink*> all = sinks;
    all.push_back(&diagnosis);
    Pipeline pipeline(config, config_json, all, control, resume);
    return pipeline.run();
}

}  // namespace

RunStatus run_training(const RunConfig& config, const nlohmann::json& config_json,
                       const std::vector<RunSink*>& sinks, RunControl& control) {
    return run_pipeline(config, config_json, sinks, control, nullptr);
}

RunStatus resume_training(const RunConfig& config, const nlohmann::json& config_json, const ResumeFrom& resume,
                          const std::vector<RunSink*>& sinks, RunControl& control) {
    return run_pipeline(config, config_json, sinks, control, &resume);
}

CheckpointSummary read_checkpoint_summary(const std::string& checkpoint) {
    const CheckpointMeta meta = read_checkpoint_meta(checkpoint);
    CheckpointSummary out;
    out.config = RunConfig::from_json(meta.config);
    out.config_json = meta.config;
    out.step = meta.step;
    out.elapsed = meta.elapsed;
    if (meta.model_checksum != model_files_checksum(out.config.model.source))
        throw ModelError("cannot resume from " + checkpoint + ": the files of model.source (" + out.config.model.source +
                         ") changed since the checkpoint was written");
    return out;
}

}  // namespace ps
