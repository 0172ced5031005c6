// Readers of runs trained with other tools: Hugging Face Trainer's trainer_state.json (or a bare
// log_history list), TensorBoard event files, LLaMA-Factory's trainer_log.jsonl and console logs
// (the Trainer's Python dict lines, W&B's output.log). Each turns its file into our run stream:
// one StepMetrics per logged entry under our (TRL) metric names, the final summary, and the
// imported configuration. A reader reads incrementally, so the same reader serves a one-shot
// import and a live follow of a file that is still being written.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"

namespace ps {

enum class ImportFormat { TrainerState, TensorBoard, LlamaFactoryLog, ConsoleLog };
// "trainer_state", "tensorboard", "llamafactory_log", "console_log"
const char* to_string(ImportFormat format);
// Throws ps::Error on an unknown name.
ImportFormat import_format_from_string(const std::string& name);

// One file to import and what identifies its run.
struct SourceFile {
    ImportFormat format = ImportFormat::TrainerState;
    std::string path;     // the file read (absolute)
    // What identifies the run in the store, so that importing it again updates it: the file,
    // except checkpoint-N/trainer_state.json, which stands for <output_dir>/trainer_state.json
    // (every checkpoint's state and the final one are the same run).
    std::string key_path;
    std::string run_dir;  // the run's output directory (the name and the side files come from it)
    std::string name;     // the run's default name: its output directory's name
};

// The file as it stands (format from its name; a .json file is trainer_state; *.log / *.txt a
// console log). Throws DataError when it is missing or of no format we read.
SourceFile source_file_for(const std::string& path);

// What one read of a source gained.
struct ReadBatch {
    // Complete log entries, in file order. Train entries carry TRL's names ("loss",
    // "rewards/chosen"), eval entries "eval/<name>" ("eval/<set>/<name>" with several eval sets).
    std::vector<StepMetrics> steps;
    nlohmann::json summary = nlohmann::json::object();  // final summary values read now
    bool finished = false;            // the run's final summary (or final entry) was read
    std::optional<int64_t> total_steps;
};

class SourceReader {
public:
    virtual ~SourceReader() = default;
    // Reads what the file gained since the last call. `follow`: an incomplete tail (half a
    // record, a line without its newline, a JSON file being rewritten) is left for a later
    // call; otherwise it is left out with a warning. A corrupt record (bad CRC, impossible
    // length, a complete line that does not parse) throws DataError naming the file and the
    // byte offset or line.
    virtual ReadBatch read(bool follow) = 0;
    // The imported configuration (training arguments, side files), an object; {} when none.
    const nlohmann::json& config() const { return config_; }
    const std::vector<std::string>& warnings() const { return warnings_; }
    const SourceFile& source() const { return source_; }

protected:
    explicit SourceReader(SourceFile source) : source_(std::move(source)) {}
    SourceFile source_;
    nlohmann::json config_ = nlohmann::json::object();
    std::vector<std::string> warnings_;
};

std::unique_ptr<SourceReader> open_source_reader(const SourceFile& source);

// The Trainer's log key as our metric name: "eval_loss" -> "eval/loss", "eval_rewards/chosen"
// -> "eval/rewards/chosen", "eval_<set>_loss" -> "eval/<set>/loss", "lr" -> "learning_rate",
// train keys as logged. TensorBoard tags: "train/<key>" -> "<key>", "eval/<key>" likewise.
std::string metric_name_from_log_key(const std::string& key);
// Whether a log key belongs to the Trainer's final summary (train_runtime, train_loss, ...).
bool is_summary_key(const std::string& key);

// Our algorithm ("dpo", "kto", "orpo", "simpo", "cpo"; "" when it is not a preference run or
// cannot be told) and loss type from the imported arguments (TRL's configs, LLaMA-Factory's
// stage/pref_loss) and the logged metric names.
struct DetectedAlgorithm {
    std::string algorithm;
    std::string loss_type;  // "sigmoid", "ipo", "hinge", ...; "" when unknown
    std::string evidence;   // why, in a few words
};
// `steps` (optional, the first entries read) tells a reference-free run from DPO when nothing
// else does: rewards/chosen a constant multiple (beta) of logps/chosen at every step is TRL's CPO
// (or SimPO; its logs alone do not tell which), whose logs carry no config.
DetectedAlgorithm detect_algorithm(const nlohmann::json& config, const std::vector<std::string>& metric_names,
                                   const std::vector<StepMetrics>& steps = {});

}  // namespace ps
