#include "core/data/preference_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/data/json_records.h"

using nlohmann::json;

namespace ps {

std::string DataProblem::where(const std::string& path) const {
    std::string w = path;
    if (line > 0) w += ":" + std::to_string(line);
    return w;
}

std::string DataProblem::text(const std::string& path) const { return where(path) + ": " + message; }

namespace {

// A problem inside one record: caught by the reading loop and recorded with its location.
struct RecordProblem {
    std::string field;
    std::string message;
};

[[noreturn]] void fail(const std::string& field, const std::string& message) { throw RecordProblem{field, message}; }

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "a list";
        case json::value_t::object: return "an object";
        default: return "a number";
    }
}

std::string keys_of(const json& j) {
    std::string out;
    size_t n = 0;
    for (auto it = j.begin(); it != j.end() && n < 8; ++it, ++n) out += (out.empty() ? "'" : ", '") + it.key() + "'";
    if (j.size() > 8) out += ", ...";
    return out.empty() ? "none" : out;
}

enum class Family { Trl, ShareGpt, Alpaca };

struct Tags {
    std::string role, content, user, assistant, system;
};

class RecordParser {
public:
    RecordParser(const DataOptions& o, PreferenceDataset& ds) : o_(o), ds_(ds) {}

    // Parses one record into ds_ (through the visitor). Throws RecordProblem.
    void parse(const json& j, long source_line, const DataVisitor* visitor) {
        if (!j.is_object()) fail("", std::string("each record must be a JSON object, got ") + type_name(j));
        line_ = source_line;
        const Family family = detect(j);
        if (family == Family::Trl) parse_trl(j);
        else if (family == Family::ShareGpt) parse_sharegpt(j);
        else parse_alpaca(j);
        // Keep it (the visitor may decline).
        if (have_pair_) {
            if (pair_.conversational ? pair_.chosen_messages == pair_.rejected_messages : pair_.chosen == pair_.rejected)
                warn("chosen_equals_rejected", "have chosen equal to rejected; they teach nothing");
            if (!visitor || !visitor->pair || visitor->pair(pair_)) ds_.pairs.push_back(std::move(pair_));
        } else {
            if (!visitor || !visitor->unpaired || visitor->unpaired(unpaired_)) ds_.unpaired_examples.push_back(std::move(unpaired_));
        }
    }

    void warn(const std::string& kind, const std::string& what) {
        for (auto& w : ds_.warning_counts)
            if (w.kind == kind) {
                ++w.count;
                return;
            }
        ds_.warning_counts.push_back({kind, 1, line_, what});
    }

private:
    std::string col(const char* key) const {
        auto it = o_.columns.find(key);
        if (it != o_.columns.end()) return it->second;
        // TRL's names are accepted as aliases of LLaMA-Factory's.
        if (std::string(key) == "response") {
            if (auto a = o_.columns.find("completion"); a != o_.columns.end()) return a->second;
        }
        if (std::string(key) == "kto_tag") {
            if (auto a = o_.columns.find("label"); a != o_.columns.end()) return a->second;
        }
        return {};
    }
    std::string col(const char* key, const char* fallback) const {
        std::string c = col(key);
        return c.empty() ? fallback : c;
    }

    Family detect(const json& j) {
        if (o_.format == "trl") return Family::Trl;
        if (o_.format == "sharegpt") return Family::ShareGpt;
        if (o_.format == "alpaca") return Family::Alpaca;
        const std::string messages = col("messages");
        if (!messages.empty() ? j.contains(messages) : (j.contains("conversations") || j.contains("messages")))
            return Family::ShareGpt;
        if (j.contains("instruction") || (!col("query").empty() && j.contains(col("query")))) return Family::Alpaca;
        return Family::Trl;
    }

    void set_variant(const std::string& variant) {
        if (ds_.format.empty()) {
            ds_.format = variant;
            variant_line_ = line_;
            ds_.unpaired = variant.find("kto") != std::string::npos || variant.find("unpaired") != std::string::npos;
            return;
        }
        if (variant != ds_.format)
            fail("", "mixed formats: this record is " + variant + " but the file's first record (" +
                         std::string(ds_.json_array ? "record " : "line ") + std::to_string(variant_line_) + ") is " +
                         ds_.format + "; one file must hold one format");
    }

    static const std::string& text_field(const json& j, const std::string& key, bool required, const char* expected,
                                         bool* present = nullptr) {
        static const std::string empty;
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) {
            if (present) *present = false;
            if (required) fail(key, "missing field '" + key + "' " + expected);
            return empty;
        }
        if (present) *present = true;
        if (!it->is_string()) fail(key, "field '" + key + "' must be a string");
        return it->get_ref<const std::string&>();
    }

    static bool label_field(const json& j, const std::string& key) {
        auto it = j.find(key);
        if (it == j.end()) fail(key, "missing field '" + key + "' (true for a desirable completion, false for an undesirable one)");
        if (!it->is_boolean()) fail(key, "field '" + key + "' must be true or false, got " + type_name(*it) + " " + quote_json(*it));
        return it->get<bool>();
    }

    // TRL messages: [{"role": "system"|"user"|"assistant", "content": "..."}].
    static std::vector<ChatMessage> trl_messages(const json& v, const std::string& field) {
        if (!v.is_array()) fail(field, "field '" + field + "' must be a list of {role, content} messages, got " + type_name(v));
        std::vector<ChatMessage> out;
        out.reserve(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
            const std::string at = field + "[" + std::to_string(i) + "]";
            const json& m = v[i];
            if (!m.is_object()) fail(at, at + " must be a {role, content} object, got " + type_name(m));
            auto r = m.find("role");
            auto c = m.find("content");
            if (r == m.end() || !r->is_string()) fail(at + ".role", at + " needs a string 'role'");
            if (c == m.end() || !c->is_string()) fail(at + ".content", at + " needs a string 'content'");
            const std::string& role = r->get_ref<const std::string&>();
            if (role != "system" && role != "user" && role != "assistant")
                fail(at + ".role", "unknown role '" + role + "' in " + at + " (expected system, user or assistant)");
            out.push_back({role, c->get<std::string>()});
        }
        return out;
    }

    static bool all_empty(const std::vector<ChatMessage>& ms) {
        for (const auto& m : ms)
            if (!m.content.empty()) return false;
        return true;
    }

    // A conversational prompt ends with the user turn that the completion answers; a
    // completion is assistant turns (it may continue the conversation, starting and ending
    // with the assistant).
    static void check_conversation(const std::vector<ChatMessage>& prompt, const std::string& prompt_field,
                                   const std::vector<ChatMessage>& completion, const std::string& field,
                                   const std::string& hint) {
        if (!prompt.empty() && prompt.back().role != "user")
            fail(prompt_field, "the prompt must end with a user message (the completion answers it), but it ends with a " +
                                   prompt.back().role + " message" + hint);
        if (completion.empty()) fail(field, "field '" + field + "' has no messages" + hint);
        if (completion.front().role != "assistant")
            fail(field, "field '" + field + "' must start with an assistant message, but starts with a " +
                            completion.front().role + " message" + hint);
        if (completion.back().role != "assistant")
            fail(field, "field '" + field + "' must end with an assistant message, but ends with a " +
                            completion.back().role + " message" + hint);
        for (const auto& m : completion)
            if (m.role == "system") fail(field, "field '" + field + "' holds a system message; system messages belong in the prompt");
        if (all_empty(completion)) fail(field, "field '" + field + "' is empty");
    }

    void parse_trl(const json& j) {
        const std::string kp = col("prompt", "prompt"), kc = col("chosen", "chosen"), kr = col("rejected", "rejected"),
                          kcomp = col("response", "completion"), klabel = col("kto_tag", "label");
        const bool paired = j.contains(kc) || j.contains(kr);
        const bool unpaired = j.contains(kcomp) || j.contains(klabel);
        if (!paired && !unpaired)
            fail("", "cannot tell the format of this record (keys: " + keys_of(j) + "); expected TRL '" + kp + "', '" + kc +
                         "', '" + kr + "' (preference) or '" + kp + "', '" + kcomp + "', '" + klabel +
                         "' (unpaired), LLaMA-Factory 'conversations' (sharegpt) or 'instruction' (alpaca); rename "
                         "fields with data.columns");
        if (paired && unpaired)
            fail("", "the record has both preference ('" + kc + "'/'" + kr + "') and unpaired ('" + kcomp + "'/'" + klabel +
                         "') fields; one file must hold one format");
        // Standard (strings) or conversational (message lists), from the first field that says.
        auto kind_of = [&](std::initializer_list<std::string> keys) {
            for (const auto& k : keys) {
                auto it = j.find(k);
                if (it == j.end()) continue;
                if (it->is_string()) return 1;
                if (it->is_array()) return 2;
            }
            return ds_.format.find("conversational") != std::string::npos ? 2 : 1;
        };
        if (paired) {
            const bool conv = kind_of({kc, kr, kp}) == 2;
            set_variant(conv ? "trl-conversational" : "trl-standard");
            have_pair_ = true;
            pair_ = PreferencePair();
            pair_.source_line = line_;
            pair_.conversational = conv;
            if (!conv) {
                const char* expected = "(expected prompt, chosen, rejected strings)";
                if (kp != "prompt" || kc != "chosen" || kr != "rejected")
                    expected = "(expected prompt, chosen, rejected strings; see data.columns)";
                bool has_prompt = false;
                // A prompt of messages with text answers: TRL ignores it and extracts the prompt.
                if (auto pit = j.find(kp); pit == j.end() || !pit->is_array())
                    pair_.prompt = text_field(j, kp, false, expected, &has_prompt);
                pair_.chosen = text_field(j, kc, true, expected);
                pair_.rejected = text_field(j, kr, true, expected);
                if (pair_.chosen.empty()) fail(kc, "field '" + kc + "' is empty");
                if (pair_.rejected.empty()) fail(kr, "field '" + kr + "' is empty");
                if (!has_prompt) {
                    const size_t n = implicit_prompt_length(pair_.chosen, pair_.rejected);
                    if (n > 0) {
                        pair_.prompt = pair_.chosen.substr(0, n);
                        pair_.chosen.erase(0, n);
                        pair_.rejected.erase(0, n);
                        ++ds_.implicit_prompts;
                    }
                }
                return;
            }
            auto list = [&](const std::string& key) {
                auto it = j.find(key);
                if (it == j.end() || it->is_null())
                    fail(key, "missing field '" + key + "' (expected prompt, chosen, rejected message lists)");
                return trl_messages(*it, key);
            };
            pair_.chosen_messages = list(kc);
            pair_.rejected_messages = list(kr);
            std::string hint;
            // A text prompt with message answers (e.g. UltraFeedback binarized, whose chosen and
            // rejected hold the whole conversation): TRL ignores it and extracts the prompt.
            if (j.contains(kp) && !j[kp].is_null() && !j[kp].is_string()) {
                pair_.prompt_messages = trl_messages(j[kp], kp);
                if (pair_.prompt_messages.empty()) fail(kp, "field '" + kp + "' has no messages");
            } else {
                const size_t n = implicit_prompt_length(pair_.chosen_messages, pair_.rejected_messages);
                pair_.prompt_messages.assign(pair_.chosen_messages.begin(), pair_.chosen_messages.begin() + static_cast<long>(n));
                pair_.chosen_messages.erase(pair_.chosen_messages.begin(), pair_.chosen_messages.begin() + static_cast<long>(n));
                pair_.rejected_messages.erase(pair_.rejected_messages.begin(), pair_.rejected_messages.begin() + static_cast<long>(n));
                if (n > 0) ++ds_.implicit_prompts;
                hint = " (without a '" + kp + "' field, the prompt is the messages chosen and rejected share)";
            }
            check_conversation(pair_.prompt_messages, kp, pair_.chosen_messages, kc, hint);
            check_conversation(pair_.prompt_messages, kp, pair_.rejected_messages, kr, hint);
            return;
        }
        const bool conv = kind_of({kcomp, kp}) == 2;
        set_variant(conv ? "trl-unpaired-conversational" : "trl-unpaired-standard");
        have_pair_ = false;
        unpaired_ = UnpairedExample();
        unpaired_.source_line = line_;
        unpaired_.conversational = conv;
        if (!conv) {
            const char* expected = "(expected prompt, completion strings and a boolean label)";
            unpaired_.prompt = text_field(j, kp, true, expected);
            unpaired_.completion = text_field(j, kcomp, true, expected);
            if (unpaired_.completion.empty()) fail(kcomp, "field '" + kcomp + "' is empty");
        } else {
            for (const auto& k : {kp, kcomp})
                if (!j.contains(k) || j[k].is_null())
                    fail(k, "missing field '" + k + "' (expected prompt, completion message lists and a boolean label)");
            unpaired_.prompt_messages = trl_messages(j[kp], kp);
            unpaired_.completion_messages = trl_messages(j[kcomp], kcomp);
            if (unpaired_.prompt_messages.empty()) fail(kp, "field '" + kp + "' has no messages");
            check_conversation(unpaired_.prompt_messages, kp, unpaired_.completion_messages, kcomp, "");
        }
        unpaired_.desirable = label_field(j, klabel);
    }

    // LLaMA-Factory sharegpt: messages with role/content tags; an optional leading system turn,
    // then user and assistant turns alternating.
    void parse_sharegpt(const json& j) {
        std::string km = col("messages");
        if (km.empty()) km = j.contains("conversations") || !j.contains("messages") ? "conversations" : "messages";
        const std::string kc = col("chosen", "chosen"), kr = col("rejected", "rejected"), klabel = col("kto_tag", "label"),
                          ksys = col("system", "system");
        auto it = j.find(km);
        if (it == j.end()) fail(km, "missing field '" + km + "' (sharegpt records hold the conversation there; see data.columns)");
        if (!it->is_array()) fail(km, "field '" + km + "' must be a list of messages, got " + type_name(*it));
        const json& msgs = *it;
        if (msgs.empty()) fail(km, "field '" + km + "' has no messages");
        const Tags tags = tags_for(msgs[0]);
        auto message = [&](const json& m, const std::string& at) {
            if (!m.is_object()) fail(at, at + " must be an object with '" + tags.role + "' and '" + tags.content + "', got " + type_name(m));
            auto r = m.find(tags.role);
            auto c = m.find(tags.content);
            if (r == m.end() || !r->is_string()) fail(at + "." + tags.role, at + " needs a string '" + tags.role + "'");
            if (c == m.end() || !c->is_string()) fail(at + "." + tags.content, at + " needs a string '" + tags.content + "'");
            const std::string& role = r->get_ref<const std::string&>();
            std::string mapped;
            if (role == tags.user) mapped = "user";
            else if (role == tags.assistant) mapped = "assistant";
            else if (role == tags.system) mapped = "system";
            else if (role == "observation" || role == "function_call" || role == "tool")
                fail(at + "." + tags.role, "tool turns ('" + role + "' in " + at + ") are not supported");
            else
                fail(at + "." + tags.role, "unknown role '" + role + "' in " + at + " (expected " + tags.user + ", " +
                                               tags.assistant + " or " + tags.system + "; other names: data.tags)");
            return ChatMessage{mapped, c->get<std::string>()};
        };
        std::vector<ChatMessage> conv;
        conv.reserve(msgs.size() + 1);
        size_t start = 0;
        if (auto s = j.find(ksys); s != j.end() && !s->is_null()) {
            if (!s->is_string()) fail(ksys, "field '" + ksys + "' must be a string, got " + type_name(*s));
            if (!s->get_ref<const std::string&>().empty()) conv.push_back({"system", s->get<std::string>()});
        }
        for (size_t i = 0; i < msgs.size(); ++i) {
            const std::string at = km + "[" + std::to_string(i) + "]";
            ChatMessage m = message(msgs[i], at);
            if (m.role == "system") {
                if (i != 0) fail(at + "." + tags.role, "a system turn may only come first (found one at " + at + ")");
                // A leading system turn wins over the system column, as in LLaMA-Factory.
                if (!conv.empty() && conv[0].role == "system") conv[0] = m;
                else conv.insert(conv.begin(), m);
                start = 1;
                continue;
            }
            const bool user_turn = (i - start) % 2 == 0;
            if ((m.role == "user") != user_turn)
                fail(at + "." + tags.role, at + " should be a " + (user_turn ? tags.user : tags.assistant) +
                                               " turn: turns alternate " + tags.user + ", " + tags.assistant + ", ...");
            conv.push_back(std::move(m));
        }
        const bool paired = j.contains(kc) || j.contains(kr);
        if (paired) {
            set_variant("sharegpt-preference");
            if (conv.empty() || conv.back().role != "user")
                fail(km, "the conversation in '" + km + "' must end with a " + tags.user + " turn; '" + kc + "' and '" + kr +
                             "' are the answers to it");
            have_pair_ = true;
            pair_ = PreferencePair();
            pair_.source_line = line_;
            pair_.conversational = true;
            pair_.prompt_messages = std::move(conv);
            for (const auto* key : {&kc, &kr}) {
                auto a = j.find(*key);
                if (a == j.end()) fail(*key, "missing field '" + *key + "' (a single " + tags.assistant + " message)");
                ChatMessage m = message(*a, *key);
                if (m.role != "assistant")
                    fail(*key + "." + tags.role, "field '" + *key + "' must be a " + tags.assistant + " message");
                if (m.content.empty()) fail(*key, "field '" + *key + "' is empty");
                (key == &kc ? pair_.chosen_messages : pair_.rejected_messages).push_back(std::move(m));
            }
            return;
        }
        if (!j.contains(klabel))
            fail("", "a sharegpt record needs '" + kc + "' and '" + kr + "' (preference) or a boolean '" + klabel +
                         "' (KTO); rename fields with data.columns");
        set_variant("sharegpt-kto");
        if (conv.empty() || conv.back().role != "assistant")
            fail(km, "the conversation in '" + km + "' must end with the " + tags.assistant + " turn that '" + klabel + "' judges");
        have_pair_ = false;
        unpaired_ = UnpairedExample();
        unpaired_.source_line = line_;
        unpaired_.conversational = true;
        unpaired_.completion_messages.push_back(conv.back());
        conv.pop_back();
        if (unpaired_.completion_messages[0].content.empty()) fail(km, "the last turn of '" + km + "' is empty");
        unpaired_.prompt_messages = std::move(conv);
        unpaired_.desirable = label_field(j, klabel);
    }

    Tags tags_for(const json& first) const {
        Tags t{"from", "value", "human", "gpt", "system"};
        const bool openai = first.is_object() && !first.contains("from") && first.contains("role");
        if (openai) t = Tags{"role", "content", "user", "assistant", "system"};
        auto set = [&](const char* key, std::string& out) {
            if (auto it = o_.tags.find(key); it != o_.tags.end()) out = it->second;
        };
        set("role_tag", t.role);
        set("content_tag", t.content);
        set("user_tag", t.user);
        set("assistant_tag", t.assistant);
        set("system_tag", t.system);
        return t;
    }

    // LLaMA-Factory alpaca: instruction + "\n" + input is the user turn, after the optional
    // system prompt and history turns.
    void parse_alpaca(const json& j) {
        const std::string ki = col("prompt", "instruction"), kq = col("query", "input"), ko = col("response", "output"),
                          kc = col("chosen", "chosen"), kr = col("rejected", "rejected"), klabel = col("kto_tag", "label"),
                          ksys = col("system", "system"), kh = col("history", "history");
        const char* expected = "(expected instruction, input, chosen, rejected strings)";
        bool has_instruction = false;
        const std::string& instruction = text_field(j, ki, false, expected, &has_instruction);
        const std::string& input = text_field(j, kq, false, expected);
        if (!has_instruction) fail(ki, "missing field '" + ki + "' " + expected);
        std::vector<ChatMessage> prompt;
        const std::string& system = text_field(j, ksys, false, expected);
        if (!system.empty()) prompt.push_back({"system", system});
        if (auto h = j.find(kh); h != j.end() && !h->is_null()) {
            if (!h->is_array()) fail(kh, "field '" + kh + "' must be a list of [instruction, response] pairs");
            for (size_t i = 0; i < h->size(); ++i) {
                const json& turn = (*h)[i];
                if (!turn.is_array() || turn.size() != 2 || !turn[0].is_string() || !turn[1].is_string())
                    fail(kh + "[" + std::to_string(i) + "]", kh + "[" + std::to_string(i) + "] must be a pair of strings [instruction, response]");
                prompt.push_back({"user", turn[0].get<std::string>()});
                prompt.push_back({"assistant", turn[1].get<std::string>()});
            }
        }
        std::string query = instruction;
        if (!input.empty()) query = query.empty() ? input : query + "\n" + input;
        if (query.empty()) fail(ki, "fields '" + ki + "' and '" + kq + "' are both empty");
        prompt.push_back({"user", query});
        const bool paired = j.contains(kc) || j.contains(kr);
        if (paired) {
            set_variant("alpaca-ranking");
            have_pair_ = true;
            pair_ = PreferencePair();
            pair_.source_line = line_;
            pair_.conversational = true;
            pair_.prompt_messages = std::move(prompt);
            const std::string& c = text_field(j, kc, true, expected);
            const std::string& r = text_field(j, kr, true, expected);
            if (c.empty()) fail(kc, "field '" + kc + "' is empty");
            if (r.empty()) fail(kr, "field '" + kr + "' is empty");
            pair_.chosen_messages.push_back({"assistant", c});
            pair_.rejected_messages.push_back({"assistant", r});
            return;
        }
        if (!j.contains(klabel))
            fail("", "an alpaca record needs '" + kc + "' and '" + kr + "' (ranking) or '" + ko + "' and a boolean '" + klabel +
                         "' (KTO); rename fields with data.columns");
        set_variant("alpaca-kto");
        have_pair_ = false;
        unpaired_ = UnpairedExample();
        unpaired_.source_line = line_;
        unpaired_.conversational = true;
        unpaired_.prompt_messages = std::move(prompt);
        const std::string& out = text_field(j, ko, true, "(the response that the label judges)");
        if (out.empty()) fail(ko, "field '" + ko + "' is empty");
        unpaired_.completion_messages.push_back({"assistant", out});
        unpaired_.desirable = label_field(j, klabel);
    }

    const DataOptions& o_;
    PreferenceDataset& ds_;
    long line_ = 0;
    long variant_line_ = 0;
    bool have_pair_ = false;
    PreferencePair pair_;
    UnpairedExample unpaired_;
};

void finish_warnings(PreferenceDataset& ds) {
    ds.warnings.clear();
    for (auto& w : ds.warning_counts) {
        const std::string unit = ds.unpaired ? "example(s)" : "pair(s)";
        w.message = std::to_string(w.count) + " " + unit + " " + w.message + " (first at " +
                    (ds.json_array ? "record " : "line ") + std::to_string(w.first_line) + ")";
        ds.warnings.push_back(w.message);
    }
}

}  // namespace

size_t implicit_prompt_length(const std::string& chosen, const std::string& rejected) {
    const size_t n = std::min(chosen.size(), rejected.size());
    if (n == 0) return 0;
    size_t idx = 0;
    while (idx < n && chosen[idx] == rejected[idx]) ++idx;
    // TRL's loop leaves idx at the last index when one text is a prefix of the other, so both
    // completions keep at least one character.
    if (idx == n) idx = n - 1;
    // Whole UTF-8 characters only.
    while (idx > 0 && (static_cast<unsigned char>(chosen[idx]) & 0xC0) == 0x80) --idx;
    if (idx > 0 && chosen[idx - 1] == ' ') --idx;
    return idx;
}

size_t implicit_prompt_length(const std::vector<ChatMessage>& chosen, const std::vector<ChatMessage>& rejected) {
    const size_t n = std::min(chosen.size(), rejected.size());
    if (n == 0) return 0;
    size_t idx = 0;
    while (idx < n && chosen[idx] == rejected[idx]) ++idx;
    if (idx == n) idx = n - 1;
    return idx;
}

PreferenceDataset scan_preference_file(const std::string& path, const DataOptions& options, const DataVisitor* visitor) {
    PreferenceDataset ds;
    ds.path = path;
    auto problem = [&](long line, long column, long record, std::string field, std::string message) {
        ds.errors.push_back({line, column, record, std::move(field), std::move(message)});
    };
    std::unique_ptr<JsonRecordReader> reader;
    try {
        reader = std::make_unique<JsonRecordReader>(path);
    } catch (const DataError& e) {
        const std::string what = e.what();
        problem(0, 0, 0, "", what.substr(std::min(what.size(), path.size() + 2)));
        return ds;
    }
    ds.json_array = reader->is_array();
    RecordParser parser(options, ds);
    JsonRecordReader::Item item;
    for (;;) {
        const auto status = reader->next(item);
        if (status == JsonRecordReader::Status::End) break;
        ++ds.records;
        const std::string prefix = ds.json_array ? "record " + std::to_string(item.index) + ": " : "";
        if (status == JsonRecordReader::Status::Bad) {
            problem(item.line, item.column, item.index, "", prefix + item.problem);
        } else {
            try {
                parser.parse(item.value, ds.json_array ? item.index : item.line, visitor);
            } catch (const RecordProblem& p) {
                problem(item.line, 0, item.index, p.field, prefix + p.message);
            }
        }
        if (ds.errors.size() >= options.max_errors) {
            problem(0, 0, 0, "", "reading stopped after " + std::to_string(options.max_errors) + " problems");
            break;
        }
        if (item.fatal) break;
    }
    ds.bytes = reader->bytes_read();
    if (ds.errors.empty() && ds.pairs.empty() && ds.unpaired_examples.empty() && ds.records == 0)
        problem(0, 0, 0, "", "the file holds no preference pairs");
    finish_warnings(ds);
    return ds;
}

PreferenceDataset read_preference_file(const std::string& path, const DataOptions& options) {
    PreferenceDataset ds = scan_preference_file(path, options);
    if (!ds.errors.empty()) {
        const DataProblem& first = ds.errors.front();
        std::string message = first.message;
        size_t more = ds.errors.size() - 1;
        if (more > 0 && ds.errors.back().line == 0 && ds.errors.back().message.rfind("reading stopped", 0) == 0) --more;
        if (more > 0)
            message += " (and " + std::to_string(more) + " more problem" + (more == 1 ? "" : "s") +
                       "; `prefstudio-cli data " + path + "` lists them)";
        throw DataError(path, first.line, message);
    }
    return ds;
}

void write_preference_jsonl(const std::vector<PreferencePair>& pairs, const std::string& path) {
    namespace fs = std::filesystem;
    fs::path p(path);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    // Write to a temporary file and rename, so a reader never sees half a dataset.
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw DataError(path, 0, "cannot write the file");
        for (const auto& pair : pairs)
            out << json{{"prompt", pair.prompt}, {"chosen", pair.chosen}, {"rejected", pair.rejected}}.dump() << '\n';
        if (!out) throw DataError(path, 0, "write failed (disk full?)");
    }
    fs::rename(tmp, path);
}

void split_indices(size_t n, double eval_fraction, uint64_t seed, std::vector<size_t>& train, std::vector<size_t>& eval) {
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::mt19937_64 rng(seed ^ 0x9E3779B97F4A7C15ULL);
    std::shuffle(order.begin(), order.end(), rng);
    size_t n_eval = static_cast<size_t>(std::llround(eval_fraction * static_cast<double>(n)));
    if (eval_fraction > 0 && n_eval == 0 && n >= 2) n_eval = 1;
    if (n > 0 && n_eval >= n) n_eval = n - 1;
    train.clear();
    eval.clear();
    for (size_t i = 0; i < n; ++i) (i < n - n_eval ? train : eval).push_back(order[i]);
}

void split_train_eval(const std::vector<PreferencePair>& all, double eval_fraction, uint64_t seed,
                      std::vector<PreferencePair>& train, std::vector<PreferencePair>& eval) {
    std::vector<size_t> ti, ei;
    split_indices(all.size(), eval_fraction, seed, ti, ei);
    train.clear();
    eval.clear();
    for (size_t i : ti) train.push_back(all[i]);
    for (size_t i : ei) eval.push_back(all[i]);
}

}  // namespace ps
