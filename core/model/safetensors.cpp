#include "core/model/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <numeric>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"

namespace ps {
namespace {

using nlohmann::json;

// The reference implementation's limit; real headers are a few hundred KB.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
    throw ModelError(where + ": not a valid safetensors file: " + what);
}

// Deepest bracket nesting outside strings. A valid header nests 3 deep; refusing deeper JSON
// before parsing keeps a hostile "[[[[..." header from costing gigabytes of parse tree.
int max_nesting(const char* p, size_t n) {
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; ++i) {
        const char c = p[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return deepest;
}

std::string describe(const std::string& name) { return "tensor '" + name.substr(0, 200) + "'"; }

}  // namespace

size_t safetensors_itemsize(const std::string& d) {
    if (d == "F64" || d == "I64" || d == "U64") return 8;
    if (d == "F32" || d == "I32" || d == "U32") return 4;
    if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
    if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
    return 0;
}

SafetensorsHeader parse_safetensors(const uint8_t* data, uint64_t size, const std::string& where) {
    if (size < 8) bad(where, "the file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian whatever the host
    if (n > kMaxHeaderBytes) bad(where, "header length " + std::to_string(n) + " is over the 100 MB limit");
    if (n > size - 8)
        bad(where, "header length " + std::to_string(n) + " runs past the end of the " + std::to_string(size) +
                       "-byte file (truncated?)");
    if (n < 2) bad(where, "the header is empty");
    const char* text = reinterpret_cast<const char*>(data + 8);
    if (text[0] != '{') bad(where, "the header does not start with '{'");
    if (max_nesting(text, n) > 3) bad(where, "the header JSON is nested deeper than a safetensors header can be");
    json j;
    try {
        j = json::parse(text, text + n);
    } catch (const json::exception& e) {
        bad(where, std::string("the header is not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) bad(where, "the header is not a JSON object");

    SafetensorsHeader h;
    h.data_offset = 8 + n;
    h.data_size = size - h.data_offset;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) bad(where, "__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) bad(where, "__metadata__ value '" + m.key() + "' is not a string");
                h.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        if (!v.is_object()) bad(where, describe(name) + " is not an object");
        for (auto f = v.begin(); f != v.end(); ++f)
            if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
                bad(where, describe(name) + " has an unknown field '" + f.key().substr(0, 100) + "'");
        SafetensorsEntry e;
        e.name = name;
        if (!v.contains("dtype") || !v["dtype"].is_string()) bad(where, describe(name) + " has no dtype string");
        e.dtype = v["dtype"].get<std::string>();
        e.itemsize = safetensors_itemsize(e.dtype);
        if (e.itemsize == 0) bad(where, describe(name) + " has an unknown dtype '" + e.dtype.substr(0, 40) + "'");
        if (!v.contains("shape") || !v["shape"].is_array()) bad(where, describe(name) + " has no shape array");
        if (v["shape"].size() > 16) bad(where, describe(name) + " has more than 16 dimensions");
        uint64_t elements = 1;
        bool overflow = false;
        for (const auto& dim : v["shape"]) {
            if (!dim.is_number_unsigned()) bad(where, describe(name) + " has a shape entry that is not a non-negative integer");
            const uint64_t d = dim.get<uint64_t>();
            if (d > static_cast<uint64_t>(INT64_MAX)) overflow = true;
            else if (d != 0 && elements > UINT64_MAX / d) overflow = true;
            else elements *= d;
            e.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(d, INT64_MAX)));
        }
        if (overflow || elements > UINT64_MAX / e.itemsize) bad(where, describe(name) + " has a shape too large to exist");
        const json& off = v.contains("data_offsets") ? v["data_offsets"] : json();
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            bad(where, describe(name) + " needs data_offsets [begin, end] of non-negative integers");
        e.begin = off[0].get<uint64_t>();
        e.end = off[1].get<uint64_t>();
        if (e.begin > e.end) bad(where, describe(name) + " has data_offsets with begin after end");
        if (e.end > h.data_size)
            bad(where, describe(name) + " ends at byte " + std::to_string(e.end) + " of a data section of " +
                           std::to_string(h.data_size) + " bytes (truncated or corrupt file)");
        if (e.end - e.begin != elements * e.itemsize)
            bad(where, describe(name) + " has " + std::to_string(e.end - e.begin) + " bytes but its shape and dtype need " +
                           std::to_string(elements * e.itemsize));
        h.tensors.push_back(std::move(e));
    }
    std::sort(h.tensors.begin(), h.tensors.end(),
              [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
    for (size_t i = 1; i < h.tensors.size(); ++i)
        if (h.tensors[i].begin < h.tensors[i - 1].end)
            bad(where, describe(h.tensors[i].name) + " overlaps " + describe(h.tensors[i - 1].name));
    return h;
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ModelError("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw ModelError("'" + path + "' is not a regular file");
    }
    std::shared_ptr<MappedFile> m(new MappedFile());
    m->path_ = path;
    m->size_ = static_cast<uint64_t>(st.st_size);
    if (m->size_ > 0) {
        // Private and writable: pages stay the page cache's until a tensor is written in place.
        void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            throw ModelError("cannot map '" + path + "' into memory: " + std::strerror(err));
        }
        m->data_ = static_cast<uint8_t*>(p);
        ::madvise(p, m->size_, MADV_WILLNEED);
    }
    ::close(fd);  // the mapping keeps the file
    return m;
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(data_, size_);
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
    if (!data_ || offset >= size_) return;
    length = std::min(length, size_ - offset);
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t first = (offset + page - 1) / page * page;
    const uint64_t last = (offset + length) / page * page;
    if (last > first) ::madvise(data_ + first, last - first, MADV_DONTNEED);
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    SafetensorsFile f;
    f.file = MappedFile::open(path);
    f.header = parse_safetensors(f.file->data(), f.file->size(), path);
    return f;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteEntry>& entries,
                       const std::function<std::string_view(size_t)>& bytes,
                       const std::map<std::string, std::string>& metadata) {
    // Larger items first keeps every tensor aligned to its item size (all offsets stay
    // multiples of 8, 4, 2 in turn).
    std::vector<size_t> order(entries.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return safetensors_itemsize(entries[a].dtype) > safetensors_itemsize(entries[b].dtype);
    });
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (size_t i : order) {
        const auto& e = entries[i];
        const size_t item = safetensors_itemsize(e.dtype);
        if (item == 0) throw ModelError("cannot write tensor '" + e.name + "' with unknown dtype '" + e.dtype + "'");
        uint64_t n = item;
        for (int64_t d : e.shape) n *= static_cast<uint64_t>(d);
        header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');
    const std::string tmp = path + ".tmp";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw ModelError("cannot write '" + tmp + "'; check the directory exists and is writable");
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (size_t i : order) {
        const auto& e = entries[i];
        std::string_view b = bytes(i);
        const auto& range = header[e.name]["data_offsets"];
        if (b.size() != range[1].get<uint64_t>() - range[0].get<uint64_t>())
            throw ModelError("tensor '" + e.name + "' has " + std::to_string(b.size()) + " bytes, its shape needs " +
                             std::to_string(range[1].get<uint64_t>() - range[0].get<uint64_t>()));
        out.write(b.data(), static_cast<std::streamsize>(b.size()));
    }
    out.close();
    if (!out) {
        std::remove(tmp.c_str());
        throw ModelError("writing '" + path + "' failed (disk full?)");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw ModelError("cannot move '" + tmp + "' to '" + path + "': " + std::strerror(errno));
    }
}

}  // namespace ps
