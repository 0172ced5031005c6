#include "core/interop/log_entry.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/common/errors.h"
#include "core/interop/source_reader.h"

namespace ps::interop {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

bool number_of(const nlohmann::json& v, double& out) {
    if (v.is_number()) {
        out = v.get<double>();
        return true;
    }
    if (!v.is_string()) return false;
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "NaN" || s == "nan") out = kNaN;
    else if (s == "Infinity" || s == "inf") out = kInf;
    else if (s == "-Infinity" || s == "-inf") out = -kInf;
    else {
        // transformers 5 prints its console log dicts with values as strings of 4 significant
        // digits ({'loss': '16.25', 'learning_rate': '0.005'}): a whole-string number counts.
        if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (end != s.c_str() + s.size() || !std::isfinite(d)) return false;
        out = d;
    }
    return true;
}

MappedEntry map_log_entry(const nlohmann::json& entry, const std::vector<std::string>& skip) {
    MappedEntry out;
    if (!entry.is_object()) return out;
    bool eval = false;
    for (auto it = entry.begin(); it != entry.end(); ++it) {
        if (is_summary_key(it.key())) out.kind = EntryKind::Summary;
        if (starts_with(it.key(), "eval_")) eval = true;
    }
    if (out.kind == EntryKind::Summary) {
        for (auto it = entry.begin(); it != entry.end(); ++it) {
            double v = 0.0;
            if (std::find(skip.begin(), skip.end(), it.key()) == skip.end() && number_of(*it, v))
                out.summary[it.key()] = *it;
        }
        return out;
    }
    if (eval) out.kind = EntryKind::Eval;
    // Several eval sets: the Trainer logs eval_<set>_loss (and no eval_loss) for each set.
    std::string set_prefix;
    if (eval && !entry.contains("eval_loss"))
        for (auto it = entry.begin(); it != entry.end(); ++it) {
            const std::string& k = it.key();
            if (starts_with(k, "eval_") && k.size() > 10 && k.compare(k.size() - 5, 5, "_loss") == 0) {
                set_prefix = k.substr(0, k.size() - 4);  // "eval_<set>_"
                break;
            }
        }
    bool other_than_epoch = false;
    for (auto it = entry.begin(); it != entry.end(); ++it) {
        const std::string& k = it.key();
        if (std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
        double v = 0.0;
        if (!number_of(*it, v)) continue;
        std::string name;
        if (k == "epoch") {
            if (eval) continue;
            name = k;
        } else if (!set_prefix.empty() && starts_with(k, set_prefix.c_str())) {
            name = "eval/" + set_prefix.substr(5, set_prefix.size() - 6) + "/" + k.substr(set_prefix.size());
        } else if (eval && !starts_with(k, "eval_")) {
            name = "eval/" + metric_name_from_log_key(k);
        } else {
            name = metric_name_from_log_key(k);
        }
        if (k != "epoch") other_than_epoch = true;
        out.values.emplace_back(std::move(name), v);
    }
    if (!other_than_epoch) out.values.clear();
    return out;
}

std::string quote_nonfinite(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 64);
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) out += text[++i];
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
        } else if (c == 'N' && text.compare(i, 3, "NaN") == 0) {
            out += "\"NaN\"";
            i += 2;
        } else if (c == 'I' && text.compare(i, 8, "Infinity") == 0) {
            out += "\"Infinity\"";
            i += 7;
        } else if (c == '-' && text.compare(i, 9, "-Infinity") == 0) {
            out += "\"-Infinity\"";
            i += 8;
        } else {
            out += c;
        }
    }
    return out;
}

nlohmann::json parse_python_json(const std::string& text) {
    // Most files hold no NaN: parse them as they are, and rewrite only when that fails.
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_discarded()) return j;
    if (text.find("NaN") == std::string::npos && text.find("Infinity") == std::string::npos) return j;
    return nlohmann::json::parse(quote_nonfinite(text), nullptr, false);
}

namespace {

void skip_space(const std::string& t, size_t& i) {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n')) ++i;
}

bool parse_py(const std::string& t, size_t& i, nlohmann::json& out, int depth);

bool parse_py_string(const std::string& t, size_t& i, std::string& out) {
    const char q = t[i++];
    while (i < t.size()) {
        const char c = t[i++];
        if (c == q) return true;
        if (c == '\\' && i < t.size()) {
            const char e = t[i++];
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                default: out += e; break;  // \\ \' \" and the rest as the character itself
            }
        } else {
            out += c;
        }
    }
    return false;  // cut short
}

bool parse_py(const std::string& t, size_t& i, nlohmann::json& out, int depth) {
    if (depth > 32) return false;
    skip_space(t, i);
    if (i >= t.size()) return false;
    const char c = t[i];
    if (c == '{') {
        out = nlohmann::json::object();
        ++i;
        skip_space(t, i);
        if (i < t.size() && t[i] == '}') return ++i, true;
        while (i < t.size()) {
            skip_space(t, i);
            if (i >= t.size() || (t[i] != '\'' && t[i] != '"')) return false;
            std::string key;
            if (!parse_py_string(t, i, key)) return false;
            skip_space(t, i);
            if (i >= t.size() || t[i] != ':') return false;
            ++i;
            nlohmann::json value;
            if (!parse_py(t, i, value, depth + 1)) return false;
            out[key] = std::move(value);
            skip_space(t, i);
            if (i >= t.size()) return false;
            if (t[i] == ',') {
                ++i;
                skip_space(t, i);
                if (i < t.size() && t[i] == '}') return ++i, true;
                continue;
            }
            if (t[i] == '}') return ++i, true;
            return false;
        }
        return false;
    }
    if (c == '[' || c == '(') {
        const char close = c == '[' ? ']' : ')';
        out = nlohmann::json::array();
        ++i;
        while (true) {
            skip_space(t, i);
            if (i >= t.size()) return false;
            if (t[i] == close) return ++i, true;
            nlohmann::json value;
            if (!parse_py(t, i, value, depth + 1)) return false;
            out.push_back(std::move(value));
            skip_space(t, i);
            if (i < t.size() && t[i] == ',') ++i;
        }
    }
    if (c == '\'' || c == '"') {
        std::string s;
        if (!parse_py_string(t, i, s)) return false;
        out = std::move(s);
        return true;
    }
    auto word = [&](const char* w) {
        const size_t n = std::char_traits<char>::length(w);
        if (t.compare(i, n, w) != 0) return false;
        if (i + n < t.size() && (std::isalnum(static_cast<unsigned char>(t[i + n])) || t[i + n] == '_')) return false;
        i += n;
        return true;
    };
    if (word("True")) return out = true, true;
    if (word("False")) return out = false, true;
    if (word("None")) return out = nullptr, true;
    if (word("nan")) return out = kNaN, true;
    if (word("inf")) return out = kInf, true;
    if (word("-inf")) return out = -kInf, true;
    // A number: the longest run of number characters, all of it read by strtod.
    size_t j = i;
    while (j < t.size() && (std::isdigit(static_cast<unsigned char>(t[j])) || t[j] == '-' || t[j] == '+' ||
                            t[j] == '.' || t[j] == 'e' || t[j] == 'E'))
        ++j;
    if (j == i) return false;
    const std::string number = t.substr(i, j - i);
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return false;
    const bool integral = number.find_first_of(".eE") == std::string::npos;
    if (integral && number.size() < 18) out = std::strtoll(number.c_str(), nullptr, 10);
    else out = v;
    i = j;
    return true;
}

}  // namespace

nlohmann::json parse_python_literal(const std::string& text, size_t pos, size_t& end) {
    nlohmann::json out;
    size_t i = pos;
    if (!parse_py(text, i, out, 0)) return nlohmann::json(nlohmann::json::value_t::discarded);
    end = i;
    return out;
}

double parse_elapsed(const std::string& text) {
    // Python's str(timedelta): "[D day[s], ]H:MM:SS[.ffffff]"
    long days = 0;
    std::string rest = text;
    const size_t comma = text.find(", ");
    if (comma != std::string::npos) {
        const std::string d = text.substr(0, comma);
        char* end = nullptr;
        days = std::strtol(d.c_str(), &end, 10);
        if (end == d.c_str() || (std::string(end) != " day" && std::string(end) != " days")) return kNaN;
        rest = text.substr(comma + 2);
    }
    int h = 0, m = 0;
    double s = 0.0;
    int used = 0;
    if (std::sscanf(rest.c_str(), "%d:%d:%lf%n", &h, &m, &s, &used) != 3 || used != int(rest.size())) return kNaN;
    return double(days) * 86400.0 + h * 3600.0 + m * 60.0 + s;
}

namespace {

nlohmann::json yaml_to_json(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined: return nullptr;
        case YAML::NodeType::Sequence: {
            nlohmann::json a = nlohmann::json::array();
            for (const auto& item : node) a.push_back(yaml_to_json(item));
            return a;
        }
        case YAML::NodeType::Map: {
            nlohmann::json o = nlohmann::json::object();
            for (const auto& kv : node) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
            return o;
        }
        case YAML::NodeType::Scalar: break;
    }
    const std::string s = node.Scalar();
    if (node.Tag() == "!") return s;  // quoted in the file: a string
    if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    if (!s.empty()) {
        char* end = nullptr;
        const long long i = std::strtoll(s.c_str(), &end, 10);
        if (*end == '\0' && s.find_first_of(".eE") == std::string::npos) return i;
        const double d = std::strtod(s.c_str(), &end);
        if (*end == '\0' && s.find_first_not_of("0123456789.eE+-") == std::string::npos) return d;
        if (s == ".nan" || s == ".NaN") return kNaN;
        if (s == ".inf" || s == ".Inf") return kInf;
        if (s == "-.inf" || s == "-.Inf") return -kInf;
    }
    return s;
}

}  // namespace

nlohmann::json read_yaml_as_json(const std::string& path) {
    try {
        return yaml_to_json(YAML::LoadFile(path));
    } catch (const YAML::ParserException& e) {
        throw DataError(path, e.mark.line + 1, std::string("not valid YAML: ") + e.msg);
    } catch (const YAML::Exception& e) {
        throw DataError(path, 0, std::string("cannot read YAML: ") + e.what());
    }
}

}  // namespace ps::interop
