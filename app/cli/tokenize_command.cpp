// prefstudio-cli tokenize: ids (and, with --verbose, tokens) of a text as one JSON object.
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/common/errors.h"
#include "core/text/byte_tokenizer.h"
#include "core/text/chat_template.h"
#include "core/text/hf_tokenizer.h"

namespace ps::cli {

int tokenize_command(const std::string& tokenizer_path, const std::string& template_name, const std::string& text_arg,
                     bool verbose) {
    std::string text = text_arg;
    if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    // --template NAME: TEXT is one user message, rendered with the generation prompt (what the
    // model sees before its answer); "auto" takes the model's own chat template (model:DIR, the
    // directory of the tokenizer), as model.template auto does.
    std::string rendered_with;
    if (!template_name.empty() && template_name != "none") {
        std::string name = template_name;
        if (name == "auto") {
            name = "plain";
            if (tokenizer_path != "byte" && tokenizer_path != "builtin") {
                namespace fs = std::filesystem;
                const std::string dir = fs::is_directory(tokenizer_path) ? tokenizer_path
                                                                         : fs::path(tokenizer_path).parent_path().string();
                name = resolve_template_name("auto", dir.empty() ? "." : dir);
            }
        }
        const ChatTemplate chat(name);  // ConfigError naming model.template for an unknown name
        text = chat.render_prompt({{"user", text}});
        rendered_with = name;
    }

    nlohmann::json out;
    if (tokenizer_path == "byte" || tokenizer_path == "builtin") {
        ByteTokenizer t;
        const auto ids = t.encode(text);
        out["tokenizer"] = t.name();
        if (!rendered_with.empty()) out["template"] = rendered_with;
        out["count"] = ids.size();
        out["ids"] = ids;
        if (verbose) {
            nlohmann::json tokens = nlohmann::json::array();
            for (int64_t id : ids) tokens.push_back(ByteTokenizer::token_text(id));
            out["tokens"] = tokens;
            out["bos_id"] = *t.bos_id();
            out["eos_id"] = t.eos_id();
            out["pad_id"] = t.pad_id();
            out["vocab_size"] = t.vocab_size();
        }
    } else {
        auto t = HfTokenizer::load(tokenizer_path);
        const auto ids = t->encode(text);
        out["tokenizer"] = t->tokenizer_json_path();
        if (!rendered_with.empty()) {
            out["template"] = rendered_with;
            out["text"] = text;
        }
        out["count"] = ids.size();
        out["ids"] = ids;
        if (verbose) {
            nlohmann::json tokens = nlohmann::json::array();
            for (int64_t id : ids) tokens.push_back(t->id_to_token(id));
            out["tokens"] = tokens;
            out["bos_id"] = t->bos_id() ? nlohmann::json(*t->bos_id()) : nlohmann::json(nullptr);
            out["bos_token_id"] = t->bos_token_id() ? nlohmann::json(*t->bos_token_id()) : nlohmann::json(nullptr);
            out["eos_id"] = t->eos_id();
            out["pad_id"] = t->pad_id();
            out["vocab_size"] = t->vocab_size();
            out["chat_template"] = t->chat_template_kind();
            if (!t->chat_template_warning().empty()) out["chat_template_warning"] = t->chat_template_warning();
        }
    }
    // Byte tokens of the built-in tokenizer can be partial UTF-8: written as U+FFFD, not an error.
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
}

}  // namespace ps::cli
