// The one place where the two libtorch builds differ (README "Which build"): Debian's libtorch
// 1.13 (CPU) and PyPI's torch 2.x wheel (CUDA). Engine code calls these; the version and CUDA
// checks live only in torch_compat.cpp, never as #if's through the engine.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <torch/torch.h>

namespace ps::torch_compat {

// "1.13.0", "2.11.0": the libtorch this build compiled against.
std::string libtorch_version();

// Fused attention: at::scaled_dot_product_attention with its scale and grouped-query arguments
// (libtorch 2.5 and later). Without it, the engine's eager attention is the only one.
bool has_fused_attention();
// q [B, heads, T, d], k and v [B, kv_heads, S, d] with heads a multiple of kv_heads (each key/value
// head serves consecutive query heads, as Hugging Face's repeat_kv); `mask` additive and
// broadcastable to [B, heads, T, S], or undefined with `causal` for the plain causal mask.
// Throws std::logic_error where has_fused_attention() is false.
torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& mask, bool causal, double scale);

// A CPU allocator made of functions, to wrap libtorch's own (c10::SetCPUAllocator): its DataPtrs
// come from `allocate` (n bytes) and carry `raw_deleter` where that is not null
// (Allocator::raw_deleter: the context is the data pointer); copies are byte copies.
// c10::Allocator's virtuals differ between libtorch 1.13 and 2.x, so the class deriving from it
// lives in torch_compat.cpp. Never freed: libtorch keeps raw pointers to its allocators.
c10::Allocator* make_cpu_allocator(std::function<c10::DataPtr(size_t)> allocate, c10::DeleterFnPtr raw_deleter);

// Automatic mixed precision while the guard lives: eligible operators (matmuls, linear) on
// `device` run in `dtype` (bfloat16 or float16); nests like torch.autocast.
class AutocastGuard {
public:
    AutocastGuard(torch::DeviceType device, torch::ScalarType dtype);
    ~AutocastGuard();
    AutocastGuard(const AutocastGuard&) = delete;
    AutocastGuard& operator=(const AutocastGuard&) = delete;

private:
    torch::DeviceType device_;
    bool was_enabled_;
    torch::ScalarType was_dtype_;
};

// The CUDA caching allocator's statistics of one device, in bytes (torch.cuda.memory_stats).
struct CudaMemoryStats {
    int64_t allocated = 0, peak_allocated = 0;  // held by tensors
    int64_t reserved = 0, peak_reserved = 0;    // held by the allocator (allocated + its cache)
    int64_t free = 0, total = 0;                // the device's, as cudaMemGetInfo reports
};
// Whether this libtorch was built with CUDA and linked here with its CUDA runtime.
bool cuda_built();
// nullopt when this build has no CUDA or the device is not there.
std::optional<CudaMemoryStats> cuda_memory_stats(int device);

}  // namespace ps::torch_compat
