#include "core/text/byte_tokenizer.h"

#include "core/common/errors.h"

namespace ps {

std::vector<int64_t> ByteTokenizer::encode(const std::string& text) const {
    std::vector<int64_t> ids;
    ids.reserve(text.size());
    for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c));
    return ids;
}

std::string ByteTokenizer::token_text(int64_t id) {
    if (id >= 0 && id < 256) return std::string(1, static_cast<char>(id));
    if (id == kPad) return "<pad>";
    if (id == kBos) return "<bos>";
    if (id == kEos) return "<eos>";
    throw Error("token id " + std::to_string(id) + " is outside the byte tokenizer's vocabulary (0-258)");
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string out;
    for (int64_t id : ids) out += token_text(id);
    return out;
}

}  // namespace ps
