// Benchmark of loading a Hugging Face checkpoint: a Qwen2-0.5B-shaped model (494M parameters,
// random bfloat16 weights, ~0.99 GB) is written once to a temporary directory (never
// committed), read once to warm the page cache, then loaded by fresh child processes:
//   bfloat16 model: weights used in place from the file mapping (no copy);
//   float32 model:  weights converted from bfloat16 (one copy, the mapping released behind it).
// Each child reports the load time, the time until every weight was read once (first use),
// and its peak resident memory (VmHWM) against the size of the weights in the model's dtype.
// Usage: bench_load [--keep DIR] [--runs N]. Prints a Markdown table. Needs ~1 GB of /tmp.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/bench/bench_stats.h"
#include "core/model/causal_lm.h"
#include "core/model/hf_config.h"
#include "core/model/model_io.h"
#include "core/model/safetensors.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

ps::ModelShape qwen2_05b() {
    ps::ModelShape s;  // Qwen/Qwen2-0.5B config.json
    s.model_type = "qwen2";
    s.vocab_size = 151936;
    s.hidden_size = 896;
    s.intermediate_size = 4864;
    s.num_layers = 24;
    s.num_heads = 14;
    s.num_kv_heads = 2;
    s.head_dim = 64;
    s.rope_theta = 1000000.0;
    s.tie_word_embeddings = true;
    s.attention_bias = true;
    s.max_position_embeddings = 32768;
    return s;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long status_kb(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
    return -1;
}

// Writes config.json and model.safetensors with random bfloat16 weights, tensor by tensor.
void write_model(const fs::path& dir) {
    const ps::ModelShape s = qwen2_05b();
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << ps::make_hf_config(s, "bfloat16").dump(2);
    // The model's parameter names and shapes, without allocating its weights.
    ps::CausalLM m(s, /*init=*/false, torch::kBFloat16);
    std::vector<ps::SafetensorsWriteEntry> entries;
    for (const auto& p : m->named_parameters()) entries.push_back({p.key(), "BF16", p.value().sizes().vec()});
    std::vector<uint16_t> buf;
    std::mt19937_64 rng(1);
    ps::write_safetensors((dir / "model.safetensors").string(), entries, [&](size_t i) {
        int64_t n = 1;
        for (int64_t d : entries[i].shape) n *= d;
        buf.resize(static_cast<size_t>(n));
        // bfloat16 bit patterns of small values of both signs (exponent near 2^-7).
        for (auto& v : buf) {
            const uint64_t r = rng();
            v = static_cast<uint16_t>(((r & 1) << 15) | (0x3c00 + ((r >> 1) & 0x1ff)));
        }
        return std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size() * 2);
    });
}

int child(const std::string& dir, const std::string& dtype) {
    torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    const auto t0 = Clock::now();
    auto m = ps::load_hf_model(dir, ps::model_dtype_from_string(dtype));
    const double load_s = seconds_since(t0);
    // First use: read one byte per page of every weight (faults mapped pages in from the page
    // cache), without the cost of any arithmetic on them.
    uint64_t checksum = 0;
    for (const auto& p : m->parameters()) {
        const auto* b = static_cast<const volatile uint8_t*>(p.data_ptr());
        const int64_t n = p.numel() * p.element_size();
        for (int64_t i = 0; i < n; i += 4096) checksum += b[i];
    }
    const double ready_s = seconds_since(t0);
    int64_t bytes = 0;
    for (const auto& p : m->parameters()) bytes += p.numel() * p.element_size();
    nlohmann::json out = {{"load_s", load_s}, {"ready_s", ready_s}, {"hwm_kb", status_kb("VmHWM:")},
                          {"rss_anon_kb", status_kb("RssAnon:")}, {"rss_file_kb", status_kb("RssFile:")},
                          {"weights_bytes", bytes}, {"parameters", m->shape().parameter_count()}, {"checksum", checksum}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
}

nlohmann::json run_child(const std::string& self, const std::string& dir, const std::string& dtype) {
    const std::string cmd = "'" + self + "' --child '" + dir + "' " + dtype;
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string text;
    char buf[4096];
    while (p && std::fgets(buf, sizeof buf, p)) text += buf;
    if (!p || ::pclose(p) != 0) {
        std::fprintf(stderr, "bench_load: child failed: %s\n", text.c_str());
        std::exit(1);
    }
    return nlohmann::json::parse(text);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--child") return child(argv[2], argv[3]);
    std::string keep;
    int runs = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::string(argv[i]) == "--keep") keep = argv[i + 1];
        if (std::string(argv[i]) == "--runs") runs = std::atoi(argv[i + 1]);
    }
    const fs::path dir = keep.empty() ? fs::temp_directory_path() / ("prefstudio_bench_load_" + std::to_string(::getpid())) : fs::path(keep);
    if (!fs::exists(dir / "model.safetensors")) {
        const auto t = Clock::now();
        write_model(dir);
        std::fprintf(stderr, "wrote %s (%.2f GB) in %.1f s\n", dir.c_str(), fs::file_size(dir / "model.safetensors") / 1e9,
                     seconds_since(t));
    }
    {
        // Warm the page cache: read the whole file once.
        std::ifstream in(dir / "model.safetensors", std::ios::binary);
        std::vector<char> buf(1 << 20);
        while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        }
    }
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    const double file_gb = static_cast<double>(fs::file_size(dir / "model.safetensors")) / 1e9;
    std::printf("Qwen2-0.5B-shaped checkpoint, %.3f GB bfloat16 safetensors, warm page cache, %d runs each (median)\n\n",
                file_gb, runs);
    std::printf("| model dtype | load (s) | load + touch every weight page (s) | peak RSS (GB) | weights in model dtype (GB) | peak / weights |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (const std::string dtype : {"bfloat16", "float32"}) {
        std::vector<double> load, ready, hwm;
        double weights = 0;
        for (int r = 0; r < runs; ++r) {
            auto j = run_child(self, dir.string(), dtype);
            load.push_back(j["load_s"].get<double>());
            ready.push_back(j["ready_s"].get<double>());
            hwm.push_back(j["hwm_kb"].get<double>() * 1024 / 1e9);
            weights = j["weights_bytes"].get<double>() / 1e9;
        }
        const double h = ps::bench::percentile(hwm, 50);
        std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", dtype.c_str(), ps::bench::percentile(load, 50),
                    ps::bench::percentile(ready, 50), h, weights, h / weights);
    }
    if (keep.empty()) fs::remove_all(dir);
    return 0;
}
