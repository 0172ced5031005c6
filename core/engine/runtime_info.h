// What this build and machine train with: the libtorch version and the devices it can use.
// Torch-free header (the studio's About box and the CLI's --version include it).
#pragma once
#include <cstdint>
#include <string>

namespace ps {

struct RuntimeInfo {
    std::string libtorch_version;  // "1.13.0" (from torch/version.h at build time)
    bool cuda_built = false;       // this libtorch has CUDA
    int cuda_devices = 0;          // GPUs it sees now
    std::string auto_device;       // what train.device = "auto" picks: "cpu" or "cuda:0"
    int cpu_cores = 0;
};

RuntimeInfo runtime_info();
// One line: "libtorch 1.13.0 (CPU only), 2 CPU cores; train.device auto = cpu".
std::string runtime_summary(const RuntimeInfo& info);

// train.device as a run would resolve it ("auto" -> "cuda:0" or "cpu"); throws TrainingError
// for a CUDA device this build or machine cannot give (as the trainer does).
std::string resolve_device_name(const std::string& requested);

// Memory the device offers a run, in bytes: for the CPU, MemAvailable of /proc/meminfo; 0 when
// unknown (CUDA devices: this build does not query them).
int64_t device_available_bytes(const std::string& device);

}  // namespace ps
