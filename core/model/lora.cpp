#include "core/model/lora.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/model/model_io.h"
#include "core/model/safetensors.h"

namespace fs = std::filesystem;

namespace ps {
namespace {

const char kPeftPrefix[] = "base_model.model.";

bool is_adapter_parameter(const std::string& name) {
    return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

std::string last_component(const std::string& name) {
    const auto dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::vector<std::pair<std::string, DenseImpl*>> dense_layers(const CausalLM& model) {
    std::vector<std::pair<std::string, DenseImpl*>> out;
    for (const auto& m : model->named_modules("", /*include_self=*/false)) {
        if (last_component(m.key()).rfind("lora_", 0) == 0) continue;  // an adapter's own A or B
        if (auto* d = m.value()->as<DenseImpl>()) out.emplace_back(m.key(), d);
    }
    return out;
}

}  // namespace

int64_t add_lora(CausalLM& model, const LoraConfig& config, torch::Dtype adapter_dtype) {
    if (has_lora(model)) throw ModelError("the model already has LoRA adapters");
    if (config.rank < 1) throw ModelError("LoRA rank must be positive");
    const std::set<std::string> targets(config.target_modules.begin(), config.target_modules.end());
    std::set<std::string> matched;
    auto on = std::make_shared<LoraSwitch>();
    int64_t adapted = 0;
    for (auto& [name, dense] : dense_layers(model)) {
        const std::string leaf = last_component(name);
        if (!targets.count(leaf)) continue;
        dense->attach_lora(config.rank, config.alpha, config.dropout, on, adapter_dtype);
        matched.insert(leaf);
        ++adapted;
    }
    std::vector<std::string> missing;
    for (const auto& t : targets)
        if (!matched.count(t)) missing.push_back(t);
    if (!missing.empty()) {
        // Undo what was attached so the model is left as it was.
        for (auto& [name, dense] : dense_layers(model)) dense->detach_lora();
        throw ModelError("LoRA target module(s) " + list_some(missing, 3) +
                         " match no linear layer of this model (its layers are q_proj, k_proj, v_proj, o_proj, "
                         "gate_proj, up_proj, down_proj and, when untied, lm_head)");
    }
    for (auto& p : model->named_parameters()) p.value().set_requires_grad(is_adapter_parameter(p.key()));
    model->lora_switch = on;
    return adapted;
}

bool has_lora(const CausalLM& model) { return model->lora_switch != nullptr; }

AdaptersDisabled::AdaptersDisabled(const CausalLM& model) : switch_(model->lora_switch) {
    if (switch_) {
        was_ = switch_->enabled;
        switch_->enabled = false;
    }
}

AdaptersDisabled::~AdaptersDisabled() {
    if (switch_) switch_->enabled = was_;
}

std::vector<torch::Tensor> trainable_parameters(const CausalLM& model) {
    std::vector<torch::Tensor> out;
    for (const auto& p : model->parameters())
        if (p.requires_grad()) out.push_back(p);
    return out;
}

void merge_lora(CausalLM& model) {
    if (!has_lora(model)) return;
    {
        torch::NoGradGuard no_grad;
        for (auto& [name, dense] : dense_layers(model)) {
            if (!dense->has_lora()) continue;
            // In float32 at least, then rounded once into the base weight's dtype.
            const auto work = dense->weight.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
            auto delta = torch::matmul(dense->lora_B->weight.to(work), dense->lora_A->weight.to(work)) * dense->lora_scaling();
            dense->weight.copy_((dense->weight.to(work) + delta).to(dense->weight.scalar_type()));
            dense->detach_lora();
        }
    }
    model->lora_switch.reset();
    for (auto& p : model->parameters()) p.set_requires_grad(true);
}

std::string peft_key(const std::string& parameter_name) { return kPeftPrefix + parameter_name; }

void save_lora_adapter(const CausalLM& model, const LoraConfig& config, const std::string& dir,
                       const std::string& base_model_name_or_path, const std::string& copy_files_from) {
    if (!has_lora(model)) throw ModelError("save_lora_adapter: the model has no LoRA adapters");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir)) throw ModelError("cannot create the adapter directory '" + dir + "': " + ec.message());

    std::vector<SafetensorsWriteEntry> entries;
    std::vector<torch::Tensor> tensors;
    for (const auto& p : model->named_parameters()) {
        if (!is_adapter_parameter(p.key())) continue;
        entries.push_back({peft_key(p.key()), st_dtype_of(p.value().scalar_type()), p.value().sizes().vec()});
        tensors.push_back(p.value());
    }
    torch::Tensor current;
    write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), entries, [&](size_t i) {
        current = tensors[i].detach().to(torch::kCPU).contiguous();
        return std::string_view(static_cast<const char*>(current.data_ptr()), current.nbytes());
    });

    // PEFT's LoraConfig fields, limited to those every PEFT version since 0.4 accepts (newer
    // fields such as use_dora and use_rslora default to false there).
    nlohmann::json alpha = config.alpha;
    if (std::floor(config.alpha) == config.alpha && std::abs(config.alpha) < 1e9)
        alpha = static_cast<int64_t>(config.alpha);  // PEFT writes lora_alpha as an int
    nlohmann::json c = {{"peft_type", "LORA"},
                        {"task_type", "CAUSAL_LM"},
                        {"base_model_name_or_path", base_model_name_or_path},
                        {"revision", nullptr},
                        {"r", config.rank},
                        {"lora_alpha", alpha},
                        {"lora_dropout", config.dropout},
                        {"target_modules", config.target_modules},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"inference_mode", true},
                        {"init_lora_weights", true},
                        {"modules_to_save", nullptr},
                        {"layers_to_transform", nullptr},
                        {"layers_pattern", nullptr}};
    const std::string path = (fs::path(dir) / "adapter_config.json").string();
    std::ofstream out(path, std::ios::trunc);
    out << c.dump(2) << "\n";
    out.close();
    if (!out) throw ModelError("cannot write '" + path + "'");

    if (!copy_files_from.empty()) copy_tokenizer_files(copy_files_from, dir);
}

LoraConfig load_lora_adapter(CausalLM& model, const std::string& dir) {
    const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
    std::ifstream in(config_path);
    if (!in) throw ModelError("cannot open '" + config_path + "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw ModelError(config_path + ": not valid JSON (" + e.what() + ")");
    }
    auto bad = [&](const std::string& field, const std::string& what) {
        return ModelError(config_path + ": " + field + " " + what);
    };
    if (!j.is_object()) throw bad("the file", "must hold a JSON object");
    if (j.value("peft_type", std::string("LORA")) != "LORA") throw bad("peft_type", "must be LORA");
    LoraConfig c;
    if (!j.contains("r") || !j["r"].is_number_integer()) throw bad("r", "must be an integer");
    c.rank = j["r"].get<int>();
    if (j.contains("lora_alpha") && !j["lora_alpha"].is_number()) throw bad("lora_alpha", "must be a number");
    c.alpha = j.value("lora_alpha", 8.0);
    if (j.contains("lora_dropout") && j["lora_dropout"].is_number()) c.dropout = j["lora_dropout"].get<double>();
    if (!j.contains("target_modules") || !j["target_modules"].is_array())
        throw bad("target_modules", "must be a list of module names (a regular expression is not supported)");
    c.target_modules.clear();
    for (const auto& t : j["target_modules"]) {
        if (!t.is_string()) throw bad("target_modules", "must hold strings");
        c.target_modules.push_back(t.get<std::string>());
    }
    if (j.value("bias", std::string("none")) != "none") throw bad("bias", "must be \"none\" (trained biases are not supported)");
    auto flag = [&](const char* key) { return j.contains(key) && j[key].is_boolean() && j[key].get<bool>(); };
    if (flag("fan_in_fan_out")) throw bad("fan_in_fan_out", "true is not supported (GPT-2 style Conv1D layers)");
    if (flag("use_dora")) throw bad("use_dora", "true (DoRA) is not supported");
    if (flag("use_rslora")) throw bad("use_rslora", "true (rank-stabilised scaling) is not supported");
    for (const char* key : {"rank_pattern", "alpha_pattern"})
        if (j.contains(key) && j[key].is_object() && !j[key].empty()) throw bad(key, "per-layer patterns are not supported");
    if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null())
        throw bad("layers_to_transform", "is not supported (adapters on every layer only)");
    if (j.contains("modules_to_save") && !j["modules_to_save"].is_null() && !j["modules_to_save"].empty())
        throw bad("modules_to_save", "is not supported");

    const auto dtype = [&] {
        for (const auto& p : model->parameters()) return p.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
        return torch::kFloat32;
    }();
    add_lora(model, c, dtype);
    const std::string weights_path = (fs::path(dir) / "adapter_model.safetensors").string();
    SafetensorsFile file = SafetensorsFile::open(weights_path);
    std::map<std::string, const SafetensorsEntry*> by_name;
    for (const auto& e : file.header.tensors) by_name[e.name] = &e;
    // On any mismatch the model is left as it was, without adapters.
    auto undo = [&] {
        for (auto& [name, dense] : dense_layers(model)) dense->detach_lora();
        model->lora_switch.reset();
        for (auto& p : model->parameters()) p.set_requires_grad(true);
    };
    std::vector<std::string> missing, unexpected;
    std::set<std::string> used;
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
        if (!is_adapter_parameter(p.key())) continue;
        const std::string key = peft_key(p.key());
        auto it = by_name.find(key);
        if (it == by_name.end()) {
            missing.push_back(key);
            continue;
        }
        const SafetensorsEntry& e = *it->second;
        const auto dt = torch_dtype_of(e.dtype);
        if (!dt) {
            undo();
            throw ModelError(weights_path + ": tensor " + key + " has unsupported dtype " + e.dtype);
        }
        if (e.shape != p.value().sizes().vec()) {
            undo();
            throw ModelError(weights_path + ": tensor " + key + " has shape " + c10::str(c10::IntArrayRef(e.shape)) +
                             " but the model's adapter is " + c10::str(p.value().sizes()) + " (r " + std::to_string(c.rank) + ")");
        }
        auto t = torch::from_blob(const_cast<uint8_t*>(file.bytes(e)), e.shape, torch::dtype(*dt));
        p.value().copy_(t);
        used.insert(key);
    }
    for (const auto& e : file.header.tensors)
        if (!used.count(e.name)) unexpected.push_back(e.name);
    if (!missing.empty() || !unexpected.empty()) {
        undo();
        std::string msg = weights_path + " does not match the model's adapters:";
        if (!missing.empty()) msg += " missing " + list_some(missing, 3) + ";";
        if (!unexpected.empty()) msg += " unexpected " + list_some(unexpected, 3) + ";";
        throw ModelError(msg);
    }
    return c;
}

}  // namespace ps
