#include "core/text/chat_template.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/text/hf_tokenizer.h"

namespace ps {
namespace {

constexpr const char* kQwen25DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// Jinja's `trim`: Python's str.strip() (whitespace at both ends).
std::string trim(const std::string& s) {
    const char* ws = " \t\n\r\f\v";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

}  // namespace

const std::vector<std::string>& template_names() {
    static const std::vector<std::string> names{"plain", "chatml", "qwen2.5", "llama3"};
    return names;
}

ChatTemplate::ChatTemplate(const std::string& name) : name_(name) {
    if (name == "plain") kind_ = Kind::Plain;
    else if (name == "chatml") kind_ = Kind::ChatML;
    else if (name == "qwen2.5") kind_ = Kind::Qwen25;
    else if (name == "llama3") kind_ = Kind::Llama3;
    else
        throw ConfigError("model.template", "'" + name + "' is not a known chat template (use auto, plain, chatml, qwen2.5 or llama3)");
}

std::string ChatTemplate::render_all(const std::vector<ChatMessage>& messages, bool generation_prompt) const {
    std::string out;
    switch (kind_) {
        case Kind::Plain:
            for (size_t i = 0; i < messages.size(); ++i) {
                if (i) out += '\n';
                out += messages[i].content;
            }
            if (generation_prompt && !messages.empty()) out += '\n';
            return out;
        case Kind::ChatML:
        case Kind::Qwen25:
            if (kind_ == Kind::Qwen25 && (messages.empty() || messages[0].role != "system"))
                out += std::string("<|im_start|>system\n") + kQwen25DefaultSystem + "<|im_end|>\n";
            for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            if (generation_prompt) out += "<|im_start|>assistant\n";
            return out;
        case Kind::Llama3:
            out = "<|begin_of_text|>";
            for (const auto& m : messages)
                out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
            if (generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            return out;
    }
    return out;
}

std::string ChatTemplate::render_prompt(const std::vector<ChatMessage>& prompt) const {
    return render_all(prompt, true);
}

std::string ChatTemplate::render_completion(const std::vector<ChatMessage>& prompt,
                                            const std::vector<ChatMessage>& completion) const {
    std::vector<ChatMessage> all = prompt;
    all.insert(all.end(), completion.begin(), completion.end());
    const std::string head = render_prompt(prompt);
    std::string full = render_all(all, false);
    // Every template here renders message by message, so the full conversation starts with the
    // prompt and its generation prompt; what follows is the completion.
    if (full.compare(0, head.size(), head) != 0)
        throw Error("chat template '" + name_ + "': the completion does not follow the prompt's generation prompt");
    std::string tail = full.substr(head.size());
    // ChatML writes "\n" after each <|im_end|>; the model stops at <|im_end|>, so the newline is
    // not part of what it generates.
    if ((kind_ == Kind::ChatML || kind_ == Kind::Qwen25) && !tail.empty() && tail.back() == '\n') tail.pop_back();
    return tail;
}

std::string resolve_template_name(const std::string& configured, const std::string& model_source) {
    if (configured != "auto") {
        ChatTemplate check(configured);
        return configured;
    }
    // Built-in models are trained from scratch on plain text; a Hugging Face directory's
    // tokenizer_config.json says which chat format the model was tuned with.
    const std::filesystem::path config = std::filesystem::path(model_source) / "tokenizer_config.json";
    std::error_code ec;
    if (model_source.rfind("builtin:", 0) == 0 || !std::filesystem::is_regular_file(config, ec)) return "plain";
    std::ifstream in(config);
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception&) {
        return "plain";  // the tokenizer loader reports a broken file with its position
    }
    std::string warning;
    const std::string detected = detect_chat_template(j, &warning);
    return detected == "unknown" ? "plain" : detected;
}

}  // namespace ps
