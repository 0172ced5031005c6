// Tokenising speed of the Hugging Face tokenizer on one core: 10 MB (default) of generated mixed
// text (English, numbers, CJK, Cyrillic, code, emoji, whitespace runs; a fixed seed).
// Usage: bench_tokenize [--mb N] [TOKENIZER ...]
// TOKENIZER: a tokenizer.json or model directory. Default: the real tokenizers that
// fetch_tokenizers.sh put in build/tokenizers (qwen3, llama3, llama2), else the tiny hand-built
// byte-level one (with a note: its 256-token vocabulary says little about real speed).
// Run from the repository root. Prints a Markdown table.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/common/errors.h"
#include "core/text/hf_tokenizer.h"
#include "core/text/utf8.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of this (single-threaded) process: tells the speed of one core even when other
// processes share the machine.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::string mixed_text(size_t bytes) {
    static const char* words[] = {
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
        "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
        "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so",
        "preference", "optimisation", "reward", "chosen", "rejected", "margin", "policy", "reference", "gradient",
        "tokenizer", "model", "training", "learning", "language", "Transformer", "attention", "DPO", "KTO", "ORPO",
        "don't", "it's", "we've", "they'll", "I'm", "Hello", "World", "Python", "function", "return", "value"};
    static const char* cyrillic[] = {"привет", "мир", "модель", "обучение", "данные", "язык", "и", "в", "не", "что"};
    static const char* code[] = {"def f(x):\n    return x**2\n", "if (a && b) { c++; }\n", "for i in range(10):\n\t",
                                 "#include <vector>\n", "x = {\"k\": [1, 2, 3]}\n", "// TODO: fix\n", "    ", "\n\n"};
    static const char* emoji[] = {"\xF0\x9F\x99\x82", "\xF0\x9F\x9A\x80", "\xE2\x9D\xA4\xEF\xB8\x8F",
                                  "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x92\xBB", "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5"};
    std::mt19937_64 rng(20261121);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    std::string out;
    out.reserve(bytes + 64);
    while (out.size() < bytes) {
        const size_t kind = pick(100);
        if (kind < 62) {
            std::string w = words[pick(sizeof words / sizeof *words)];
            if (pick(10) == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
            out += w;
            out += pick(12) == 0 ? ". " : pick(15) == 0 ? ", " : " ";
        } else if (kind < 72) {
            out += std::to_string(rng() % (pick(2) ? 100 : 10000000));
            out += pick(3) == 0 ? "." : " ";
        } else if (kind < 84) {
            // A run of CJK characters from the most frequent block, then full-width punctuation.
            for (size_t n = 2 + pick(10); n > 0; --n) ps::append_utf8(out, 0x4E00 + static_cast<char32_t>(pick(0x1000)));
            out += pick(2) ? "\xEF\xBC\x8C" : "\xE3\x80\x82";
        } else if (kind < 90) {
            out += cyrillic[pick(sizeof cyrillic / sizeof *cyrillic)];
            out += ' ';
        } else if (kind < 96) {
            out += code[pick(sizeof code / sizeof *code)];
        } else if (kind < 98) {
            out += emoji[pick(sizeof emoji / sizeof *emoji)];
            out += ' ';
        } else {
            out += std::string(1 + pick(8), pick(2) ? ' ' : '\n');
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    double mb = 10;
    std::vector<std::string> paths;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--mb") && i + 1 < argc) mb = std::atof(argv[++i]);
        else paths.push_back(argv[i]);
    }
    std::string note;
    if (paths.empty()) {
        for (const char* name : {"qwen3", "llama3", "llama2"}) {
            const std::string dir = std::string("build/tokenizers/") + name;
            if (std::filesystem::exists(dir + "/tokenizer.json")) paths.push_back(dir);
        }
        if (paths.empty()) {
            paths.push_back("tests/fixtures/tokenizer/tiny_bytelevel");
            note = "note: no real tokenizer in build/tokenizers (run tests/fixtures/tokenizer/fetch_tokenizers.sh "
                   "build/tokenizers); the tiny 276-token tokenizer says little about real speed.";
        }
    }
    const std::string text = mixed_text(static_cast<size_t>(mb * 1e6));
    const double text_mb = static_cast<double>(text.size()) / 1e6;
    std::printf("| tokenizer | load (s) | text (MB) | tokens | pass 1, cold cache: MB/s wall (CPU) | pass 2, warm cache: "
                "MB/s wall (CPU) |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (const auto& path : paths) {
        try {
            auto t0 = std::chrono::steady_clock::now();
            auto tok = ps::HfTokenizer::load(path);
            const double load_s = seconds_since(t0);
            t0 = std::chrono::steady_clock::now();
            double c0 = cpu_seconds();
            const size_t tokens = tok->encode(text).size();
            const double cold = seconds_since(t0), cold_cpu = cpu_seconds() - c0;
            t0 = std::chrono::steady_clock::now();
            c0 = cpu_seconds();
            tok->encode(text);
            const double warm = seconds_since(t0), warm_cpu = cpu_seconds() - c0;
            std::printf("| %s | %.2f | %.1f | %zu | %.1f (%.1f) | %.1f (%.1f) |\n", path.c_str(), load_s, text_mb, tokens,
                        text_mb / cold, text_mb / cold_cpu, text_mb / warm, text_mb / warm_cpu);
        } catch (const ps::Error& e) {
            std::fprintf(stderr, "bench_tokenize: %s\n", e.what());
            return 1;
        }
    }
    if (!note.empty()) std::printf("\n%s\n", note.c_str());
    return 0;
}
