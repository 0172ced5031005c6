// Which torch device a run or a generator gets (train.device). In model/, below the engine,
// because the trainer and the text generator both place models with it.
#pragma once
#include <string>

#include <torch/torch.h>

#include "core/config/config_choices.h"

namespace ps {

// "auto" -> CUDA when libtorch has it and a GPU is visible, else CPU. Throws TrainingError
// when a CUDA device is asked for and cannot be had.
torch::Device resolve_device(const std::string& requested);

// The message when `dtype` cannot train on `device`, empty when it can: libtorch implements no
// float16 matrix products on the CPU (bfloat16 and float32 it does).
std::string dtype_device_problem(ModelDType dtype, const torch::Device& device);

// Throws ConfigError (model.dtype) when dtype_device_problem says so.
void check_dtype_on_device(ModelDType dtype, const torch::Device& device);

}  // namespace ps
