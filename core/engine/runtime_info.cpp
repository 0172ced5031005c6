#include "core/engine/runtime_info.h"

#include <fstream>
#include <sstream>
#include <thread>

#include <torch/torch.h>
#include <torch/version.h>

#include "core/engine/trainer.h"

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

std::string resolve_device_name(const std::string& requested) { return resolve_device(requested).str(); }

int64_t device_available_bytes(const std::string& device) {
    if (device != "cpu") return 0;
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("MemAvailable:", 0) != 0) continue;
        std::istringstream fields(line.substr(13));
        int64_t kib = 0;
        fields >> kib;
        return kib * 1024;
    }
    return 0;
}

}  // namespace ps
