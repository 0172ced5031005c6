#include "core/model/model_io.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/common/errors.h"
#include "core/model/hf_config.h"
#include "core/model/safetensors.h"

namespace fs = std::filesystem;

namespace ps {
std::optional<torch::Dtype> torch_dtype_of(const std::string& st) {
    if (st == "F32") return torch::kFloat32;
    if (st == "F16") return torch::kFloat16;
    if (st == "BF16") return torch::kBFloat16;
    if (st == "F64") return torch::kFloat64;
    return std::nullopt;
}

std::string st_dtype_of(torch::Dtype d) {
    if (d == torch::kFloat32) return "F32";
    if (d == torch::kFloat16) return "F16";
    if (d == torch::kBFloat16) return "BF16";
    if (d == torch::kFloat64) return "F64";
    throw ModelError("cannot save tensors of dtype " + std::string(c10::toString(d)));
}

std::string list_some(const std::vector<std::string>& names, size_t most) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < most; ++i) out += (i ? ", " : "") + names[i];
    if (names.size() > most) out += ", ... (" + std::to_string(names.size()) + " in all)";
    return out;
}

namespace {

bool skippable(const std::string& name, const ModelShape& s) {
    // Tied models may still carry lm_head.weight (transformers ignores it and so do we);
    // old checkpoints saved rotary inv_freq buffers, which we recompute.
    if (name == "lm_head.weight" && s.tie_word_embeddings) return true;
    const std::string inv = "rotary_emb.inv_freq";
    return name.size() >= inv.size() && name.compare(name.size() - inv.size(), inv.size(), inv) == 0;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// A gemma3 (image-text) checkpoint stores its language model under another prefix: the original
// layout "language_model.model.*" / "language_model.lm_head.*", or transformers 5's
// "model.language_model.*". Returns the Gemma3ForCausalLM name, or "" for the vision tower and
// projector, which are not read (text only).
std::string language_model_name(const std::string& name) {
    for (const char* skip : {"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."})
        if (starts_with(name, skip)) return "";
    if (starts_with(name, "language_model.model.")) return "model." + name.substr(21);
    if (starts_with(name, "language_model.lm_head.")) return name.substr(15);
    if (starts_with(name, "model.language_model.")) return "model." + name.substr(21);
    return name;
}

std::string shape_text(c10::IntArrayRef s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace

torch::Dtype model_dtype(ModelDType dtype) {
    switch (resolved_dtype(dtype)) {
        case ModelDType::BFloat16: return torch::kBFloat16;
        case ModelDType::Float16: return torch::kFloat16;
        case ModelDType::Auto:
        case ModelDType::Float32: break;
    }
    return torch::kFloat32;
}

torch::Dtype model_dtype_from_string(const std::string& name) {
    const auto dtype = parse_choice<ModelDType>(name);
    if (!dtype) {
        std::string names;
        for (const auto& n : choice_names<ModelDType>()) names += (names.empty() ? "" : ", ") + n;
        throw ModelError("unknown model dtype '" + name + "' (choose " + names + ")");
    }
    return model_dtype(*dtype);
}

std::string model_dtype_name(torch::Dtype d) {
    if (d == torch::kFloat32) return "float32";
    if (d == torch::kBFloat16) return "bfloat16";
    if (d == torch::kFloat16) return "float16";
    if (d == torch::kFloat64) return "float64";
    return c10::toString(d);
}

std::vector<std::string> hf_weight_files(const std::string& dir) {
    const fs::path d(dir);
    if (fs::is_regular_file(d / "model.safetensors")) return {(d / "model.safetensors").string()};
    const fs::path index = d / "model.safetensors.index.json";
    if (!fs::is_regular_file(index)) {
        std::string hint = fs::exists(d / "pytorch_model.bin") || fs::exists(d / "pytorch_model.bin.index.json")
                               ? " (pytorch_model.bin is not read: convert the checkpoint to safetensors)"
                               : "";
        throw ModelError("no model.safetensors or model.safetensors.index.json in '" + dir + "'" + hint);
    }
    const nlohmann::json j = read_json_file(index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw ModelError(index.string() + ": needs a \"weight_map\" object of tensor name -> file name");
    std::vector<std::string> files;
    std::set<std::string> seen;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string()) throw ModelError(index.string() + ": weight_map entry '" + it.key() + "' is not a file name");
        const std::string f = it.value().get<std::string>();
        // Shards live next to the index; a name that leaves the directory is refused.
        if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..")
            throw ModelError(index.string() + ": weight_map names '" + f + "', which is not a file in the model directory");
        if (seen.insert(f).second) files.push_back((d / f).string());
    }
    if (files.empty()) throw ModelError(index.string() + ": weight_map is empty");
    std::sort(files.begin(), files.end());
    return files;
}

void load_hf_weights(CausalLM& model, const std::string& dir) {
    const ModelShape& s = model->shape();
    auto params = model->named_parameters();
    const torch::Dtype target = params.size() ? params.begin()->value().scalar_type() : model->dtype();
    std::set<std::string> loaded;
    std::vector<std::string> unexpected, wrong_shape, bad_dtype;
    torch::NoGradGuard no_grad;
    for (const std::string& path : hf_weight_files(dir)) {
        SafetensorsFile f = SafetensorsFile::open(path);
        for (const auto& e : f.header.tensors) {
            const std::string name = s.model_type == "gemma3" ? language_model_name(e.name) : e.name;
            if (name.empty()) continue;  // gemma3's vision weights
            torch::Tensor* param = params.find(name);
            if (!param) {
                if (!skippable(name, s)) unexpected.push_back(e.name);
                continue;
            }
            if (!loaded.insert(name).second)
                throw ModelError("tensor '" + name + "' appears twice in the checkpoint in '" + dir + "'");
            if (!c10::IntArrayRef(e.shape).equals(param->sizes())) {
                wrong_shape.push_back(e.name + " " + shape_text(e.shape) + " (config.json needs " + shape_text(param->sizes()) + ")");
                continue;
            }
            const auto src = torch_dtype_of(e.dtype);
            if (!src) {
                bad_dtype.push_back(e.name + " (" + e.dtype + ")");
                continue;
            }
            uint8_t* ptr = f.file->data() + f.header.data_offset + e.begin;
            const auto opts = torch::TensorOptions().dtype(*src);
            const bool aligned = reinterpret_cast<uintptr_t>(ptr) % e.itemsize == 0;
            torch::Tensor t;
            if (*src == target && aligned) {
                // In place: the tensor keeps the mapping alive; writes (training) copy pages.
                auto keep = f.file;
                t = torch::from_blob(ptr, e.shape, [keep](void*) {}, opts);
            } else {
                torch::Tensor raw;
                if (aligned) {
                    raw = torch::from_blob(ptr, e.shape, opts);
                } else {  // a legal but unaligned offset: copy the bytes before reading them
                    raw = torch::empty(e.shape, opts);
                    std::memcpy(raw.data_ptr(), ptr, e.end - e.begin);
                }
                t = raw.to(target);  // a copy, or `raw` itself when it is already a private copy
                raw = torch::Tensor();
                f.file->release(f.header.data_offset + e.begin, e.end - e.begin);
            }
            param->set_data(t);
        }
    }
    std::vector<std::string> missing;
    for (const auto& p : params)
        if (!loaded.count(p.key())) missing.push_back(p.key());
    const std::string where = " in the checkpoint in '" + dir + "'";
    if (!wrong_shape.empty()) throw ModelError("tensor shapes do not match config.json" + where + ": " + list_some(wrong_shape));
    if (!bad_dtype.empty())
        throw ModelError("weights must be F32, F16 or BF16, but" + where + " are: " + list_some(bad_dtype));
    if (!missing.empty()) throw ModelError("missing tensors" + where + ": " + list_some(missing));
    if (!unexpected.empty())
        throw ModelError("unexpected tensors" + where + " (not part of a " + hf_model_type(s) +
                         " model with this config.json): " + list_some(unexpected));
}

CausalLM load_hf_model(const std::string& dir, torch::Dtype dtype) {
    if (!fs::is_directory(dir)) throw ModelError("model directory '" + dir + "' does not exist");
    ModelShape s = read_hf_config(dir);
    CausalLM model(s, /*init=*/false, dtype);
    load_hf_weights(model, dir);
    model->eval();
    return model;
}

const std::vector<std::string>& hf_tokenizer_files() {
    static const std::vector<std::string> files{
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
        "vocab.json",     "merges.txt",            "tokenizer.model",         "generation_config.json",
        "chat_template.jinja", "chat_template.json"};
    return files;
}

void save_hf_model(CausalLM& model, const std::string& dir, const SaveOptions& o) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir)) throw ModelError("cannot create the model directory '" + dir + "': " + ec.message());
    auto params = model->named_parameters();
    const torch::Dtype dtype = o.dtype ? *o.dtype : (params.size() ? params.begin()->value().scalar_type() : model->dtype());
    const std::string st = st_dtype_of(dtype);
    std::vector<SafetensorsWriteEntry> entries;
    std::vector<torch::Tensor> tensors;
    for (const auto& p : params) {
        // LoRA adapters are not part of a Hugging Face checkpoint (save_lora_adapter, merge_lora).
        if (p.key().find(".lora_A.") != std::string::npos || p.key().find(".lora_B.") != std::string::npos) continue;
        entries.push_back({p.key(), st, p.value().sizes().vec()});
        tensors.push_back(p.value());
    }
    torch::Tensor current;  // the tensor whose bytes are being written
    write_safetensors((fs::path(dir) / "model.safetensors").string(), entries, [&](size_t i) {
        current = tensors[i].detach().to(torch::kCPU, dtype).contiguous();
        return std::string_view(static_cast<const char*>(current.data_ptr()), current.nbytes());
    });
    current = torch::Tensor();

    nlohmann::json config = make_hf_config(model->shape(), model_dtype_name(dtype), o.original_config);
    if (o.extra_config.is_object())
        for (auto it = o.extra_config.begin(); it != o.extra_config.end(); ++it) config[it.key()] = it.value();
    const std::string config_path = (fs::path(dir) / "config.json").string();
    std::ofstream out(config_path, std::ios::trunc);
    out << config.dump(2) << "\n";
    out.close();
    if (!out) throw ModelError("cannot write '" + config_path + "'");

    if (!o.copy_files_from.empty()) copy_tokenizer_files(o.copy_files_from, dir);
}

void copy_tokenizer_files(const std::string& from_dir, const std::string& dir) {
    std::error_code ec;
    for (const auto& name : hf_tokenizer_files()) {
        const fs::path src = fs::path(from_dir) / name, dst = fs::path(dir) / name;
        if (!fs::is_regular_file(src)) continue;
        if (fs::exists(dst) && fs::equivalent(src, dst)) continue;
        fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
        if (ec) throw ModelError("cannot copy '" + src.string() + "' to '" + dst.string() + "': " + ec.message());
    }
}

}  // namespace ps
