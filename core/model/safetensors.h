// The safetensors file format (8-byte little-endian header length, a JSON header, then raw
// tensor bytes), read through a memory mapping and written as a stream. The header is untrusted
// input: every dtype, shape and offset is checked before any tensor byte is looked at, so a
// broken or hostile file is a ModelError, never an out-of-bounds read. No torch here.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ps {

struct SafetensorsEntry {
    std::string name;
    std::string dtype;  // "F32", "BF16", ... as written in the file
    size_t itemsize = 0;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

struct SafetensorsHeader {
    std::vector<SafetensorsEntry> tensors;  // in file order of their data
    std::map<std::string, std::string> metadata;
    uint64_t data_offset = 0;  // 8 + header length
    uint64_t data_size = 0;
};

// Bytes per element of a safetensors dtype string; 0 for an unknown string.
size_t safetensors_itemsize(const std::string& dtype);

// Parses and checks the header of a whole file held in `data` (`size` bytes). `where` names the
// file in errors. Rejects: a header length beyond the file or over 100 MB, invalid or deeply
// nested JSON, non-object entries, unknown dtypes, negative or overflowing shapes, offsets
// outside the data section, byte ranges that do not match shape x itemsize, overlapping ranges.
SafetensorsHeader parse_safetensors(const uint8_t* data, uint64_t size, const std::string& where);

// A read-only view of a file through a private mapping. Pages are shared with the page cache
// until written (copy-on-write), so tensors that point into the mapping cost no memory of
// their own and may still be trained in place.
class MappedFile {
public:
    static std::shared_ptr<MappedFile> open(const std::string& path);  // ModelError when it cannot
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Gives back the whole pages inside [offset, offset + length) once nothing points there
    // any more (after a tensor was converted to another dtype): keeps peak memory down.
    void release(uint64_t offset, uint64_t length) const;

private:
    MappedFile() = default;
    uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    std::string path_;
};

// One mapped safetensors file with its checked header.
struct SafetensorsFile {
    std::shared_ptr<MappedFile> file;
    SafetensorsHeader header;
    static SafetensorsFile open(const std::string& path);
    const uint8_t* bytes(const SafetensorsEntry& e) const { return file->data() + header.data_offset + e.begin; }
};

struct SafetensorsWriteEntry {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
};

// Writes a safetensors file. `bytes(i)` returns entry i's raw little-endian bytes (exactly
// shape x itemsize of them); it is called once per entry, in order, and its result need only
// stay valid until the next call, so a model is written tensor by tensor. The header is padded
// with spaces to a multiple of 8 bytes so every tensor starts aligned. Writes to a temporary
// file and renames it into place.
void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteEntry>& entries,
                       const std::function<std::string_view(size_t)>& bytes,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace ps
