// The safetensors reader treats the header as hostile input: every broken or crafted file
// must be a ps::ModelError (never a crash, never a read outside the file), and a file the
// writer produced must read back byte for byte. Also the checks that map checkpoint tensors
// onto a model: missing, unexpected, mis-shaped, mistyped tensors and hostile index files.
#include <QtTest>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>  // getpid: torch 2.x's headers no longer include it

#include "core/common/errors.h"
#include "core/model/causal_lm.h"
#include "core/model/model_io.h"
#include "core/model/safetensors.h"

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes make_file(const std::string& header, const Bytes& data, int64_t claimed_len = -1) {
    Bytes out(8);
    const uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

// A valid file: a F32 [2, 3] tensor and a BF16 [4] tensor.
Bytes valid_file() {
    Bytes data(24 + 8);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
    return make_file(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                     R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})",
                     data);
}

void expect_error(const Bytes& file, const char* fragment) {
    try {
        ps::parse_safetensors(file.data(), file.size(), "f.safetensors");
        QFAIL(qPrintable(QString("no error for a file that should fail with '%1'").arg(fragment)));
    } catch (const ps::ModelError& e) {
        const std::string what = e.what();
        if (what.find(fragment) == std::string::npos)
            QFAIL(qPrintable(QString("error '%1' does not mention '%2'").arg(what.c_str(), fragment)));
        QVERIFY(what.find("f.safetensors") != std::string::npos);
    }
}

std::string with_tensor(const std::string& entry) { return "{\"t\":" + entry + "}"; }

fs::path temp_dir(const char* name) {
    fs::path d = fs::temp_directory_path() / ("prefstudio_test_st_" + std::to_string(::getpid())) / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

void write_bytes(const fs::path& p, const Bytes& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ps::ModelShape micro_shape() {
    ps::ModelShape s;
    s.vocab_size = 10;
    s.hidden_size = 8;
    s.intermediate_size = 12;
    s.num_layers = 1;
    s.num_heads = 2;
    s.num_kv_heads = 1;
    s.head_dim = 4;
    return s;
}

// A saved micro model directory whose safetensors header is rewritten by `edit`.
fs::path saved_with(const char* name, const std::function<void(nlohmann::json&)>& edit) {
    torch::manual_seed(1);
    ps::CausalLM m(micro_shape());
    const fs::path d = temp_dir(name);
    ps::save_hf_model(m, d.string());
    if (!edit) return d;
    Bytes b = read_bytes(d / "model.safetensors");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
    auto h = nlohmann::json::parse(std::string(b.begin() + 8, b.begin() + 8 + static_cast<long>(n)));
    edit(h);
    Bytes data(b.begin() + 8 + static_cast<long>(n), b.end());
    write_bytes(d / "model.safetensors", make_file(h.dump(), data));
    return d;
}

void expect_load_error(const fs::path& dir, const char* fragment) {
    try {
        ps::load_hf_model(dir.string());
        QFAIL(qPrintable(QString("no error, expected '%1'").arg(fragment)));
    } catch (const ps::ModelError& e) {
        if (std::string(e.what()).find(fragment) == std::string::npos)
            QFAIL(qPrintable(QString("error '%1' does not mention '%2'").arg(e.what(), fragment)));
    }
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private slots:
    void validFileParses() {
        const Bytes f = valid_file();
        auto h = ps::parse_safetensors(f.data(), f.size(), "f");
        QCOMPARE(h.tensors.size(), size_t(2));
        QCOMPARE(h.tensors[0].name, std::string("a"));
        QCOMPARE(h.tensors[0].itemsize, size_t(4));
        QCOMPARE(h.tensors[0].shape, (std::vector<int64_t>{2, 3}));
        QCOMPARE(h.tensors[1].dtype, std::string("BF16"));
        QCOMPARE(h.tensors[1].begin, uint64_t(24));
        QCOMPARE(h.metadata.at("format"), std::string("pt"));
        QCOMPARE(h.data_size, uint64_t(32));
    }

    void brokenHeadersAreErrors() {
        expect_error(Bytes{1, 2, 3}, "shorter than the 8-byte header length");
        expect_error(make_file("{}", {}, 1000), "runs past the end");
        expect_error(make_file("{}", {}, int64_t(1) << 40), "100 MB");
        expect_error(make_file("{\"a\":", {}), "not valid JSON");
        expect_error(make_file("[1,2]", {}), "does not start with '{'");
        expect_error(make_file("{\"a\":1} trailing", {}), "not valid JSON");
        expect_error(make_file("{\"x\":[[[[[[[[[[1]]]]]]]]]]}", {}), "nested deeper");
        std::string deep = "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
        expect_error(make_file(deep, {}), "nested deeper");
        expect_error(make_file(R"({"__metadata__":{"format":1}})", {}), "__metadata__ value");
        expect_error(make_file(R"({"t":5})", {}), "is not an object");
    }

    void hostileEntriesAreErrors() {
        const Bytes d24(24, 0);
        expect_error(make_file(with_tensor(R"({"dtype":"F33","shape":[6],"data_offsets":[0,24]})"), d24), "unknown dtype 'F33'");
        expect_error(make_file(with_tensor(R"({"dtype":7,"shape":[6],"data_offsets":[0,24]})"), d24), "no dtype string");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,24]})"), d24),
                     "shape and dtype need 16");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6],"data_offsets":[0,48]})"), d24), "ends at byte 48");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6],"data_offsets":[24,0]})"), d24), "begin after end");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[-6],"data_offsets":[0,24]})"), d24), "non-negative integer");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6.5],"data_offsets":[0,24]})"), d24), "non-negative integer");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6],"data_offsets":["0","24"]})"), d24), "data_offsets");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6],"data_offsets":[0]})"), d24), "data_offsets");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6]})"), d24), "data_offsets");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[6],"data_offsets":[0,24],"x":1})"), d24), "unknown field");
        // Shape products that overflow 64 bits must not wrap around to a small size.
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]})"), d24),
                     "too large");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]})"), d24),
                     "too large");
        expect_error(make_file(with_tensor(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]})"), d24),
                     "too large");
        expect_error(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                               d24),
                     "overlaps");
        // A truncated file: the last tensor runs past the end.
        Bytes f = valid_file();
        f.resize(f.size() - 3);
        expect_error(f, "truncated");
    }

    void randomMutationsNeverCrash() {
        // Random byte flips, header-length changes and truncations of a valid file: each result
        // parses into in-bounds entries or is a ModelError; nothing else may happen.
        const Bytes base = valid_file();
        std::mt19937 rng(7);
        int parsed = 0, rejected = 0;
        for (int iter = 0; iter < 5000; ++iter) {
            Bytes f = base;
            const int kind = iter % 4;
            if (kind == 0) {
                const int flips = 1 + static_cast<int>(rng() % 4);
                for (int i = 0; i < flips; ++i) f[rng() % f.size()] = static_cast<uint8_t>(rng());
            } else if (kind == 1) {
                f.resize(rng() % f.size());
            } else if (kind == 2) {
                const uint64_t n = rng() % 400;
                for (int i = 0; i < 8; ++i) f[i] = static_cast<uint8_t>(n >> (8 * i));
            } else {
                // Replace a digit inside the header with another digit (shape/offset edits).
                for (size_t i = 8; i < f.size() - 32; ++i)
                    if (f[i] >= '0' && f[i] <= '9' && rng() % 8 == 0) f[i] = static_cast<uint8_t>('0' + rng() % 10);
            }
            try {
                auto h = ps::parse_safetensors(f.data(), f.size(), "fuzz");
                uint64_t sum = 0;
                for (const auto& e : h.tensors) {
                    QVERIFY(e.begin <= e.end && e.end <= h.data_size);
                    QVERIFY(h.data_offset + h.data_size == f.size());
                    for (uint64_t i = e.begin; i < e.end; ++i) sum += f[h.data_offset + i];  // in bounds
                }
                (void)sum;
                ++parsed;
            } catch (const ps::ModelError&) {
                ++rejected;
            }
        }
        QVERIFY(parsed > 0);
        QVERIFY(rejected > 1000);
    }

    void writerRoundTrip() {
        const fs::path d = temp_dir("write");
        const std::vector<float> a{1.5f, -2.f, 3.25f};
        const std::vector<uint16_t> b{0x3f80, 0x4000};  // bfloat16 1.0, 2.0
        const std::vector<double> c{3.0};
        std::vector<ps::SafetensorsWriteEntry> entries{{"a", "F32", {3}}, {"b", "BF16", {2}}, {"c", "F64", {1, 1}}};
        ps::write_safetensors((d / "x.safetensors").string(), entries, [&](size_t i) {
            if (i == 0) return std::string_view(reinterpret_cast<const char*>(a.data()), 12);
            if (i == 1) return std::string_view(reinterpret_cast<const char*>(b.data()), 4);
            return std::string_view(reinterpret_cast<const char*>(c.data()), 8);
        });
        auto f = ps::SafetensorsFile::open((d / "x.safetensors").string());
        QCOMPARE(f.header.data_offset % 8, uint64_t(0));  // header padded: data starts aligned
        QCOMPARE(f.header.metadata.at("format"), std::string("pt"));
        std::map<std::string, ps::SafetensorsEntry> by;
        for (const auto& e : f.header.tensors) by[e.name] = e;
        QCOMPARE(by["c"].begin, uint64_t(0));  // 8-byte items first, so every tensor is aligned
        QCOMPARE(by["c"].shape, (std::vector<int64_t>{1, 1}));
        QVERIFY(std::memcmp(f.bytes(by["a"]), a.data(), 12) == 0);
        QVERIFY(std::memcmp(f.bytes(by["b"]), b.data(), 4) == 0);
        QVERIFY(std::memcmp(f.bytes(by["c"]), c.data(), 8) == 0);
        QVERIFY(!fs::exists(d / "x.safetensors.tmp"));
        // A callback returning the wrong number of bytes is refused, not written.
        QVERIFY_EXCEPTION_THROWN(ps::write_safetensors((d / "y.safetensors").string(), {{"a", "F32", {4}}},
                                                       [&](size_t) { return std::string_view("abc", 3); }),
                                 ps::ModelError);
        QVERIFY(!fs::exists(d / "y.safetensors"));
    }

    void checkpointMustMatchTheModel() {
        QVERIFY(ps::load_hf_model(saved_with("ok", nullptr).string())->shape().hidden_size == 8);
        expect_load_error(saved_with("missing", [](nlohmann::json& h) { h.erase("model.norm.weight"); }),
                          "missing tensors");
        expect_load_error(saved_with("missing2", [](nlohmann::json& h) { h.erase("model.norm.weight"); }),
                          "model.norm.weight");
        expect_load_error(saved_with("unexpected",
                                     [](nlohmann::json& h) {
                                         h["extra.weight"] = {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
                                     }),
                          "(not part of a llama model with this config.json): extra.weight");
        expect_load_error(saved_with("shape",
                                     [](nlohmann::json& h) {
                                         h["model.norm.weight"]["shape"] = {2, 4};
                                     }),
                          "model.norm.weight [2, 4]");
        expect_load_error(saved_with("dtype",
                                     [](nlohmann::json& h) {
                                         h["model.norm.weight"]["dtype"] = "I32";
                                     }),
                          "model.norm.weight (I32)");
        const fs::path empty = temp_dir("empty");
        fs::copy_file(saved_with("for_config", nullptr) / "config.json", empty / "config.json");
        expect_load_error(empty, "no model.safetensors or model.safetensors.index.json");
        std::ofstream(empty / "pytorch_model.bin") << "x";
        expect_load_error(empty, "convert the checkpoint to safetensors");
        // Hostile index files: names outside the directory, bad JSON, missing shards.
        const fs::path d = saved_with("index", nullptr);
        fs::rename(d / "model.safetensors", d / "shard.safetensors");
        auto write_index = [&](const std::string& text) { std::ofstream(d / "model.safetensors.index.json") << text; };
        write_index(R"({"weight_map":{"model.norm.weight":"../../etc/passwd"}})");
        expect_load_error(d, "not a file in the model directory");
        write_index(R"({"weight_map":[1,2]})");
        expect_load_error(d, "weight_map");
        write_index(R"({"weight_map":)");
        expect_load_error(d, "not valid JSON");
        write_index(R"({"weight_map":{"model.norm.weight":"nope.safetensors"}})");
        expect_load_error(d, "nope.safetensors");
        write_index(R"({"weight_map":{"model.norm.weight":"shard.safetensors"}})");
        QVERIFY(ps::load_hf_model(d.string())->shape().hidden_size == 8);
    }

    void cleanupTestCase() {
        fs::remove_all(fs::temp_directory_path() / ("prefstudio_test_st_" + std::to_string(::getpid())));
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
