// Chat-template rendering speed on one core (issue #18: 100k conversations under 2 s): real
// templates (Qwen3, Llama 3.1) from the tokenizer folders, rendered by our Jinja interpreter.
//   render:  Template::render of a 4-message conversation (system, user, assistant, user; the
//            texts differ per conversation), the context built each time as the pipeline does.
//   split:   ChatTemplate::split of a preference pair (TRL's split: three renders), per pair.
// Usage: bench_chat_template [--n N] [FOLDER ...]   (FOLDER: a tokenizer folder with a chat
// template; default ../shared/tokenizers/{qwen3,llama3_1} beside the checkout). Run from the
// repository root. Prints a Markdown table; CPU seconds tell one core's speed on a shared machine.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/text/chat_template.h"
#include "core/text/jinja_template.h"

namespace {

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::string template_source(const std::filesystem::path& folder) {
    std::ifstream in(folder / "tokenizer_config.json");
    if (!in) return {};
    const auto cfg = nlohmann::ordered_json::parse(in);
    const auto t = cfg.find("chat_template");
    return t != cfg.end() && t->is_string() ? t->get<std::string>() : std::string();
}

nlohmann::ordered_json special_tokens(const std::filesystem::path& folder) {
    std::ifstream in(folder / "tokenizer_config.json");
    const auto cfg = nlohmann::ordered_json::parse(in);
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const char* k : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
        const auto it = cfg.find(k);
        if (it == cfg.end()) continue;
        if (it->is_string()) out[k] = *it;
        else if (it->is_object() && it->contains("content")) out[k] = (*it)["content"];
    }
    return out;
}

std::vector<ps::ChatMessage> conversation(size_t i) {
    const std::string n = std::to_string(i);
    return {{"system", "You are a helpful assistant. Conversation " + n + "."},
            {"user", "What is " + n + " + " + n + "? Answer briefly, please."},
            {"assistant", "It is " + std::to_string(2 * i) + "."},
            {"user", "And twice that, " + n + "?"}};
}

}  // namespace

int main(int argc, char** argv) {
    size_t n = 100000;
    std::vector<std::filesystem::path> folders;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::stoul(argv[++i]);
        else folders.emplace_back(argv[i]);
    }
    if (folders.empty())
        for (const char* name : {"qwen3", "llama3_1"}) folders.push_back(std::filesystem::path("../shared/tokenizers") / name);
    std::printf("| template | conversations | render: CPU s | per conversation | split pairs | split: CPU s | per pair |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const auto& folder : folders) {
        const std::string source = template_source(folder);
        if (source.empty()) {
            std::fprintf(stderr, "%s: no chat template (tokenizer_config.json), skipped\n", folder.string().c_str());
            continue;
        }
        try {
            const ps::jinja::Template tmpl(source);
            const auto special = special_tokens(folder);
            std::vector<nlohmann::ordered_json> convs;  // built beforehand: the benchmark is the render
            convs.reserve(n);
            for (size_t i = 0; i < n; ++i) {
                nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
                for (const auto& m : conversation(i)) msgs.push_back({{"role", m.role}, {"content", m.content}});
                convs.push_back(std::move(msgs));
            }
            size_t bytes = 0;
            double t0 = cpu_seconds();
            for (size_t i = 0; i < n; ++i)
                bytes += tmpl.render(ps::jinja::chat_context(convs[i], false, special)).size();
            const double render_s = cpu_seconds() - t0;

            const ps::ChatTemplate chat("model:" + folder.string());
            const size_t pairs = n / 10;
            t0 = cpu_seconds();
            for (size_t i = 0; i < pairs; ++i) {
                auto msgs = conversation(i);
                const std::vector<ps::ChatMessage> chosen{msgs.back()}, rejected{{"assistant", "No idea."}};
                msgs.pop_back();
                msgs.push_back({"user", "Again?"});
                bytes += chat.split(msgs, {{{"assistant", "Yes: " + std::to_string(i)}}, rejected}).prompt.size();
            }
            const double split_s = cpu_seconds() - t0;
            std::printf("| %s | %zu | %.2f | %.1f us | %zu | %.2f | %.1f us |\n", folder.filename().string().c_str(), n,
                        render_s, 1e6 * render_s / static_cast<double>(n), pairs, split_s,
                        1e6 * split_s / static_cast<double>(pairs));
            if (bytes == 0) std::printf("(nothing rendered)\n");
        } catch (const ps::Error& e) {
            std::fprintf(stderr, "%s: %s\n", folder.string().c_str(), e.what());
            return 1;
        }
    }
    return 0;
}
