// Benchmark of the data pipeline: read + validate + tokenize N generated pairs of about 1 kB
// (default 100,000, the target: under 10 s on 2 cores), as JSON Lines and as a JSON
// array, plus the streaming summary (`prefstudio-cli data`) and peak memory.
// Usage: bench_data [--records N] [--dir DIR] [--keep] [--summary-only] (only the streaming
// summary: for files too big to hold tokenized, e.g. --records 1000000, about 1 GB). Prints a
// Markdown table.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <malloc.h>
#include <random>
#include <string>

#include "core/data/dataset_summary.h"
#include "core/data/preference_data.h"
#include "core/data/tokenize.h"
#include "core/text/byte_tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

long rss_kb(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string k;
    long v = 0;
    while (in >> k) {
        if (k == key) {
            in >> v;
            return v;
        }
        in.ignore(1 << 20, '\n');
    }
    return -1;
}

void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Words of varied length so texts look like text (escapes and UTF-8 included).
std::string text(std::mt19937_64& rng, size_t bytes) {
    static const char* words[] = {"the", "model", "answer", "is", "preference", "caf\xC3\xA9", "\\\"quoted\\\"", "data",
                                  "tokens", "of", "a", "longer", "sentence", "with", "line\\nbreaks", "and", "numbers", "42"};
    std::string s;
    while (s.size() < bytes) {
        if (!s.empty()) s += ' ';
        s += words[rng() % (sizeof words / sizeof *words)];
    }
    return s;
}

void generate(const std::string& path, size_t n, bool array) {
    std::mt19937_64 rng(1);
    std::ofstream out(path, std::ios::binary);
    if (array) out << "[\n";
    for (size_t i = 0; i < n; ++i) {
        if (array && i) out << ",\n";
        out << "{\"prompt\": \"" << text(rng, 300 + rng() % 200) << "\", \"chosen\": \"" << text(rng, 200 + rng() % 200)
            << "\", \"rejected\": \"" << text(rng, 200 + rng() % 200) << "\"}";
        if (!array) out << '\n';
    }
    if (array) out << "\n]\n";
}

}  // namespace

int main(int argc, char** argv) {
    size_t n = 100000;
    std::string dir = std::filesystem::temp_directory_path().string();
    bool keep = false, summary_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--records" && i + 1 < argc) n = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
        else if (a == "--keep") keep = true;
        else if (a == "--summary-only") summary_only = true;
        else {
            std::fprintf(stderr, "usage: bench_data [--records N] [--dir DIR] [--keep] [--summary-only]\n");
            return 2;
        }
    }
    ps::ByteTokenizer tok;
    ps::TruncationOptions limits;
    limits.max_length = 2048;
    limits.max_prompt_length = 1024;
    std::printf("| case | records | file (MB) | read + validate (s) | tokenize (s) | total (s) | pairs/s | peak RSS growth (MB) |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (bool array : {false, true}) {
        const std::string path = dir + "/prefstudio-bench-data" + (array ? ".json" : ".jsonl");
        generate(path, n, array);
        const double mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
        if (!summary_only) {
            reset_peak();
            const long base = rss_kb("VmRSS:");
            auto t0 = Clock::now();
            auto ds = ps::read_preference_file(path);
            const double read_s = seconds_since(t0);
            auto t1 = Clock::now();
            ps::TokenizeStats st;
            auto tokens = ps::tokenize_rows(ds.pairs, tok, ps::ChatTemplate("plain"), limits, st);
            const double tok_s = seconds_since(t1);
            const double total = read_s + tok_s;
            const long peak = rss_kb("VmHWM:");
            std::printf("| read_preference_file + tokenize_rows, %s | %zu | %.0f | %.2f | %.2f | **%.2f** | %.0f | %.0f |\n",
                        array ? "JSON array" : "JSON Lines", ds.pairs.size(), mb, read_s, tok_s, total,
                        static_cast<double>(n) / total, static_cast<double>(peak - base) / 1024.0);
            ds = ps::PreferenceDataset();
            tokens = ps::TokenRows();
        }
        malloc_trim(0);  // give freed memory back so the next peak is measured from here
        // The streaming summary keeps only lengths and a preview.
        reset_peak();
        const long base2 = rss_kb("VmRSS:");
        auto t2 = Clock::now();
        ps::SummaryOptions so;
        so.limits = limits;
        auto s = ps::summarize_dataset(path, tok, so);
        const double sum_s = seconds_since(t2);
        std::printf("| summarize_dataset (`prefstudio-cli data`), %s | %zu | %.0f | - | - | %.2f | %.0f | %.0f |\n",
                    array ? "JSON array" : "JSON Lines", s.examples, mb, sum_s, static_cast<double>(n) / sum_s,
                    static_cast<double>(rss_kb("VmHWM:") - base2) / 1024.0);
        if (!keep) std::filesystem::remove(path);
    }
    return 0;
}
