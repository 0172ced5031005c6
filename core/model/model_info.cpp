#include "core/model/model_info.h"

#include <filesystem>

#include "core/common/errors.h"
#include "core/model/hf_config.h"
#include "core/model/model_shape.h"

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

}  // namespace ps
