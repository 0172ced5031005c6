// The tokenizer of a model source, without torch in the header (the studio reads datasets
// with it): the byte tokenizer for built-in models and directories saved from them
// ("prefstudio_tokenizer": "byte" in config.json), else the directory's tokenizer.json.
// ModelError (or DataError for a broken tokenizer.json) with a message that says what is wrong.
#pragma once
#include <memory>
#include <string>

#include "core/text/tokenizer.h"

namespace ps {

std::shared_ptr<Tokenizer> load_source_tokenizer(const std::string& source);

// The rule load_source_tokenizer follows, without reading the tokenizer: "" for the byte
// tokenizer, else the directory whose tokenizer.json it reads (an adapter directory without
// tokenizer files: its base model's). Throws ModelError, naming the directory, when that file
// is missing (the studio's model check uses it, so the form never promises a tokenizer).
std::string source_tokenizer_dir(const std::string& source);

}  // namespace ps
