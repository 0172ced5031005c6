#include "core/engine/runtime_info.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <torch/torch.h>
#include <torch/version.h>

#include "core/common/torch_compat.h"
#include "core/engine/trainer.h"
#include "core/model/device.h"

namespace ps {

RuntimeInfo runtime_info() {
    RuntimeInfo info;
    info.libtorch_version = std::to_string(TORCH_VERSION_MAJOR) + "." +
                            std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH);
    // torch::hasCUDA() is false in a CUDA build on a machine without a GPU (2.x); the build says.
    info.cuda_built = torch_compat::cuda_built() || torch::hasCUDA();
    info.cuda_devices = info.cuda_built ? static_cast<int>(torch::cuda::device_count()) : 0;
    info.auto_device = info.cuda_devices > 0 ? "cuda:0" : "cpu";
    info.cpu_cores = static_cast<int>(std::thread::hardware_concurrency());
    for (int d = 0; d < info.cuda_devices; ++d) {
        if (auto m = torch_compat::cuda_memory_stats(d))
            info.cuda_memory.push_back({d, m->allocated, m->peak_allocated, m->reserved, m->peak_reserved, m->free, m->total});
    }
    return info;
}

std::string runtime_summary(const RuntimeInfo& info) {
    std::string s = "libtorch " + info.libtorch_version;
    if (!info.cuda_built)
        s += " (CPU only)";
    else
        s += " (CUDA, " + std::to_string(info.cuda_devices) + " GPU" + (info.cuda_devices == 1 ? "" : "s") + ")";
    s += ", " + std::to_string(info.cpu_cores) + " CPU cores; train.device auto = " + info.auto_device;
    auto gib = [](int64_t bytes) {
        std::ostringstream o;
        o.precision(1);
        o << std::fixed << static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0) << " GiB";
        return o.str();
    };
    for (const auto& m : info.cuda_memory)
        s += "; cuda:" + std::to_string(m.device) + " " + gib(m.free) + " free of " + gib(m.total) + ", " +
             gib(m.allocated) + " allocated (peak " + gib(m.peak_allocated) + "), " + gib(m.reserved) + " reserved";
    return s;
}

std::string resolve_device_name(const std::string& requested) { return resolve_device(requested).str(); }

void check_dtype_for_device(ModelDType dtype, const std::string& device) {
    check_dtype_on_device(dtype, torch::Device(device));
}

int64_t device_available_bytes(const std::string& device) {
    if (device.rfind("cuda", 0) == 0) {
        const int index = device.size() > 5 ? std::atoi(device.c_str() + 5) : 0;  // "cuda" or "cuda:N"
        const auto m = torch_compat::cuda_memory_stats(index);
        return m ? m->free : 0;
    }
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
