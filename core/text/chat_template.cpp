#include "core/text/chat_template.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/text/jinja_template.h"

namespace ps {

struct ModelTemplate {
    jinja::Template jinja;
    nlohmann::ordered_json special_tokens;  // {"bos_token": ..., ...}
};

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

constexpr const char* kModelPrefix = "model:";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A tokenizer_config.json-style "chat_template": a string, or the "default" entry (else the
// first) of a list of {name, template}.
std::string template_of(const nlohmann::json& config) {
    const auto it = config.find("chat_template");
    if (it == config.end()) return {};
    if (it->is_string()) return it->get<std::string>();
    std::string first;
    if (it->is_array())
        for (const auto& t : *it) {
            if (!t.is_object() || !t.contains("template") || !t["template"].is_string()) continue;
            if (t.value("name", std::string()) == "default") return t["template"].get<std::string>();
            if (first.empty()) first = t["template"].get<std::string>();
        }
    return first;
}

nlohmann::json read_json(const std::filesystem::path& p) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) return nullptr;
    try {
        return nlohmann::json::parse(read_file(p));
    } catch (const nlohmann::json::exception&) {
        return nullptr;  // the tokenizer loader reports a broken file with its position
    }
}

// The model directory's own chat template, where transformers looks for it; empty when none.
std::string model_template_source(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / "chat_template.jinja", ec)) return read_file(dir / "chat_template.jinja");
    std::string source = template_of(read_json(dir / "tokenizer_config.json"));
    if (source.empty()) source = template_of(read_json(dir / "chat_template.json"));
    return source;
}

// The special tokens transformers hands a template (its special_tokens_map): every *_token of
// tokenizer_config.json that is a string or an AddedToken {"content": ...}.
nlohmann::ordered_json special_tokens_of(const std::filesystem::path& dir) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    const nlohmann::json config = read_json(dir / "tokenizer_config.json");
    if (!config.is_object()) return out;
    for (auto it = config.begin(); it != config.end(); ++it) {
        const std::string& key = it.key();
        if (key.size() < 7 || key.compare(key.size() - 6, 6, "_token") != 0 || key.rfind("add_", 0) == 0) continue;
        if (it->is_string()) out[key] = it->get<std::string>();
        else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
            out[key] = (*it)["content"].get<std::string>();
    }
    return out;
}

// The longest common prefix of a and b, cut back to a whole UTF-8 character (TRL compares
// Python strings character by character).
size_t common_prefix(const std::string& a, const std::string& b) {
    size_t n = 0;
    const size_t m = std::min(a.size(), b.size());
    while (n < m && a[n] == b[n]) ++n;
    if (n < a.size() || n < b.size())
        while (n > 0 && (static_cast<unsigned char>(a[n]) & 0xc0) == 0x80) --n;
    return n;
}

}  // namespace

const std::vector<std::string>& template_names() {
    static const std::vector<std::string> names{"plain", "chatml", "qwen2.5", "llama3"};
    return names;
}

ChatTemplate::ChatTemplate(const std::string& name, const nlohmann::json& kwargs)
    : name_(name), kwargs_(kwargs.is_object() ? nlohmann::ordered_json(kwargs) : nlohmann::ordered_json::object()) {
    if (name == "plain") kind_ = Kind::Plain;
    else if (name == "chatml") kind_ = Kind::ChatML;
    else if (name == "qwen2.5") kind_ = Kind::Qwen25;
    else if (name == "llama3") kind_ = Kind::Llama3;
    else if (name.rfind(kModelPrefix, 0) == 0) {
        kind_ = Kind::Jinja;
        const std::filesystem::path dir = name.substr(std::string(kModelPrefix).size());
        const std::string source = model_template_source(dir);
        if (source.empty())
            throw ConfigError("model.template", dir.string() + " has no chat template (tokenizer_config.json "
                                                               "chat_template, chat_template.jinja or chat_template.json)");
        try {
            model_ = std::make_shared<const ModelTemplate>(ModelTemplate{jinja::Template(source), special_tokens_of(dir)});
        } catch (const jinja::TemplateError& e) {
            throw ConfigError("model.template", "the chat template of " + dir.string() + " does not parse: " + e.what());
        }
    } else
        throw ConfigError("model.template", "'" + name + "' is not a known chat template (use auto, plain, chatml, qwen2.5 or llama3)");
}

std::string ChatTemplate::render_all(const std::vector<ChatMessage>& messages, bool generation_prompt) const {
    std::string out;
    switch (kind_) {
        case Kind::Jinja: {
            nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
            for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
            return model_->jinja.render(jinja::chat_context(msgs, generation_prompt, model_->special_tokens, nullptr, nullptr, kwargs_));
        }
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
    if (kind_ == Kind::Jinja && !prompt.empty() && prompt.back().role == "assistant") return render_continued(prompt);
    return render_all(prompt, true);
}

std::string ChatTemplate::render_continued(const std::vector<ChatMessage>& prompt) const {
    // TRL renders a prompt that ends with an assistant turn with continue_final_message: no
    // generation prompt, and the text cut right after that message, so the model goes on with
    // it. transformers finds the end by a marker appended to the message (its own tag).
    static const std::string tag = "CONTINUE_FINAL_MESSAGE_TAG ";
    static const std::string tag_word = trim(tag);
    std::vector<ChatMessage> tagged = prompt;
    const std::string final_message = tagged.back().content;
    tagged.back().content += tag;
    const std::string rendered = render_all(tagged, false);
    const size_t at = rendered.rfind(tag_word);
    if (at == std::string::npos || rendered.find(trim(final_message)) == std::string::npos)
        throw ConfigError("model.template", "the chat template " + name_ + " cannot continue a prompt that ends with an assistant message: "
                        "its render does not contain that message (it drops or changes part of it), so the text "
                        "cannot be cut after it; end the prompt with a user message instead");
    // Where the template kept the marker's trailing space, cut at the marker; where it trimmed
    // the message, also drop the whitespace before it.
    if (rendered.compare(at, tag.size(), tag) == 0) return rendered.substr(0, at);
    std::string out = rendered.substr(0, at);
    out.erase(out.find_last_not_of(" \t\n\r\f\v") + 1);  // npos + 1 = 0: all whitespace goes
    return out;
}

ChatSplit ChatTemplate::split(const std::vector<ChatMessage>& prompt,
                              const std::vector<std::vector<ChatMessage>>& completions) const {
    ChatSplit out;
    if (kind_ != Kind::Jinja) {
        out.prompt = render_prompt(prompt);
        for (const auto& c : completions) out.completions.push_back(render_completion(prompt, c));
        return out;
    }
    out.prompt = render_prompt(prompt);
    std::vector<std::string> full;
    for (const auto& c : completions) {
        std::vector<ChatMessage> all = prompt;
        all.insert(all.end(), c.begin(), c.end());
        full.push_back(render_all(all, false));
        out.prompt.resize(common_prefix(out.prompt, full.back()));
    }
    for (const auto& f : full) out.completions.push_back(f.substr(out.prompt.size()));
    return out;
}

std::string ChatTemplate::render_completion(const std::vector<ChatMessage>& prompt,
                                            const std::vector<ChatMessage>& completion) const {
    if (kind_ == Kind::Jinja) return split(prompt, {completion}).completions.front();
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

std::string resolve_template_name(const std::string& configured, const std::string& model_source,
                                  std::string* warning) {
    if (warning) warning->clear();
    if (configured != "auto") {
        ChatTemplate check(configured);
        return configured;
    }
    // Built-in models are trained from scratch on plain text; a Hugging Face directory carries
    // the chat template the model was tuned with, which is then used as it is.
    if (model_source.rfind("builtin:", 0) == 0) return "plain";
    const std::filesystem::path dir(model_source);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(dir / "tokenizer_config.json", ec) &&
        !std::filesystem::is_regular_file(dir / "chat_template.jinja", ec))
        return "plain";
    if (model_template_source(dir).empty()) {
        if (warning)
            *warning = "model.template is auto but " + model_source +
                       " has no chat template; conversations are rendered with the plain template (messages "
                       "joined by newlines, no chat markup); set model.template to chatml, qwen2.5 or llama3 if "
                       "the model was tuned with one of them";
        return "plain";
    }
    return kModelPrefix + model_source;
}

}  // namespace ps
