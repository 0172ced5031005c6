// The first part of a run: the device and threads, the tokenizer, the data as token rows
// (core/data/data_pipeline.h) and the policy model (+ LoRA), seeded; then the run introduced
// to its sinks with what was prepared (data, padding, model size).
#pragma once
#include <memory>
#include <string>

#include <torch/torch.h>

#include "core/common/run_types.h"
#include "core/config/run_config.h"
#include "core/data/data_pipeline.h"
#include "core/engine/run_stream.h"
#include "core/model/causal_lm.h"
#include "core/model/model_source.h"
#include "core/text/tokenizer.h"

namespace ps {

enum class Split { Train, Eval };

struct RunSetup {
    torch::Device device{torch::kCPU};
    int threads = 1;
    std::shared_ptr<Tokenizer> tokenizer;
    PreparedData data;  // the train and eval splits as token rows, and the paired splits' text
    LoadedModel loaded;
    CausalLM policy{nullptr};
    bool base_merged = false;  // LoRA: the base is not model.source's weights any more (a merge)
    bool started = false;      // the sinks have seen on_start

    const TokenRows& rows(Split split) const { return split == Split::Eval ? data.eval : data.train; }
    bool unpaired() const { return data.unpaired; }
    int64_t pad_id() const { return tokenizer->pad_id(); }
};

// Prepares `setup` (throws ps::Error for bad input) and calls on_start on the sinks.
void setup_run(const RunConfig& config, const nlohmann::json& config_json, RunStream& stream, RunSetup& setup);

// The run as the sinks are introduced to it; after setup_run, with "auto" settings resolved.
RunInfo run_info(const RunConfig& config, const nlohmann::json& config_json, const RunSetup& setup,
                 const std::string& device);

}  // namespace ps
