// Counts the bytes of every live CPU tensor allocation, by wrapping libtorch's default CPU
// allocator, and keeps their peak: the measured side of the memory estimate's check. It sees
// what tensors hold (and the scratch buffers kernels take from the same allocator), not the
// allocator's slack or BLAS's own buffers, which is what the estimate counts too.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <c10/core/CPUAllocator.h>

#include "core/common/torch_compat.h"

namespace ps::test {

class TensorMemoryProbe final {
public:
    // Installed once per process and never removed (libtorch keeps the raw pointer; tensors
    // allocated through it may outlive any scope). Tensors allocated before keep their own
    // deleter and are not counted. The allocator class itself is torch_compat's (its virtuals
    // differ between libtorch versions).
    static void install() {
        static const bool installed = [] {
            inner_ = c10::GetCPUAllocator();
            c10::SetCPUAllocator(ps::torch_compat::make_cpu_allocator(&allocate, &release), /*priority=*/100);
            return true;
        }();
        (void)installed;
    }

    static int64_t live() { return live_.load(); }
    static int64_t peak() { return peak_.load(); }
    // Starts a new peak from what is live now.
    static void reset_peak() { peak_.store(live_.load()); }

private:
    // The context is the data pointer itself (the sizes are kept in a table), as
    // Allocator::raw_allocate requires: some kernels (bfloat16 matrix products) take their
    // scratch buffers through it.
    static c10::DataPtr allocate(size_t n) {
        if (n == 0) return inner_->allocate(0);
        c10::DataPtr inner = inner_->allocate(n);
        void* data = inner.get();
        const c10::Device device = inner.device();
        {
            std::lock_guard<std::mutex> lock(table_mutex());
            table().emplace(data, Block{std::move(inner), n});
        }
        add(static_cast<int64_t>(n));
        return {data, data, &release, device};
    }
    struct Block {
        c10::DataPtr inner;
        size_t n;
    };
    static std::unordered_map<void*, Block>& table() {
        static auto* t = new std::unordered_map<void*, Block>();  // never destroyed: tensors may outlive statics
        return *t;
    }
    static std::mutex& table_mutex() {
        static auto* m = new std::mutex();
        return *m;
    }
    static void release(void* p) {
        c10::DataPtr inner;  // freed through the inner allocator's deleter outside the lock
        size_t n = 0;
        {
            std::lock_guard<std::mutex> lock(table_mutex());
            auto it = table().find(p);
            if (it == table().end()) return;
            inner = std::move(it->second.inner);
            n = it->second.n;
            table().erase(it);
        }
        add(-static_cast<int64_t>(n));
    }
    static void add(int64_t d) {
        const int64_t now = live_.fetch_add(d) + d;
        int64_t prev = peak_.load();
        while (now > prev && !peak_.compare_exchange_weak(prev, now)) {
        }
    }
    static inline c10::Allocator* inner_ = nullptr;
    static inline std::atomic<int64_t> live_{0};
    static inline std::atomic<int64_t> peak_{0};
};

}  // namespace ps::test
