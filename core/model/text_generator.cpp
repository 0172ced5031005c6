#include "core/model/text_generator.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/common/errors.h"
#include "core/data/tokenize.h"
#include "core/model/device.h"
#include "core/model/generation.h"
#include "core/model/hf_config.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"
#include "core/text/chat_template.h"

namespace ps {

struct TextGenerator::Impl {
    LoadedModel loaded;
    std::shared_ptr<Tokenizer> tokenizer;
    std::string tokenizer_error;
    torch::Device device{torch::kCPU};
    std::vector<int64_t> stop_ids;  // the tokenizer's EOS, config.json's and generation_config.json's eos_token_id
    std::string template_name;      // "none" or a ChatTemplate name
    std::unique_ptr<ChatTemplate> chat_template;  // null for "none"
};

TextGenerator::TextGenerator() : impl_(std::make_unique<Impl>()) {}
TextGenerator::~TextGenerator() = default;

std::unique_ptr<TextGenerator> TextGenerator::open(const std::string& source, const TextGeneratorOptions& o) {
    std::unique_ptr<TextGenerator> g(new TextGenerator());
    Impl& m = *g->impl_;
    if (o.threads > 0) torch::set_num_threads(o.threads);
    try {
        m.tokenizer = load_source_tokenizer(source);
    } catch (const ModelError& e) {
        if (o.need_tokenizer) throw;
        m.tokenizer_error = e.what();
    }
    m.template_name = o.chat_template == "none" ? "none" : resolve_template_name(o.chat_template, source);
    if (m.template_name != "none") m.chat_template = std::make_unique<ChatTemplate>(m.template_name, o.template_kwargs);
    m.device = resolve_device(o.device);
    m.loaded = load_model_source_seeded(source, model_dtype_from_string(o.dtype), static_cast<uint64_t>(o.seed));
    if (m.tokenizer && m.tokenizer->vocab_size() > m.loaded.model->shape().vocab_size)
        throw ModelError("the tokenizer of '" + source + "' has " + std::to_string(m.tokenizer->vocab_size()) +
                         " tokens but the model only " + std::to_string(m.loaded.model->shape().vocab_size));
    m.loaded.model->to(m.device);
    m.loaded.model->eval();
    m.stop_ids = generation_stop_ids(m.loaded, m.tokenizer.get());
    return g;
}

bool TextGenerator::has_tokenizer() const { return impl_->tokenizer != nullptr; }
const std::string& TextGenerator::template_name() const { return impl_->template_name; }

std::string TextGenerator::render_prompt(const std::string& text) const {
    return impl_->chat_template ? render_text_prompt(text, *impl_->chat_template) : text;
}

std::vector<int64_t> TextGenerator::encode_prompt(const std::string& text) const {
    if (!impl_->tokenizer) throw ModelError(impl_->tokenizer_error);
    return prompt_token_ids(render_prompt(text), *impl_->tokenizer);
}

const ModelShape& TextGenerator::shape() const { return impl_->loaded.model->shape(); }
std::string TextGenerator::source() const { return impl_->loaded.source; }
std::string TextGenerator::device() const { return impl_->device.str(); }

std::vector<GenerationResult> TextGenerator::generate_ids(const std::vector<std::vector<int64_t>>& prompts,
                                                          GenerationOptions o) const {
    Impl& m = *impl_;
    if (o.stop_ids.empty()) o.stop_ids = m.stop_ids;
    auto seqs = generate_tokens(m.loaded.model, prompts, o);
    std::vector<GenerationResult> out(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        out[i].prompt_ids = prompts[i];
        out[i].completion_ids = std::move(seqs[i].tokens);
        out[i].finish_reason = seqs[i].finish_reason;
        if (m.tokenizer) {
            out[i].prompt = m.tokenizer->decode_text(out[i].prompt_ids);  // generate() puts the original text back
            out[i].completion = m.tokenizer->decode_text(out[i].completion_ids);
        }
    }
    return out;
}

std::vector<GenerationResult> TextGenerator::generate(const std::vector<std::string>& prompts,
                                                      GenerationOptions o) const {
    Impl& m = *impl_;
    if (!m.tokenizer) throw ModelError(m.tokenizer_error);
    std::vector<std::vector<int64_t>> ids;
    for (const auto& p : prompts) ids.push_back(encode_prompt(p));
    auto out = generate_ids(ids, std::move(o));
    for (size_t i = 0; i < prompts.size(); ++i) out[i].prompt = prompts[i];
    return out;
}

void TextGenerator::save(const std::string& dir, const std::string& dtype) const {
    SaveOptions so = save_options_for(impl_->loaded);
    if (!dtype.empty()) so.dtype = model_dtype_from_string(dtype);
    save_hf_model(impl_->loaded.model, dir, so);
}

}  // namespace ps
