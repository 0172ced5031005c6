#include "core/interop/export_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "core/common/errors.h"
#include "core/config/algorithm.h"
#include "core/config/config_schema.h"
#include "core/data/data_pipeline.h"
#include "core/data/preference_data.h"
#include "core/text/hf_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ps {
namespace {

const std::vector<std::string> kAllLoraModules = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};

std::string num_text(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

// Collects the settings and what became of each key of our config.
class Mapper {
public:
    explicit Mapper(const json& resolved) {
        for (const std::string& p : config_key_paths(resolved)) {
            order_.push_back(p);
            keys_[p] = ExportedKey{p, {}, {}, false, false};
        }
    }

    // Writes their `key` = value and records that our `path` went there.
    void set(const std::string& path, const std::string& key, json value, const std::string& note = {}) {
        put(key, std::move(value));
        mark(path).targets.push_back(key);
        if (!note.empty()) add_note(path, note);
    }
    // A setting of theirs that none of our keys holds (report_to, logging_steps, ...).
    void fixed(const std::string& key, json value) { put(key, std::move(value)); }
    // Our `path` also feeds their `key` (already written).
    void also(const std::string& path, const std::string& key, const std::string& note = {}) {
        mark(path).targets.push_back(key);
        if (!note.empty()) add_note(path, note);
    }
    // No equivalent; the run there trains the same (device, threads, keys the algorithm ignores).
    void none(const std::string& path, const std::string& why) {
        add_note(mark(path).path, why);
    }
    // No equivalent and the run there trains differently: also a warning.
    void differs(const std::string& path, const std::string& why) {
        ExportedKey& k = mark(path);
        add_note(path, why);
        k.changes_training = true;
        warnings_.push_back(path + ": " + why);
    }
    void warn(const std::string& sentence) { warnings_.push_back(sentence); }

    ConfigExport finish(ExportTarget target, std::string trainer) {
        ConfigExport e;
        e.target = target;
        e.trainer = std::move(trainer);
        for (const std::string& p : order_) {
            ExportedKey& k = keys_[p];
            if (!handled_.count(p)) {
                k.unknown = true;
                k.changes_training = true;
                k.note = "a config key this exporter does not know: check it by hand";
                warnings_.push_back(p + ": " + k.note);
            }
            e.keys.push_back(k);
        }
        e.settings = settings_;
        e.warnings = warnings_;
        return e;
    }
    const json& settings() const { return settings_; }

private:
    void put(const std::string& key, json value) {
        if (!settings_.contains(key)) settings_order_.push_back(key);
        settings_[key] = std::move(value);
    }
    ExportedKey& mark(const std::string& path) {
        auto it = keys_.find(path);
        if (it == keys_.end()) {
            // A key our exporter handles but this config does not carry (a leaf that is null
            // here): nothing to record.
            static ExportedKey scratch;
            scratch = ExportedKey{path, {}, {}, false, false};
            return scratch;
        }
        handled_.insert(path);
        return it->second;
    }
    void add_note(const std::string& path, const std::string& note) {
        auto it = keys_.find(path);
        if (it == keys_.end()) return;
        it->second.note = it->second.note.empty() ? note : it->second.note + "; " + note;
    }

    std::vector<std::string> order_;
    std::map<std::string, ExportedKey> keys_;
    std::set<std::string> handled_;
    json settings_ = json::object();
    std::vector<std::string> settings_order_;
    std::vector<std::string> warnings_;
};

// ---- the data file: its format, as our reader detects it ----

struct DataShape {
    std::string variant;        // "trl-standard", "sharegpt-preference", ... ("" when unknown)
    bool implicit_prompt = false;
    std::string why_unknown;    // the reader's first problem when the file could not be read
    json first_record;          // the first record (sharegpt: which role/content tags it uses)
    bool has_system = false;    // some record has a system prompt
    bool has_history = false;   // some prompt has earlier turns (alpaca's history)
};

json first_json_record(const std::string& path) {
    std::ifstream in(path);
    if (!in) return nullptr;
    char c = 0;
    while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {}
    if (c == '{') {
        in.unget();
        std::string line;
        std::getline(in, line);
        try {
            return json::parse(line);
        } catch (const json::exception&) {
            return nullptr;
        }
    }
    if (c == '[') {
        std::error_code ec;
        if (fs::file_size(path, ec) > (64u << 20) || ec) return nullptr;
        in.seekg(0);
        try {
            json all = json::parse(in);
            return all.is_array() && !all.empty() ? all[0] : json(nullptr);
        } catch (const json::exception&) {
            return nullptr;
        }
    }
    return nullptr;
}

DataShape data_shape(const RunConfig& config) {
    DataShape s;
    DataOptions o = data_options(config.data);
    o.max_errors = 1;
    DataVisitor keep_nothing;
    auto look = [&s](const std::vector<ChatMessage>& prompt) {
        size_t users = 0;
        for (const ChatMessage& m : prompt) {
            if (m.role == "system") s.has_system = true;
            if (m.role == "user") ++users;
        }
        if (users > 1) s.has_history = true;
    };
    keep_nothing.pair = [&](PreferencePair& p) { look(p.prompt_messages); return false; };
    keep_nothing.unpaired = [&](UnpairedExample& u) { look(u.prompt_messages); return false; };
    // A large JSON Lines file is judged by its first lines (copied to the temp directory), so the
    // export stays quick on gigabyte datasets; a JSON array is read whole.
    constexpr uint64_t kSampleAbove = 8u << 20;
    constexpr size_t kSampleLines = 5000;
    std::string scan_path = config.data.train;
    fs::path sample;
    std::error_code ec;
    if (fs::file_size(config.data.train, ec) > kSampleAbove && !ec) {
        std::ifstream in(config.data.train, std::ios::binary);
        char c = 0;
        while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {}
        if (c == '{') {
            in.seekg(0);
            sample = fs::temp_directory_path(ec) /
                     ("prefstudio-export-sample-" + std::to_string(::getpid()) + "-" +
                      std::to_string(reinterpret_cast<uintptr_t>(&s)) + ".jsonl");
            std::ofstream out(sample, std::ios::binary);
            std::string line;
            for (size_t n = 0; n < kSampleLines && std::getline(in, line); ++n) out << line << "\n";
            if (out) scan_path = sample.string();
        }
    }
    const PreferenceDataset ds = scan_preference_file(scan_path, o, &keep_nothing);
    if (!sample.empty()) fs::remove(sample, ec);
    s.variant = ds.format;
    s.implicit_prompt = ds.implicit_prompts > 0;
    if (!ds.errors.empty()) s.why_unknown = ds.errors.front().text(config.data.train);
    s.first_record = first_json_record(config.data.train);
    return s;
}

std::string column(const DataConfig& d, const std::string& key, const std::string& fallback) {
    auto it = d.columns.find(key);
    if (it != d.columns.end()) return it->second;
    // TRL's names are our aliases of LLaMA-Factory's.
    if (key == "response") {
        if (auto a = d.columns.find("completion"); a != d.columns.end()) return a->second;
    }
    if (key == "kto_tag") {
        if (auto a = d.columns.find("label"); a != d.columns.end()) return a->second;
    }
    return fallback;
}

// The dataset_info.json entry of a data file of the detected variant (LLaMA-Factory's
// converters: alpaca reads prompt/query/chosen/rejected/response/kto_tag/system/history columns,
// sharegpt reads messages + tags; an unlisted column is None there).
json dataset_entry(const std::string& file, const DataConfig& d, const DataShape& shape, const std::string& field) {
    json e = {{"file_name", file}};
    json columns = json::object();
    const std::string& v = shape.variant;
    if (v == "trl-standard") {
        if (shape.implicit_prompt)
            throw ConfigError(field, "the file has no prompt field (TRL's implicit prompt) and LLaMA-Factory needs one; "
                                     "add a prompt column or export with --to trl");
        e["ranking"] = true;
        columns["prompt"] = column(d, "prompt", "prompt");
        columns["chosen"] = column(d, "chosen", "chosen");
        columns["rejected"] = column(d, "rejected", "rejected");
    } else if (v == "trl-unpaired-standard") {
        columns["prompt"] = column(d, "prompt", "prompt");
        columns["response"] = column(d, "response", "completion");
        columns["kto_tag"] = column(d, "kto_tag", "label");
    } else if (v == "alpaca-ranking" || v == "alpaca-kto") {
        columns["prompt"] = column(d, "prompt", "instruction");
        const json& first = shape.first_record;
        const std::string query = column(d, "query", "input");
        if (d.columns.count("query") || (first.is_object() && first.contains(query))) columns["query"] = query;
        if (v == "alpaca-ranking") {
            e["ranking"] = true;
            columns["chosen"] = column(d, "chosen", "chosen");
            columns["rejected"] = column(d, "rejected", "rejected");
        } else {
            columns["response"] = column(d, "response", "output");
            columns["kto_tag"] = column(d, "kto_tag", "label");
        }
        if (shape.has_system || d.columns.count("system")) columns["system"] = column(d, "system", "system");
        if (shape.has_history || d.columns.count("history")) columns["history"] = column(d, "history", "history");
    } else if (v == "sharegpt-preference" || v == "sharegpt-kto") {
        e["formatting"] = "sharegpt";
        const json& first = shape.first_record;
        std::string messages = column(d, "messages", "");
        if (messages.empty())
            messages = first.is_object() && !first.contains("conversations") && first.contains("messages") ? "messages"
                                                                                                            : "conversations";
        columns["messages"] = messages;
        if (v == "sharegpt-preference") {
            e["ranking"] = true;
            columns["chosen"] = column(d, "chosen", "chosen");
            columns["rejected"] = column(d, "rejected", "rejected");
        } else {
            columns["kto_tag"] = column(d, "kto_tag", "label");
        }
        if (d.columns.count("system")) columns["system"] = d.columns.at("system");
        // Our reader takes OpenAI-style role/content messages without tags; LLaMA-Factory needs
        // them named.
        json tags = json::object();
        bool openai = false;
        if (first.is_object() && first.contains(messages) && first[messages].is_array() && !first[messages].empty()) {
            const json& m = first[messages][0];
            openai = m.is_object() && !m.contains("from") && m.contains("role");
        }
        if (openai) tags = {{"role_tag", "role"}, {"content_tag", "content"}, {"user_tag", "user"},
                            {"assistant_tag", "assistant"}, {"system_tag", "system"}};
        for (const auto& [k, name] : d.tags) tags[k] = name;
        if (!tags.empty()) e["tags"] = tags;
    } else if (v == "trl-conversational" || v == "trl-unpaired-conversational") {
        throw ConfigError(field, "LLaMA-Factory cannot read TRL's conversational format (message lists in prompt/"
                                 "chosen/rejected); convert the file to sharegpt or export with --to trl");
    } else {
        throw ConfigError(field, "the data format could not be detected (" +
                                     (shape.why_unknown.empty() ? std::string("no records") : shape.why_unknown) +
                                     "); set data.format to trl, sharegpt or alpaca");
    }
    e["columns"] = columns;
    return e;
}

// The format a paired/unpaired file has when it cannot be read here: what data.format says, or
// TRL's plain names for the algorithm's data.
DataShape assumed_shape(const RunConfig& c, const DataShape& read) {
    DataShape s = read;
    if (!s.variant.empty()) return s;
    const bool unpaired_algo = algorithm_spec(c.objective).data == DataKind::Unpaired;
    if (c.data.format == "sharegpt") s.variant = unpaired_algo ? "sharegpt-kto" : "sharegpt-preference";
    else if (c.data.format == "alpaca") s.variant = "alpaca-ranking";
    else if (c.data.format == "trl" || c.data.format == "auto") s.variant = unpaired_algo ? "trl-unpaired-standard" : "trl-standard";
    return s;
}

std::string dataset_name_of(const std::string& run_name, const std::string& suffix) {
    std::string n;
    for (char ch : run_name) n += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') ? ch : '_';
    if (n.empty()) n = "prefstudio";
    return n + suffix;
}

// ---- the parts both targets share ----

// model.template as the engine resolves it: builtin models are plain; "auto" on a model
// directory is what its tokenizer_config.json carries ("unknown" when it cannot be told here).
std::string resolved_template(const RunConfig& c) {
    if (c.model.chat_template != "auto") return c.model.chat_template;
    if (c.model.source.rfind("builtin:", 0) == 0) return "plain";
    std::ifstream in(fs::path(c.model.source) / "tokenizer_config.json");
    if (!in) return "unknown";
    std::string warning;
    try {
        const std::string kind = detect_chat_template(json::parse(in), &warning);
        return kind;
    } catch (const json::exception&) {
        return "unknown";
    }
}

std::string lr_scheduler(const TrainConfig& t) {
    if (t.schedule == LrSchedule::Constant) return t.warmup_steps > 0 ? "constant_with_warmup" : "constant";
    return choice_name(t.schedule);  // cosine, linear: transformers' names, with linear warmup as ours
}

// `eval_data`: whether the target gets an eval split (its trainer fails on eval_strategy "steps"
// without one).
void map_common_training(Mapper& m, const RunConfig& c, bool eval_data) {
    const TrainConfig& t = c.train;
    m.set("name", "run_name", c.name);
    m.set("seed", "seed", c.seed);
    m.set("train.steps", "max_steps", t.steps);
    m.set("train.batch_size", "per_device_train_batch_size", t.batch_size,
          "per GPU: on G GPUs one optimizer step sees G x per_device_train_batch_size x gradient_accumulation_steps "
          "examples; divide it by G to keep ours");
    m.set("train.grad_accum", "gradient_accumulation_steps", t.grad_accum);
    m.set("train.learning_rate", "learning_rate", t.learning_rate);
    m.set("train.warmup_steps", "warmup_steps", t.warmup_steps);
    m.set("train.schedule", "lr_scheduler_type", lr_scheduler(t));
    m.set("train.weight_decay", "weight_decay", t.weight_decay);
    m.set("train.max_grad_norm", "max_grad_norm", t.max_grad_norm);
    if (t.eval_every > 0 && !eval_data) {
        m.fixed("eval_strategy", "no");
        m.differs("train.eval_every", "no eval split there (see data.eval / data.eval_fraction), so no evaluation");
    } else if (t.eval_every > 0) {
        m.fixed("eval_strategy", "steps");
        m.set("train.eval_every", "eval_steps", t.eval_every);
        m.fixed("per_device_eval_batch_size", t.batch_size);
    } else {
        m.fixed("eval_strategy", "no");
        m.differs("train.eval_every", "0 evaluates once at the end here; eval_strategy \"no\" there never evaluates");
    }
    if (t.checkpoint_every > 0) {
        m.fixed("save_strategy", "steps");
        m.set("train.checkpoint_every", "save_steps", t.checkpoint_every,
              "checkpoint-N/trainer_state.json is also what `prefstudio-cli import` reads");
        m.set("train.keep_checkpoints", "save_total_limit", t.keep_checkpoints);
    } else {
        m.fixed("save_strategy", "no");
        m.also("train.checkpoint_every", "save_strategy");
        m.none("train.keep_checkpoints", "no checkpoints are saved (train.checkpoint_every 0)");
    }
    m.none("train.device", "accelerate / torchrun place the processes, one GPU each");
    m.none("train.threads", "CPU threads of our engine");
    m.none("train.track_pairs", "per-pair tracking is PrefStudio's; imported runs show no tracked pairs");
    m.none("train.answer_check", "the answer check is PrefStudio's; imported runs have no eval/answers metrics");
    m.none("train.overwrite_save_dir", "PrefStudio's guard of train.save_dir; the trainers write into output_dir as it is");
    m.fixed("logging_steps", 1);
    m.fixed("report_to", json::array({"tensorboard"}));
    // Our bfloat16/float16 keep float32 master weights: mixed precision there.
    if (c.model.dtype == ModelDType::BFloat16) m.set("model.dtype", "bf16", true);
    else if (c.model.dtype == ModelDType::Float16) m.set("model.dtype", "fp16", true);
    else m.set("model.dtype", "bf16", false, "float32 here; bf16: true is what a GPU run usually wants");
    if (c.sft.steps > 0) {
        m.differs("sft.steps", "the SFT warm-up on the chosen answers is a separate run there (trl sft / stage sft) "
                               "before this one");
        m.none("sft.learning_rate", "the learning rate of that separate SFT run (see sft.steps)");
    } else {
        m.none("sft.steps", "0: no SFT warm-up");
        m.none("sft.learning_rate", "read only with an SFT warm-up");
    }
    if (c.model.tokenizer)
        m.differs("model.tokenizer", "the model directory's tokenizer is used there; copy " + *c.model.tokenizer +
                                         " into it");
    else
        m.none("model.tokenizer", "null: the model's own tokenizer, as there");
}

void map_model(Mapper& m, const RunConfig& c, const std::string& key) {
    if (c.model.source.rfind("builtin:", 0) == 0)
        m.set("model.source", key, c.model.source,
              "PrefStudio's own model: write it as a Hugging Face directory with `prefstudio-cli save --model " +
                  c.model.source + " -o DIR` and put DIR here");
    else
        m.set("model.source", key, c.model.source);
    if (c.model.source.rfind("builtin:", 0) == 0)
        m.warn("model.source " + c.model.source + " is PrefStudio's own model: save it with `prefstudio-cli save --model " +
               c.model.source + " -o DIR` and set " + key + " to DIR.");
}

json lora_alpha_value(Mapper& m, double alpha) {
    if (std::floor(alpha) == alpha && std::fabs(alpha) < 1e9) return static_cast<int64_t>(alpha);
    m.warn("model.lora.alpha " + num_text(alpha) + " is not a whole number; TRL and LLaMA-Factory take an integer "
           "lora_alpha, so it is written as " + num_text(std::round(alpha)) + ".");
    return static_cast<int64_t>(std::round(alpha));
}

std::string output_dir_of(const RunConfig& c) { return c.train.save_dir ? *c.train.save_dir : "runs/" + c.name; }

// ---- TRL ----

ConfigExport export_trl(const RunConfig& c, const json& resolved) {
    Mapper m(resolved);
    const Algorithm algo = algorithm_of(c.objective);
    const ObjectiveConfig& o = c.objective;
    std::string trainer;
    switch (algo) {
        case Algorithm::Dpo: trainer = "dpo"; break;
        case Algorithm::Kto: trainer = "kto"; break;
        case Algorithm::Orpo: trainer = "orpo"; break;
        case Algorithm::Simpo:
        case Algorithm::Cpo: trainer = "cpo"; break;
    }
    m.set("objective.algorithm", "trainer", trainer);
    // "trainer" is not a TRL argument: it picks the command; drop it from the settings below.
    map_model(m, c, "model_name_or_path");

    // Data: one JSON Lines/JSON file through TRL's `datasets:` mixture (load_dataset("json")).
    json datasets = json::array({json{{"path", "json"}, {"data_files", c.data.train}, {"split", "train"}}});
    m.set("data.train", "datasets", datasets);
    if (!c.data.eval) {
        m.none("data.eval", "null: the eval split comes from data.eval_fraction");
    }
    if (c.data.eval) {
        m.differs("data.eval", "TRL's scripts read one dataset and split it, so this export does not evaluate: put the "
                               "train and eval files in one directory as train.jsonl and test.jsonl, set dataset_name "
                               "to it instead of datasets, and eval_strategy to steps");
        m.none("data.eval_fraction", "read only without data.eval");
    } else if (c.train.eval_every > 0 && c.data.eval_fraction > 0) {
        m.set("data.eval_fraction", "test_split_size", c.data.eval_fraction,
              "a random split there (datasets' train_test_split), not our seeded one");
    } else {
        m.none("data.eval_fraction", c.data.eval_fraction > 0 ? "no evaluation (train.eval_every 0)" : "0: no eval split");
    }
    const DataShape shape = data_shape(c);
    if (shape.variant.rfind("sharegpt", 0) == 0 || shape.variant.rfind("alpaca", 0) == 0)
        m.differs("data.format", "TRL cannot read LLaMA-Factory's " + shape.variant + " format: convert the file to "
                                 "TRL's prompt/chosen/rejected (or prompt/completion/label) or export with --to llamafactory");
    else
        m.none("data.format", "TRL reads the file as it is (" + (shape.variant.empty() ? c.data.format : shape.variant) +
                                  ")");
    m.set("data.max_length", "max_length", c.data.max_length);
    // TRL 1.x has no prompt limit in any of these configs (its parser rejects max_prompt_length):
    // prompt + completion are cut to max_length, at their end by default.
    m.none("data.max_prompt_length", "TRL 1.x has no prompt limit: prompt + completion are cut to max_length at "
                                     "their end (only over-long examples train differently)");
    if (c.data.truncation_mode == TruncationMode::Drop)
        m.differs("data.truncation_mode", "\"drop\" (over-long prompts left out) has no equivalent: TRL cuts prompt + "
                                          "completion to max_length instead");
    else
        m.none("data.truncation_mode", "TRL 1.x truncates prompt + completion together, not the prompt alone (DPO's "
                                       "truncation_mode keep_start, its default; the others have no setting)");
    m.none("data.group_by_length", "TRL batches DPO data in plain shuffled order");
    if (c.data.columns.empty()) m.none("data.columns", "none renamed");
    else m.differs("data.columns", "TRL reads fixed column names (prompt, chosen, rejected / completion, label): rename "
                                   "the file's fields");
    if (c.data.tags.empty()) m.none("data.tags", "none renamed");
    else m.differs("data.tags", "TRL reads role/content messages only");

    // Both use text examples verbatim and render messages with a chat template: TRL the
    // tokenizer's own, of which ours is a C++ rendering.
    m.none("model.template", resolved_template(c) + ": TRL renders messages with the tokenizer's own chat template "
                                                    "(text examples verbatim, as here)");
    if (c.model.template_kwargs.empty())
        m.none("model.template_kwargs", "none given");
    else
        m.differs("model.template_kwargs", "TRL's config has no template arguments: it reads them per example from a "
                                           "chat_template_kwargs column; add " + c.model.template_kwargs.dump() +
                                           " to each example of the data");

    if (c.model.lora) {
        const LoraConfig& l = *c.model.lora;
        m.set("model.lora", "use_peft", true);
        m.set("model.lora.rank", "lora_r", l.rank);
        m.set("model.lora.alpha", "lora_alpha", lora_alpha_value(m, l.alpha));
        m.set("model.lora.dropout", "lora_dropout", l.dropout);
        m.set("model.lora.target_modules", "lora_target_modules", l.target_modules);
    } else {
        m.set("model.lora", "use_peft", false, "null: full fine-tuning");
    }

    m.set("train.save_dir", "output_dir", output_dir_of(c),
          c.train.save_dir ? "" : "null here: the run's name under runs/ (checkpoints and TensorBoard logs go there)");
    m.set("train.gradient_checkpointing", "gradient_checkpointing", c.train.gradient_checkpointing);

    // The objective.
    m.set("objective.beta", "beta", o.beta, algo == Algorithm::Orpo ? "ORPO's lambda is TRL's beta" : "");
    auto not_read = [&](const char* key) {
        m.none(std::string("objective.") + key, std::string("not read by ") + algorithm_spec(algo).title);
    };
    const bool reference = needs_reference(o);
    switch (algo) {
        case Algorithm::Dpo:
            // TRL 1.x: RPO's NLL term is the loss type "sft" beside ours, weighted by loss_weights
            // (rpo_alpha is gone; its parser rejects it).
            if (o.sft_weight > 0) {
                m.set("objective.loss_type", "loss_type", json::array({o.loss_type, "sft"}));
                m.set("objective.sft_weight", "loss_weights", json::array({1.0, o.sft_weight}),
                      "RPO: loss_type [" + o.loss_type + ", sft] with loss_weights [1.0, " + num_text(o.sft_weight) +
                          "] (TRL < 0.29: rpo_alpha)");
            } else {
                m.set("objective.loss_type", "loss_type", o.loss_type);
                m.none("objective.sft_weight", "0: no NLL term (no sft loss type)");
            }
            // TRL 1.x dropped cDPO: its sigmoid loss ignores label_smoothing (robust still reads it).
            if (o.loss_type == "sigmoid" && o.label_smoothing > 0)
                m.differs("objective.label_smoothing", "TRL 1.x's sigmoid loss ignores label_smoothing (no cDPO): this run "
                                                       "trains plain DPO there; loss_type robust is the noise-robust one");
            else
                m.set("objective.label_smoothing", "label_smoothing", o.label_smoothing);
            if (o.dpop_lambda > 0)
                m.differs("objective.dpop_lambda", "TRL has no DPO-Positive (Smaug) penalty; this run trains plain " +
                                                       o.loss_type + " DPO there");
            else
                m.none("objective.dpop_lambda", "0: no DPO-Positive penalty");
            if (o.reference_free)
                m.differs("objective.reference_free", "TRL 1.x has no reference-free DPO (reference_free is gone): the "
                                                      "run there uses the model's reference log-probs");
            else
                m.none("objective.reference_free", "false: the reference model is used, as always in TRL 1.x");
            for (const char* k : {"desirable_weight", "undesirable_weight", "gamma", "cpo_alpha"}) not_read(k);
            break;
        case Algorithm::Kto:
            m.set("objective.desirable_weight", "desirable_weight", o.desirable_weight);
            m.set("objective.undesirable_weight", "undesirable_weight", o.undesirable_weight);
            for (const char* k : {"loss_type", "label_smoothing", "sft_weight", "dpop_lambda", "gamma", "reference_free",
                                  "cpo_alpha"})
                not_read(k);
            break;
        case Algorithm::Orpo:
            for (const char* k : {"loss_type", "label_smoothing", "sft_weight", "dpop_lambda", "desirable_weight",
                                  "undesirable_weight", "gamma", "reference_free", "cpo_alpha"})
                not_read(k);
            break;
        case Algorithm::Simpo:
            m.fixed("loss_type", "simpo");
            m.also("objective.algorithm", "loss_type");
            m.set("objective.gamma", "simpo_gamma", o.gamma);
            m.set("objective.label_smoothing", "label_smoothing", o.label_smoothing);
            m.set("objective.sft_weight", "cpo_alpha", o.sft_weight,
                  o.sft_weight > 0 ? "CPO-SimPO: the NLL of the chosen answers" : "0: plain SimPO, as TRL's docs set it");
            for (const char* k : {"loss_type", "dpop_lambda", "desirable_weight", "undesirable_weight", "reference_free",
                                  "cpo_alpha"})
                not_read(k);
            break;
        case Algorithm::Cpo:
            m.set("objective.loss_type", "loss_type", o.loss_type);
            m.set("objective.cpo_alpha", "cpo_alpha", o.cpo_alpha);
            m.set("objective.label_smoothing", "label_smoothing", o.label_smoothing);
            if (o.loss_type == "simpo") m.set("objective.gamma", "simpo_gamma", o.gamma);
            else m.none("objective.gamma", "read only by the simpo loss type");
            for (const char* k : {"sft_weight", "dpop_lambda", "desirable_weight", "undesirable_weight", "reference_free"})
                not_read(k);
            break;
    }
    if (reference && (algo == Algorithm::Dpo || algo == Algorithm::Kto))
        m.set("train.reference_logps", "precompute_ref_log_probs", c.train.reference_logps == ReferenceMode::Cached);
    else
        m.none("train.reference_logps", reference ? "TRL's KTO runs its reference every step"
                                                  : "no reference model in this objective");

    map_common_training(m, c, !c.data.eval && c.data.eval_fraction > 0);
    ConfigExport e = m.finish(ExportTarget::Trl, trainer);
    e.settings.erase("trainer");
    for (ExportedKey& k : e.keys)
        if (k.path == "objective.algorithm") {
            k.targets.erase(std::remove(k.targets.begin(), k.targets.end(), "trainer"), k.targets.end());
            k.note = "the trainer: " + std::string(trainer == "dpo" || trainer == "kto" ? "`trl " + trainer + "`"
                                                                                          : "TRL's " + trainer + " script") +
                     (algo == Algorithm::Simpo ? " with loss_type simpo" : "");
        }
    e.output_dir = output_dir_of(c);
    return e;
}

// ---- LLaMA-Factory ----

std::string llamafactory_template(const RunConfig& c, Mapper& m, const std::string& variant) {
    if (c.model.template_kwargs.empty())
        m.none("model.template_kwargs", "none given");
    else
        m.differs("model.template_kwargs", "LLaMA-Factory renders its own templates, not the model's Jinja template, and "
                                           "passes them none of these; set its own options by hand (enable_thinking for "
                                           "its reasoning templates)");
    // LLaMA-Factory wraps every prompt in its template, text ones too; we use text verbatim.
    if (variant == "trl-standard" || variant == "trl-unpaired-standard") {
        m.also("model.template", "template", "text examples are used verbatim here: LLaMA-Factory's empty template");
        return "empty";
    }
    const std::string name = resolved_template(c);
    const std::string how = c.model.chat_template == "auto" ? "auto: the model's template, " + name : name;
    m.also("model.template", "template", how);
    if (name == "plain") return "empty";
    if (name == "chatml") return "chatml";
    if (name == "qwen2.5") return "qwen";
    if (name == "llama3") return "llama3";
    m.differs("model.template", "the chat template could not be told from the model (" + how +
                                    "): LLaMA-Factory needs one, set template by hand");
    return "default";
}

ConfigExport export_llamafactory(const RunConfig& c, const json& resolved, const ExportOptions& options) {
    Mapper m(resolved);
    const Algorithm algo = algorithm_of(c.objective);
    const ObjectiveConfig& o = c.objective;
    const std::string stage = algo == Algorithm::Kto ? "kto" : "dpo";
    m.set("objective.algorithm", "stage", stage);
    map_model(m, c, "model_name_or_path");

    // The objective, or a clear refusal where LLaMA-Factory has no such loss.
    auto not_read = [&](const char* key) {
        m.none(std::string("objective.") + key, std::string("not read by ") + algorithm_spec(algo).title);
    };
    m.set("objective.beta", "pref_beta", o.beta, algo == Algorithm::Orpo ? "ORPO's lambda is pref_beta there" : "");
    switch (algo) {
        case Algorithm::Dpo:
            if (o.loss_type == "robust")
                throw ConfigError("objective.loss_type", "LLaMA-Factory has no robust DPO loss (sigmoid, hinge or ipo); "
                                                         "export with --to trl");
            if (o.reference_free)
                throw ConfigError("objective.reference_free", "LLaMA-Factory has no reference-free DPO; export with --to trl");
            m.set("objective.loss_type", "pref_loss", o.loss_type);
            m.set("objective.sft_weight", "pref_ftx", o.sft_weight,
                  "its NLL is averaged per example, ours over the batch's tokens: equal for equal lengths");
            if (o.label_smoothing > 0 && o.loss_type != "sigmoid")
                m.differs("objective.label_smoothing", "LLaMA-Factory applies it to the sigmoid loss only");
            else
                m.set("objective.label_smoothing", "dpo_label_smoothing", o.label_smoothing);
            if (o.dpop_lambda > 0)
                m.differs("objective.dpop_lambda", "LLaMA-Factory has no DPO-Positive (Smaug) penalty; this run trains "
                                                   "plain " + o.loss_type + " DPO there");
            else
                m.none("objective.dpop_lambda", "0: no DPO-Positive penalty");
            m.none("objective.reference_free", "false: the frozen reference (LoRA: the model without its adapters)");
            for (const char* k : {"desirable_weight", "undesirable_weight", "gamma", "cpo_alpha"}) not_read(k);
            break;
        case Algorithm::Kto:
            m.set("objective.desirable_weight", "kto_chosen_weight", o.desirable_weight);
            m.set("objective.undesirable_weight", "kto_rejected_weight", o.undesirable_weight);
            for (const char* k : {"loss_type", "label_smoothing", "sft_weight", "dpop_lambda", "gamma", "reference_free",
                                  "cpo_alpha"})
                not_read(k);
            break;
        case Algorithm::Orpo:
            m.fixed("pref_loss", "orpo");
            m.also("objective.algorithm", "pref_loss");
            for (const char* k : {"loss_type", "label_smoothing", "sft_weight", "dpop_lambda", "desirable_weight",
                                  "undesirable_weight", "gamma", "reference_free", "cpo_alpha"})
                not_read(k);
            break;
        case Algorithm::Simpo:
            m.fixed("pref_loss", "simpo");
            m.also("objective.algorithm", "pref_loss");
            m.set("objective.gamma", "simpo_gamma", o.gamma);
            m.set("objective.sft_weight", "pref_ftx", o.sft_weight,
                  "its NLL is averaged per example, ours over the batch's tokens: equal for equal lengths");
            if (o.label_smoothing > 0)
                m.differs("objective.label_smoothing", "LLaMA-Factory's SimPO loss has no label smoothing");
            else
                m.none("objective.label_smoothing", "0: none, as LLaMA-Factory's SimPO");
            for (const char* k : {"loss_type", "dpop_lambda", "desirable_weight", "undesirable_weight", "reference_free",
                                  "cpo_alpha"})
                not_read(k);
            break;
        case Algorithm::Cpo:
            if (o.loss_type != "simpo")
                throw ConfigError("objective.loss_type", "LLaMA-Factory has no CPO " + o.loss_type +
                                                             " loss (only CPO-SimPO: loss_type simpo); export with --to trl");
            m.fixed("pref_loss", "simpo");
            m.also("objective.loss_type", "pref_loss");
            m.set("objective.gamma", "simpo_gamma", o.gamma);
            m.set("objective.cpo_alpha", "pref_ftx", o.cpo_alpha,
                  "its NLL is averaged per example, ours over the batch's tokens: equal for equal lengths");
            if (o.label_smoothing > 0)
                m.differs("objective.label_smoothing", "LLaMA-Factory's SimPO loss has no label smoothing");
            else
                m.none("objective.label_smoothing", "0: none, as LLaMA-Factory's SimPO");
            for (const char* k : {"sft_weight", "dpop_lambda", "desirable_weight", "undesirable_weight", "reference_free"})
                not_read(k);
            break;
    }

    // Model and adapters.
    if (c.model.lora) {
        const LoraConfig& l = *c.model.lora;
        m.set("model.lora", "finetuning_type", "lora");
        m.set("model.lora.rank", "lora_rank", l.rank);
        m.set("model.lora.alpha", "lora_alpha", lora_alpha_value(m, l.alpha));
        m.set("model.lora.dropout", "lora_dropout", l.dropout);
        std::set<std::string> all(kAllLoraModules.begin(), kAllLoraModules.end());
        std::set<std::string> chosen(l.target_modules.begin(), l.target_modules.end());
        std::string target;
        if (chosen == all) target = "all";
        else
            for (const std::string& t : l.target_modules) target += (target.empty() ? "" : ",") + t;
        m.set("model.lora.target_modules", "lora_target", target, chosen == all ? "all: every linear layer, as ours" : "");
    } else {
        m.set("model.lora", "finetuning_type", "full", "null: full fine-tuning");
    }

    // Data: dataset_info.json entries beside the YAML.
    fs::path yaml_dir = options.yaml_path.empty() ? fs::current_path() : fs::absolute(options.yaml_path).parent_path();
    const DataShape read = data_shape(c);
    const DataShape shape = assumed_shape(c, read);
    if (read.variant.empty())
        m.warn("data.train could not be read here (" + read.why_unknown + "), so its dataset_info.json entry assumes "
               "the " + shape.variant + " format.");
    const bool unpaired_file = shape.variant.find("kto") != std::string::npos ||
                               shape.variant.find("unpaired") != std::string::npos;
    if (algo == Algorithm::Kto && !unpaired_file)
        throw ConfigError("data.train", "LLaMA-Factory's KTO reads unpaired examples with a kto_tag, and this file holds "
                                        "pairs; export with --to trl (TRL's KTO splits pairs, as PrefStudio does)");
    m.fixed("template", llamafactory_template(c, m, shape.variant));
    const std::string train_name = dataset_name_of(c.name, "_train");
    json info = json::object();
    info[train_name] = dataset_entry(c.data.train, c.data, shape, "data.train");
    m.set("data.train", "dataset", train_name, "its dataset_info.json entry is written beside this file");
    m.fixed("dataset_dir", yaml_dir.lexically_normal().string());
    m.also("data.format", "dataset_info.json formatting/columns", shape.variant);
    if (!c.data.eval) m.none("data.eval", "null: the eval split comes from data.eval_fraction");
    if (c.data.eval) {
        DataConfig eval_data = c.data;
        eval_data.train = *c.data.eval;
        RunConfig eval_config = c;
        eval_config.data = eval_data;
        const DataShape eval_shape = assumed_shape(eval_config, data_shape(eval_config));
        const std::string eval_name = dataset_name_of(c.name, "_eval");
        info[eval_name] = dataset_entry(*c.data.eval, c.data, eval_shape, "data.eval");
        m.set("data.eval", "eval_dataset", eval_name);
        m.none("data.eval_fraction", "read only without data.eval");
    } else if (c.train.eval_every > 0 && c.data.eval_fraction > 0) {
        m.set("data.eval_fraction", "val_size", c.data.eval_fraction,
              "a random split there, not our seeded one");
    } else {
        m.none("data.eval_fraction", c.data.eval_fraction > 0 ? "no evaluation (train.eval_every 0)" : "0: no eval split");
    }
    if (!c.data.columns.empty()) m.also("data.columns", "dataset_info.json columns");
    else m.none("data.columns", "none renamed");
    if (c.data.tags.empty()) m.none("data.tags", "none renamed");
    else if (shape.variant.rfind("sharegpt", 0) == 0) m.also("data.tags", "dataset_info.json tags");
    else m.none("data.tags", "read only for sharegpt files, as here");
    m.set("data.max_length", "cutoff_len", c.data.max_length);
    m.none("data.max_prompt_length", "LLaMA-Factory splits cutoff_len between prompt and answer by their lengths");
    if (c.data.truncation_mode == TruncationMode::KeepStart)
        m.none("data.truncation_mode", "keep_start: LLaMA-Factory keeps the start of over-long prompts too");
    else
        m.differs("data.truncation_mode", "LLaMA-Factory cuts over-long prompts to their start (\"" +
                                              choice_name(c.data.truncation_mode) + "\" has no equivalent)");
    m.none("data.group_by_length", "LLaMA-Factory batches in plain shuffled order");

    m.set("train.save_dir", "output_dir", output_dir_of(c),
          c.train.save_dir ? "" : "null here: the run's name under runs/ (checkpoints and logs go there)");
    // LLaMA-Factory turns gradient checkpointing on unless told not to.
    m.set("train.gradient_checkpointing", "disable_gradient_checkpointing", !c.train.gradient_checkpointing);
    m.none("train.reference_logps", needs_reference(o) ? "LLaMA-Factory runs its reference model every step"
                                                        : "no reference model in this objective");
    map_common_training(m, c, c.data.eval || c.data.eval_fraction > 0);
    m.fixed("plot_loss", true);
    m.fixed("do_train", true);

    ConfigExport e = m.finish(ExportTarget::LlamaFactory, stage);
    e.dataset_info = info;
    e.output_dir = output_dir_of(c);
    return e;
}

// ---- YAML text ----

// Our settings as YAML: strings always double-quoted (so "no", "on" or "1e-3" stay strings),
// numbers in yaml_float's form, booleans as true/false.
void emit_value(YAML::Emitter& out, const json& v) {
    switch (v.type()) {
        case json::value_t::null: out << YAML::Null; break;
        case json::value_t::boolean: out << v.get<bool>(); break;
        case json::value_t::number_integer: out << v.get<int64_t>(); break;
        case json::value_t::number_unsigned: out << v.get<uint64_t>(); break;
        case json::value_t::number_float: out << yaml_float(v.get<double>()); break;
        case json::value_t::string: out << YAML::DoubleQuoted << v.get<std::string>(); break;
        case json::value_t::array:
            out << YAML::BeginSeq;
            for (const json& e : v) emit_value(out, e);
            out << YAML::EndSeq;
            break;
        case json::value_t::object:
            out << YAML::BeginMap;
            for (auto it = v.begin(); it != v.end(); ++it) {
                out << YAML::Key << it.key() << YAML::Value;
                emit_value(out, it.value());
            }
            out << YAML::EndMap;
            break;
        default: out << YAML::Null; break;
    }
}

std::string one_line(std::string s) {
    for (char& ch : s)
        if (ch == '\n' || ch == '\r') ch = ' ';
    return s;
}

void comment(std::ostringstream& out, const std::string& line = {}) {
    out << (line.empty() ? "#" : "# " + one_line(line)) << "\n";
}

std::string launch_header(const ConfigExport& e, const std::string& file, const RunConfig& c) {
    std::ostringstream h;
    const std::string f = file.empty() ? "THIS_FILE.yaml" : fs::path(file).filename().string();
    if (e.target == ExportTarget::Trl) {
        const bool cli = e.trainer == "dpo" || e.trainer == "kto";
        const std::string script = cli ? "$(python -c 'import trl.scripts." + e.trainer + " as s; print(s.__file__)')"
                                       : "examples/scripts/" + e.trainer + ".py";
        comment(h, "TRL config exported by PrefStudio from run config '" + c.name + "' (" +
                       algorithm_spec(c.objective).title + "). Written for TRL 1.x (parsed by TRL 1.16's TrlParser in our tests).");
        if (!cli)
            comment(h, "TRL has no `trl " + e.trainer + "` command: run " + script +
                           " of a TRL checkout of your version (it reads --config).");
        comment(h);
        comment(h, "One GPU:");
        comment(h, cli ? "  trl " + e.trainer + " --config " + f : "  python " + script + " --config " + f);
        comment(h, "Several GPUs on one node (DeepSpeed ZeRO-3; zero_stage 2 shards only optimizer state and gradients):");
        comment(h, "  accelerate launch --config_file deepspeed_zero3.yaml --num_processes 8 " + script + " --config " + f);
        comment(h, "Several nodes (the same line on every node, NODE_RANK 0..N-1, MASTER_ADDR = node 0):");
        comment(h, "  accelerate launch --config_file deepspeed_zero3.yaml --num_machines 2 --num_processes 16 \\");
        comment(h, "    --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR --main_process_port 29500 \\");
        comment(h, "    " + script + " --config " + f);
        comment(h, "deepspeed_zero3.yaml (TRL ships it as examples/accelerate_configs/deepspeed_zero3.yaml):");
        comment(h, "  compute_environment: LOCAL_MACHINE");
        comment(h, "  distributed_type: DEEPSPEED");
        comment(h, "  deepspeed_config: {zero_stage: 3, zero3_init_flag: true, zero3_save_16bit_model: true,");
        comment(h, "                     offload_optimizer_device: none, offload_param_device: none}");
        comment(h, "  mixed_precision: bf16");
        comment(h, "  num_machines: 1");
        comment(h, "  num_processes: 8");
    } else {
        comment(h, "LLaMA-Factory config exported by PrefStudio from run config '" + c.name + "' (" +
                       algorithm_spec(c.objective).title + "). Written for LLaMA-Factory 0.9.");
        comment(h, "Its dataset is registered in dataset_info.json in dataset_dir (written beside this file).");
        comment(h);
        comment(h, "One GPU:");
        comment(h, "  llamafactory-cli train " + f);
        comment(h, "Several GPUs on one node (add `deepspeed: examples/deepspeed/ds_z3_config.json` below, the file");
        comment(h, "LLaMA-Factory ships; ds_z2_config.json for ZeRO-2):");
        comment(h, "  FORCE_TORCHRUN=1 llamafactory-cli train " + f);
        comment(h, "Several nodes (NODE_RANK=1 on the second node, MASTER_ADDR = node 0):");
        comment(h, "  FORCE_TORCHRUN=1 NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 \\");
        comment(h, "    llamafactory-cli train " + f);
    }
    comment(h);
    comment(h, "Follow the run live in PrefStudio (report_to tensorboard writes " + e.output_dir + "/runs/):");
    comment(h, "  prefstudio-cli import " + e.output_dir + " --follow");
    comment(h, "or File > Follow Run... in the studio. Paths are this machine's: adjust them on the cluster.");
    return h.str();
}

std::string mapping_comments(const ConfigExport& e) {
    std::ostringstream h;
    comment(h);
    comment(h, "PrefStudio key -> setting here:");
    for (const ExportedKey& k : e.keys) {
        if (k.targets.empty()) continue;
        std::string t;
        for (const std::string& s : k.targets) t += (t.empty() ? "" : ", ") + s;
        comment(h, "  " + k.path + " -> " + t + (k.note.empty() ? "" : " (" + k.note + ")"));
    }
    comment(h);
    comment(h, "No equivalent here (listed, not dropped):");
    for (const ExportedKey& k : e.keys) {
        if (!k.targets.empty()) continue;
        comment(h, "  " + k.path + (k.changes_training ? " [TRAINS DIFFERENTLY]" : "") + ": " + k.note);
    }
    if (!e.warnings.empty()) {
        comment(h);
        comment(h, "What this run does differently from PrefStudio's:");
        for (const std::string& w : e.warnings) comment(h, "  " + w);
    }
    comment(h);
    return h.str();
}

}  // namespace

const char* to_string(ExportTarget target) {
    switch (target) {
        case ExportTarget::Trl: return "trl";
        case ExportTarget::LlamaFactory: return "llamafactory";
    }
    return "?";
}

std::optional<ExportTarget> find_export_target(const std::string& name) {
    if (name == "trl") return ExportTarget::Trl;
    if (name == "llamafactory" || name == "llama-factory") return ExportTarget::LlamaFactory;
    return std::nullopt;
}

std::string yaml_float(double v) {
    if (std::isnan(v)) return ".nan";
    if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
    char b[64];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(b, sizeof b, "%.*g", precision, v);
        if (std::strtod(b, nullptr) == v) break;
    }
    std::string s = b;
    const auto e = s.find('e');
    std::string mantissa = e == std::string::npos ? s : s.substr(0, e);
    const std::string exponent = e == std::string::npos ? "" : s.substr(e);
    if (mantissa.find('.') == std::string::npos) mantissa += ".0";
    return mantissa + exponent;
}

std::vector<std::string> config_key_paths(const json& resolved) {
    std::vector<std::string> out;
    std::function<void(const json&, const std::string&)> walk = [&](const json& j, const std::string& prefix) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
            const FieldSpec* spec = find_field(path);  // an object of names is one key (data.columns)
            if (it->is_object() && !(spec && spec->type == FieldType::Names)) walk(*it, path);
            else out.push_back(path);
        }
    };
    if (resolved.is_object()) walk(resolved, "");
    return out;
}

ConfigExport export_config(const RunConfig& config, ExportTarget target, const ExportOptions& options) {
    config.validate();
    const json resolved = config.to_json();
    ConfigExport e = target == ExportTarget::Trl ? export_trl(config, resolved)
                                                 : export_llamafactory(config, resolved, options);
    YAML::Emitter out;
    out.SetIndent(2);
    emit_value(out, e.settings);
    if (!out.good()) throw Error(std::string("could not write the YAML: ") + out.GetLastError());
    std::ostringstream text;
    text << launch_header(e, options.yaml_path, config) << mapping_comments(e) << out.c_str() << "\n";
    if (target == ExportTarget::LlamaFactory) {
        text << "\n";
        std::ostringstream entries;
        entries << e.dataset_info.dump(2);
        std::istringstream lines(entries.str());
        std::string line;
        text << "# dataset_info.json entries (written beside this file):\n";
        while (std::getline(lines, line)) text << "#   " << line << "\n";
    }
    e.text = text.str();
    return e;
}

RunConfig stored_run_config(const StoredRun& run) {
    const std::string which = "run " + std::to_string(run.id) + " '" + run.name + "'";
    const json& j = run.resolved_config.is_object() && !run.resolved_config.empty() ? run.resolved_config : run.config;
    if (!j.is_object() || j.empty()) throw ConfigError("", which + " has no stored config to export");
    try {
        return RunConfig::from_json(j);
    } catch (const ConfigError& e) {
        throw ConfigError("", which + " was not trained from a PrefStudio run config (" + std::string(e.what()) +
                                  "), so there is nothing to export");
    }
}

std::vector<std::string> write_config_export(const ConfigExport& e, const std::string& yaml_path) {
    std::vector<std::string> written;
    auto write_text = [&](const fs::path& path, const std::string& text) {
        const fs::path tmp = path.string() + ".tmp";
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            if (!f) throw Error("cannot write '" + path.string() + "' (is the directory there and writable?)");
            f << text;
            f.flush();
            if (!f) throw Error("cannot write '" + path.string() + "' (disk full?)");
        }
        std::error_code ec;
        fs::rename(tmp, path, ec);
        if (ec) {
            fs::remove(tmp, ec);
            throw Error("cannot write '" + path.string() + "': " + ec.message());
        }
        written.push_back(path.string());
    };
    const fs::path yaml = yaml_path;
    if (e.target == ExportTarget::LlamaFactory) {
        const fs::path info_path = fs::absolute(yaml).parent_path() / "dataset_info.json";
        json info = json::object();
        std::error_code ec;
        if (fs::exists(info_path, ec)) {
            std::ifstream in(info_path);
            try {
                info = json::parse(in);
            } catch (const json::exception&) {
                throw Error("'" + info_path.string() + "' is not valid JSON; move it away or fix it so the dataset "
                            "entries can be added to it");
            }
            if (!info.is_object()) throw Error("'" + info_path.string() + "' is not a JSON object of dataset entries");
        }
        for (auto it = e.dataset_info.begin(); it != e.dataset_info.end(); ++it) info[it.key()] = it.value();
        write_text(yaml, e.text);
        write_text(info_path, info.dump(2) + "\n");
    } else {
        write_text(yaml, e.text);
    }
    return written;
}

}  // namespace ps
