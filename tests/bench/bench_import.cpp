// Benchmark of importing runs trained elsewhere (core/interop/): reading the real files of
// ../shared/real-runs (the 600 kB TensorBoard event file of 876 x 12 scalars, the 5,811-step
// zephyr trainer_state.json, ...) with and without storing them, and the latency of a followed
// event file: a writer appends one logged step (12 records) every 300 ms, the time until the
// step is in the store is measured from a second connection (default poll of 0.2 s).
// Usage: bench_import [--runs N] [--real-runs DIR]. Prints Markdown tables.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "core/interop/import_run.h"
#include "core/store/run_store.h"
#include "tests/bench/bench_stats.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// CPU time of this thread (ms): what the import costs, whatever else the machine runs.
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 9;
    std::string real = std::string(PREFSTUDIO_SOURCE_DIR) + "/../shared/real-runs";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--real-runs") && i + 1 < argc) real = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_import [--runs N] [--real-runs DIR]\n");
            return 2;
        }
    }
    if (!fs::is_directory(real)) {
        std::fprintf(stderr, "bench_import: %s is not there\n", real.c_str());
        return 2;
    }
    const fs::path tmp = fs::temp_directory_path() / ("bench_import_" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    std::vector<std::string> files = {
        "21-cs245-qwen25-05b-dpo-corrupt0.0/runs/events.out.tfevents.1764259879.cs245.435410.0",
        "01-zephyr-7b-beta-dpo/trainer_state.json",
        "18-nsllm-qwen3-8b-pt-llamafactory/trainer_log.jsonl",
        "09-translation-gams9b-dpo-wandb/output.log",
    };
    std::printf("| source | size | log entries | points | read: wall median / max, CPU median (ms) | import into a store: wall median / max, CPU median (ms) |\n");
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    for (const std::string& rel : files) {
        const ps::SourceFile source = ps::source_file_for(real + "/" + rel);
        std::vector<double> read_ms, store_ms, read_cpu, store_cpu;
        int64_t entries = 0, points = 0;
        for (int r = 0; r < runs; ++r) {
            auto t = Clock::now();
            double c = thread_cpu_ms();
            auto reader = ps::open_source_reader(source);
            const ps::ReadBatch b = reader->read(false);
            read_ms.push_back(ms_since(t));
            read_cpu.push_back(thread_cpu_ms() - c);
            entries = int64_t(b.steps.size());
            points = 0;
            for (const auto& s : b.steps) points += int64_t(s.values.size());
            // Into a store that is already open (the studio's, the CLI's after opening it): the
            // read, the live diagnosis over every step, and the one transaction that writes it.
            ps::RunStore store((tmp / ("s" + std::to_string(r) + ".db")).string());
            t = Clock::now();
            c = thread_cpu_ms();
            ps::import_source(store, source);
            store_ms.push_back(ms_since(t));
            store_cpu.push_back(thread_cpu_ms() - c);
        }
        std::printf("| %s | %.0f kB | %lld | %lld | %.1f / %.1f, %.1f | %.1f / %.1f, %.1f |\n", rel.substr(0, rel.find('/')).c_str(),
                    double(fs::file_size(source.path)) / 1024.0, static_cast<long long>(entries),
                    static_cast<long long>(points), ps::bench::percentile(read_ms, 50), ps::bench::percentile(read_ms, 100),
                    ps::bench::percentile(read_cpu, 50), ps::bench::percentile(store_ms, 50),
                    ps::bench::percentile(store_ms, 100), ps::bench::percentile(store_cpu, 50));
    }

    // Follow latency.
    const std::string bytes = slurp(real + "/22-cs245-qwen25-05b-dpo-corrupt1.0/runs/events.out.tfevents.1764181846.cs245.315811.0");
    std::vector<size_t> offsets;
    for (size_t at = 0; at + 12 <= bytes.size();) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[at + i]);
        offsets.push_back(at);
        at += 12 + n + 4;
    }
    fs::create_directories(tmp / "follow/runs/x");
    const std::string path = (tmp / "follow/runs/x/events.out.tfevents.1.host.1.0").string();
    {
        std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(offsets[3]));
    }
    const std::string db = (tmp / "follow.db").string();
    ps::RunStore store(db);
    std::atomic<bool> stop{false};
    std::thread follower([&] { ps::follow_source(store, ps::source_file_for(path), stop); });
    ps::RunStore reader(db);
    std::vector<double> latency;
    const int steps = 20;
    for (int k = 0; k < steps; ++k) {
        const size_t from = offsets[3 + size_t(k) * 12], to = offsets[3 + size_t(k + 1) * 12];
        {
            std::ofstream out(path, std::ios::binary | std::ios::app);
            out.write(bytes.data() + from, std::streamsize(to - from));
        }
        const auto written = Clock::now();
        const int64_t want = 50 * (k + 1);
        bool seen = false;
        while (!seen && ms_since(written) < 5000) {
            for (const auto& run : reader.list_runs())
                for (int64_t s : reader.load_metric(run.id, "loss").steps) seen = seen || s == want;
            if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        latency.push_back(ms_since(written));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    stop = true;
    follower.join();
    std::printf("\n| follow: step written -> in the store (20 steps, poll 0.2 s) | median | p90 | max |\n|---|---:|---:|---:|\n");
    std::printf("| TensorBoard event file | %.0f ms | %.0f ms | %.0f ms |\n", ps::bench::percentile(latency, 50),
                ps::bench::percentile(latency, 90), ps::bench::percentile(latency, 100));
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return 0;
}
