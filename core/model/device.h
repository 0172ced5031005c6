// Which torch device a run or a generator gets (train.device). In model/, below the engine,
// because the trainer and the text generator both place models with it.
#pragma once
#include <string>

#include <torch/torch.h>

namespace ps {

// "auto" -> CUDA when libtorch has it and a GPU is visible, else CPU. Throws TrainingError
// when a CUDA device is asked for and cannot be had.
torch::Device resolve_device(const std::string& requested);

}  // namespace ps
