#include "core/config/data_keys.h"

namespace ps {

const std::vector<std::string>& data_column_keys() {
    static const std::vector<std::string> keys{"prompt", "query", "response", "chosen", "rejected", "kto_tag",
                                               "messages", "system", "history", "completion", "label"};
    return keys;
}
const std::vector<std::string>& data_tag_keys() {
    static const std::vector<std::string> keys{"role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag"};
    return keys;
}
const std::vector<std::string>& data_format_names() {
    static const std::vector<std::string> names{"auto", "trl", "sharegpt", "alpaca"};
    return names;
}

}  // namespace ps
