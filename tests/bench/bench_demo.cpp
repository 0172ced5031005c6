// Benchmark of the demo run: wall time per phase, steps/s and tokens/s of SFT and DPO steps.
// Usage: bench_demo [CONFIG] [key.path=value ...] (default experiments/demo-dpo.json).
// Prints a Markdown table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/engine/run_thread.h"

namespace {

struct BenchSink : ps::RunSink {
    std::map<std::string, std::vector<double>> series;
    std::vector<double> step_wall;  // wall time of each preference step's metrics
    std::map<std::string, double> phase_start;
    std::string phase;
    double last_wall = 0;
    ps::RunStatus status{};
    std::string error;
    void on_metrics(const ps::StepMetrics& m) override {
        for (const auto& [k, v] : m.values) series[k].push_back(v);
        if (!std::isnan(m.get("loss"))) step_wall.push_back(m.wall_time);
        last_wall = m.wall_time;
    }
    void on_progress(const ps::RunProgress& p) override {
        if (p.phase != phase) {
            phase = p.phase;
            phase_start[p.phase] = p.elapsed_s;
        }
    }
    void on_finish(ps::RunStatus s, const nlohmann::json&, const std::string& e) override {
        status = s;
        error = e;
    }
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "experiments/demo-dpo.json";
    std::vector<std::string> overrides(argv + std::min(argc, 2), argv + argc);
    try {
        auto config = ps::load_run_config(path, overrides);
        BenchSink sink;
        ps::RunControl control;
        auto t0 = std::chrono::steady_clock::now();
        ps::run_training(config, config.to_json(), {&sink}, control);
        const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (sink.status != ps::RunStatus::Completed) {
            std::fprintf(stderr, "bench_demo: run did not complete: %s\n", sink.error.c_str());
            return 1;
        }
        const double sft_s = sink.phase_start.count("reference") ? sink.phase_start["reference"] - sink.phase_start["sft"] : 0;
        const double train_s = total - sink.phase_start["train"];
        const auto sft_n = sink.series["sft/loss"].size(), train_n = sink.series["loss"].size();
        std::printf("| measure | value |\n|---|---|\n");
        std::string over;
        for (const auto& o : overrides) over += " " + o;
        std::printf("| config | %s%s |\n", path.c_str(), over.c_str());
        std::printf("| total wall time (s) | %.1f |\n", total);
        std::printf("| SFT warm-up: steps, s, steps/s | %zu, %.1f, %.1f |\n", sft_n, sft_s, sft_n / std::max(sft_s, 1e-9));
        std::printf("| SFT tokens/s (median step) | %.0f |\n", median(sink.series["sft/tokens_per_second"]));
        std::printf("| reference cache (s) | %.2f |\n", sink.phase_start["train"] - sink.phase_start["reference"]);
        std::printf("| DPO: steps, s, steps/s (incl. eval) | %zu, %.1f, %.1f |\n", train_n, train_s, train_n / std::max(train_s, 1e-9));
        std::printf("| DPO tokens/s (median step) | %.0f |\n", median(sink.series["tokens_per_second"]));
        std::vector<double> dts;
        for (size_t i = 1; i < sink.step_wall.size(); ++i) dts.push_back(1000.0 * (sink.step_wall[i] - sink.step_wall[i - 1]));
        std::printf("| DPO step time, median ms (eval steps included in the spread) | %.2f |\n", median(dts));
        std::printf("| final eval/rewards/accuracies | %.3f |\n", sink.series["eval/rewards/accuracies"].back());
        std::printf("| final rewards/margins | %.3f |\n", sink.series["rewards/margins"].back());
        std::printf("| hardware threads | %d |\n", static_cast<int>(std::thread::hardware_concurrency()));
    } catch (const ps::Error& e) {
        std::fprintf(stderr, "bench_demo: %s\n", e.what());
        return 2;
    }
    return 0;
}
