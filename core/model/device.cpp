#include "core/model/device.h"

#include "core/common/errors.h"

namespace ps {

torch::Device resolve_device(const std::string& requested) {
    if (requested == "cpu") return torch::Device(torch::kCPU);
    const bool cuda = torch::cuda::is_available();
    if (requested == "auto") return cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    if (!cuda)
        throw TrainingError("train.device is '" + requested +
                            "' but this libtorch has no CUDA support or no GPU is visible; use 'auto' or 'cpu'");
    torch::Device d(requested);
    if (d.index() >= static_cast<int>(torch::cuda::device_count()))
        throw TrainingError("train.device is '" + requested + "' but only " +
                            std::to_string(torch::cuda::device_count()) + " CUDA device(s) are visible");
    return d;
}

std::string dtype_device_problem(ModelDType dtype, const torch::Device& device) {
    if (dtype == ModelDType::Float16 && device.is_cpu())
        return "float16 cannot train on the CPU (libtorch has no float16 matrix products there); use bfloat16 or "
               "float32 on the CPU, or float16 on a CUDA device";
    return "";
}

void check_dtype_on_device(ModelDType dtype, const torch::Device& device) {
    if (const std::string p = dtype_device_problem(dtype, device); !p.empty()) throw ConfigError("model.dtype", p);
}

}  // namespace ps
