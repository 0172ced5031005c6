// What this build and machine train with: the libtorch version and the devices it can use.
// Torch-free header (the studio's About box and the CLI's --version include it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config_choices.h"

namespace ps {

// One GPU's memory as the CUDA caching allocator and the driver report it, in bytes.
struct CudaMemoryInfo {
    int device = 0;
    int64_t allocated = 0, peak_allocated = 0;  // held by tensors (torch.cuda.memory_allocated)
    int64_t reserved = 0, peak_reserved = 0;    // held by the allocator, its cache included
    int64_t free = 0, total = 0;                // the device's (cudaMemGetInfo)
};

struct RuntimeInfo {
    std::string libtorch_version;  // "1.13.0" (from torch/version.h at build time)
    bool cuda_built = false;       // this libtorch has CUDA
    int cuda_devices = 0;          // GPUs it sees now
    std::string auto_device;       // what train.device = "auto" picks: "cpu" or "cuda:0"
    int cpu_cores = 0;
    std::vector<CudaMemoryInfo> cuda_memory;  // one per visible GPU (CUDA builds only)
};

RuntimeInfo runtime_info();
// One line: "libtorch 1.13.0 (CPU only), 2 CPU cores; train.device auto = cpu"; with GPUs, each
// one's free and total memory and what this process holds there.
std::string runtime_summary(const RuntimeInfo& info);

// train.device as a run would resolve it ("auto" -> "cuda:0" or "cpu"); throws TrainingError
// for a CUDA device this build or machine cannot give (as the trainer does).
std::string resolve_device_name(const std::string& requested);

// Throws ConfigError (model.dtype) when `dtype` cannot train on `device` (a resolved name, e.g.
// "cpu"): the dry run refuses what the run would refuse.
void check_dtype_for_device(ModelDType dtype, const std::string& device);

// Memory the device offers a run, in bytes: for the CPU, MemAvailable of /proc/meminfo; 0 when
// unknown. A CUDA device: its free memory (cudaMemGetInfo) in a CUDA build, else 0.
int64_t device_available_bytes(const std::string& device);

}  // namespace ps
