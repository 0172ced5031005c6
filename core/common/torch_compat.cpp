// Every libtorch-version and CUDA difference of the engine, in one file (see torch_compat.h).
#include "core/common/torch_compat.h"

#include <cstring>
#include <stdexcept>
#include <utility>

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// Set by CMakeLists.txt for this file only when the libtorch found has CUDA (the wheel).
#if PREFSTUDIO_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#define PS_TORCH_AT_LEAST(major, minor) \
    (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace ps::torch_compat {

std::string libtorch_version() {
    return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
           std::to_string(TORCH_VERSION_PATCH);
}

namespace {
// libtorch 2.3 made Allocator::allocate non-const; Allocator::clone's pure copy_data came with it.
class FunctionAllocator final : public c10::Allocator {
public:
    FunctionAllocator(std::function<c10::DataPtr(size_t)> allocate, c10::DeleterFnPtr raw_deleter)
        : allocate_(std::move(allocate)), raw_deleter_(raw_deleter) {}
#if PS_TORCH_AT_LEAST(2, 3)
    c10::DataPtr allocate(size_t n) override { return allocate_(n); }
#else
    c10::DataPtr allocate(size_t n) const override { return allocate_(n); }
#endif
    c10::DeleterFnPtr raw_deleter() const override { return raw_deleter_; }
    // Overrides the pure virtual in 2.x, a plain member in 1.13 (no override keyword for both).
    void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

private:
    std::function<c10::DataPtr(size_t)> allocate_;
    c10::DeleterFnPtr raw_deleter_;
};
}  // namespace

c10::Allocator* make_cpu_allocator(std::function<c10::DataPtr(size_t)> allocate, c10::DeleterFnPtr raw_deleter) {
    return new FunctionAllocator(std::move(allocate), raw_deleter);
}

// scale= arrived in 2.1, enable_gqa= in 2.5.
bool has_fused_attention() { return PS_TORCH_AT_LEAST(2, 5); }

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& mask, bool causal, double scale) {
#if PS_TORCH_AT_LEAST(2, 5)
    const bool gqa = q.size(1) != k.size(1);
    return at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
                                            /*dropout_p=*/0.0, causal, scale, gqa);
#else
    throw std::logic_error("fused attention needs libtorch 2.5 or later; this build has " + libtorch_version());
#endif
}

#if PS_TORCH_AT_LEAST(2, 4)
// 2.4 and later: one device-generic autocast state.
AutocastGuard::AutocastGuard(torch::DeviceType device, torch::ScalarType dtype)
    : device_(device), was_enabled_(at::autocast::is_autocast_enabled(device)),
      was_dtype_(at::autocast::get_autocast_dtype(device)) {
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::set_autocast_dtype(device, dtype);
    at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
    // Casts cached inside the outermost region are dropped with it (torch.autocast.__exit__).
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device_, was_enabled_);
    at::autocast::set_autocast_dtype(device_, was_dtype_);
}
#else
// 1.13: separate CPU and GPU switches.
namespace {
bool autocast_enabled(torch::DeviceType d) { return d == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
torch::ScalarType autocast_dtype(torch::DeviceType d) {
    return d == torch::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
void set_autocast(torch::DeviceType d, bool on, torch::ScalarType dtype) {
    if (d == torch::kCPU) {
        at::autocast::set_cpu_enabled(on);
        at::autocast::set_autocast_cpu_dtype(dtype);
    } else {
        at::autocast::set_enabled(on);
        at::autocast::set_autocast_gpu_dtype(dtype);
    }
}
}  // namespace

AutocastGuard::AutocastGuard(torch::DeviceType device, torch::ScalarType dtype)
    : device_(device), was_enabled_(autocast_enabled(device)), was_dtype_(autocast_dtype(device)) {
    set_autocast(device, true, dtype);
    at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast(device_, was_enabled_, was_dtype_);
}
#endif

bool cuda_built() { return PREFSTUDIO_TORCH_CUDA != 0; }

std::optional<CudaMemoryStats> cuda_memory_stats(int device) {
#if PREFSTUDIO_TORCH_CUDA
    if (device < 0 || device >= static_cast<int>(c10::cuda::device_count())) return std::nullopt;
    const auto index = static_cast<c10::DeviceIndex>(device);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    // Index 0 of a StatArray is the aggregate over small and large pools.
    constexpr auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    CudaMemoryStats s;
    s.allocated = stats.allocated_bytes[all].current;
    s.peak_allocated = stats.allocated_bytes[all].peak;
    s.reserved = stats.reserved_bytes[all].current;
    s.peak_reserved = stats.reserved_bytes[all].peak;
    c10::cuda::CUDAGuard guard(index);
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
        s.free = static_cast<int64_t>(free);
        s.total = static_cast<int64_t>(total);
    }
    return s;
#else
    (void)device;
    return std::nullopt;
#endif
}

}  // namespace ps::torch_compat
