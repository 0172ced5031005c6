#include "model/model_source.h"

#include <filesystem>
#include <mutex>

#include "common/errors.h"
#include "model/hf_config.h"
#include "text/byte_tokenizer.h"
#include "text/hf_tokenizer.h"

namespace fs = std::filesystem;

namespace ps {

bool is_builtin_source(const std::string& source) { return source.rfind("builtin:", 0) == 0; }

LoadedModel load_model_source(const std::string& source, torch::Dtype dtype) {
    LoadedModel out;
    out.source = source;
    if (is_builtin_source(source)) {
        out.model = CausalLM(builtin_shape(source.substr(8)), /*init=*/true, dtype);
        return out;
    }
    if (!fs::is_directory(source))
        throw ModelError("model.source '" + source +
                         "' is neither builtin:tiny, builtin:small nor a Hugging Face model directory");
    out.dir = source;
    out.hf_config = read_json_file((fs::path(source) / "config.json").string());
    out.model = load_hf_model(source, dtype);
    return out;
}

LoadedModel load_model_source_seeded(const std::string& source, torch::Dtype dtype, uint64_t seed) {
    static std::mutex global_generator_mutex;
    std::lock_guard<std::mutex> lock(global_generator_mutex);
    torch::manual_seed(seed);
    return load_model_source(source, dtype);
}

std::shared_ptr<Tokenizer> load_source_tokenizer(const std::string& source) {
    if (is_builtin_source(source)) return std::make_shared<ByteTokenizer>();
    const fs::path config = fs::path(source) / "config.json";
    if (fs::is_regular_file(config)) {
        const nlohmann::json j = read_json_file(config.string());
        if (j.is_object() && j.contains("prefstudio_tokenizer") && j["prefstudio_tokenizer"] == "byte")
            return std::make_shared<ByteTokenizer>();
    }
    if (!fs::is_regular_file(fs::path(source) / "tokenizer.json"))
        throw ModelError("'" + source + "' has no tokenizer.json; PrefStudio reads Hugging Face tokenizers from "
                         "tokenizer.json (copy it from the original model) or use prefstudio-cli generate --ids");
    return std::shared_ptr<Tokenizer>(load_hf_tokenizer(source));
}

SaveOptions save_options_for(const LoadedModel& loaded) {
    SaveOptions o;
    o.original_config = loaded.hf_config;
    o.copy_files_from = loaded.dir;
    if (loaded.dir.empty()) {
        o.extra_config = {{"prefstudio_tokenizer", "byte"},
                          {"bos_token_id", ByteTokenizer::kBos},
                          {"eos_token_id", ByteTokenizer::kEos},
                          {"pad_token_id", ByteTokenizer::kPad}};
    }
    return o;
}

}  // namespace ps
