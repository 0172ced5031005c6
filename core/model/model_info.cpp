#include "core/model/model_info.h"

#include <filesystem>

#include "core/common/errors.h"
#include "core/model/hf_config.h"
#include "core/model/model_shape.h"
#include "core/model/source_tokenizer.h"

namespace ps {

namespace {

ModelInfo from_shape(const std::string& source, const std::string& arch, const ModelShape& s) {
    ModelInfo info;
    info.source = source;
    info.architecture = arch;
    info.layers = s.num_layers;
    info.hidden_size = s.hidden_size;
    info.heads = s.num_heads;
    info.kv_heads = s.num_kv_heads;
    info.vocab_size = s.vocab_size;
    info.parameters = s.parameter_count();
    return info;
}

}  // namespace

ModelInfo describe_model(const std::string& source) {
    if (source.rfind("builtin:", 0) == 0)
        return from_shape(source, "builtin (Qwen2-style)", builtin_shape(source.substr(8)));
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(source, ec))
        throw ModelError("model '" + source + "' is neither builtin:tiny/builtin:small nor a directory");
    // The same reader the engine builds the model with, so the form never promises a model
    // the run would refuse.
    const ModelShape s = read_hf_config((fs::path(source) / "config.json").string());
    const std::string type = hf_model_type(s);
    // An image-text Gemma 3 trains as its language model alone.
    return from_shape(source, type == "gemma3" ? "gemma3 (language model only; vision weights ignored)" : type, s);
}

// Defined with the model loader (model/model_source.h, a torch header).
std::string adapter_base_source(const std::string& dir);

void check_model_source(const std::string& source) {
    namespace fs = std::filesystem;
    const bool builtin = source.rfind("builtin:", 0) == 0;
    // An adapter directory without config.json stands for its base model, as load_model_source
    // and load_source_tokenizer take it.
    std::string model = source;
    if (!builtin && fs::is_directory(source) && !fs::is_regular_file(fs::path(source) / "config.json"))
        if (const std::string base = adapter_base_source(source); !base.empty()) model = base;
    describe_model(model);            // the reader the engine builds the model with
    (void)source_tokenizer_dir(source);  // the tokenizer loader's own rule: throws when its file is missing
}

}  // namespace ps
