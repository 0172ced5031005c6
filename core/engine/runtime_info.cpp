#include "engine/runtime_info.h"

#include <thread>

#include <torch/torch.h>
#include <torch/version.h>

namespace ps {

RuntimeInfo runtime_info() {
    RuntimeInfo info;
    info.libtorch_version = std::to_string(TORCH_VERSION_MAJOR) + "." +
                            std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH);
    info.cuda_built = torch::hasCUDA();
    info.cuda_devices = info.cuda_built ? static_cast<int>(torch::cuda::device_count()) : 0;
    info.auto_device = info.cuda_devices > 0 ? "cuda:0" : "cpu";
    info.cpu_cores = static_cast<int>(std::thread::hardware_concurrency());
    return info;
}

std::string runtime_summary(const RuntimeInfo& info) {
    std::string s = "libtorch " + info.libtorch_version;
    if (!info.cuda_built)
        s += " (CPU only)";
    else
        s += " (CUDA, " + std::to_string(info.cuda_devices) + " GPU" + (info.cuda_devices == 1 ? "" : "s") + ")";
    s += ", " + std::to_string(info.cpu_cores) + " CPU cores; train.device auto = " + info.auto_device;
    return s;
}

}  // namespace ps
