// An experiment exported for a cluster: a run config written as a TRL config (for `trl dpo|kto
// --config FILE`, and TRL's ORPO/CPO scripts) or a LLaMA-Factory YAML (for `llamafactory-cli train
// FILE`, with the dataset_info.json entry of its dataset). The file starts with comment lines: the
// launch commands for one GPU, several GPUs and several nodes, how to follow the run from the
// studio, which of our keys became which of theirs, and which have no equivalent. Every key of the
// resolved config (RunConfig::to_json) is either mapped or listed; a setting the target cannot
// reproduce and that changes training is also a warning.
//
// Written for TRL 1.x (the `datasets:` section of its scripts; RPO as loss_type [.., sft] with
// loss_weights; no max_prompt_length, reference_free or cDPO there; ORPO/CPO in trl.experimental:
// tests/oracles/trl_parse_exports.py parses every committed export with TRL 1.16's TrlParser) and
// LLaMA-Factory 0.9 (stage, pref_loss, pref_beta,
// pref_ftx, simpo_gamma, kto_chosen_weight/kto_rejected_weight). Field names checked against their
// sources: TRL's DPOConfig/KTOConfig/CPOConfig/ORPOConfig, ModelConfig, ScriptArguments and
// DatasetMixtureConfig; LLaMA-Factory's finetuning_args.py and data_args.py.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/run_config.h"
#include "core/store/run_store.h"

namespace ps {

enum class ExportTarget { Trl, LlamaFactory };
// "trl", "llamafactory"
const char* to_string(ExportTarget target);
// "trl" / "llamafactory" (also "llama-factory"); nullopt for anything else.
std::optional<ExportTarget> find_export_target(const std::string& name);

// What became of one key of our resolved config.
struct ExportedKey {
    std::string path;                  // "objective.beta", "model.lora.rank", "data.columns"
    std::vector<std::string> targets;  // their keys it was written to; empty: no equivalent
    std::string note;                  // why there is no equivalent, or how the value was converted
    bool changes_training = false;     // no equivalent and the run there trains differently
    bool unknown = false;              // a key this exporter does not know (a newer config key)
};

struct ConfigExport {
    ExportTarget target = ExportTarget::Trl;
    std::string trainer;               // TRL: dpo|kto|orpo|cpo; LLaMA-Factory: its stage (dpo|kto)
    std::string text;                  // the YAML file: comment header, then the settings
    nlohmann::json settings;           // exactly what `text` parses back to (an object)
    std::vector<ExportedKey> keys;     // every key of the resolved config, in its order
    std::vector<std::string> warnings; // one sentence each: what the run there does differently
    // LLaMA-Factory: the dataset_info.json entries the YAML names ({name: entry}); null for TRL.
    nlohmann::json dataset_info;
    std::string output_dir;            // where their trainer writes (what `import --follow` reads)
};

struct ExportOptions {
    // Where the YAML will be written (absolute or relative); LLaMA-Factory's dataset_dir is its
    // directory, since dataset_info.json is written beside it. Empty: standard output, and
    // dataset_dir is the current directory.
    std::string yaml_path;
};

// The config as the target's settings. Throws ConfigError (the field, one sentence) when the
// target has no way to train this objective at all: LLaMA-Factory with CPO's sigmoid/hinge/ipo
// losses, DPO's robust loss or reference-free DPO, or a data format it cannot read.
ConfigExport export_config(const RunConfig& config, ExportTarget target, const ExportOptions& options = {});

// The full resolved config a stored run recorded, parsed. Throws ConfigError (one sentence naming
// the run) when the run has none or it is not a PrefStudio run config (a run imported from
// another tool keeps that tool's arguments instead).
RunConfig stored_run_config(const StoredRun& run);

// Writes the export to `yaml_path` and, for LLaMA-Factory, its entries into dataset_info.json
// beside it (merged into an existing file, other entries kept). Returns the paths written.
// Throws Error naming the file that cannot be written.
std::vector<std::string> write_config_export(const ConfigExport& exported, const std::string& yaml_path);

// The leaf key paths of a resolved config JSON, in order: objects are walked ("model.lora.rank"),
// while null, arrays and the name maps data.columns / data.tags are leaves themselves.
std::vector<std::string> config_key_paths(const nlohmann::json& resolved_config);

// A number as YAML text that PyYAML (what TRL and LLaMA-Factory read configs with) and every
// YAML 1.2 parser read back as the same double: the shortest round-trip digits, always with a
// "." ("2.0", "5.0e-07"), since PyYAML reads "5e-07" as a string.
std::string yaml_float(double value);

}  // namespace ps
