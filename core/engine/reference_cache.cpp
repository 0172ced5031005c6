#include "core/engine/reference_cache.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace ps {
namespace {

// Format 2: magic, the two sizes, the four float arrays, then the FNV-1a hash of sizes and
// arrays (format 1 had no hash; its files read as invalid and are computed again).
constexpr char kMagic[8] = {'P', 'S', 'R', 'E', 'F', 'L', 'P', '2'};

uint64_t fnv1a(const char* data, size_t n, uint64_t h = 1469598103934665603ULL) {
    for (size_t i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(data[i]);
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t file_hash(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 16);
    uint64_t h = 1469598103934665603ULL;
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h = fnv1a(buf.data(), static_cast<size_t>(in.gcount()), h);
    }
    return h;
}

std::string path_of(const std::string& key) { return reference_cache_dir() + "/" + key + ".bin"; }

}  // namespace

std::string reference_cache_dir() {
    if (const char* d = std::getenv("PREFSTUDIO_CACHE_DIR"); d && *d) return std::string(d) + "/reference-logps";
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') return std::string(x) + "/prefstudio/reference-logps";
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : "/tmp") + "/.cache/prefstudio/reference-logps";
}

std::string reference_cache_key(const RunConfig& c, int threads, int64_t sft_steps_done) {
    std::ostringstream k;
    k.precision(17);
    k << "v2|" << c.model.source << "|seed=" << c.seed << "|sft=" << sft_steps_done << "/" << c.sft.steps << ","
      << c.sft.learning_rate
      << "|sft_batch=" << c.train.batch_size << "|clip=" << c.train.max_grad_norm << "|len=" << c.data.max_length
      << "," << c.data.max_prompt_length << "|data=" << c.data.format << "," << c.model.chat_template << ","
      << choice_name(c.data.truncation_mode) << "," << c.data.group_by_length << "," << nlohmann::json(c.data.columns).dump() << ","
      << nlohmann::json(c.data.tags).dump() << "|split=" << c.data.eval_fraction << "|threads=" << threads
      << "|train=" << c.data.train << ":" << file_hash(c.data.train);
    if (c.data.eval) k << "|eval=" << *c.data.eval << ":" << file_hash(*c.data.eval);
    if (resolved_dtype(c.model.dtype) != ModelDType::Float32) k << "|dtype=" << choice_name(c.model.dtype);
    // A LoRA warm-up merged into the base gives another reference than a full warm-up; without
    // a warm-up the reference is the base model either way.
    if (c.model.lora && sft_steps_done > 0)
        k << "|lora=" << c.model.lora->rank << "," << c.model.lora->alpha << "," << c.model.lora->dropout << ","
          << nlohmann::json(c.model.lora->target_modules).dump();
    if (c.model.source.rfind("builtin:", 0) != 0) {
        // A model directory's weights may change under the same path: its files' sizes and
        // modification times are part of the key (hashing gigabytes would cost more than the pass).
        std::error_code ec;
        std::vector<std::string> parts;
        for (const auto& e : fs::directory_iterator(c.model.source, ec)) {
            const std::string name = e.path().filename().string();
            if (name != "config.json" && e.path().extension() != ".safetensors" &&
                name != "model.safetensors.index.json")
                continue;
            std::error_code e1, e2;
            const auto size = fs::file_size(e.path(), e1);
            const auto time = fs::last_write_time(e.path(), e2).time_since_epoch().count();
            parts.push_back(name + ":" + std::to_string(size) + ":" + std::to_string(static_cast<long long>(time)));
        }
        std::sort(parts.begin(), parts.end());
        for (const auto& p : parts) k << "|w=" << p;
    }
    const std::string text = k.str();
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(text.data(), text.size())));
    return hex;
}

ReferenceCacheRead load_reference_logps(const std::string& key, size_t n_train, size_t n_eval, ReferenceLogps& out) {
    std::ifstream in(path_of(key), std::ios::binary);
    if (!in) return ReferenceCacheRead::Missing;
    char magic[8];
    uint64_t sizes[2];
    if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return ReferenceCacheRead::Invalid;
    if (!in.read(reinterpret_cast<char*>(sizes), sizeof sizes)) return ReferenceCacheRead::Invalid;
    if (sizes[0] != n_train || sizes[1] != n_eval) return ReferenceCacheRead::Invalid;
    uint64_t h = fnv1a(reinterpret_cast<const char*>(sizes), sizeof sizes);
    auto read = [&](std::vector<float>& v, size_t n) {
        v.resize(n);
        const auto bytes = static_cast<std::streamsize>(n * sizeof(float));
        if (!in.read(reinterpret_cast<char*>(v.data()), bytes)) return false;
        h = fnv1a(reinterpret_cast<const char*>(v.data()), static_cast<size_t>(bytes), h);
        return true;
    };
    if (!(read(out.train_chosen, n_train) && read(out.train_rejected, n_train) && read(out.eval_chosen, n_eval) &&
          read(out.eval_rejected, n_eval)))
        return ReferenceCacheRead::Invalid;
    uint64_t stored = 0;
    if (!in.read(reinterpret_cast<char*>(&stored), sizeof stored) || stored != h || in.peek() != EOF)
        return ReferenceCacheRead::Invalid;  // damaged, truncated or grown: never trained on
    return ReferenceCacheRead::Loaded;
}

std::string save_reference_logps(const std::string& key, const ReferenceLogps& r) {
    std::error_code ec;
    fs::create_directories(reference_cache_dir(), ec);
    if (ec) return "cannot create " + reference_cache_dir() + ": " + ec.message();
    const std::string path = path_of(key), tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        const uint64_t sizes[2] = {r.train_chosen.size(), r.eval_chosen.size()};
        out.write(kMagic, 8);
        out.write(reinterpret_cast<const char*>(sizes), sizeof sizes);
        uint64_t h = fnv1a(reinterpret_cast<const char*>(sizes), sizeof sizes);
        for (const auto* v : {&r.train_chosen, &r.train_rejected, &r.eval_chosen, &r.eval_rejected}) {
            const size_t bytes = v->size() * sizeof(float);
            out.write(reinterpret_cast<const char*>(v->data()), static_cast<std::streamsize>(bytes));
            h = fnv1a(reinterpret_cast<const char*>(v->data()), bytes, h);
        }
        out.write(reinterpret_cast<const char*>(&h), sizeof h);
        if (!out) return "cannot write " + tmp;
    }
    fs::rename(tmp, path, ec);
    if (ec) return "cannot rename " + tmp + ": " + ec.message();
    return {};
}

}  // namespace ps
