// Checkpoints of a run (train.checkpoint_every): everything a killed run needs to continue the
// same curve. A checkpoint is a folder `step-N` inside the run's checkpoint folder (the run
// store's sink names it: `<store>.checkpoints/<run id>/`), written atomically: the files go
// into a temporary folder that is fsynced and renamed, so a kill at any moment leaves the
// previous checkpoints whole and at most a temporary folder, which the next write or a resume
// ignores and removes.
//
// What it holds: the trainable parameters as the optimizer sees them (float32 master weights
// under a 16-bit dtype, the LoRA adapters under LoRA), AdamW's state, the torch generators'
// states, the preference sampler's position and shuffling generator, the step, the tracked
// pairs' log-probs so far, the last value of every metric, the reference-cache key, the model
// files' checksum and the resolved config (meta.json, written last). The learning rate is a
// function of the step. What a run does before its first preference step (setup, SFT warm-up,
// reference log-probs) is deterministic on the same machine and is replayed on resume, not
// stored: its result is checked against the checksum of the trainable weights after it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/common/run_types.h"
#include "core/config/run_config.h"

namespace ps {

// --- The folders (no torch) ---

// Writes root/step-<step> atomically: `fill` writes the files into a fresh temporary folder
// inside `root`; they and the folder are fsynced and the folder renamed (a checkpoint of the
// same step already there is replaced). Leftover temporary folders are removed first. Returns
// the checkpoint's path. Throws StoreError naming the folder when a write fails.
std::string write_checkpoint_atomically(const std::string& root, int64_t step,
                                        const std::function<void(const std::string& dir)>& fill);

struct CheckpointDir {
    int64_t step = 0;
    std::string path;
};

// The whole checkpoints under `root` (step-N folders holding meta.json), oldest first.
// Temporary folders are never listed; `clean` removes them (a killed write's leftovers).
std::vector<CheckpointDir> list_checkpoints(const std::string& root, bool clean = false);
// Keeps the newest `keep` checkpoints (keep < 1 keeps one), removing the others.
void prune_checkpoints(const std::string& root, int keep);
// flushes a written file to the disk; throws StoreError naming it.
void fsync_path(const std::string& path);

// --- What a checkpoint holds ---

// A checksum of what decides the model's weights: the builtin name, or the contents of the
// source folder's config.json and *.safetensors files.
std::string model_files_checksum(const std::string& source);
// A checksum of the tensors' bytes (dtype and shape included).
std::string tensors_checksum(const std::vector<torch::Tensor>& tensors);

struct CheckpointMeta {
    static constexpr int kFormat = 1;
    int64_t step = 0;                 // preference steps done
    int64_t sft_steps = 0;            // warm-up steps done before them
    nlohmann::json config;            // the resolved config of the run
    std::string reference_key;        // reference_cache_key() of the run
    std::string model_checksum;       // model_files_checksum(model.source)
    std::string start_checksum;       // tensors_checksum of the trainable tensors before step 1
    nlohmann::json sampler;           // BatchSampler::state()
    nlohmann::json last_values;       // the last value of every metric so far
    std::optional<double> last_abs_reward;  // for the NaN hint
    std::vector<PairLogpRecord> pair_logps;  // the tracked pairs' records so far
    std::vector<std::string> warned;  // warnings already given once
    double elapsed = 0.0;             // the run's clock at the checkpoint (seconds)

    nlohmann::json to_json() const;
    static CheckpointMeta from_json(const nlohmann::json& j);  // throws StoreError on a bad file
};

// Reads root/.../meta.json; throws StoreError naming the file.
CheckpointMeta read_checkpoint_meta(const std::string& dir);

// The tensors and generator states of a checkpoint folder.
void save_checkpoint_tensors(const std::string& dir, const std::vector<torch::Tensor>& trainable,
                             torch::optim::Optimizer& optimizer);
// Copies the saved trainable tensors into `trainable` (same count, shapes and dtypes, else
// StoreError) and loads the optimizer's state and the generators.
void load_checkpoint_tensors(const std::string& dir, const std::vector<torch::Tensor>& trainable,
                             torch::optim::Optimizer& optimizer);

}  // namespace ps
