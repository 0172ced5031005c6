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

}  // namespace ps
