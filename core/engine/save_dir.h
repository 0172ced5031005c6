// train.save_dir safety: a run writes its trained model only where it cannot destroy something
// else: never into the folder of the model it trains from, and into a non-empty folder only when
// an earlier PrefStudio run wrote it (its marker file) or train.overwrite_save_dir says so.
#pragma once
#include <string>

#include "core/config/run_config.h"

namespace ps {

// The file a run writes beside its saved model: which run wrote the folder.
constexpr const char* kSaveMarkerFile = "prefstudio-run.json";

// Throws ConfigError("train.save_dir", ...) when the run must not write there. Nothing is
// checked without a save_dir.
void check_save_dir(const RunConfig& config);

// Marks `dir` as written by the run of `config` (after its model is saved).
void write_save_marker(const std::string& dir, const RunConfig& config);

}  // namespace ps
