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

namespace ps::test {

class TensorMemoryProbe final : public c10::Allocator {
public:
    // Installed once per process and never removed (libtorch keeps the raw pointer; tensors
    // allocated through it may outlive any scope). Tensors allocated before keep their own
    // deleter and are not counted.
    static TensorMemoryProbe& install() {
        static TensorMemoryProbe* probe = [] {
            auto* p = new TensorMemoryProbe(c10::GetCPUAllocator());
            c10::SetCPUAllocator(p, /*priority=*/100);
            return p;
        }();
        return *probe;
    }

    // The context is the data pointer itself (the sizes are kept in a table), as
    // Allocator::raw_allocate requires: some kernels (bfloat16 matrix products) take their
    // scratch buffers through it.
    c10::DataPtr allocate(size_t n) const override {
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
    c10::DeleterFnPtr raw_deleter() const override { return &release; }

    static int64_t live() { return live_.load(); }
    static int64_t peak() { return peak_.load(); }
    // Starts a new peak from what is live now.
    static void reset_peak() { peak_.store(live_.load()); }

private:
    explicit TensorMemoryProbe(c10::Allocator* inner) : inner_(inner) {}
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
    c10::Allocator* inner_;
    static inline std::atomic<int64_t> live_{0};
    static inline std::atomic<int64_t> peak_{0};
};

}  // namespace ps::test
