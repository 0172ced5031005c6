// Chat templates: how a conversation becomes the prompt text a model continues and the
// completion text it is trained to produce. Rendered in C++ (no Jinja): each named template
// reproduces what the model family's published tokenizer_config.json template writes.
//
//   plain    no markup. Standard (text) examples are used verbatim; messages are joined by "\n"
//            and the prompt ends with "\n". The pipeline appends the tokenizer's EOS to the
//            completion. What the built-in models use.
//   chatml   "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, generation prompt
//            "<|im_start|>assistant\n"; the completion is the assistant content + "<|im_end|>".
//            As Qwen2.5 renders a conversation that has a system message, and as Qwen3 renders
//            one without reasoning blocks (Qwen3's "<think>" wrapper is not written).
//   qwen2.5  chatml, plus Qwen2.5's default system message ("You are Qwen, created by Alibaba
//            Cloud. You are a helpful assistant.") when the conversation has none.
//   llama3   "<|begin_of_text|>" then "<|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>"
//            per message (content trimmed of surrounding whitespace, as Llama 3's template does),
//            generation prompt "<|start_header_id|>assistant<|end_header_id|>\n\n"; completion =
//            trimmed content + "<|eot_id|>". Llama 3.1's date system header is not written.
//   model:DIR  what `auto` picks for a Hugging Face model directory DIR that has a chat template:
//            the model's own Jinja template (chat_template.jinja beside tokenizer_config.json, else
//            its "chat_template": a string, or the "default" entry of a list of {name, template};
//            else chat_template.json) rendered by our interpreter (jinja_template.h) as
//            transformers' apply_chat_template renders it, with the config's special tokens
//            (bos_token, eos_token, ...). Prompt and completions are split as TRL does (split()).
//            The completion is exactly what the template writes after the prompt (no EOS added:
//            TRL adds none to conversations), e.g. "4<|im_end|>\n" for Qwen2.5.
// The completion of a multi-message answer is everything the full conversation renders after
// the prompt, up to and including the last end-of-turn marker.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ps {

struct ChatMessage {
    std::string role;     // "system", "user" or "assistant"
    std::string content;
    bool operator==(const ChatMessage& o) const { return role == o.role && content == o.content; }
    bool operator!=(const ChatMessage& o) const { return !(*this == o); }
};

struct ModelTemplate;  // chat_template.cpp: a model's parsed Jinja template and special tokens

// A conversation split into the prompt text and its completions' texts (TRL's split).
struct ChatSplit {
    std::string prompt;
    std::vector<std::string> completions;
};

class ChatTemplate {
public:
    // Throws ConfigError("model.template") for an unknown name (see template_names()), or for a
    // model:DIR whose template cannot be read or parsed (the message names line:column).
    // `kwargs`: extra variables for a model's own template (model.template_kwargs, e.g.
    // enable_thinking), as apply_chat_template's keyword arguments; the named templates ignore them.
    explicit ChatTemplate(const std::string& name = "plain",
                          const nlohmann::json& kwargs = nlohmann::json::object());
    const std::string& name() const { return name_; }
    // True for a model's own Jinja template (model:DIR).
    bool is_model_template() const { return kind_ == Kind::Jinja; }

    // The prompt messages rendered with the generation prompt at the end; for a model's own
    // template, a prompt that ends with an assistant message is continued instead
    // (continue_final_message: cut right after that message, as TRL renders it).
    std::string render_prompt(const std::vector<ChatMessage>& prompt) const;
    // What follows render_prompt(prompt) when the conversation goes on with `completion`.
    std::string render_completion(const std::vector<ChatMessage>& prompt,
                                  const std::vector<ChatMessage>& completion) const;
    // The prompt and each completion. For a model's own template, TRL's split
    // (trl.data_utils.apply_chat_template): the prompt is render(prompt, add_generation_prompt)
    // cut to the text it shares with every render(prompt + completion), and each completion is
    // its full render minus that prompt. For the named templates, render_prompt and
    // render_completion.
    ChatSplit split(const std::vector<ChatMessage>& prompt,
                    const std::vector<std::vector<ChatMessage>>& completions) const;
    // True when the completion has no end-of-turn marker of its own, so the pipeline appends
    // the tokenizer's EOS token (plain).
    bool appends_eos() const { return kind_ == Kind::Plain; }

private:
    enum class Kind { Plain, ChatML, Qwen25, Llama3, Jinja };
    std::string render_all(const std::vector<ChatMessage>& messages, bool generation_prompt) const;
    // A model template's prompt that ends with an assistant message: transformers'
    // continue_final_message (as TRL renders such a prompt). Throws ConfigError (model.template)
    // when the template does not reproduce the message.
    std::string render_continued(const std::vector<ChatMessage>& prompt) const;
    std::string name_;
    Kind kind_ = Kind::Plain;
    std::shared_ptr<const ModelTemplate> model_;  // Kind::Jinja
    nlohmann::ordered_json kwargs_;               // Kind::Jinja: extra template variables
};

// Names accepted by model.template besides "auto".
const std::vector<std::string>& template_names();

// "auto" -> the template the model needs: "plain" for builtin:* models; "model:DIR" for a
// Hugging Face model directory with a chat template of its own; "plain" for one without, which
// `warning` (when given) then explains in one sentence (empty otherwise).
std::string resolve_template_name(const std::string& configured, const std::string& model_source,
                                  std::string* warning = nullptr);

}  // namespace ps
