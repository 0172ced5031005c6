// The memory estimate (core/model/memory_estimate.h) against the measured peak of live tensor
// bytes while the engine trains, per configuration. Run: build/bin/bench_memory
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/training_memory.h"
#include "model/memory_estimate.h"

using namespace ps;

namespace {

struct Case {
    std::string model;
    ModelShape shape;
    int batch;
    int length;
};

ModelShape larger_random_shape() {
    // A Qwen2-like shape with a real-sized vocabulary slice: 8 layers, GQA 8/2, 32k vocabulary.
    ModelShape s;
    s.vocab_size = 32000;
    s.hidden_size = 256;
    s.intermediate_size = 704;
    s.num_layers = 8;
    s.num_heads = 8;
    s.num_kv_heads = 2;
    s.head_dim = 32;
    s.attention_bias = true;
    s.tie_word_embeddings = false;
    return s;
}

}  // namespace

int main() {
    torch::set_num_threads(1);  // the probe counts tensors, not threads; one thread keeps it quick
    std::vector<Case> cases;
    for (auto [b, t] : {std::pair{2, 64}, {8, 64}, {8, 256}, {16, 128}}) cases.push_back({"builtin:tiny", builtin_shape("tiny"), b, t});
    for (auto [b, t] : {std::pair{4, 128}, {8, 256}}) cases.push_back({"builtin:small", builtin_shape("small"), b, t});
    for (auto [b, t] : {std::pair{1, 128}, {4, 256}}) cases.push_back({"random 8L/256H/32k vocab", larger_random_shape(), b, t});

    std::printf("%-26s %5s %6s | %12s %12s %7s | %12s %12s %7s | %12s %12s %7s\n", "model", "batch", "length",
                "est. step", "meas. step", "ratio", "est. pass", "meas. pass", "ratio", "est. total", "meas. peak", "ratio");
    double worst = 0;
    for (const Case& k : cases) {
        RunConfig c;
        c.model.source = k.model;
        c.train.batch_size = k.batch;
        c.data.max_length = k.length;
        c.data.max_prompt_length = k.length / 2;  // the probe's rows: prompt in the first half
        const MemoryEstimate e = estimate_training_memory(k.shape, c);
        const test::MeasuredMemory m = test::measure_training_memory(k.shape, c);
        const double r_step = double(e.step_peak_bytes) / double(m.step_peak);
        const double r_pass = double(e.pass_peak_bytes) / double(std::max(m.pass_peak, m.reference_peak));
        const double r_total = double(e.total_bytes) / double(m.peak());
        worst = std::max(worst, std::fabs(r_total - 1.0));
        std::printf("%-26s %5d %6d | %12s %12s %7.3f | %12s %12s %7.3f | %12s %12s %7.3f\n", k.model.c_str(), k.batch,
                    k.length, format_memory_bytes(e.step_peak_bytes).c_str(), format_memory_bytes(m.step_peak).c_str(),
                    r_step, format_memory_bytes(e.pass_peak_bytes).c_str(),
                    format_memory_bytes(std::max(m.pass_peak, m.reference_peak)).c_str(), r_pass,
                    format_memory_bytes(e.total_bytes).c_str(), format_memory_bytes(m.peak()).c_str(), r_total);
        std::fflush(stdout);
    }
    std::printf("largest deviation of the total from the measured peak: %.1f%% (target: within 20%%)\n", 100 * worst);
    return 0;
}
