// Hugging Face tokenizers from tokenizer.json (+ tokenizer_config.json): BPE models with
// byte-level pre-tokenisation (GPT-2, Qwen2/2.5/3, Llama 3) or with the Metaspace / byte-fallback
// scheme of Llama 2, Mistral and Gemma. Ids equal those of the tokenizers library with
// add_special_tokens=False (what apply_chat_template and TRL use on rendered prompts).
//
// Supported tokenizer.json components (anything else is a DataError naming it):
//   normalizer:    NFC, NFD, NFKC, NFKD, Prepend, Replace, Strip, Sequence, null
//   pre_tokenizer: Split (Regex or String; Isolated, Removed, MergedWithPrevious,
//                  MergedWithNext, Contiguous; invert), ByteLevel (last), Metaspace, Digits,
//                  Sequence, null
//   model:         BPE (merges as "a b" strings or ["a", "b"] pairs, ignore_merges,
//                  byte_fallback, unk_token, fuse_unk, continuing_subword_prefix,
//                  end_of_word_suffix)
//   decoder:       ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence, null
//   added_tokens:  matched before normalisation (normalized=false) or after it, leftmost-longest,
//                  with lstrip, rstrip and single_word
// The post_processor is not applied by encode(): bos_id() tells the caller what to prepend.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/text/tokenizer.h"
#include "core/text/utf8.h"

namespace ps {

class HfTokenizer final : public Tokenizer {
public:
    // `path` is a tokenizer.json file or a model directory holding one; tokenizer_config.json
    // (and chat_template.jinja) next to it are read when present. Throws DataError naming the
    // file and the unsupported or broken part.
    static std::unique_ptr<HfTokenizer> load(const std::string& path);
    ~HfTokenizer() override;

    // Throws InvalidUtf8Error (with the byte offset) for text that is not valid UTF-8.
    std::vector<int64_t> encode(const std::string& text) const override;
    // As the tokenizers library's decode(ids, skip_special_tokens=False): special tokens are
    // written out, invalid byte sequences become U+FFFD. Throws Error for ids outside the vocabulary.
    std::string decode(const std::vector<int64_t>& ids) const override;
    // decode(), then, when tokenizer_config.json sets "clean_up_tokenization_spaces": true (Llama 3,
    // GPT-2; Qwen sets false), transformers' clean_up_tokenization: the space before . ? ! , and
    // before the contractions n't 'm 's 've 're is removed, and " ' " becomes "'".
    std::string decode_text(const std::vector<int64_t>& ids) const override;
    bool cleans_up_tokenization_spaces() const;
    // Largest id + 1 over the model vocabulary and the added tokens (Hugging Face's len(tokenizer)).
    int64_t vocab_size() const override;
    // pad_token of tokenizer_config.json, else the EOS token.
    int64_t pad_id() const override;
    // The BOS token when the tokenizer prepends one (add_bos_token, or a post-processor that
    // starts with a special token) and the chat template does not write bos_token itself:
    // Llama 2, Mistral, Gemma: yes; Qwen: no BOS at all; Llama 3: its template writes it.
    std::optional<int64_t> bos_id() const override;
    // eos_token of tokenizer_config.json (Qwen2.5/3 instruct: <|im_end|>), else a well-known end
    // token of the vocabulary.
    int64_t eos_id() const override;
    // "hf:" + the tokenizer.json path.
    std::string name() const override;

    // The vocabulary string of an id as Hugging Face's convert_ids_to_tokens shows it ("Ġworld").
    std::string id_to_token(int64_t id) const;
    std::optional<int64_t> token_to_id(const std::string& token) const;
    // The BOS token of the config whether or not it is prepended (Llama 3's <|begin_of_text|>).
    std::optional<int64_t> bos_token_id() const;
    bool is_special(int64_t id) const;
    // The chat template source (empty when there is none), its detected kind and the warning
    // that detection gave (see detect_chat_template).
    const std::string& chat_template() const;
    const std::string& chat_template_kind() const;
    const std::string& chat_template_warning() const;
    const std::string& tokenizer_json_path() const;

    struct Impl;

private:
    explicit HfTokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// transformers' clean_up_tokenization: the listed replacements, each over the whole text, in order.
std::string clean_up_tokenization_spaces(std::string text);

// load_hf_tokenizer(path) = HfTokenizer::load(path) behind the common interface.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path);

// Which chat template a tokenizer_config.json carries ("chat_template": a string, or a list of
// {"name", "template"} where "default" wins): "qwen2.5" (ChatML that injects Qwen2.5's default
// system message), "chatml" (<|im_start|> ... <|im_end|>), "llama3" (<|start_header_id|> ...
// <|eot_id|>), else "unknown" with *warning saying why and what is used instead.
std::string detect_chat_template(const nlohmann::json& tokenizer_config, std::string* warning);
// The same for a template source string.
std::string classify_chat_template(const std::string& source, std::string* warning);

}  // namespace ps
