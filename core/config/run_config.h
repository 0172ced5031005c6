// RunConfig: the run-config JSON (README: config reference) as a struct. Its schema
// (config_schema.h: one spec per key) reads, validates and writes it: parsing rejects unknown keys
// and validates every value; each error is a ps::ConfigError naming the field path. A new key is a
// member here and its row in config_schema.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/algorithm.h"
#include "core/config/config_choices.h"

namespace ps {


// Low-rank adapters (Hu et al. 2021) on the named linear layers, as PEFT's LoraConfig:
// W x + (alpha / rank) * B A dropout(x), with A [rank, in] and B [out, rank] (B starts at 0).
struct LoraConfig {
    int rank = 8;
    double alpha = 16.0;
    double dropout = 0.0;
    // Hugging Face module names; every linear layer of the decoder by default.
    std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj",
                                               "gate_proj", "up_proj", "down_proj"};
};

struct ModelConfig {
    std::string source = "builtin:tiny";
    std::optional<std::string> tokenizer;
    std::string chat_template = "auto";  // JSON key "template"
    // Extra variables for a model's own Jinja template (apply_chat_template's keyword arguments,
    // e.g. {"enable_thinking": false} for Qwen3). JSON key "template_kwargs".
    nlohmann::json template_kwargs = nlohmann::json::object();
    ModelDType dtype = ModelDType::Auto;
    std::optional<LoraConfig> lora;  // null: full fine-tuning
};

struct DataConfig {
    std::string train;
    std::optional<std::string> eval;
    double eval_fraction = 0.1;
    std::string format = "auto";
    int max_length = 256;
    int max_prompt_length = 128;
    // What happens to a prompt over max_prompt_length: drop (the example is dropped and
    // counted), keep_end or keep_start (cut to its last / first tokens, counted).
    TruncationMode truncation_mode = TruncationMode::Drop;
    // Batches of examples of similar length (less padding); false: plain shuffled batches.
    bool group_by_length = true;
    // Renamed fields, as LLaMA-Factory's dataset_info.json "columns" and "tags".
    std::map<std::string, std::string> columns;
    std::map<std::string, std::string> tags;
};

struct SftConfig {
    int steps = 0;
    double learning_rate = 1e-3;
};

struct TrainConfig {
    int steps = 300;
    int batch_size = 8;
    int grad_accum = 1;
    double learning_rate = 5e-4;
    int warmup_steps = 10;
    LrSchedule schedule = LrSchedule::Cosine;
    double weight_decay = 0.0;
    double max_grad_norm = 1.0;
    int eval_every = 50;
    // Steps between checkpoints of a stored run (core/engine/run_checkpoint.h); 0 = none.
    int checkpoint_every = 100;
    // The newest checkpoints kept; older ones are removed when a new one is whole.
    int keep_checkpoints = 2;
    std::string device = "auto";
    // cached: reference log-probs computed once before training (one policy forward per
    // step); on_the_fly: a reference forward every step (less memory, slower).
    ReferenceMode reference_logps = ReferenceMode::Cached;
    // CPU threads for tensor maths; 0 = all cores but one, so the studio's GUI thread keeps a
    // core (oversubscribed OpenMP threads spin and slow training down many times over).
    int threads = 0;
    // Where the trained policy is written at the end of a completed run, as a directory
    // transformers loads (config.json, model.safetensors, tokenizer files); null = not saved.
    std::optional<std::string> save_dir;
    // A non-empty save_dir that no PrefStudio run wrote is refused unless this is set
    // (core/engine/save_dir.h).
    bool overwrite_save_dir = false;
    // Per-pair tracking: this many eval pairs (a fixed, seeded subset; all when fewer) have
    // their policy log-probs recorded at step 0 and at every eval, and their CHES similarity
    // computed from the reference model before training. 0 turns tracking off.
    int track_pairs = 64;
    // Answer check: at step 0 and every eval, greedy answers to the tracked pairs' prompts,
    // counted as equal to the chosen answer, the rejected one, or neither (what the reward
    // margin does not show). auto: on for built-in models, off for Hugging Face models.
    AnswerCheck answer_check = AnswerCheck::Auto;
    // Recompute each decoder block's activations in the backward pass instead of keeping
    // them: less memory for about one more forward per step.
    bool gradient_checkpointing = false;
};

// model.source names a built-in model (`builtin:<name>`) rather than a Hugging Face directory.
bool is_builtin_source(const std::string& source);

struct RunConfig {
    std::string name = "run";
    int64_t seed = 0;
    ModelConfig model;
    DataConfig data;
    SftConfig sft;
    ObjectiveConfig objective;  // config/algorithm.h: its keys and what each algorithm reads
    TrainConfig train;

    // Parse and validate. Missing keys take their defaults; unknown keys are errors.
    static RunConfig from_json(const nlohmann::json& j);
    // Every key with its value (the resolved config a run records).
    nlohmann::json to_json() const;
    // Throws ConfigError for the first invalid value.
    void validate() const;
};

// Reads a config file. `overrides` are "key.path=value" strings (the CLI's --set), applied to the
// JSON before parsing: the key must be in the schema (ConfigError naming it otherwise), and the
// value is read as JSON when it parses as one of the field's kind, as a string otherwise.
// Relative data paths are resolved (see resolve_data_path) and made absolute.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The raw JSON of a config file with overrides applied (for RunInfo::config).
nlohmann::json read_config_json(const std::string& path,
                                const std::vector<std::string>& overrides = {});
void apply_override(nlohmann::json& j, const std::string& assignment);

// A relative data path is looked up in the current directory, then in the config file's
// directory and each of its parents. Returns the absolute path of the first that exists,
// or throws ConfigError(field) listing where it looked.
std::string resolve_data_path(const std::string& path, const std::string& config_dir,
                              const std::string& field);

}  // namespace ps
