// Counts the bytes of every live CPU tensor allocation, by wrapping libtorch's default CPU
// allocator, and keeps their peak: the measured side of the memory estimate's check. It sees
// what tensors hold, not the allocator's slack or BLAS scratch buffers, which is what the
// estimate counts too.
#pragma once
#include <atomic>
#include <cstdint>

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

    c10::DataPtr allocate(size_t n) const override {
        auto* block = new Block{inner_->allocate(n), n};
        add(static_cast<int64_t>(n));
        void* data = block->inner.get();
        const c10::Device device = block->inner.device();
        return {data, block, &release, device};
    }
    c10::DeleterFnPtr raw_deleter() const override { return nullptr; }

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
    static void release(void* p) {
        auto* b = static_cast<Block*>(p);
        add(-static_cast<int64_t>(b->n));
        delete b;  // frees the allocation through the inner allocator's deleter
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
