// One DPO training step (policy forward + backward on chosen and rejected rows, reference
// log-probs cached, AdamW) in PrefStudio's engine (core/model/causal_lm + core/objectives) and
// in plain PyTorch (tests/bench/dpo_step.py), on the same shape, batch and lengths. Prints
// tokens/s of both, their ratio, and model FLOPs utilisation against the measured matmul peak.
//
//   build/bin/bench_dpo_step                          # CPU rows, float32, 1 thread
//   build/bin/bench_dpo_step --preset qwen2-0.5b --device cuda --dtype bfloat16
//   options: --threads N --steps N (median step of N, default 7) --rounds R (alternating, default 3) --python PATH --preset small|cpu-medium|qwen2-0.5b --batch B --length T
//            --attention eager|fused (ours; default: fused where this libtorch has it)
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/common/torch_compat.h"
#include "core/engine/trainer.h"
#include "core/model/causal_lm.h"
#include "core/objectives/objective.h"

using namespace ps;
using Clock = std::chrono::steady_clock;

namespace {

struct Preset {
    std::string name;
    ModelShape shape;
    int batch;
    int length;
};

ModelShape qwen_like(int64_t vocab, int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv,
                     int64_t head_dim) {
    ModelShape s;
    s.vocab_size = vocab;
    s.hidden_size = hidden;
    s.intermediate_size = inter;
    s.num_layers = layers;
    s.num_heads = heads;
    s.num_kv_heads = kv;
    s.head_dim = head_dim;
    s.rope_theta = 1000000.0;
    s.attention_bias = true;  // Qwen2: q, k, v biases
    s.tie_word_embeddings = true;
    s.max_position_embeddings = 32768;
    return s;
}

std::vector<Preset> presets() {
    return {
        {"small", qwen_like(259, 128, 352, 4, 4, 2, 32), 8, 128},            // builtin:small's size
        {"cpu-medium", qwen_like(8192, 256, 704, 4, 4, 2, 64), 4, 128},      // 5M parameters
        {"qwen2-0.5b", qwen_like(151936, 896, 4864, 24, 14, 2, 64), 8, 512},  // Qwen2-0.5B's config.json
    };
}

// Training FLOPs per step: 3 x the forward's matmul FLOPs (forward, and backward for inputs and
// weights). Forward per token: 2 x the block linear parameters, 2 x hidden x vocab for the
// head, and per layer 2 x 2 x heads x head_dim x T for the scores and the context (the full
// T x T matrix: both sides compute it, masked or not).
double step_flops(const ModelShape& s, int64_t rows, int64_t T) {
    const double h = double(s.hidden_size), q = double(s.num_heads * s.head_dim), kv = double(s.num_kv_heads * s.head_dim);
    const double linear = h * q + 2 * h * kv + q * h + 3 * h * double(s.intermediate_size);
    const double per_token = s.num_layers * (2 * linear + 4 * q * double(T)) + 2 * h * double(s.vocab_size);
    return 3.0 * per_token * double(rows * T);
}

// On the CPU, steps are timed by the process's CPU time: on a shared machine other processes
// steal wall time from one side or the other, not CPU time (one compute thread: the two agree
// on an idle machine). On a GPU, wall time after a synchronise.
bool g_cpu_clock = true;
double now_s() {
    if (g_cpu_clock) {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    }
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

void sync(const torch::Device& d) {
    if (d.is_cuda()) torch::cuda::synchronize();
}

double matmul_peak(const torch::Device& device, torch::Dtype dtype, int64_t n, int reps = 5) {
    torch::NoGradGuard no_grad;
    auto opts = torch::TensorOptions().device(device).dtype(dtype);
    auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
    torch::matmul(a, b);
    sync(device);
    const double t0 = now_s();
    for (int i = 0; i < reps; ++i) torch::matmul(a, b);
    sync(device);
    return 2.0 * double(n) * n * n * reps / (now_s() - t0);
}

struct Timing {
    double seconds_per_step = 0;
    double tokens_per_second = 0;
};

AttentionKernel g_attention = default_attention_kernel();  // --attention eager|fused

Timing engine_step(const Preset& p, const torch::Device& device, torch::Dtype dtype, int steps, int warmup) {
    torch::manual_seed(0);
    CausalLM model(p.shape, /*init=*/true, dtype);
    model->set_attention_kernel(g_attention);
    model->to(device);
    model->train();
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-5).weight_decay(0.0));
    const int64_t B = p.batch, T = p.length;
    SequenceBatch batch;
    batch.input_ids = torch::randint(p.shape.vocab_size, {2 * B, T}, torch::kLong);
    batch.completion_mask = torch::zeros({2 * B, T});
    batch.completion_mask.narrow(1, T / 2, T - T / 2).fill_(1.0);
    auto ref = (torch::randn({2 * B}) - 50.0).to(device);
    ObjectiveConfig objective;
    auto step = [&] {
        opt.zero_grad();
        auto lp = forward_logps(model, batch, device);  // the trainer's own forward
        PairedLogps pl;
        pl.chosen = lp.sum.narrow(0, 0, B);
        pl.rejected = lp.sum.narrow(0, B, B);
        pl.chosen_tokens = lp.tokens.narrow(0, 0, B);
        pl.rejected_tokens = lp.tokens.narrow(0, B, B);
        pl.ref_chosen = ref.narrow(0, 0, B);
        pl.ref_rejected = ref.narrow(0, B, B);
        dpo_objective(pl, objective).loss.backward();
        opt.step();
    };
    for (int i = 0; i < warmup; ++i) step();
    sync(device);
    // The median step: other processes on a shared machine stretch single steps.
    std::vector<double> times;
    for (int i = 0; i < steps; ++i) {
        const double t0 = now_s();
        step();
        sync(device);
        times.push_back(now_s() - t0);
    }
    std::sort(times.begin(), times.end());
    Timing t;
    t.seconds_per_step = times[times.size() / 2];
    t.tokens_per_second = double(2 * B * T) / t.seconds_per_step;
    return t;
}

nlohmann::json python_step(const std::string& python, const std::string& script, const Preset& p,
                           const std::string& device, const std::string& dtype, int threads, int steps, int warmup,
                           int64_t matmul_n) {
    const ModelShape& s = p.shape;
    const std::string cmd = python + " " + script + " --vocab " + std::to_string(s.vocab_size) + " --hidden " +
                            std::to_string(s.hidden_size) + " --intermediate " + std::to_string(s.intermediate_size) +
                            " --layers " + std::to_string(s.num_layers) + " --heads " + std::to_string(s.num_heads) +
                            " --kv-heads " + std::to_string(s.num_kv_heads) + " --head-dim " + std::to_string(s.head_dim) +
                            " --batch " + std::to_string(p.batch) + " --length " + std::to_string(p.length) + " --steps " +
                            std::to_string(steps) + " --warmup " + std::to_string(warmup) + " --threads " +
                            std::to_string(threads) + " --device " + device + " --dtype " + dtype + " --matmul-size " +
                            std::to_string(matmul_n);
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    if (!pipe) return nullptr;
    std::string out;
    std::array<char, 4096> buf{};
    while (fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
    const auto brace = out.rfind('{');
    if (brace == std::string::npos) {
        std::fprintf(stderr, "python step failed: %s\n%s\n", cmd.c_str(), out.c_str());
        return nullptr;
    }
    return nlohmann::json::parse(out.substr(brace), nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 1, steps = 7, warmup = 2, rounds = 3, batch = 0, length = 0;
    std::string python = "/usr/bin/python3", device_name = "cpu", dtype_name = "float32";
    std::vector<std::string> wanted;
    std::string script = std::string(PREFSTUDIO_SOURCE_DIR) + "/tests/bench/dpo_step.py";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--threads") threads = std::atoi(v.c_str());
        else if (k == "--steps") steps = std::atoi(v.c_str());
        else if (k == "--warmup") warmup = std::atoi(v.c_str());
        else if (k == "--rounds") rounds = std::max(1, std::atoi(v.c_str()));
        else if (k == "--python") python = v;
        else if (k == "--device") device_name = v;
        else if (k == "--dtype") dtype_name = v;
        else if (k == "--preset") wanted.push_back(v);
        else if (k == "--batch") batch = std::atoi(v.c_str());
        else if (k == "--length") length = std::atoi(v.c_str());
        else if (k == "--attention") g_attention = v == "eager" ? AttentionKernel::Eager : AttentionKernel::Fused;
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (wanted.empty()) wanted = device_name == "cpu" ? std::vector<std::string>{"small", "cpu-medium"}
                                                     : std::vector<std::string>{"qwen2-0.5b"};
    torch::set_num_threads(threads);
    const torch::Device device(device_name);
    g_cpu_clock = !device.is_cuda();
    const torch::Dtype dtype = dtype_name == "bfloat16" ? torch::kBFloat16 : dtype_name == "float16" ? torch::kFloat16 : torch::kFloat32;
    const int64_t matmul_n = device.is_cuda() ? 8192 : 2048;
    const double peak = matmul_peak(device, dtype, matmul_n);
    std::printf("device %s, %s, %d thread(s), timed by %s; matmul peak (%lld^3, measured here) %.1f GFLOP/s; "
                "libtorch %s, our attention %s\n",
                device.str().c_str(), dtype_name.c_str(), threads, g_cpu_clock ? "process CPU time" : "wall time",
                static_cast<long long>(matmul_n), peak / 1e9, torch_compat::libtorch_version().c_str(),
                attention_kernel_name(g_attention));
    std::printf("%-11s %9s %5s %6s | %12s %7s | %12s %7s | %6s | %s\n", "shape", "params", "batch", "length",
                "ours tok/s", "MFU", "python tok/s", "MFU", "ratio", "python model");
    for (const Preset& base : presets()) {
        bool use = false;
        for (const auto& w : wanted) use = use || w == base.name;
        if (!use) continue;
        Preset p = base;
        if (batch > 0) p.batch = batch;
        if (length > 0) p.length = length;
        const double flops = step_flops(p.shape, 2 * p.batch, p.length);
        // Ours and Python alternate `rounds` times; each side's median round is reported, so a
        // burst of load from other processes does not fall on one side only.
        std::vector<double> ours_times, py_times;
        nlohmann::json py;
        for (int r = 0; r < rounds; ++r) {
            ours_times.push_back(engine_step(p, device, dtype, steps, warmup).seconds_per_step);
            py = python_step(python, script, p, device_name, dtype_name, threads, steps, warmup, matmul_n);
            py_times.push_back(py.is_object() ? py["seconds_per_step"].get<double>() : NAN);
        }
        std::sort(ours_times.begin(), ours_times.end());
        std::sort(py_times.begin(), py_times.end());
        const double tokens = double(2 * p.batch * p.length);
        Timing ours;
        ours.seconds_per_step = ours_times[ours_times.size() / 2];
        ours.tokens_per_second = tokens / ours.seconds_per_step;
        const double py_sps = py_times[py_times.size() / 2];
        const double py_tps = tokens / py_sps;
        std::printf("%-11s %8.1fM %5d %6d | %12.0f %6.1f%% | %12.0f %6.1f%% | %5.2fx | %s\n", p.name.c_str(),
                    p.shape.parameter_count() / 1e6, p.batch, p.length, ours.tokens_per_second,
                    100.0 * flops / ours.seconds_per_step / peak, py_tps, 100.0 * flops / py_sps / peak,
                    ours.tokens_per_second / py_tps,
                    py.is_object() ? py["model"].get<std::string>().c_str() : "failed");
        std::fflush(stdout);
    }
    return 0;
}
