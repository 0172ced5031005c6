#include "core/engine/run_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/Context.h>

#include "core/common/errors.h"

namespace fs = std::filesystem;

namespace ps {
namespace {

constexpr const char* kStepPrefix = "step-";
constexpr const char* kTempPrefix = ".tmp-step-";
constexpr const char* kOldPrefix = ".old-step-";
constexpr const char* kMeta = "meta.json";

// fsync of a file or a folder (a folder's fsync makes a rename inside it durable).
void fsync_or_throw(const std::string& path, bool directory) {
    const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0) throw StoreError("cannot open " + path + " to flush it: " + std::strerror(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw StoreError("cannot flush " + path + " to the disk: " + std::strerror(err));
}

std::optional<int64_t> step_of(const std::string& name, const char* prefix) {
    const size_t n = std::strlen(prefix);
    if (name.size() <= n || name.compare(0, n, prefix) != 0) return std::nullopt;
    int64_t v = 0;
    for (size_t i = n; i < name.size(); ++i) {
        const char c = name[i];
        if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

void remove_leftovers(const std::string& root) {
    std::error_code ec;
    std::vector<fs::path> leftovers;
    for (const auto& e : fs::directory_iterator(root, ec)) {
        const std::string name = e.path().filename().string();
        if (step_of(name, kTempPrefix) || step_of(name, kOldPrefix)) leftovers.push_back(e.path());
    }
    for (const auto& p : leftovers) {
        // A step written again and killed between its two renames: the old folder is whole.
        const auto old = step_of(p.filename().string(), kOldPrefix);
        const fs::path step_dir = fs::path(root) / (kStepPrefix + std::to_string(old.value_or(0)));
        if (old && !fs::exists(step_dir, ec)) {
            fs::rename(p, step_dir, ec);
            if (!ec) continue;
        }
        fs::remove_all(p, ec);
    }
}

// 64-bit FNV-1a over 8-byte words: fast enough for gigabytes of weights, and a checksum is
// all it is (it detects changed files, it is no security measure).
struct Hash64 {
    uint64_t h = 1469598103934665603ULL;
    void add(const void* data, size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            h = (h ^ w) * 1099511628211ULL;
            h ^= h >> 29;
        }
        for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
    }
    void add(const std::string& s) {
        const uint64_t n = s.size();
        add(&n, sizeof n);
        add(s.data(), s.size());
    }
    std::string hex() const {
        char b[17];
        std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
        return b;
    }
};

std::vector<torch::Generator> generators() {
    std::vector<torch::Generator> out{at::detail::getDefaultCPUGenerator()};
    if (torch::cuda::is_available())
        for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i)
            out.push_back(at::globalContext().defaultGenerator(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(i))));
    return out;
}

}  // namespace

void fsync_path(const std::string& path) { fsync_or_throw(path, fs::is_directory(path)); }

std::string write_checkpoint_atomically(const std::string& root, int64_t step,
                                        const std::function<void(const std::string& dir)>& fill) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) throw StoreError("cannot create the checkpoint folder " + root + ": " + ec.message());
    remove_leftovers(root);
    const std::string name = std::to_string(step);
    const fs::path tmp = fs::path(root) / (kTempPrefix + name);
    const fs::path final_dir = fs::path(root) / (kStepPrefix + name);
    fs::create_directory(tmp, ec);
    if (ec) throw StoreError("cannot create " + tmp.string() + ": " + ec.message());
    try {
        fill(tmp.string());
        for (const auto& e : fs::directory_iterator(tmp)) fsync_or_throw(e.path().string(), false);
        fsync_or_throw(tmp.string(), true);
        if (fs::exists(final_dir)) {
            // The same step written again (a resumed run): the old one is moved aside first, so
            // a kill in between still leaves this step whole (the new one is renamed next).
            const fs::path old = fs::path(root) / (kOldPrefix + name);
            fs::remove_all(old, ec);
            fs::rename(final_dir, old);
            fs::rename(tmp, final_dir);
            fs::remove_all(old, ec);
        } else {
            fs::rename(tmp, final_dir);
        }
        fsync_or_throw(root, true);
    } catch (const fs::filesystem_error& e) {
        fs::remove_all(tmp, ec);
        throw StoreError("cannot write the checkpoint " + final_dir.string() + ": " + e.code().message());
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
    return final_dir.string();
}

std::vector<CheckpointDir> list_checkpoints(const std::string& root, bool clean) {
    std::vector<CheckpointDir> out;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return out;
    if (clean) remove_leftovers(root);
    for (const auto& e : fs::directory_iterator(root, ec)) {
        const auto step = step_of(e.path().filename().string(), kStepPrefix);
        if (!step || !fs::is_regular_file(e.path() / kMeta)) continue;
        out.push_back({*step, e.path().string()});
    }
    std::sort(out.begin(), out.end(), [](const CheckpointDir& a, const CheckpointDir& b) { return a.step < b.step; });
    return out;
}

void prune_checkpoints(const std::string& root, int keep) {
    const auto all = list_checkpoints(root);
    const size_t k = static_cast<size_t>(std::max(1, keep));
    std::error_code ec;
    for (size_t i = 0; i + k < all.size(); ++i) fs::remove_all(all[i].path, ec);
}

std::string model_files_checksum(const std::string& source) {
    Hash64 h;
    h.add(source);
    std::error_code ec;
    if (!fs::is_directory(source, ec)) return h.hex();  // builtin:NAME: the name decides the weights
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(source, ec)) {
        const std::string name = e.path().filename().string();
        if (name == "config.json" || name == "model.safetensors.index.json" || e.path().extension() == ".safetensors" ||
            name == "adapter_config.json")
            files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<char> buf(1 << 20);
    for (const auto& f : files) {
        h.add(f.filename().string());
        std::ifstream in(f, std::ios::binary);
        while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            h.add(buf.data(), static_cast<size_t>(in.gcount()));
        }
    }
    return h.hex();
}

std::string tensors_checksum(const std::vector<torch::Tensor>& tensors) {
    Hash64 h;
    for (const auto& t : tensors) {
        auto c = t.detach().to(torch::kCPU).contiguous();
        h.add(std::string(c10::toString(c.scalar_type())));
        for (int64_t d : c.sizes()) h.add(&d, sizeof d);
        h.add(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
    }
    return h.hex();
}

nlohmann::json CheckpointMeta::to_json() const {
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& r : pair_logps) pairs.push_back({r.pair, r.step, r.chosen, r.rejected});
    nlohmann::json j = {{"format", kFormat},          {"step", step},
                        {"sft_steps", sft_steps},     {"config", config},
                        {"reference_key", reference_key}, {"model_checksum", model_checksum},
                        {"start_checksum", start_checksum}, {"sampler", sampler},
                        {"last_values", last_values}, {"pair_logps", pairs},
                        {"warned", warned},           {"elapsed", elapsed}};
    j["last_abs_reward"] = last_abs_reward ? nlohmann::json(*last_abs_reward) : nlohmann::json(nullptr);
    return j;
}

CheckpointMeta CheckpointMeta::from_json(const nlohmann::json& j) {
    CheckpointMeta m;
    try {
        if (j.at("format").get<int>() != kFormat)
            throw StoreError("checkpoint format " + j.at("format").dump() + " is not this PrefStudio's (" +
                             std::to_string(kFormat) + ")");
        m.step = j.at("step").get<int64_t>();
        m.sft_steps = j.at("sft_steps").get<int64_t>();
        m.config = j.at("config");
        m.reference_key = j.at("reference_key").get<std::string>();
        m.model_checksum = j.at("model_checksum").get<std::string>();
        m.start_checksum = j.at("start_checksum").get<std::string>();
        m.sampler = j.at("sampler");
        m.last_values = j.at("last_values");
        for (const auto& r : j.at("pair_logps"))
            m.pair_logps.push_back({r.at(0).get<int64_t>(), r.at(1).get<int64_t>(), r.at(2).get<double>(), r.at(3).get<double>()});
        m.warned = j.at("warned").get<std::vector<std::string>>();
        m.elapsed = j.at("elapsed").get<double>();
        if (j.at("last_abs_reward").is_number()) m.last_abs_reward = j.at("last_abs_reward").get<double>();
    } catch (const nlohmann::json::exception& e) {
        throw StoreError(std::string("a field is missing or of the wrong type (") + e.what() + ")");
    }
    return m;
}

CheckpointMeta read_checkpoint_meta(const std::string& dir) {
    const std::string path = (fs::path(dir) / kMeta).string();
    std::ifstream in(path);
    if (!in) throw StoreError("cannot read the checkpoint " + path);
    try {
        return CheckpointMeta::from_json(nlohmann::json::parse(in));
    } catch (const nlohmann::json::exception& e) {
        throw StoreError(path + ": not a checkpoint's meta.json (" + e.what() + ")");
    } catch (const StoreError& e) {
        throw StoreError(path + ": " + e.what());
    }
}

void save_checkpoint_tensors(const std::string& dir, const std::vector<torch::Tensor>& trainable,
                             torch::optim::Optimizer& optimizer) {
    const fs::path d(dir);
    try {
        std::vector<torch::Tensor> cpu;
        for (const auto& t : trainable) cpu.push_back(t.detach().to(torch::kCPU).clone());
        torch::save(cpu, (d / "trainable.pt").string());
        torch::serialize::OutputArchive opt;
        optimizer.save(opt);
        opt.save_to((d / "optimizer.pt").string());
        std::vector<torch::Tensor> states;
        for (auto& g : generators()) states.push_back(g.get_state());
        torch::save(states, (d / "rng.pt").string());
    } catch (const c10::Error& e) {
        throw StoreError("cannot write the checkpoint in " + dir + ": " + e.what_without_backtrace());
    }
}

void load_checkpoint_tensors(const std::string& dir, const std::vector<torch::Tensor>& trainable,
                             torch::optim::Optimizer& optimizer) {
    const fs::path d(dir);
    try {
        std::vector<torch::Tensor> saved;
        torch::load(saved, (d / "trainable.pt").string());
        if (saved.size() != trainable.size())
            throw StoreError(dir + ": the checkpoint holds " + std::to_string(saved.size()) + " trainable tensors, the run has " +
                             std::to_string(trainable.size()));
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < saved.size(); ++i) {
            if (!saved[i].sizes().equals(trainable[i].sizes()) || saved[i].scalar_type() != trainable[i].scalar_type())
                throw StoreError(dir + ": trainable tensor " + std::to_string(i) + " differs in shape or dtype from the run's");
            trainable[i].copy_(saved[i]);
        }
        torch::serialize::InputArchive opt;
        // The optimizer's state lives where the parameters do (a CUDA run's moments on the GPU).
        opt.load_from((d / "optimizer.pt").string(),
                      trainable.empty() ? c10::optional<torch::Device>() : c10::optional<torch::Device>(trainable[0].device()));
        optimizer.load(opt);
        std::vector<torch::Tensor> states;
        torch::load(states, (d / "rng.pt").string());
        auto gens = generators();
        if (states.size() < 1 || states.size() != gens.size())
            throw StoreError(dir + ": the checkpoint holds " + std::to_string(states.size()) +
                             " generator states, this machine has " + std::to_string(gens.size()) + " devices' generators");
        for (size_t i = 0; i < gens.size(); ++i) gens[i].set_state(states[i]);
    } catch (const c10::Error& e) {
        throw StoreError("cannot read the checkpoint in " + dir + ": " + e.what_without_backtrace());
    }
}

}  // namespace ps
