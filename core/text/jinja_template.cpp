// The Jinja interpreter (jinja_template.h): a lexer that applies jinja2's whitespace rules, a
// recursive-descent parser with jinja2's operator precedence, and a tree-walking renderer whose
// values follow Python's semantics (truthiness, str(), repr(), comparisons, floor division).
#include "core/text/jinja_template.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ps::jinja {

namespace {

struct Pos {
    int line = 1, col = 1;
};

[[noreturn]] void fail(const Pos& p, const std::string& msg) { throw TemplateError(p.line, p.col, msg); }

// ---------------------------------------------------------------- UTF-8 helpers

std::u32string decode(const std::string& s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        char32_t cp;
        int n;
        if (c < 0x80) { cp = c; n = 1; }
        else if ((c >> 5) == 6) { cp = c & 0x1f; n = 2; }
        else if ((c >> 4) == 14) { cp = c & 0x0f; n = 3; }
        else if ((c >> 3) == 30) { cp = c & 0x07; n = 4; }
        else { cp = 0xfffd; n = 1; }
        if (n > 1) {
            if (i + n > s.size()) { cp = 0xfffd; n = 1; }
            else
                for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        }
        out.push_back(cp);
        i += n;
    }
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) { out += static_cast<char>(0xc0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

std::string encode(const std::u32string& s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) append_utf8(out, c);
    return out;
}

bool is_ascii(const std::string& s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

size_t u8_length(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xc0) != 0x80) ++n;
    return n;
}

// Python's str.isspace() code points.
bool py_space(char32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

// Python's str.strip family: chars == nullptr strips whitespace.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
    const std::u32string u = decode(s);
    const std::u32string set = chars ? decode(*chars) : std::u32string();
    auto strip_me = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : py_space(c); };
    size_t b = 0, e = u.size();
    if (left)
        while (b < e && strip_me(u[b])) ++b;
    if (right)
        while (e > b && strip_me(u[e - 1])) --e;
    return encode(u.substr(b, e - b));
}

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
std::string to_upper(std::string s) { for (char& c : s) c = ascii_upper(c); return s; }
std::string to_lower(std::string s) { for (char& c : s) c = ascii_lower(c); return s; }
bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, long count = -1) {
    std::string out;
    if (from.empty()) {
        // Python inserts `to` between every code point (and at both ends).
        const std::u32string u = decode(s);
        long done = 0;
        for (char32_t c : u) {
            if (count < 0 || done < count) { out += to; ++done; }
            append_utf8(out, c);
        }
        if (count < 0 || done < count) out += to;
        return out;
    }
    size_t pos = 0;
    long done = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string::npos) break;
        out.append(s, pos, hit - pos);
        out += to;
        pos = hit + from.size();
        ++done;
    }
    out.append(s, pos, std::string::npos);
    return out;
}

// ---------------------------------------------------------------- values

struct Value;
struct Dict;
struct Interp;
using List = std::vector<Value>;

struct Args {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    const Value* get(size_t i, const char* name) const;
};

using NativeFn = std::function<Value(Interp&, Args&, const Pos&)>;

struct Value {
    enum class T { Undefined, None, Bool, Int, Float, Str, List, Dict, Ns, Func };
    T t = T::Undefined;
    bool b = false;
    bool tuple = false;
    int64_t i = 0;
    double f = 0;
    std::string s;  // the string; for Undefined, what was undefined (for its error message)
    std::shared_ptr<List> list;
    std::shared_ptr<Dict> dict;
    std::shared_ptr<NativeFn> fn;

    static Value undefined(std::string hint = {}) { Value v; v.s = std::move(hint); return v; }
    static Value none() { Value v; v.t = T::None; return v; }
    static Value boolean(bool x) { Value v; v.t = T::Bool; v.b = x; return v; }
    static Value integer(int64_t x) { Value v; v.t = T::Int; v.i = x; return v; }
    static Value number(double x) { Value v; v.t = T::Float; v.f = x; return v; }
    static Value str(std::string x) { Value v; v.t = T::Str; v.s = std::move(x); return v; }
    static Value make_list(List items = {}, bool is_tuple = false) {
        Value v; v.t = T::List; v.list = std::make_shared<List>(std::move(items)); v.tuple = is_tuple; return v;
    }
    static Value make_dict();
    static Value func(NativeFn f) { Value v; v.t = T::Func; v.fn = std::make_shared<NativeFn>(std::move(f)); return v; }

    bool is_undefined() const { return t == T::Undefined; }
    bool is_none() const { return t == T::None; }
    bool is_str() const { return t == T::Str; }
    bool is_number() const { return t == T::Int || t == T::Float || t == T::Bool; }
    bool is_mapping() const { return t == T::Dict || t == T::Ns; }
    double as_double() const { return t == T::Float ? f : static_cast<double>(t == T::Bool ? b : i); }
};

struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    const Value* find(const std::string& k) const {
        for (const auto& kv : items)
            if (kv.first == k) return &kv.second;
        return nullptr;
    }
    void set(const std::string& k, Value v) {
        for (auto& kv : items)
            if (kv.first == k) { kv.second = std::move(v); return; }
        items.emplace_back(k, std::move(v));
    }
};

Value Value::make_dict() {
    Value v;
    v.t = T::Dict;
    v.dict = std::make_shared<Dict>();
    return v;
}

const Value* Args::get(size_t idx, const char* name) const {
    for (const auto& kv : kw)
        if (kv.first == name) return &kv.second;
    return idx < pos.size() ? &pos[idx] : nullptr;
}

Value from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value::integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
        List l;
        l.reserve(j.size());
        for (const auto& e : j) l.push_back(from_json(e));
        return Value::make_list(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
        Value d = Value::make_dict();
        d.dict->items.reserve(j.size());
        for (auto it = j.begin(); it != j.end(); ++it) d.dict->items.emplace_back(it.key(), from_json(it.value()));
        return d;
    }
    default: return Value::none();
    }
}

bool truthy(const Value& v) {
    switch (v.t) {
    case Value::T::Undefined:
    case Value::T::None: return false;
    case Value::T::Bool: return v.b;
    case Value::T::Int: return v.i != 0;
    case Value::T::Float: return v.f != 0.0;
    case Value::T::Str: return !v.s.empty();
    case Value::T::List: return !v.list->empty();
    case Value::T::Dict: return !v.dict->items.empty();
    default: return true;
    }
}

const char* type_name(const Value& v) {
    switch (v.t) {
    case Value::T::Undefined: return "Undefined";
    case Value::T::None: return "NoneType";
    case Value::T::Bool: return "bool";
    case Value::T::Int: return "int";
    case Value::T::Float: return "float";
    case Value::T::Str: return "str";
    case Value::T::List: return v.tuple ? "tuple" : "list";
    case Value::T::Dict: return "dict";
    case Value::T::Ns: return "Namespace";
    case Value::T::Func: return "function";
    }
    return "object";
}

// Python's repr(float): the shortest digits that read back as the same double.
std::string float_repr(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
    char buf[64];
    int prec = 1;
    for (; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (std::strtod(buf, nullptr) == x) break;
    }
    // buf: d.ddddde[+-]XX; rebuild in Python's layout.
    std::string m(buf);
    const size_t e = m.find('e');
    const int exp10 = std::atoi(m.c_str() + e + 1);
    std::string digits;
    bool neg = false;
    for (size_t k = 0; k < e; ++k) {
        if (m[k] == '-') neg = true;
        else if (m[k] != '.') digits += m[k];
    }
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out = neg ? "-" : "";
    if (exp10 >= 16 || exp10 < -4) {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
        out += eb;
    } else if (exp10 >= 0) {
        if (static_cast<int>(digits.size()) <= exp10 + 1) {
            out += digits + std::string(exp10 + 1 - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, exp10 + 1) + "." + digits.substr(exp10 + 1);
        }
    } else {
        out += "0." + std::string(-exp10 - 1, '0') + digits;
    }
    return out;
}

std::string repr(const Value& v);

std::string str_repr(const std::string& s) {
    const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    const char q = use_double ? '"' : '\'';
    std::string out(1, q);
    for (char32_t c : decode(s)) {
        if (c == static_cast<char32_t>(q) || c == '\\') { out += '\\'; out += static_cast<char>(c); }
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned>(c));
            out += b;
        } else append_utf8(out, c);
    }
    out += q;
    return out;
}

// Python's str(value).
std::string to_str(const Value& v) {
    switch (v.t) {
    case Value::T::Undefined: return "";
    case Value::T::None: return "None";
    case Value::T::Bool: return v.b ? "True" : "False";
    case Value::T::Int: return std::to_string(v.i);
    case Value::T::Float: return float_repr(v.f);
    case Value::T::Str: return v.s;
    default: return repr(v);
    }
}

std::string repr(const Value& v) {
    switch (v.t) {
    case Value::T::Str: return str_repr(v.s);
    case Value::T::List: {
        std::string out = v.tuple ? "(" : "[";
        for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + repr((*v.list)[k]);
        if (v.tuple && v.list->size() == 1) out += ",";
        return out + (v.tuple ? ")" : "]");
    }
    case Value::T::Dict:
    case Value::T::Ns: {
        std::string out = v.t == Value::T::Ns ? "<Namespace {" : "{";
        bool first = true;
        for (const auto& kv : v.dict->items) {
            out += (first ? "" : ", ") + str_repr(kv.first) + ": " + repr(kv.second);
            first = false;
        }
        return out + (v.t == Value::T::Ns ? "}>" : "}");
    }
    case Value::T::Func: return "<function>";
    default: return to_str(v);
    }
}

// ---------------------------------------------------------------- json.dumps

struct JsonOptions {
    bool ensure_ascii = false;
    bool sort_keys = false;
    bool has_indent = false;
    std::string indent;
    std::string item_sep = ", ", key_sep = ": ";
};

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
    out += '"';
    for (char32_t c : decode(s)) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20 || (ensure_ascii && c >= 0x7f)) {
                char b[16];
                if (c >= 0x10000) {
                    const char32_t v = c - 0x10000;
                    std::snprintf(b, sizeof b, "\\u%04x\\u%04x", static_cast<unsigned>(0xd800 | (v >> 10)),
                                  static_cast<unsigned>(0xdc00 | (v & 0x3ff)));
                } else {
                    std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
                }
                out += b;
            } else {
                append_utf8(out, c);
            }
        }
    }
    out += '"';
}

void json_dump(std::string& out, const Value& v, const JsonOptions& o, int depth, const Pos& pos) {
    auto newline = [&](int d) {
        if (!o.has_indent) return;
        out += '\n';
        for (int k = 0; k < d; ++k) out += o.indent;
    };
    switch (v.t) {
    case Value::T::None: out += "null"; return;
    case Value::T::Bool: out += v.b ? "true" : "false"; return;
    case Value::T::Int: out += std::to_string(v.i); return;
    case Value::T::Float:
        if (std::isnan(v.f)) out += "NaN";
        else if (std::isinf(v.f)) out += v.f > 0 ? "Infinity" : "-Infinity";
        else out += float_repr(v.f);
        return;
    case Value::T::Str: json_string(out, v.s, o.ensure_ascii); return;
    case Value::T::List: {
        if (v.list->empty()) { out += "[]"; return; }
        out += '[';
        for (size_t k = 0; k < v.list->size(); ++k) {
            if (k) out += o.item_sep;
            newline(depth + 1);
            json_dump(out, (*v.list)[k], o, depth + 1, pos);
        }
        newline(depth);
        out += ']';
        return;
    }
    case Value::T::Dict: {
        if (v.dict->items.empty()) { out += "{}"; return; }
        std::vector<const std::pair<std::string, Value>*> items;
        for (const auto& kv : v.dict->items) items.push_back(&kv);
        if (o.sort_keys)
            std::stable_sort(items.begin(), items.end(),
                             [](auto* a, auto* b) { return decode(a->first) < decode(b->first); });
        out += '{';
        for (size_t k = 0; k < items.size(); ++k) {
            if (k) out += o.item_sep;
            newline(depth + 1);
            json_string(out, items[k]->first, o.ensure_ascii);
            out += o.key_sep;
            json_dump(out, items[k]->second, o, depth + 1, pos);
        }
        newline(depth);
        out += '}';
        return;
    }
    default: fail(pos, std::string("Object of type ") + type_name(v) + " is not JSON serializable");
    }
}

// ---------------------------------------------------------------- lexer

enum class Tok { Name, Str, Int, Float, Op, End };

struct Token {
    Tok type;
    std::string text;
    Pos pos;
    int64_t ival = 0;
    double fval = 0;
};

struct Segment {
    enum Kind { Text, Var, Block, Comment } kind;
    std::string text;           // Text
    std::vector<Token> tokens;  // Var / Block: the expression tokens, then an End token
    Pos pos;
};

class Lexer {
public:
    explicit Lexer(std::string src) : src_(std::move(src)) {}

    std::vector<Segment> run() {
        struct Raw {
            Segment seg;
            char lmark = 0, rmark = 0;
            bool ends_with_newline = false;
        };
        std::vector<Raw> raws;
        size_t text_start = 0;
        Pos text_pos = pos_at(0);
        while (true) {
            const size_t open = find_open(text_start);
            if (open == std::string::npos) {
                raws.push_back({Segment{Segment::Text, src_.substr(text_start), {}, text_pos}});
                break;
            }
            raws.push_back({Segment{Segment::Text, src_.substr(text_start, open - text_start), {}, text_pos}});
            const char kind = src_[open + 1];
            Raw tag;
            tag.seg.pos = pos_at(open);
            size_t p = open + 2;
            if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) tag.lmark = src_[p++];
            if (kind == '#') {
                const size_t close = src_.find("#}", p);
                if (close == std::string::npos) fail(tag.seg.pos, "unexpected end of template: the comment is not closed");
                tag.seg.kind = Segment::Comment;
                size_t end = close + 2;
                if (close > p && (src_[close - 1] == '-' || src_[close - 1] == '+')) tag.rmark = src_[close - 1];
                end = finish_tag(end, tag.rmark, true, tag.ends_with_newline);
                raws.push_back(std::move(tag));
                text_start = end;
                text_pos = pos_at(end);
                continue;
            }
            tag.seg.kind = kind == '{' ? Segment::Var : Segment::Block;
            size_t end = tokenize(p, kind == '{' ? '}' : '%', tag.seg.tokens, tag.rmark);
            end = finish_tag(end, tag.rmark, kind == '%', tag.ends_with_newline);
            // {% raw %}: everything up to {% endraw %} is text.
            const auto& tk = tag.seg.tokens;
            if (kind == '%' && tk.size() == 2 && tk[0].type == Tok::Name && tk[0].text == "raw") {
                tag.seg.kind = Segment::Comment;
                raws.push_back(std::move(tag));
                size_t q = end;
                while (true) {
                    const size_t c = src_.find("{%", q);
                    if (c == std::string::npos) fail(pos_at(open), "unexpected end of template: missing endraw");
                    size_t r = c + 2;
                    char lm = 0;
                    if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) lm = src_[r++];
                    while (r < src_.size() && std::isspace(static_cast<unsigned char>(src_[r]))) ++r;
                    if (src_.compare(r, 6, "endraw") != 0) { q = c + 2; continue; }
                    raws.push_back({Segment{Segment::Text, src_.substr(end, c - end), {}, pos_at(end)}});
                    Raw close;
                    close.seg.kind = Segment::Comment;
                    close.seg.pos = pos_at(c);
                    close.lmark = lm;
                    std::vector<Token> ignored;
                    size_t after = tokenize(r, '%', ignored, close.rmark);
                    after = finish_tag(after, close.rmark, true, close.ends_with_newline);
                    raws.push_back(std::move(close));
                    end = after;
                    break;
                }
            } else {
                raws.push_back(std::move(tag));
            }
            text_start = end;
            text_pos = pos_at(end);
        }
        // Whitespace control. A '-' mark strips all whitespace on that side; lstrip_blocks strips
        // the spaces and tabs before a block or comment tag that starts its line (unless '+').
        bool line_starting = true;
        for (size_t k = 0; k < raws.size(); ++k) {
            Raw& r = raws[k];
            if (r.seg.kind != Segment::Text) {
                line_starting = r.ends_with_newline;
                continue;
            }
            if (k + 1 < raws.size()) {
                const Raw& next = raws[k + 1];
                std::string& t = r.seg.text;
                if (next.lmark == '-') {
                    size_t e = t.size();
                    while (e > 0 && std::isspace(static_cast<unsigned char>(t[e - 1]))) --e;
                    t.resize(e);
                } else if (next.seg.kind != Segment::Var && next.lmark != '+') {
                    const size_t nl = t.rfind('\n');
                    const size_t lpos = nl == std::string::npos ? 0 : nl + 1;
                    if (lpos > 0 || line_starting) {
                        bool blank = true;
                        for (size_t q = lpos; q < t.size(); ++q)
                            if (t[q] != ' ' && t[q] != '\t') blank = false;
                        if (blank) t.resize(lpos);
                    }
                }
            }
            line_starting = false;
        }
        std::vector<Segment> out;
        for (Raw& r : raws)
            if (!(r.seg.kind == Segment::Text && r.seg.text.empty())) out.push_back(std::move(r.seg));
        return out;
    }

    Pos end_pos() { return pos_at(src_.size()); }

private:
    std::string src_;
    std::vector<size_t> line_starts_;

    Pos pos_at(size_t off) {
        if (line_starts_.empty()) {
            line_starts_.push_back(0);
            for (size_t k = 0; k < src_.size(); ++k)
                if (src_[k] == '\n') line_starts_.push_back(k + 1);
        }
        const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
        const size_t line = static_cast<size_t>(it - line_starts_.begin());
        const size_t start = line_starts_[line - 1];
        return Pos{static_cast<int>(line), static_cast<int>(u8_length(src_.substr(start, off - start)) + 1)};
    }

    size_t find_open(size_t from) const {
        size_t p = from;
        while (true) {
            p = src_.find('{', p);
            if (p == std::string::npos || p + 1 >= src_.size()) return std::string::npos;
            const char c = src_[p + 1];
            if (c == '{' || c == '%' || c == '#') return p;
            ++p;
        }
    }

    // After a tag's closing delimiter at `end`: a '-' mark eats the whitespace that follows;
    // trim_blocks eats one newline after a block or comment tag (unless '+').
    size_t finish_tag(size_t end, char rmark, bool block, bool& ends_with_newline) {
        ends_with_newline = false;
        if (rmark == '-') {
            while (end < src_.size() && std::isspace(static_cast<unsigned char>(src_[end]))) {
                ends_with_newline = src_[end] == '\n';
                ++end;
            }
        } else if (block && rmark != '+' && end < src_.size() && src_[end] == '\n') {
            ++end;
            ends_with_newline = true;
        }
        return end;
    }

    // Tokenizes an expression from p up to the closing `}}` / `%}` (closer is '}' or '%'),
    // which ends the tag only where brackets balance. Returns the offset after the closer.
    size_t tokenize(size_t p, char closer, std::vector<Token>& out, char& rmark) {
        int depth = 0;
        const Pos start = pos_at(p);
        while (true) {
            while (p < src_.size() && std::isspace(static_cast<unsigned char>(src_[p]))) ++p;
            if (p >= src_.size()) fail(start, std::string("unexpected end of template: the tag is not closed (expected '") + closer + "}')");
            const Pos here = pos_at(p);
            const char c = src_[p];
            if (depth == 0) {
                size_t q = p;
                char mark = 0;
                if ((src_[q] == '-' || src_[q] == '+') && q + 1 < src_.size() && src_[q + 1] == closer) mark = src_[q++];
                if (src_[q] == closer && q + 1 < src_.size() && src_[q + 1] == '}') {
                    rmark = mark;
                    out.push_back(Token{Tok::End, "", here});
                    return q + 2;
                }
            }
            if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                size_t q = p;
                while (q < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
                out.push_back(Token{Tok::Name, src_.substr(p, q - p), here});
                p = q;
            } else if (std::isdigit(static_cast<unsigned char>(c))) {
                size_t q = p;
                bool is_float = false;
                while (q < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
                if (q + 1 < src_.size() && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
                    is_float = true;
                    ++q;
                    while (q < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
                }
                if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
                    size_t r = q + 1;
                    if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
                    if (r < src_.size() && std::isdigit(static_cast<unsigned char>(src_[r]))) {
                        is_float = true;
                        q = r;
                        while (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) ++q;
                    }
                }
                std::string num;
                for (size_t k = p; k < q; ++k)
                    if (src_[k] != '_') num += src_[k];
                Token t{is_float ? Tok::Float : Tok::Int, num, here};
                if (is_float) t.fval = std::strtod(num.c_str(), nullptr);
                else t.ival = std::strtoll(num.c_str(), nullptr, 10);
                out.push_back(t);
                p = q;
            } else if (c == '\'' || c == '"') {
                std::string val;
                size_t q = p + 1;
                while (true) {
                    if (q >= src_.size()) fail(here, "unexpected end of template: the string is not closed");
                    const char d = src_[q];
                    if (d == c) break;
                    if (d == '\\' && q + 1 < src_.size()) {
                        const char e = src_[q + 1];
                        q += 2;
                        switch (e) {
                        case 'n': val += '\n'; break;
                        case 't': val += '\t'; break;
                        case 'r': val += '\r'; break;
                        case 'b': val += '\b'; break;
                        case 'f': val += '\f'; break;
                        case 'v': val += '\v'; break;
                        case 'a': val += '\a'; break;
                        case '0': val += '\0'; break;
                        case '\\': val += '\\'; break;
                        case '\'': val += '\''; break;
                        case '"': val += '"'; break;
                        case '\n': break;
                        case 'x':
                        case 'u':
                        case 'U': {
                            const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                            if (q + n > src_.size()) fail(here, "truncated \\" + std::string(1, e) + " escape");
                            const std::string hex = src_.substr(q, n);
                            if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
                                fail(here, "truncated \\" + std::string(1, e) + " escape");
                            append_utf8(val, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
                            q += n;
                            break;
                        }
                        default: val += '\\'; val += e;
                        }
                        continue;
                    }
                    val += d;
                    ++q;
                }
                out.push_back(Token{Tok::Str, val, here});
                p = q + 1;
            } else {
                static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~",
                                            "<", ">", "=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"};
                bool matched = false;
                for (const char* op : ops) {
                    const size_t n = std::strlen(op);
                    if (src_.compare(p, n, op) == 0) {
                        out.push_back(Token{Tok::Op, op, here});
                        if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
                        if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && n == 1) {
                            if (depth == 0) fail(here, std::string("unexpected '") + op + "'");
                            --depth;
                        }
                        p += n;
                        matched = true;
                        break;
                    }
                }
                if (!matched) fail(here, std::string("unexpected char '") + c + "'");
            }
        }
    }
};

// ---------------------------------------------------------------- AST

struct Expr {
    enum K { Lit, Name, Attr, Item, Slice, Call, Filter, Test, Neg, Pos_, Bin, And, Or, Not, Cmp, Cond, ListLit, TupleLit, DictLit };
    K k;
    Pos pos;
    Value lit;
    std::string name;  // Name / Attr / Filter / Test / Bin operator
    std::vector<std::unique_ptr<Expr>> a;  // operands; Call/Filter/Test: [callee/object, positional args...]
    std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kw;
    std::vector<std::string> ops;  // Cmp operators
    bool negated = false;          // Test: `is not`
    bool has[3] = {false, false, false};  // Slice: which of start/stop/step are given
};
using ExprP = std::unique_ptr<Expr>;

}  // namespace

struct Node {
    enum K { Body, Text, Emit, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue };
    K k;
    Pos pos;
    std::string text;                    // Text; Set/SetBlock/Macro: the name
    std::vector<std::string> targets;    // For / Set targets; Set on a namespace: {ns, attr}
    bool ns_attr = false;
    ExprP expr, cond;                    // Emit/Set/For iterable/CallBlock call; For's `if`
    std::vector<std::pair<ExprP, std::vector<std::shared_ptr<Node>>>> branches;  // If
    std::vector<std::shared_ptr<Node>> body, else_body;
    std::vector<std::pair<std::string, ExprP>> params;  // Macro / CallBlock caller params (default may be null)
    std::vector<ExprP> filters;  // FilterBlock / SetBlock filters: Filter exprs whose object is a placeholder
};

namespace {

using NodeP = std::shared_ptr<Node>;

// ---------------------------------------------------------------- parser

class Parser {
public:
    Parser(std::vector<Segment> segs, Pos eof) : segs_(std::move(segs)), eof_(eof) {}

    NodeP parse() {
        auto root = std::make_shared<Node>();
        root->k = Node::Body;
        root->body = parse_body({});
        if (seg_ < segs_.size()) {
            const Segment& s = segs_[seg_];
            fail(s.tokens.empty() ? s.pos : s.tokens[0].pos, "unexpected '" + s.tokens[0].text + "'");
        }
        return root;
    }

private:
    std::vector<Segment> segs_;
    Pos eof_;  // where the template ends (unclosed blocks are reported there)
    size_t seg_ = 0;
    const std::vector<Token>* toks_ = nullptr;
    size_t t_ = 0;

    const Token& cur() const { return (*toks_)[t_]; }
    const Token& peek(size_t n = 1) const { return (*toks_)[std::min(t_ + n, toks_->size() - 1)]; }
    bool at_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
    bool at_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
    const Token& next() { const Token& t = cur(); if (t.type != Tok::End) ++t_; return t; }
    void expect_op(const char* op) {
        if (!at_op(op)) fail(cur().pos, std::string("expected '") + op + "', got " + describe(cur()));
        ++t_;
    }
    std::string expect_name() {
        if (cur().type != Tok::Name) fail(cur().pos, "expected a name, got " + describe(cur()));
        return next().text;
    }
    void expect_end() {
        if (cur().type != Tok::End) fail(cur().pos, "expected the end of the statement, got " + describe(cur()));
    }
    bool in_var_ = false;
    // As jinja2 names tokens in its messages.
    std::string describe(const Token& t) const {
        if (t.type == Tok::End) return in_var_ ? "'end of print statement'" : "'end of statement block'";
        if (t.type == Tok::Str) return "string " + str_repr(t.text);
        return "'" + t.text + "'";
    }

    // Statements until a block tag whose keyword is in `ends` (left current, not consumed).
    std::vector<NodeP> parse_body(const std::vector<std::string>& ends, const std::string& block = "") {
        std::vector<NodeP> out;
        while (seg_ < segs_.size()) {
            Segment& s = segs_[seg_];
            if (s.kind == Segment::Comment) { ++seg_; continue; }
            if (s.kind == Segment::Text) {
                auto n = std::make_shared<Node>();
                n->k = Node::Text;
                n->pos = s.pos;
                n->text = s.text;
                out.push_back(n);
                ++seg_;
                continue;
            }
            toks_ = &s.tokens;
            t_ = 0;
            in_var_ = s.kind == Segment::Var;
            if (s.kind == Segment::Var) {
                auto n = std::make_shared<Node>();
                n->k = Node::Emit;
                n->pos = cur().pos;
                n->expr = parse_expr();
                expect_end_var();
                out.push_back(n);
                ++seg_;
                continue;
            }
            if (cur().type != Tok::Name) fail(cur().pos, "expected a statement keyword, got " + describe(cur()));
            const std::string kw = cur().text;
            if (std::find(ends.begin(), ends.end(), kw) != ends.end()) return out;
            out.push_back(parse_statement());
        }
        if (!ends.empty()) {
            Pos p = eof_;
            std::string tags;
            for (const auto& e : ends) tags += (tags.empty() ? "'" : " or '") + e + "'";
            fail(p, "Unexpected end of template. Jinja was looking for the following tags: " + tags +
                        ". The innermost block that needs to be closed is '" + block + "'.");
        }
        return out;
    }

    void expect_end_var() {
        if (cur().type != Tok::End) fail(cur().pos, "expected the end of the print statement, got " + describe(cur()));
    }

    // The current segment is a block tag; returns its keyword and moves past it.
    std::string take_block(const std::vector<std::string>& allowed) {
        Segment& s = segs_[seg_];
        toks_ = &s.tokens;
        t_ = 0;
        in_var_ = false;
        const std::string kw = cur().text;
        if (std::find(allowed.begin(), allowed.end(), kw) == allowed.end())
            fail(cur().pos, "unexpected '" + kw + "'");
        ++t_;
        return kw;
    }
    void end_block() {
        expect_end();
        ++seg_;
    }

    NodeP parse_statement() {
        const Token kwt = next();
        const std::string& kw = kwt.text;
        auto n = std::make_shared<Node>();
        n->pos = kwt.pos;
        if (kw == "if") {
            n->k = Node::If;
            ExprP c = parse_expr();
            end_block();
            std::vector<NodeP> b = parse_body({"elif", "else", "endif"}, "if");
            n->branches.emplace_back(std::move(c), std::move(b));
            while (true) {
                const std::string k = take_block({"elif", "else", "endif"});
                if (k == "elif") {
                    ExprP c2 = parse_expr();
                    end_block();
                    std::vector<NodeP> b2 = parse_body({"elif", "else", "endif"}, "if");
                    n->branches.emplace_back(std::move(c2), std::move(b2));
                } else if (k == "else") {
                    end_block();
                    n->else_body = parse_body({"endif"}, "if");
                    take_block({"endif"});
                    end_block();
                    break;
                } else {
                    end_block();
                    break;
                }
            }
        } else if (kw == "for") {
            n->k = Node::For;
            n->targets.push_back(expect_name());
            while (at_op(",")) { ++t_; n->targets.push_back(expect_name()); }
            if (!at_name("in")) fail(cur().pos, "expected 'in', got " + describe(cur()));
            ++t_;
            n->expr = parse_expr(false);
            if (at_name("if")) { ++t_; n->cond = parse_expr(false); }
            if (at_name("recursive")) fail(cur().pos, "recursive loops are not supported");
            end_block();
            n->body = parse_body({"endfor", "else"}, "for");
            if (take_block({"else", "endfor"}) == "else") {
                end_block();
                n->else_body = parse_body({"endfor"}, "for");
                take_block({"endfor"});
            }
            end_block();
        } else if (kw == "set") {
            const std::string first = expect_name();
            if (at_op(".")) {
                ++t_;
                n->k = Node::Set;
                n->ns_attr = true;
                n->targets = {first, expect_name()};
                expect_op("=");
                n->expr = parse_tuple_expr();
                end_block();
            } else {
                n->targets.push_back(first);
                while (at_op(",")) { ++t_; n->targets.push_back(expect_name()); }
                if (at_op("=")) {
                    ++t_;
                    n->k = Node::Set;
                    n->expr = parse_tuple_expr();
                    end_block();
                } else {
                    n->k = Node::SetBlock;
                    parse_filter_chain(n->filters);
                    end_block();
                    n->body = parse_body({"endset"}, "set");
                    take_block({"endset"});
                    end_block();
                }
            }
        } else if (kw == "macro") {
            n->k = Node::Macro;
            n->text = expect_name();
            parse_params(n->params);
            end_block();
            n->body = parse_body({"endmacro"}, "macro");
            take_block({"endmacro"});
            if (cur().type == Tok::Name) ++t_;
            end_block();
        } else if (kw == "call") {
            n->k = Node::CallBlock;
            if (at_op("(")) parse_params(n->params);
            n->expr = parse_expr();
            if (n->expr->k != Expr::Call) fail(n->expr->pos, "expected a call");
            end_block();
            n->body = parse_body({"endcall"}, "call");
            take_block({"endcall"});
            end_block();
        } else if (kw == "filter") {
            n->k = Node::FilterBlock;
            parse_filter_chain(n->filters, false);
            end_block();
            n->body = parse_body({"endfilter"}, "filter");
            take_block({"endfilter"});
            end_block();
        } else if (kw == "generation") {
            // transformers' {% generation %} block (assistant-token masks): rendered as its body.
            end_block();
            n->k = Node::Body;
            n->body = parse_body({"endgeneration"}, "generation");
            take_block({"endgeneration"});
            end_block();
        } else if (kw == "break" || kw == "continue") {
            n->k = kw == "break" ? Node::Break : Node::Continue;
            end_block();
        } else {
            fail(kwt.pos, "Encountered unknown tag '" + kw + "'.");
        }
        return n;
    }

    void parse_params(std::vector<std::pair<std::string, ExprP>>& params) {
        expect_op("(");
        while (!at_op(")")) {
            if (!params.empty()) expect_op(",");
            if (at_op(")")) break;
            std::string name = expect_name();
            ExprP def;
            if (at_op("=")) { ++t_; def = parse_expr(); }
            params.emplace_back(std::move(name), std::move(def));
        }
        expect_op(")");
    }

    // `| f(args) | g` chain after set NAME or at a filter block (`first_pipe`: starts with '|').
    void parse_filter_chain(std::vector<ExprP>& out, bool first_pipe = true) {
        bool need_pipe = first_pipe;
        while (true) {
            if (need_pipe) {
                if (!at_op("|")) break;
                ++t_;
            }
            need_pipe = true;
            auto f = std::make_unique<Expr>();
            f->k = Expr::Filter;
            f->pos = cur().pos;
            f->name = filter_name();
            f->a.push_back(nullptr);  // the object, filled in at render time
            if (at_op("(")) parse_call_args(*f);
            out.push_back(std::move(f));
        }
    }

    static bool known_filter(const std::string& n) {
        static const char* names[] = {"length", "count", "trim", "upper", "lower", "capitalize", "title", "first",
                                      "last", "join", "default", "d", "replace", "tojson", "string", "safe", "e",
                                      "escape", "forceescape", "int", "float", "list", "items", "dictsort",
                                      "selectattr", "rejectattr", "select", "reject", "map", "unique", "reverse",
                                      "sort", "indent", "abs", "round", "sum", "min", "max", "wordcount", "center"};
        for (const char* k : names)
            if (n == k) return true;
        return false;
    }
    static bool known_test(const std::string& n) {
        static const char* names[] = {"defined", "undefined", "none", "string", "number", "integer", "float", "boolean",
                                      "true", "false", "mapping", "iterable", "sequence", "callable", "odd", "even",
                                      "divisibleby", "lower", "upper", "equalto", "eq", "==", "sameas", "ne", "!=",
                                      "lt", "lessthan", "le", "gt", "greaterthan", "ge", "in", "filter", "test"};
        for (const char* k : names)
            if (n == k) return true;
        return false;
    }
    std::string filter_name() {
        const Pos p = cur().pos;
        std::string n = parse_dotted_name();
        if (!known_filter(n)) fail(p, "No filter named '" + n + "'.");
        return n;
    }

    std::string parse_dotted_name() {
        std::string name = expect_name();
        while (at_op(".")) { ++t_; name += "." + expect_name(); }
        return name;
    }

    static ExprP make(Expr::K k, const Pos& p) {
        auto e = std::make_unique<Expr>();
        e->k = k;
        e->pos = p;
        return e;
    }

    // An expression, or an unparenthesized tuple (set x = a, b).
    ExprP parse_tuple_expr() {
        const Pos p = cur().pos;
        ExprP first = parse_expr();
        if (!at_op(",")) return first;
        auto t = make(Expr::TupleLit, p);
        t->a.push_back(std::move(first));
        while (at_op(",")) {
            ++t_;
            if (cur().type == Tok::End) break;
            t->a.push_back(parse_expr());
        }
        return t;
    }

    ExprP parse_expr(bool with_cond = true) {
        const Pos p = cur().pos;
        ExprP e = parse_or();
        if (!with_cond) return e;
        while (at_name("if")) {
            ++t_;
            auto c = make(Expr::Cond, p);
            ExprP test = parse_or();
            ExprP otherwise;
            if (at_name("else")) { ++t_; otherwise = parse_expr(); }
            c->a.push_back(std::move(test));
            c->a.push_back(std::move(e));
            c->a.push_back(std::move(otherwise));
            e = std::move(c);
        }
        return e;
    }

    ExprP parse_or() {
        ExprP l = parse_and();
        while (at_name("or")) {
            const Pos p = next().pos;
            auto n = make(Expr::Or, p);
            n->a.push_back(std::move(l));
            n->a.push_back(parse_and());
            l = std::move(n);
        }
        return l;
    }
    ExprP parse_and() {
        ExprP l = parse_not();
        while (at_name("and")) {
            const Pos p = next().pos;
            auto n = make(Expr::And, p);
            n->a.push_back(std::move(l));
            n->a.push_back(parse_not());
            l = std::move(n);
        }
        return l;
    }
    ExprP parse_not() {
        if (at_name("not")) {
            const Pos p = next().pos;
            auto n = make(Expr::Not, p);
            n->a.push_back(parse_not());
            return n;
        }
        return parse_compare();
    }
    ExprP parse_compare() {
        const Pos p = cur().pos;
        ExprP first = parse_math1();
        ExprP node;
        while (true) {
            std::string op;
            if (cur().type == Tok::Op &&
                (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
                 cur().text == "<=" || cur().text == ">=")) {
                op = next().text;
            } else if (at_name("in")) {
                ++t_;
                op = "in";
            } else if (at_name("not") && peek().type == Tok::Name && peek().text == "in") {
                t_ += 2;
                op = "notin";
            } else {
                break;
            }
            if (!node) {
                node = make(Expr::Cmp, p);
                node->a.push_back(std::move(first));
            }
            node->ops.push_back(op);
            node->a.push_back(parse_math1());
        }
        return node ? std::move(node) : std::move(first);
    }
    ExprP binary(ExprP l, const std::string& op, ExprP r, const Pos& p) {
        auto n = make(Expr::Bin, p);
        n->name = op;
        n->a.push_back(std::move(l));
        n->a.push_back(std::move(r));
        return n;
    }
    ExprP parse_math1() {
        ExprP l = parse_concat();
        while (at_op("+") || at_op("-")) {
            const Token& t = next();
            const std::string op = t.text;
            const Pos p = t.pos;
            l = binary(std::move(l), op, parse_concat(), p);
        }
        return l;
    }
    ExprP parse_concat() {
        ExprP l = parse_math2();
        while (at_op("~")) {
            const Pos p = next().pos;
            l = binary(std::move(l), "~", parse_math2(), p);
        }
        return l;
    }
    ExprP parse_math2() {
        ExprP l = parse_pow();
        while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
            const Token& t = next();
            const std::string op = t.text;
            const Pos p = t.pos;
            l = binary(std::move(l), op, parse_pow(), p);
        }
        return l;
    }
    ExprP parse_pow() {
        ExprP l = parse_unary();
        while (at_op("**")) {
            const Pos p = next().pos;
            l = binary(std::move(l), "**", parse_unary(), p);
        }
        return l;
    }
    ExprP parse_unary(bool with_filter = true) {
        ExprP node;
        if (at_op("-") || at_op("+")) {
            const Token& t = next();
            auto n = make(t.text == "-" ? Expr::Neg : Expr::Pos_, t.pos);
            n->a.push_back(parse_unary(false));
            node = std::move(n);
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_expr(std::move(node));
        return node;
    }
    ExprP parse_primary() {
        const Token& t = cur();
        const Pos p = t.pos;
        if (t.type == Tok::Name) {
            ++t_;
            if (t.text == "true" || t.text == "True") { auto e = make(Expr::Lit, p); e->lit = Value::boolean(true); return e; }
            if (t.text == "false" || t.text == "False") { auto e = make(Expr::Lit, p); e->lit = Value::boolean(false); return e; }
            if (t.text == "none" || t.text == "None") { auto e = make(Expr::Lit, p); e->lit = Value::none(); return e; }
            auto e = make(Expr::Name, p);
            e->name = t.text;
            return e;
        }
        if (t.type == Tok::Str) {
            std::string s;
            while (cur().type == Tok::Str) s += next().text;
            auto e = make(Expr::Lit, p);
            e->lit = Value::str(s);
            return e;
        }
        if (t.type == Tok::Int || t.type == Tok::Float) {
            ++t_;
            auto e = make(Expr::Lit, p);
            e->lit = t.type == Tok::Int ? Value::integer(t.ival) : Value::number(t.fval);
            return e;
        }
        if (at_op("(")) {
            ++t_;
            if (at_op(")")) { ++t_; auto e = make(Expr::TupleLit, p); return e; }
            ExprP first = parse_expr();
            if (at_op(")")) { ++t_; return first; }
            auto tup = make(Expr::TupleLit, p);
            tup->a.push_back(std::move(first));
            while (at_op(",")) {
                ++t_;
                if (at_op(")")) break;
                tup->a.push_back(parse_expr());
            }
            expect_op(")");
            return tup;
        }
        if (at_op("[")) {
            ++t_;
            auto l = make(Expr::ListLit, p);
            while (!at_op("]")) {
                if (!l->a.empty()) expect_op(",");
                if (at_op("]")) break;
                l->a.push_back(parse_expr());
            }
            expect_op("]");
            return l;
        }
        if (at_op("{")) {
            ++t_;
            auto d = make(Expr::DictLit, p);
            while (!at_op("}")) {
                if (!d->a.empty()) expect_op(",");
                if (at_op("}")) break;
                d->a.push_back(parse_expr());
                expect_op(":");
                d->a.push_back(parse_expr());
            }
            expect_op("}");
            return d;
        }
        fail(p, "unexpected " + describe(t));
    }
    ExprP parse_postfix(ExprP node) {
        while (true) {
            if (at_op(".")) {
                const Pos p = next().pos;
                auto n = make(Expr::Attr, p);
                if (cur().type == Tok::Name) n->name = next().text;
                else if (cur().type == Tok::Int) {
                    // foo.0 is foo[0]
                    n->k = Expr::Item;
                    auto idx = make(Expr::Lit, cur().pos);
                    idx->lit = Value::integer(next().ival);
                    n->a.push_back(std::move(node));
                    n->a.push_back(std::move(idx));
                    node = std::move(n);
                    continue;
                } else fail(cur().pos, "expected an attribute name, got " + describe(cur()));
                n->a.push_back(std::move(node));
                node = std::move(n);
            } else if (at_op("[")) {
                const Pos p = next().pos;
                ExprP parts[3];
                bool has[3] = {false, false, false};
                bool is_slice = false;
                int part = 0;
                while (true) {
                    if (at_op("]")) break;
                    if (at_op(":")) {
                        is_slice = true;
                        ++t_;
                        if (++part > 2) fail(cur().pos, "expected ']'");
                        continue;
                    }
                    if (has[part]) fail(cur().pos, "expected ']' or ':', got " + describe(cur()));
                    parts[part] = parse_expr();
                    has[part] = true;
                }
                expect_op("]");
                if (!is_slice) {
                    if (!has[0]) fail(p, "expected a subscript");
                    auto n = make(Expr::Item, p);
                    n->a.push_back(std::move(node));
                    n->a.push_back(std::move(parts[0]));
                    node = std::move(n);
                } else {
                    auto n = make(Expr::Slice, p);
                    n->a.push_back(std::move(node));
                    for (int k = 0; k < 3; ++k) {
                        n->has[k] = has[k];
                        n->a.push_back(std::move(parts[k]));
                    }
                    node = std::move(n);
                }
            } else if (at_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }
    ExprP parse_call(ExprP callee) {
        auto n = make(Expr::Call, callee->pos);  // errors of a call point at what is called
        n->a.push_back(std::move(callee));
        parse_call_args(*n);
        return n;
    }
    void parse_call_args(Expr& n) {
        expect_op("(");
        bool first = true;
        while (!at_op(")")) {
            if (!first) expect_op(",");
            first = false;
            if (at_op(")")) break;
            if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
                std::string k = next().text;
                ++t_;
                n.kw.emplace_back(std::move(k), parse_expr());
            } else {
                if (!n.kw.empty()) fail(cur().pos, "positional argument after keyword argument");
                n.a.push_back(parse_expr());
            }
        }
        expect_op(")");
    }
    ExprP parse_filter_expr(ExprP node) {
        while (true) {
            if (at_op("|")) {
                const Pos p = next().pos;
                auto f = make(Expr::Filter, p);
                f->name = filter_name();
                f->a.push_back(std::move(node));
                if (at_op("(")) parse_call_args(*f);
                node = std::move(f);
            } else if (at_name("is")) {
                const Pos p = next().pos;
                auto t = make(Expr::Test, p);
                if (at_name("not")) { ++t_; t->negated = true; }
                const Pos np = cur().pos;
                t->name = parse_dotted_name();
                if (!known_test(t->name)) fail(np, "No test named '" + t->name + "'.");
                t->a.push_back(std::move(node));
                if (at_op("(")) {
                    parse_call_args(*t);
                } else if ((cur().type == Tok::Name || cur().type == Tok::Str || cur().type == Tok::Int ||
                            cur().type == Tok::Float || at_op("[") || at_op("{")) &&
                           !at_name("else") && !at_name("or") && !at_name("and")) {
                    if (at_name("is")) fail(cur().pos, "you cannot chain multiple tests with is");
                    t->a.push_back(parse_postfix(parse_primary()));
                }
                node = std::move(t);
            } else if (at_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }
};

// ---------------------------------------------------------------- interpreter

enum class Flow { Normal, Break, Continue };

using Frame = std::unordered_map<std::string, Value>;
using Frames = std::vector<std::shared_ptr<Frame>>;

int64_t py_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}
int64_t py_mod(int64_t a, int64_t b) {
    int64_t m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

bool values_equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.t == Value::T::Float || b.t == Value::T::Float) return a.as_double() == b.as_double();
        return (a.t == Value::T::Bool ? a.b : a.i) == (b.t == Value::T::Bool ? b.b : b.i);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case Value::T::Undefined:
    case Value::T::None: return true;
    case Value::T::Str: return a.s == b.s;
    case Value::T::List:
        if (a.tuple != b.tuple || a.list->size() != b.list->size()) return false;
        for (size_t k = 0; k < a.list->size(); ++k)
            if (!values_equal((*a.list)[k], (*b.list)[k])) return false;
        return true;
    case Value::T::Dict: {
        if (a.dict->items.size() != b.dict->items.size()) return false;
        for (const auto& kv : a.dict->items) {
            const Value* o = b.dict->find(kv.first);
            if (!o || !values_equal(kv.second, *o)) return false;
        }
        return true;
    }
    default: return a.dict == b.dict && a.fn == b.fn;
    }
}

struct Interp {
    Frames frames;
    std::string* out = nullptr;

    [[noreturn]] void undefined_error(const Value& u, const Pos& p) {
        fail(p, u.s.empty() ? "a value is undefined" : u.s);
    }

    // The stored value of a name, or null: read in place (most names are read, not kept).
    const Value* find(const std::string& name) const {
        for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
            const auto f = (*it)->find(name);
            if (f != (*it)->end()) return &f->second;
        }
        return nullptr;
    }
    Value lookup(const std::string& name) const {
        if (const Value* v = find(name)) return *v;
        return Value::undefined("'" + name + "' is undefined");
    }
    void assign(const std::string& name, Value v) { (*frames.back())[name] = std::move(v); }

    // ------------------------------------------------ attribute and item access

    Value get_attr(const Value& obj, const std::string& name, const Pos& p) {
        if (obj.is_undefined()) undefined_error(obj, p);
        if (obj.t == Value::T::Dict) {
            Value m = dict_method(obj, name);
            if (!m.is_undefined()) return m;
            if (const Value* v = obj.dict->find(name)) return *v;
        } else if (obj.t == Value::T::Ns) {
            if (const Value* v = obj.dict->find(name)) return *v;
        } else if (obj.t == Value::T::Str) {
            Value m = str_method(obj, name);
            if (!m.is_undefined()) return m;
        } else if (obj.t == Value::T::List) {
            if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
                name == "clear" || name == "sort" || name == "reverse")
                return Value::func([name](Interp&, Args&, const Pos& cp) -> Value {
                    fail(cp, "access to attribute '" + name + "' of 'list' object is unsafe.");
                });
        }
        return Value::undefined("'" + std::string(type_name(obj)) + " object' has no attribute '" + name + "'");
    }

    Value get_item(const Value& obj, const Value& key, const Pos& p) {
        if (obj.is_undefined()) undefined_error(obj, p);
        if (obj.is_mapping() && key.is_str()) {
            if (const Value* v = obj.dict->find(key.s)) return *v;
            if (obj.t == Value::T::Dict) {
                Value m = dict_method(obj, key.s);
                if (!m.is_undefined()) return m;
            }
            return Value::undefined("'" + std::string(type_name(obj)) + " object' has no attribute '" + key.s + "'");
        }
        if ((obj.t == Value::T::List || obj.t == Value::T::Str) && (key.t == Value::T::Int || key.t == Value::T::Bool)) {
            int64_t idx = key.t == Value::T::Bool ? key.b : key.i;
            if (obj.t == Value::T::List) {
                const int64_t n = static_cast<int64_t>(obj.list->size());
                if (idx < 0) idx += n;
                if (idx < 0 || idx >= n) return Value::undefined("list object has no element " + std::to_string(key.i));
                return (*obj.list)[static_cast<size_t>(idx)];
            }
            const std::u32string u = decode(obj.s);
            const int64_t n = static_cast<int64_t>(u.size());
            if (idx < 0) idx += n;
            if (idx < 0 || idx >= n) return Value::undefined("str object has no element " + std::to_string(key.i));
            std::string ch;
            append_utf8(ch, u[static_cast<size_t>(idx)]);
            return Value::str(ch);
        }
        if (key.is_str()) return get_attr(obj, key.s, p);
        return Value::undefined("'" + std::string(type_name(obj)) + " object' has no element " + repr(key));
    }

    Value slice(const Value& obj, const Value* start, const Value* stop, const Value* step, const Pos& p) {
        if (obj.is_undefined()) undefined_error(obj, p);
        auto as_int = [&](const Value* v, const char* what) -> std::pair<bool, int64_t> {
            if (!v || v->is_none()) return {false, 0};
            if (v->t != Value::T::Int && v->t != Value::T::Bool)
                fail(p, std::string("slice ") + what + " must be an integer or None");
            return {true, v->t == Value::T::Bool ? v->b : v->i};
        };
        const auto [has_step, st] = as_int(step, "step");
        const int64_t stp = has_step ? st : 1;
        if (stp == 0) fail(p, "slice step cannot be zero");
        auto indices = [&](int64_t n) {
            const auto [hb, b0] = as_int(start, "start");
            const auto [he, e0] = as_int(stop, "stop");
            int64_t b, e;
            if (stp > 0) {
                b = hb ? (b0 < 0 ? std::max<int64_t>(b0 + n, 0) : std::min(b0, n)) : 0;
                e = he ? (e0 < 0 ? std::max<int64_t>(e0 + n, 0) : std::min(e0, n)) : n;
            } else {
                b = hb ? (b0 < 0 ? std::max<int64_t>(b0 + n, -1) : std::min(b0, n - 1)) : n - 1;
                e = he ? (e0 < 0 ? std::max<int64_t>(e0 + n, -1) : std::min(e0, n - 1)) : -1;
            }
            std::vector<size_t> idx;
            if (stp > 0)
                for (int64_t k = b; k < e; k += stp) idx.push_back(static_cast<size_t>(k));
            else
                for (int64_t k = b; k > e; k += stp) idx.push_back(static_cast<size_t>(k));
            return idx;
        };
        if (obj.t == Value::T::List) {
            List out;
            for (size_t k : indices(static_cast<int64_t>(obj.list->size()))) out.push_back((*obj.list)[k]);
            return Value::make_list(std::move(out), obj.tuple);
        }
        if (obj.t == Value::T::Str) {
            const std::u32string u = decode(obj.s);
            std::u32string out;
            for (size_t k : indices(static_cast<int64_t>(u.size()))) out.push_back(u[k]);
            return Value::str(encode(out));
        }
        fail(p, std::string("'") + type_name(obj) + "' object is not subscriptable");
    }

    Value dict_method(const Value& obj, const std::string& name) {
        const auto d = obj.dict;
        if (name == "items")
            return Value::func([d](Interp&, Args&, const Pos&) {
                List out;
                for (const auto& kv : d->items) out.push_back(Value::make_list({Value::str(kv.first), kv.second}, true));
                return Value::make_list(std::move(out));
            });
        if (name == "keys")
            return Value::func([d](Interp&, Args&, const Pos&) {
                List out;
                for (const auto& kv : d->items) out.push_back(Value::str(kv.first));
                return Value::make_list(std::move(out));
            });
        if (name == "values")
            return Value::func([d](Interp&, Args&, const Pos&) {
                List out;
                for (const auto& kv : d->items) out.push_back(kv.second);
                return Value::make_list(std::move(out));
            });
        if (name == "get")
            return Value::func([d](Interp&, Args& a, const Pos& p) {
                const Value* k = a.get(0, "key");
                if (!k) fail(p, "get expected at least 1 argument, got 0");
                const Value* def = a.get(1, "default");
                if (k->is_str())
                    if (const Value* v = d->find(k->s)) return *v;
                return def ? *def : Value::none();
            });
        return Value::undefined();
    }

    static std::string need_str(const Value* v, const char* what, const Pos& p) {
        if (!v || !v->is_str()) fail(p, std::string(what) + " must be a string");
        return v->s;
    }

    Value str_method(const Value& obj, const std::string& name) {
        const std::string s = obj.s;
        if (name == "strip" || name == "lstrip" || name == "rstrip") {
            const bool l = name != "rstrip", r = name != "lstrip";
            return Value::func([s, l, r](Interp&, Args& a, const Pos& p) {
                const Value* c = a.get(0, "chars");
                if (c && !c->is_none() && !c->is_str()) fail(p, "strip arg must be None or str");
                return Value::str(py_strip(s, (c && c->is_str()) ? &c->s : nullptr, l, r));
            });
        }
        if (name == "split" || name == "rsplit")
            return Value::func([s, name](Interp&, Args& a, const Pos& p) {
                const Value* sep = a.get(0, "sep");
                const Value* mx = a.get(1, "maxsplit");
                int64_t maxsplit = (mx && mx->t == Value::T::Int) ? mx->i : -1;
                List out;
                if (!sep || sep->is_none()) {
                    const std::u32string u = decode(s);
                    size_t k = 0;
                    while (k < u.size()) {
                        while (k < u.size() && py_space(u[k])) ++k;
                        if (k >= u.size()) break;
                        if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
                            size_t e = u.size();
                            while (e > k && py_space(u[e - 1])) --e;
                            out.push_back(Value::str(encode(u.substr(k, e - k))));
                            break;
                        }
                        size_t e = k;
                        while (e < u.size() && !py_space(u[e])) ++e;
                        out.push_back(Value::str(encode(u.substr(k, e - k))));
                        k = e;
                    }
                    return Value::make_list(std::move(out));
                }
                const std::string sp = need_str(sep, "separator", p);
                if (sp.empty()) fail(p, "empty separator");
                if (name == "rsplit" && maxsplit >= 0) {
                    std::vector<std::string> parts;
                    size_t end = s.size();
                    while (static_cast<int64_t>(parts.size()) < maxsplit) {
                        if (end < sp.size()) break;
                        const size_t hit = s.rfind(sp, end - sp.size());
                        if (hit == std::string::npos) break;
                        parts.push_back(s.substr(hit + sp.size(), end - hit - sp.size()));
                        end = hit;
                    }
                    parts.push_back(s.substr(0, end));
                    for (auto it = parts.rbegin(); it != parts.rend(); ++it) out.push_back(Value::str(*it));
                    return Value::make_list(std::move(out));
                }
                size_t pos = 0;
                while (true) {
                    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
                    const size_t hit = s.find(sp, pos);
                    if (hit == std::string::npos) break;
                    out.push_back(Value::str(s.substr(pos, hit - pos)));
                    pos = hit + sp.size();
                }
                out.push_back(Value::str(s.substr(pos)));
                return Value::make_list(std::move(out));
            });
        if (name == "startswith" || name == "endswith") {
            const bool start = name == "startswith";
            return Value::func([s, start](Interp&, Args& a, const Pos& p) {
                const Value* x = a.get(0, "prefix");
                if (!x) fail(p, "startswith takes at least 1 argument");
                auto test = [&](const std::string& t) {
                    if (t.size() > s.size()) return false;
                    return start ? s.compare(0, t.size(), t) == 0 : s.compare(s.size() - t.size(), t.size(), t) == 0;
                };
                if (x->t == Value::T::List) {
                    for (const Value& e : *x->list)
                        if (test(need_str(&e, "prefix", p))) return Value::boolean(true);
                    return Value::boolean(false);
                }
                return Value::boolean(test(need_str(x, "prefix", p)));
            });
        }
        if (name == "lower") return Value::func([s](Interp&, Args&, const Pos&) { return Value::str(to_lower(s)); });
        if (name == "upper") return Value::func([s](Interp&, Args&, const Pos&) { return Value::str(to_upper(s)); });
        if (name == "title")
            return Value::func([s](Interp&, Args&, const Pos&) {
                std::string out = s;
                bool prev_cased = false;
                for (char& c : out) {
                    if (ascii_alpha(c)) {
                        c = prev_cased ? ascii_lower(c) : ascii_upper(c);
                        prev_cased = true;
                    } else {
                        prev_cased = false;
                    }
                }
                return Value::str(out);
            });
        if (name == "capitalize")
            return Value::func([s](Interp&, Args&, const Pos&) {
                std::string out = to_lower(s);
                if (!out.empty()) out[0] = ascii_upper(out[0]);
                return Value::str(out);
            });
        if (name == "replace")
            return Value::func([s](Interp&, Args& a, const Pos& p) {
                const Value* c = a.get(2, "count");
                return Value::str(replace_all(s, need_str(a.get(0, "old"), "old", p), need_str(a.get(1, "new"), "new", p),
                                              (c && c->t == Value::T::Int) ? c->i : -1));
            });
        if (name == "find" || name == "count" || name == "index" || name == "rfind")
            return Value::func([s, name](Interp&, Args& a, const Pos& p) {
                const std::string sub = need_str(a.get(0, "sub"), "sub", p);
                if (name == "count") {
                    if (sub.empty()) return Value::integer(static_cast<int64_t>(u8_length(s)) + 1);
                    int64_t n = 0;
                    for (size_t q = s.find(sub); q != std::string::npos; q = s.find(sub, q + sub.size())) ++n;
                    return Value::integer(n);
                }
                const size_t hit = name == "rfind" ? s.rfind(sub) : s.find(sub);
                if (hit == std::string::npos) {
                    if (name == "index") fail(p, "substring not found");
                    return Value::integer(-1);
                }
                return Value::integer(static_cast<int64_t>(u8_length(s.substr(0, hit))));
            });
        if (name == "join")
            return Value::func([s](Interp& in, Args& a, const Pos& p) {
                const Value* x = a.get(0, "iterable");
                if (!x) fail(p, "join takes exactly one argument");
                std::string out;
                bool first = true;
                for (const Value& e : in.iterate(*x, p)) {
                    if (!e.is_str()) fail(p, std::string("sequence item: expected str instance, ") + type_name(e) + " found");
                    if (!first) out += s;
                    out += e.s;
                    first = false;
                }
                return Value::str(out);
            });
        if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum" || name == "isupper" ||
            name == "islower")
            return Value::func([s, name](Interp&, Args&, const Pos&) {
                if (s.empty()) return Value::boolean(false);
                bool ok = true, cased = false;
                for (char32_t c : decode(s)) {
                    const bool digit = c >= '0' && c <= '9';
                    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                    if (name == "isdigit") ok = ok && digit;
                    else if (name == "isspace") ok = ok && py_space(c);
                    else if (name == "isalpha") ok = ok && alpha;
                    else if (name == "isalnum") ok = ok && (alpha || digit);
                    else if (name == "isupper") { if (c >= 'a' && c <= 'z') ok = false; if (c >= 'A' && c <= 'Z') cased = true; }
                    else { if (c >= 'A' && c <= 'Z') ok = false; if (c >= 'a' && c <= 'z') cased = true; }
                }
                if (name == "isupper" || name == "islower") ok = ok && cased;
                return Value::boolean(ok);
            });
        if (name == "format")
            return Value::func([s](Interp&, Args& a, const Pos& p) {
                // str.format with {} / {0} / {name} fields (no format specs).
                std::string out;
                size_t auto_idx = 0;
                for (size_t k = 0; k < s.size(); ++k) {
                    if (s[k] == '{' && k + 1 < s.size() && s[k + 1] == '{') { out += '{'; ++k; continue; }
                    if (s[k] == '}' && k + 1 < s.size() && s[k + 1] == '}') { out += '}'; ++k; continue; }
                    if (s[k] != '{') { out += s[k]; continue; }
                    const size_t close = s.find('}', k);
                    if (close == std::string::npos) fail(p, "Single '{' encountered in format string");
                    const std::string field = s.substr(k + 1, close - k - 1);
                    const Value* v = nullptr;
                    if (field.empty()) v = auto_idx < a.pos.size() ? &a.pos[auto_idx++] : nullptr;
                    else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
                        const size_t i = std::stoul(field);
                        v = i < a.pos.size() ? &a.pos[i] : nullptr;
                    } else {
                        for (const auto& kv : a.kw)
                            if (kv.first == field) v = &kv.second;
                    }
                    if (!v) fail(p, "format: no value for field '{" + field + "}'");
                    out += to_str(*v);
                    k = close;
                }
                return Value::str(out);
            });
        return Value::undefined();
    }

    // ------------------------------------------------ iteration

    std::vector<Value> iterate(const Value& v, const Pos& p) {
        switch (v.t) {
        case Value::T::Undefined: return {};
        case Value::T::List: return *v.list;
        case Value::T::Dict: {
            std::vector<Value> keys;
            for (const auto& kv : v.dict->items) keys.push_back(Value::str(kv.first));
            return keys;
        }
        case Value::T::Str: {
            std::vector<Value> chars;
            for (char32_t c : decode(v.s)) {
                std::string ch;
                append_utf8(ch, c);
                chars.push_back(Value::str(ch));
            }
            return chars;
        }
        default: fail(p, std::string("'") + type_name(v) + "' object is not iterable");
        }
    }

    // ------------------------------------------------ operators

    Value binary(const std::string& op, const Value& a, const Value& b, const Pos& p) {
        // Dispatch on the operator's characters (renders evaluate many operators).
        const char c0 = op[0];
        const bool two = op.size() == 2;
        if (c0 == '~') return Value::str(to_str(a) + to_str(b));
        if (a.is_undefined()) undefined_error(a, p);
        if (b.is_undefined()) undefined_error(b, p);
        const bool nums = a.is_number() && b.is_number();
        const bool ints = nums && a.t != Value::T::Float && b.t != Value::T::Float;
        auto iv = [](const Value& v) { return v.t == Value::T::Bool ? static_cast<int64_t>(v.b) : v.i; };
        auto type_error = [&]() {
            fail(p, std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
        };
        if (c0 == '+') {
            if (ints) return Value::integer(iv(a) + iv(b));
            if (nums) return Value::number(a.as_double() + b.as_double());
            if (a.is_str() && b.is_str()) return Value::str(a.s + b.s);
            if (a.t == Value::T::List && b.t == Value::T::List && a.tuple == b.tuple) {
                List out = *a.list;
                out.insert(out.end(), b.list->begin(), b.list->end());
                return Value::make_list(std::move(out), a.tuple);
            }
            if (a.is_str() || b.is_str())
                fail(p, std::string("can only concatenate str (not \"") + type_name(a.is_str() ? b : a) + "\") to str");
            type_error();
        }
        if (c0 == '-') {
            if (ints) return Value::integer(iv(a) - iv(b));
            if (nums) return Value::number(a.as_double() - b.as_double());
            type_error();
        }
        if (c0 == '*' && !two) {
            if (ints) return Value::integer(iv(a) * iv(b));
            if (nums) return Value::number(a.as_double() * b.as_double());
            const Value* seq = (a.is_str() || a.t == Value::T::List) ? &a : (b.is_str() || b.t == Value::T::List) ? &b : nullptr;
            const Value* cnt = seq == &a ? &b : &a;
            if (seq && (cnt->t == Value::T::Int || cnt->t == Value::T::Bool)) {
                const int64_t n = iv(*cnt);
                if (seq->is_str()) {
                    std::string out;
                    for (int64_t k = 0; k < n; ++k) out += seq->s;
                    return Value::str(out);
                }
                List out;
                for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq->list->begin(), seq->list->end());
                return Value::make_list(std::move(out), seq->tuple);
            }
            type_error();
        }
        if (c0 == '/' && !two) {
            if (!nums) type_error();
            if (b.as_double() == 0) fail(p, "division by zero");
            return Value::number(a.as_double() / b.as_double());
        }
        if (c0 == '/') {
            if (!nums) type_error();
            if (b.as_double() == 0) fail(p, "integer division or modulo by zero");
            if (ints) return Value::integer(py_floordiv(iv(a), iv(b)));
            return Value::number(std::floor(a.as_double() / b.as_double()));
        }
        if (c0 == '%') {
            if (!nums) type_error();
            if (b.as_double() == 0) fail(p, "integer division or modulo by zero");
            if (ints) return Value::integer(py_mod(iv(a), iv(b)));
            double m = std::fmod(a.as_double(), b.as_double());
            if (m != 0 && ((m < 0) != (b.as_double() < 0))) m += b.as_double();
            return Value::number(m);
        }
        if (c0 == '*') {
            if (!nums) type_error();
            if (ints && iv(b) >= 0) {
                int64_t r = 1;
                for (int64_t k = 0; k < iv(b); ++k) r *= iv(a);
                return Value::integer(r);
            }
            return Value::number(std::pow(a.as_double(), b.as_double()));
        }
        fail(p, "unknown operator " + op);
    }

    bool less(const Value& a, const Value& b, const Pos& p, const std::string& op) {
        if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
        if (a.is_str() && b.is_str()) return decode(a.s) < decode(b.s);
        if (a.t == Value::T::List && b.t == Value::T::List) {
            const size_t n = std::min(a.list->size(), b.list->size());
            for (size_t k = 0; k < n; ++k) {
                if (values_equal((*a.list)[k], (*b.list)[k])) continue;
                return less((*a.list)[k], (*b.list)[k], p, op);
            }
            return a.list->size() < b.list->size();
        }
        if (a.is_undefined()) undefined_error(a, p);
        if (b.is_undefined()) undefined_error(b, p);
        fail(p, "'" + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
    }

    bool contains(const Value& container, const Value& item, const Pos& p) {
        switch (container.t) {
        case Value::T::Undefined: return false;
        case Value::T::Str:
            if (!item.is_str()) fail(p, std::string("'in <string>' requires string as left operand, not ") + type_name(item));
            return container.s.find(item.s) != std::string::npos;
        case Value::T::List:
            for (const Value& e : *container.list)
                if (values_equal(e, item)) return true;
            return false;
        case Value::T::Dict:
        case Value::T::Ns: return item.is_str() && container.dict->find(item.s) != nullptr;
        default: fail(p, std::string("argument of type '") + type_name(container) + "' is not iterable");
        }
    }

    bool compare(const std::string& op, const Value& a, const Value& b, const Pos& p) {
        const bool two = op.size() == 2;
        switch (op[0]) {
        case '=': return values_equal(a, b);
        case '!': return !values_equal(a, b);
        case '<': return two ? less(a, b, p, op) || values_equal(a, b) : less(a, b, p, op);
        case '>': return two ? less(b, a, p, op) || values_equal(a, b) : less(b, a, p, op);
        case 'i': return contains(b, a, p);
        default: return !contains(b, a, p);  // notin
        }
    }

    // ------------------------------------------------ expressions

    // Literals, names and attribute/item chains of them: evaluating one calls nothing, so it
    // cannot change a value that another operand refers to in place.
    static bool pure(const Expr& e) {
        if (e.k == Expr::Lit || e.k == Expr::Name) return true;
        if (e.k == Expr::Attr) return pure(*e.a[0]);
        if (e.k == Expr::Item) return pure(*e.a[0]) && pure(*e.a[1]);
        return false;
    }

    // An operand read in place where it is stored (a literal, a variable, a dict entry or list
    // element reached from those), else evaluated into `tmp`: no copy of a message's strings
    // for {{ message['content'] }} or message.role == 'user'. The reference lasts until the
    // next evaluation that may call something (see pure()).
    const Value& eval_ref(const Expr& e, Value& tmp) {
        switch (e.k) {
        case Expr::Lit: return e.lit;
        case Expr::Name:
            if (const Value* v = find(e.name)) return *v;
            break;
        case Expr::Attr: {
            const Value& obj = eval_ref(*e.a[0], tmp);
            if (obj.t == Value::T::Ns || (obj.t == Value::T::Dict && !is_dict_method(e.name)))
                if (const Value* v = obj.dict->find(e.name)) return *v;
            Value r = get_attr(obj, e.name, e.pos);
            tmp = std::move(r);
            return tmp;
        }
        case Expr::Item: {
            if (e.a[1]->k != Expr::Lit) break;
            const Value& key = e.a[1]->lit;
            const Value& obj = eval_ref(*e.a[0], tmp);
            if (obj.is_mapping() && key.is_str()) {
                if (const Value* v = obj.dict->find(key.s)) return *v;
            } else if (obj.t == Value::T::List && key.t == Value::T::Int) {
                const int64_t n = static_cast<int64_t>(obj.list->size());
                const int64_t idx = key.i < 0 ? key.i + n : key.i;
                if (idx >= 0 && idx < n) return (*obj.list)[static_cast<size_t>(idx)];
            }
            Value r = get_item(obj, key, e.pos);
            tmp = std::move(r);
            return tmp;
        }
        default: break;
        }
        tmp = eval(e);
        return tmp;
    }

    static bool is_dict_method(const std::string& name) {
        return name == "items" || name == "keys" || name == "values" || name == "get";
    }

    Value eval(const Expr& e) {
        switch (e.k) {
        case Expr::Lit: return e.lit;
        case Expr::Name: return lookup(e.name);
        case Expr::Attr: {
            Value tmp;
            return get_attr(eval_ref(*e.a[0], tmp), e.name, e.pos);
        }
        case Expr::Item: {
            if (e.a[1]->k == Expr::Lit) {
                Value tmp;
                return get_item(eval_ref(*e.a[0], tmp), e.a[1]->lit, e.pos);
            }
            return get_item(eval(*e.a[0]), eval(*e.a[1]), e.pos);
        }
        case Expr::Slice: {
            const Value obj = eval(*e.a[0]);
            Value parts[3];
            for (int k = 0; k < 3; ++k)
                if (e.has[k]) parts[k] = eval(*e.a[k + 1]);
            return slice(obj, e.has[0] ? &parts[0] : nullptr, e.has[1] ? &parts[1] : nullptr,
                         e.has[2] ? &parts[2] : nullptr, e.pos);
        }
        case Expr::Call: {
            const Value fn = eval(*e.a[0]);
            Args args = eval_args(e);
            return call(fn, args, e.pos);
        }
        case Expr::Filter: {
            Value obj = eval(*e.a[0]);
            Args args = eval_args(e);
            return filter(e.name, obj, args, e.pos);
        }
        case Expr::Test: {
            Value tmp;
            const bool no_args = e.a.size() == 1 && e.kw.empty();
            const Value& obj = no_args ? eval_ref(*e.a[0], tmp) : (tmp = eval(*e.a[0]));
            Args args = eval_args(e);
            const bool r = test(e.name, obj, args, e.pos);
            return Value::boolean(e.negated ? !r : r);
        }
        case Expr::Neg:
        case Expr::Pos_: {
            const Value v = eval(*e.a[0]);
            if (v.is_undefined()) undefined_error(v, e.pos);
            if (!v.is_number()) fail(e.pos, std::string("bad operand type for unary ") + (e.k == Expr::Neg ? "-" : "+") + ": '" + type_name(v) + "'");
            if (e.k == Expr::Pos_) return v.t == Value::T::Bool ? Value::integer(v.b) : v;
            if (v.t == Value::T::Float) return Value::number(-v.f);
            return Value::integer(-(v.t == Value::T::Bool ? static_cast<int64_t>(v.b) : v.i));
        }
        case Expr::Bin: {
            if (pure(*e.a[1])) {  // '<|im_start|>' + message['role'] + ...: the operands read in place
                Value t0, t1;
                const Value& l = eval_ref(*e.a[0], t0);
                return binary(e.name, l, eval_ref(*e.a[1], t1), e.pos);
            }
            return binary(e.name, eval(*e.a[0]), eval(*e.a[1]), e.pos);
        }
        case Expr::And: {
            Value l = eval(*e.a[0]);
            return truthy(l) ? eval(*e.a[1]) : l;
        }
        case Expr::Or: {
            Value l = eval(*e.a[0]);
            return truthy(l) ? l : eval(*e.a[1]);
        }
        case Expr::Not: {
            Value tmp;
            return Value::boolean(!truthy(eval_ref(*e.a[0], tmp)));
        }
        case Expr::Cmp: {
            if (e.ops.size() == 1 && pure(*e.a[1])) {  // message.role == 'user'
                Value t0, t1;
                const Value& l = eval_ref(*e.a[0], t0);
                return Value::boolean(compare(e.ops[0], l, eval_ref(*e.a[1], t1), e.pos));
            }
            Value l = eval(*e.a[0]);
            for (size_t k = 0; k < e.ops.size(); ++k) {
                Value r = eval(*e.a[k + 1]);
                if (!compare(e.ops[k], l, r, e.pos)) return Value::boolean(false);
                l = std::move(r);
            }
            return Value::boolean(true);
        }
        case Expr::Cond: {
            if (truthy(eval(*e.a[0]))) return eval(*e.a[1]);
            if (e.a[2]) return eval(*e.a[2]);
            return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
        }
        case Expr::ListLit:
        case Expr::TupleLit: {
            List out;
            for (const auto& x : e.a) out.push_back(eval(*x));
            return Value::make_list(std::move(out), e.k == Expr::TupleLit);
        }
        case Expr::DictLit: {
            Value d = Value::make_dict();
            for (size_t k = 0; k + 1 < e.a.size(); k += 2) {
                const Value key = eval(*e.a[k]);
                d.dict->set(key.is_str() ? key.s : to_str(key), eval(*e.a[k + 1]));
            }
            return d;
        }
        }
        fail(e.pos, "unknown expression");
    }

    Args eval_args(const Expr& e) {
        Args args;
        for (size_t k = 1; k < e.a.size(); ++k) args.pos.push_back(eval(*e.a[k]));
        for (const auto& kv : e.kw) args.kw.emplace_back(kv.first, eval(*kv.second));
        return args;
    }

    Value call(const Value& fn, Args& args, const Pos& p) {
        if (fn.t != Value::T::Func) {
            if (fn.is_undefined()) undefined_error(fn, p);
            fail(p, std::string("'") + type_name(fn) + "' object is not callable");
        }
        return (*fn.fn)(*this, args, p);
    }

    // ------------------------------------------------ tests

    bool test(const std::string& name, const Value& v, Args& a, const Pos& p) {
        auto arg0 = [&]() -> const Value& {
            if (a.pos.empty()) fail(p, "test '" + name + "' needs an argument");
            return a.pos[0];
        };
        if (name == "defined") return !v.is_undefined();
        if (name == "undefined") return v.is_undefined();
        if (name == "none") return v.is_none();
        if (name == "string") return v.is_str();
        if (name == "number") return v.is_number();
        if (name == "integer") return v.t == Value::T::Int;
        if (name == "float") return v.t == Value::T::Float;
        if (name == "boolean") return v.t == Value::T::Bool;
        if (name == "true") return v.t == Value::T::Bool && v.b;
        if (name == "false") return v.t == Value::T::Bool && !v.b;
        if (name == "mapping") return v.t == Value::T::Dict;
        if (name == "iterable") return v.t == Value::T::List || v.t == Value::T::Dict || v.is_str() || v.is_undefined();
        if (name == "sequence") return v.t == Value::T::List || v.t == Value::T::Dict || v.is_str() || v.is_undefined();
        if (name == "callable") return v.t == Value::T::Func;
        if (name == "odd" || name == "even") {
            if (v.t != Value::T::Int && v.t != Value::T::Bool) fail(p, "test '" + name + "' needs an integer");
            const int64_t x = v.t == Value::T::Bool ? v.b : v.i;
            return (py_mod(x, 2) == 1) == (name == "odd");
        }
        if (name == "divisibleby") {
            const Value& d = arg0();
            if (v.t != Value::T::Int || d.t != Value::T::Int || d.i == 0) fail(p, "divisibleby needs non-zero integers");
            return py_mod(v.i, d.i) == 0;
        }
        if (name == "lower") return v.is_str() && to_lower(v.s) == v.s;
        if (name == "upper") return v.is_str() && to_upper(v.s) == v.s;
        if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return values_equal(v, arg0());
        if (name == "ne" || name == "!=") return !values_equal(v, arg0());
        if (name == "lt" || name == "lessthan") return compare("<", v, arg0(), p);
        if (name == "le") return compare("<=", v, arg0(), p);
        if (name == "gt" || name == "greaterthan") return compare(">", v, arg0(), p);
        if (name == "ge") return compare(">=", v, arg0(), p);
        if (name == "in") return contains(arg0(), v, p);
        if (name == "filter" || name == "test") return true;
        fail(p, "no test named '" + name + "'");
    }

    // ------------------------------------------------ filters

    Value attribute_of(const Value& item, const std::string& path, const Pos& p) {
        Value cur = item;
        size_t start = 0;
        while (true) {
            const size_t dot = path.find('.', start);
            const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            if (cur.is_undefined()) return cur;
            if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0])))
                cur = get_item(cur, Value::integer(std::stoll(part)), p);
            else
                cur = get_item(cur, Value::str(part), p);
            if (dot == std::string::npos) return cur;
            start = dot + 1;
        }
    }

    std::vector<Value> select(const Value& seq, Args& a, const Pos& p, bool by_attr, bool keep) {
        std::vector<Value> out;
        const std::string attr = by_attr ? need_str(a.pos.empty() ? nullptr : &a.pos[0], "attribute", p) : "";
        const size_t test_at = by_attr ? 1 : 0;
        std::string test_name;
        Args test_args;
        if (a.pos.size() > test_at) {
            test_name = need_str(&a.pos[test_at], "test name", p);
            test_args.pos.assign(a.pos.begin() + static_cast<long>(test_at) + 1, a.pos.end());
        }
        for (const Value& item : iterate(seq, p)) {
            const Value v = by_attr ? attribute_of(item, attr, p) : item;
            const bool r = test_name.empty() ? truthy(v) : test(test_name, v, test_args, p);
            if (r == keep) out.push_back(item);
        }
        return out;
    }

    Value filter(const std::string& name, Value& v, Args& a, const Pos& p) {
        auto str_of = [&](const Value& x) { return to_str(x); };
        if (name == "length" || name == "count") {
            switch (v.t) {
            case Value::T::Str: return Value::integer(static_cast<int64_t>(u8_length(v.s)));
            case Value::T::List: return Value::integer(static_cast<int64_t>(v.list->size()));
            case Value::T::Dict:
            case Value::T::Ns: return Value::integer(static_cast<int64_t>(v.dict->items.size()));
            case Value::T::Undefined: return Value::integer(0);
            default: fail(p, std::string("object of type '") + type_name(v) + "' has no len()");
            }
        }
        if (name == "trim") {
            const Value* c = a.get(0, "chars");
            return Value::str(py_strip(str_of(v), (c && c->is_str()) ? &c->s : nullptr, true, true));
        }
        if (name == "upper") return Value::str(to_upper(str_of(v)));
        if (name == "lower") return Value::str(to_lower(str_of(v)));
        if (name == "capitalize") {
            std::string s = to_lower(str_of(v));
            if (!s.empty()) s[0] = ascii_upper(s[0]);
            return Value::str(s);
        }
        if (name == "title") {
            // jinja2: words begin after '-', whitespace, '(', '{', '[' or '<'.
            const std::string s = str_of(v);
            std::string out;
            bool word_start = true;
            for (char c : s) {
                const bool sep = c == '-' || std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == '{' || c == '[' || c == '<';
                if (sep) { out += c; word_start = true; continue; }
                out += word_start ? ascii_upper(c) : ascii_lower(c);
                word_start = false;
            }
            return Value::str(out);
        }
        if (name == "first" || name == "last") {
            if (v.t == Value::T::Str) {
                const std::u32string u = decode(v.s);
                if (u.empty()) return Value::undefined("No first item, sequence was empty.");
                std::string ch;
                append_utf8(ch, name == "first" ? u.front() : u.back());
                return Value::str(ch);
            }
            const std::vector<Value> items = iterate(v, p);
            if (items.empty()) return Value::undefined("No first item, sequence was empty.");
            return name == "first" ? items.front() : items.back();
        }
        if (name == "join") {
            const Value* d = a.get(0, "d");
            const Value* attr = a.get(1, "attribute");
            std::string out;
            bool first = true;
            for (const Value& e : iterate(v, p)) {
                if (!first) out += d ? str_of(*d) : "";
                out += str_of(attr && !attr->is_none() ? attribute_of(e, str_of(*attr), p) : e);
                first = false;
            }
            return Value::str(out);
        }
        if (name == "default" || name == "d") {
            const Value* dv = a.get(0, "default_value");
            const Value* boolean = a.get(1, "boolean");
            const bool use = v.is_undefined() || (boolean && truthy(*boolean) && !truthy(v));
            if (use) return dv ? *dv : Value::str("");
            return v;
        }
        if (name == "replace") {
            const Value* c = a.get(2, "count");
            return Value::str(replace_all(str_of(v), str_of(a.get(0, "old") ? *a.get(0, "old") : Value()),
                                          str_of(a.get(1, "new") ? *a.get(1, "new") : Value()),
                                          (c && c->t == Value::T::Int) ? c->i : -1));
        }
        if (name == "tojson") {
            // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
            JsonOptions o;
            if (const Value* x = a.get(0, "ensure_ascii")) o.ensure_ascii = truthy(*x);
            if (const Value* x = a.get(1, "indent"); x && !x->is_none()) {
                o.has_indent = true;
                if (x->is_str()) o.indent = x->s;
                else if (x->t == Value::T::Int) o.indent = std::string(static_cast<size_t>(std::max<int64_t>(x->i, 0)), ' ');
                else fail(p, "tojson: indent must be an integer or a string");
                o.item_sep = ",";
            }
            if (const Value* x = a.get(2, "separators"); x && !x->is_none()) {
                if (x->t != Value::T::List || x->list->size() != 2 || !(*x->list)[0].is_str() || !(*x->list)[1].is_str())
                    fail(p, "tojson: separators must be a pair of strings");
                o.item_sep = (*x->list)[0].s;
                o.key_sep = (*x->list)[1].s;
            }
            if (const Value* x = a.get(3, "sort_keys")) o.sort_keys = truthy(*x);
            std::string out;
            json_dump(out, v, o, 0, p);
            return Value::str(out);
        }
        if (name == "string" || name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
            if (name == "string" || name == "safe") return v.is_str() ? v : Value::str(str_of(v));
            // escape: HTML entities, as jinja2's escape filter writes them.
            std::string out;
            for (char c : str_of(v)) {
                switch (c) {
                case '&': out += "&amp;"; break;
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '"': out += "&#34;"; break;
                case '\'': out += "&#39;"; break;
                default: out += c;
                }
            }
            return Value::str(out);
        }
        if (name == "int") {
            const Value* d = a.get(0, "default");
            const Value def = d ? *d : Value::integer(0);
            if (v.t == Value::T::Int) return v;
            if (v.t == Value::T::Bool) return Value::integer(v.b);
            if (v.t == Value::T::Float) return Value::integer(static_cast<int64_t>(v.f));
            if (v.is_str()) {
                const std::string s = py_strip(v.s, nullptr, true, true);
                char* end = nullptr;
                const long long x = std::strtoll(s.c_str(), &end, 10);
                if (!s.empty() && end && *end == '\0') return Value::integer(x);
                const double f = std::strtod(s.c_str(), &end);
                if (!s.empty() && end && *end == '\0') return Value::integer(static_cast<int64_t>(f));
            }
            return def;
        }
        if (name == "float") {
            const Value* d = a.get(0, "default");
            const Value def = d ? *d : Value::number(0.0);
            if (v.is_number()) return Value::number(v.as_double());
            if (v.is_str()) {
                const std::string s = py_strip(v.s, nullptr, true, true);
                char* end = nullptr;
                const double f = std::strtod(s.c_str(), &end);
                if (!s.empty() && end && *end == '\0') return Value::number(f);
            }
            return def;
        }
        if (name == "list") return Value::make_list(iterate(v, p));
        if (name == "items") {
            if (v.is_undefined()) return Value::make_list();
            if (v.t != Value::T::Dict) fail(p, "Can only get item pairs from a mapping.");
            List out;
            for (const auto& kv : v.dict->items) out.push_back(Value::make_list({Value::str(kv.first), kv.second}, true));
            return Value::make_list(std::move(out));
        }
        if (name == "dictsort") {
            if (v.t != Value::T::Dict) fail(p, "dictsort needs a mapping");
            List out;
            for (const auto& kv : v.dict->items) out.push_back(Value::make_list({Value::str(kv.first), kv.second}, true));
            std::stable_sort(out.begin(), out.end(), [](const Value& x, const Value& y) {
                return to_lower((*x.list)[0].s) < to_lower((*y.list)[0].s);
            });
            return Value::make_list(std::move(out));
        }
        if (name == "selectattr" || name == "rejectattr") return Value::make_list(select(v, a, p, true, name == "selectattr"));
        if (name == "select" || name == "reject") return Value::make_list(select(v, a, p, false, name == "select"));
        if (name == "map") {
            List out;
            const Value* attr = nullptr;
            for (const auto& kv : a.kw)
                if (kv.first == "attribute") attr = &kv.second;
            if (attr) {
                const Value* def = nullptr;
                for (const auto& kv : a.kw)
                    if (kv.first == "default") def = &kv.second;
                for (const Value& item : iterate(v, p)) {
                    Value x = attribute_of(item, str_of(*attr), p);
                    out.push_back(x.is_undefined() && def ? *def : x);
                }
                return Value::make_list(std::move(out));
            }
            if (a.pos.empty()) return Value::make_list(iterate(v, p));
            const std::string fname = need_str(&a.pos[0], "filter name", p);
            Args rest;
            rest.pos.assign(a.pos.begin() + 1, a.pos.end());
            rest.kw = a.kw;
            for (Value item : iterate(v, p)) out.push_back(filter(fname, item, rest, p));
            return Value::make_list(std::move(out));
        }
        if (name == "unique") {
            List out;
            const Value* attr = a.get(1, "attribute");
            for (const Value& item : iterate(v, p)) {
                const Value key = attr && !attr->is_none() ? attribute_of(item, str_of(*attr), p) : item;
                bool seen = false;
                for (const Value& o : out) {
                    const Value okey = attr && !attr->is_none() ? attribute_of(o, str_of(*attr), p) : o;
                    const bool both_str = key.is_str() && okey.is_str();
                    if (both_str ? to_lower(key.s) == to_lower(okey.s) : values_equal(key, okey)) seen = true;
                }
                if (!seen) out.push_back(item);
            }
            return Value::make_list(std::move(out));
        }
        if (name == "reverse") {
            if (v.is_str()) {
                std::u32string u = decode(v.s);
                std::reverse(u.begin(), u.end());
                return Value::str(encode(u));
            }
            std::vector<Value> items = iterate(v, p);
            std::reverse(items.begin(), items.end());
            return Value::make_list(std::move(items));
        }
        if (name == "sort") {
            const Value* rev = a.get(0, "reverse");
            const Value* cs = a.get(1, "case_sensitive");
            const Value* attr = a.get(2, "attribute");
            const bool case_sensitive = cs && truthy(*cs);
            std::vector<Value> items = iterate(v, p);
            auto key = [&](const Value& x) {
                Value k = attr && !attr->is_none() ? attribute_of(x, str_of(*attr), p) : x;
                if (!case_sensitive && k.is_str()) k.s = to_lower(k.s);
                return k;
            };
            std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
                return less(key(x), key(y), p, "<");
            });
            if (rev && truthy(*rev)) {
                // Python's sort(reverse=True) keeps equal items in their order.
                std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
                    return less(key(y), key(x), p, "<");
                });
            }
            return Value::make_list(std::move(items));
        }
        if (name == "indent") {
            const Value* w = a.get(0, "width");
            const Value* first = a.get(1, "first");
            const Value* blank = a.get(2, "blank");
            std::string pad = w ? (w->is_str() ? w->s : std::string(static_cast<size_t>(std::max<int64_t>(w->i, 0)), ' ')) : "    ";
            std::string s = str_of(v);
            std::string out;
            // jinja2 splits on lines; a trailing newline stays unindented.
            std::vector<std::string> lines;
            size_t start = 0;
            while (true) {
                const size_t nl = s.find('\n', start);
                if (nl == std::string::npos) { lines.push_back(s.substr(start)); break; }
                lines.push_back(s.substr(start, nl - start));
                start = nl + 1;
            }
            const bool ends_nl = !s.empty() && s.back() == '\n';
            if (ends_nl) lines.pop_back();
            for (size_t k = 0; k < lines.size(); ++k) {
                if (k) out += '\n';
                const bool indent_it = (k > 0 || (first && truthy(*first))) && (!lines[k].empty() || (blank && truthy(*blank)));
                if (indent_it) out += pad;
                out += lines[k];
            }
            if (ends_nl) out += '\n';
            return Value::str(out);
        }
        if (name == "abs") {
            if (v.t == Value::T::Float) return Value::number(std::fabs(v.f));
            if (v.t == Value::T::Int) return Value::integer(v.i < 0 ? -v.i : v.i);
            fail(p, std::string("bad operand type for abs(): '") + type_name(v) + "'");
        }
        if (name == "round") {
            const Value* pr = a.get(0, "precision");
            const Value* m = a.get(1, "method");
            const int prec = pr && pr->t == Value::T::Int ? static_cast<int>(pr->i) : 0;
            const std::string method = m && m->is_str() ? m->s : "common";
            const double scale = std::pow(10.0, prec);
            const double x = v.as_double() * scale;
            const double r = method == "floor" ? std::floor(x) : method == "ceil" ? std::ceil(x) : std::round(x);
            return Value::number(r / scale);
        }
        if (name == "sum" || name == "min" || name == "max") {
            std::vector<Value> items = iterate(v, p);
            if (name == "sum") {
                Value acc = Value::integer(0);
                if (const Value* st = a.get(1, "start")) acc = *st;
                for (const Value& x : items) acc = binary("+", acc, x, p);
                return acc;
            }
            if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
            Value best = items[0];
            for (const Value& x : items)
                if (name == "min" ? less(x, best, p, "<") : less(best, x, p, "<")) best = x;
            return best;
        }
        if (name == "wordcount") {
            int64_t n = 0;
            bool in_word = false;
            for (char32_t c : decode(str_of(v))) {
                const bool w = !py_space(c) && c != '.' && c != ',' && c != '!' && c != '?';
                if (w && !in_word) ++n;
                in_word = w;
            }
            return Value::integer(n);
        }
        if (name == "center") {
            const Value* w = a.get(0, "width");
            const int64_t width = w && w->t == Value::T::Int ? w->i : 80;
            const std::string s = str_of(v);
            const int64_t len = static_cast<int64_t>(u8_length(s));
            if (len >= width) return Value::str(s);
            const int64_t total = width - len;
            const int64_t left = total / 2 + (total & width & 1);
            return Value::str(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' '));
        }
        fail(p, "no filter named '" + name + "'");
    }

    // ------------------------------------------------ statements

    Flow exec_body(const std::vector<NodeP>& body) {
        for (const NodeP& n : body) {
            const Flow f = exec(*n);
            if (f != Flow::Normal) return f;
        }
        return Flow::Normal;
    }

    std::string capture(const std::vector<NodeP>& body) {
        std::string buf;
        std::string* saved = out;
        out = &buf;
        try {
            exec_body(body);
        } catch (...) {
            out = saved;
            throw;
        }
        out = saved;
        return buf;
    }

    Value apply_filters(const std::vector<ExprP>& filters, Value v) {
        for (const ExprP& f : filters) {
            Args args = eval_args(*f);
            v = filter(f->name, v, args, f->pos);
        }
        return v;
    }

    void assign_targets(const std::vector<std::string>& targets, const Value& v, const Pos& p) {
        if (targets.size() == 1) { assign(targets[0], v); return; }
        const std::vector<Value> items = iterate(v, p);
        if (items.size() != targets.size())
            fail(p, "cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()) + " names");
        for (size_t k = 0; k < targets.size(); ++k) assign(targets[k], items[k]);
    }

    Value make_macro(const Node& n) {
        const Node* node = &n;
        // A macro sees the template's globals and top-level variables, and its own arguments.
        const Frames root(frames.begin(), frames.begin() + 2);
        return Value::func([node, root](Interp& in, Args& args, const Pos& p) {
            auto frame = std::make_shared<Frame>();
            size_t k = 0;
            for (const auto& param : node->params) {
                const Value* given = nullptr;
                for (const auto& kv : args.kw)
                    if (kv.first == param.first) given = &kv.second;
                if (!given && k < args.pos.size()) given = &args.pos[k];
                ++k;
                if (given) (*frame)[param.first] = *given;
                else if (param.second) {
                    Frames saved = in.frames;
                    in.frames = root;
                    in.frames.push_back(frame);
                    (*frame)[param.first] = in.eval(*param.second);
                    in.frames = saved;
                } else (*frame)[param.first] = Value::undefined("parameter '" + param.first + "' was not provided");
            }
            List varargs;
            for (; k < args.pos.size(); ++k) varargs.push_back(args.pos[k]);
            (*frame)["varargs"] = Value::make_list(std::move(varargs), true);
            Value kwargs = Value::make_dict();
            for (const auto& kv : args.kw) {
                bool is_param = kv.first == "caller";
                for (const auto& param : node->params) is_param = is_param || param.first == kv.first;
                if (!is_param) kwargs.dict->set(kv.first, kv.second);
            }
            (*frame)["kwargs"] = kwargs;
            for (const auto& kv : args.kw)
                if (kv.first == "caller") (*frame)["caller"] = kv.second;
            (void)p;
            Frames saved = in.frames;
            in.frames = root;
            in.frames.push_back(frame);
            std::string text;
            try {
                text = in.capture(node->body);
            } catch (...) {
                in.frames = saved;
                throw;
            }
            in.frames = saved;
            return Value::str(text);
        });
    }

    Flow exec(const Node& n) {
        switch (n.k) {
        case Node::Body: return exec_body(n.body);
        case Node::Text: *out += n.text; return Flow::Normal;
        case Node::Emit: {
            Value tmp;
            const Value& v = eval_ref(*n.expr, tmp);
            if (v.t == Value::T::Str) *out += v.s;
            else *out += to_str(v);
            return Flow::Normal;
        }
        case Node::If:
            for (const auto& br : n.branches) {
                Value tmp;
                if (truthy(eval_ref(*br.first, tmp))) return exec_body(br.second);
            }
            return exec_body(n.else_body);
        case Node::For: return exec_for(n);
        case Node::Set: {
            Value v = eval(*n.expr);
            if (n.ns_attr) {
                const Value ns = lookup(n.targets[0]);
                if (ns.t != Value::T::Ns) fail(n.pos, "cannot assign attribute on non-namespace object");
                if (!n.targets[1].empty() && n.targets[1][0] == '_')
                    fail(n.pos, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + n.targets[1] + "'. Please rename the attribute.");
                ns.dict->set(n.targets[1], std::move(v));
            } else {
                assign_targets(n.targets, v, n.pos);
            }
            return Flow::Normal;
        }
        case Node::SetBlock: assign(n.targets[0], apply_filters(n.filters, Value::str(capture(n.body)))); return Flow::Normal;
        case Node::Macro: assign(n.text, make_macro(n)); return Flow::Normal;
        case Node::CallBlock: {
            const Node* node = &n;
            Frames outer = frames;
            Value caller = Value::func([node, outer](Interp& in, Args& args, const Pos&) {
                auto frame = std::make_shared<Frame>();
                for (size_t k = 0; k < node->params.size(); ++k) {
                    const auto& param = node->params[k];
                    const Value* given = k < args.pos.size() ? &args.pos[k] : nullptr;
                    for (const auto& kv : args.kw)
                        if (kv.first == param.first) given = &kv.second;
                    (*frame)[param.first] = given ? *given : param.second ? in.eval(*param.second) : Value::undefined();
                }
                Frames saved = in.frames;
                in.frames = outer;
                in.frames.push_back(frame);
                std::string text;
                try {
                    text = in.capture(node->body);
                } catch (...) {
                    in.frames = saved;
                    throw;
                }
                in.frames = saved;
                return Value::str(text);
            });
            const Expr& c = *n.expr;
            const Value fn = eval(*c.a[0]);
            Args args = eval_args(c);
            args.kw.emplace_back("caller", caller);
            *out += to_str(call(fn, args, c.pos));
            return Flow::Normal;
        }
        case Node::FilterBlock: *out += to_str(apply_filters(n.filters, Value::str(capture(n.body)))); return Flow::Normal;
        case Node::Break: return Flow::Break;
        case Node::Continue: return Flow::Continue;
        }
        return Flow::Normal;
    }

    Flow exec_for(const Node& n) {
        const Value seq = eval(*n.expr);
        std::vector<Value> items = iterate(seq, n.expr->pos);
        frames.push_back(std::make_shared<Frame>());
        if (n.cond) {
            std::vector<Value> kept;
            for (const Value& it : items) {
                assign_targets(n.targets, it, n.pos);
                if (truthy(eval(*n.cond))) kept.push_back(it);
            }
            items = std::move(kept);
        }
        const int64_t len = static_cast<int64_t>(items.size());
        Flow result = Flow::Normal;
        Value loop = Value::make_dict();
        loop.t = Value::T::Ns;  // attribute access only (no dict methods)
        auto counter = std::make_shared<int64_t>(0);
        {
            auto& d = loop.dict->items;
            d.reserve(12);
            for (const char* key : {"index", "index0", "revindex", "revindex0"}) d.emplace_back(key, Value::integer(0));
            d.emplace_back("first", Value::boolean(false));
            d.emplace_back("last", Value::boolean(false));
            d.emplace_back("length", Value::integer(len));
            d.emplace_back("depth", Value::integer(1));
            d.emplace_back("depth0", Value::integer(0));
            d.emplace_back("previtem", Value::undefined());
            d.emplace_back("nextitem", Value::undefined());
            d.emplace_back("cycle", Value::func([counter](Interp&, Args& a, const Pos& p) {
                if (a.pos.empty()) fail(p, "no items for cycling given");
                return a.pos[static_cast<size_t>(*counter) % a.pos.size()];
            }));
        }
        try {
            for (int64_t k = 0; k < len; ++k) {
                // jinja2: what the body sets lasts one iteration (the next starts from the outer values).
                frames.back()->clear();
                // The loop object is built once and updated in place (renders build many loops).
                auto& d = loop.dict->items;
                d[0].second.i = k + 1;
                d[1].second.i = k;
                d[2].second.i = len - k;
                d[3].second.i = len - k - 1;
                d[4].second.b = k == 0;
                d[5].second.b = k == len - 1;
                d[9].second = k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined("there is no previous item");
                d[10].second = k + 1 < len ? items[static_cast<size_t>(k + 1)] : Value::undefined("there is no next item");
                *counter = k;
                assign("loop", loop);
                assign_targets(n.targets, items[static_cast<size_t>(k)], n.pos);
                const Flow f = exec_body(n.body);
                if (f == Flow::Break) break;
            }
            if (len == 0) result = exec_body(n.else_body);
        } catch (...) {
            frames.pop_back();
            throw;
        }
        frames.pop_back();
        return result;
    }
};

Value global_range(Interp&, Args& a, const Pos& p) {
    std::vector<int64_t> nums;
    for (const Value& v : a.pos) {
        if (v.t != Value::T::Int && v.t != Value::T::Bool) fail(p, std::string("'") + type_name(v) + "' object cannot be interpreted as an integer");
        nums.push_back(v.t == Value::T::Bool ? v.b : v.i);
    }
    int64_t start = 0, stop = 0, step = 1;
    if (nums.size() == 1) stop = nums[0];
    else if (nums.size() == 2) { start = nums[0]; stop = nums[1]; }
    else if (nums.size() == 3) { start = nums[0]; stop = nums[1]; step = nums[2]; }
    else fail(p, "range expected 1 to 3 arguments");
    if (step == 0) fail(p, "range() arg 3 must not be zero");
    List out;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        if (out.size() >= 100000) fail(p, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        out.push_back(Value::integer(k));
    }
    return Value::make_list(std::move(out));
}

}  // namespace

Template::Template(const std::string& source) {
    // Parsed once per source: a run builds its template several times (data, samples, the
    // dataset summary), and the tree is never changed by rendering, so renders share it.
    static std::mutex mutex;
    static std::unordered_map<std::string, std::shared_ptr<const Node>> parsed;
    {
        std::lock_guard<std::mutex> lock(mutex);
        const auto it = parsed.find(source);
        if (it != parsed.end()) {
            root_ = it->second;
            return;
        }
    }
    // jinja2 reads "\r\n" and "\r" as "\n" and drops one trailing newline (keep_trailing_newline=False).
    std::string src;
    src.reserve(source.size());
    for (size_t k = 0; k < source.size(); ++k) {
        if (source[k] == '\r') {
            src += '\n';
            if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
        } else {
            src += source[k];
        }
    }
    if (!src.empty() && src.back() == '\n') src.pop_back();
    Lexer lexer(std::move(src));
    std::vector<Segment> segs = lexer.run();
    root_ = Parser(std::move(segs), lexer.end_pos()).parse();
    std::lock_guard<std::mutex> lock(mutex);
    if (parsed.size() >= 16) parsed.clear();  // a few templates per process; bounded all the same
    parsed.emplace(source, root_);
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

namespace {

// The globals every render sees (range, raise_exception, ...): built once and only read (a
// template's own `set` writes to the frames above it), so renders on several threads share them.
std::shared_ptr<Frame> make_globals() {
    auto globals = std::make_shared<Frame>();
    (*globals)["range"] = Value::func(global_range);
    (*globals)["raise_exception"] = Value::func([](Interp&, Args& a, const Pos& p) -> Value {
        throw RaisedException(p.line, p.col, a.pos.empty() ? std::string() : to_str(a.pos[0]));
    });
    (*globals)["strftime_now"] = Value::func([](Interp&, Args& a, const Pos& p) {
        const Value* f = a.get(0, "format");
        if (!f || !f->is_str()) fail(p, "strftime_now needs a format string");
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[512];
        const size_t n = std::strftime(buf, sizeof buf, f->s.c_str(), &tm);
        return Value::str(std::string(buf, n));
    });
    (*globals)["namespace"] = Value::func([](Interp&, Args& a, const Pos& p) {
        Value ns = Value::make_dict();
        ns.t = Value::T::Ns;
        for (const Value& init : a.pos) {
            if (init.t != Value::T::Dict) fail(p, "namespace() takes keyword arguments or a mapping");
            for (const auto& kv : init.dict->items) ns.dict->set(kv.first, kv.second);
        }
        for (const auto& kv : a.kw) {
            if (!kv.first.empty() && kv.first[0] == '_')
                fail(p, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + kv.first + "'. Please rename the attribute.");
            ns.dict->set(kv.first, kv.second);
        }
        return ns;
    });
    (*globals)["dict"] = Value::func([](Interp&, Args& a, const Pos& p) {
        Value d = Value::make_dict();
        for (const Value& init : a.pos) {
            if (init.t != Value::T::Dict) fail(p, "dict() takes keyword arguments or a mapping");
            for (const auto& kv : init.dict->items) d.dict->set(kv.first, kv.second);
        }
        for (const auto& kv : a.kw) d.dict->set(kv.first, kv.second);
        return d;
    });
    return globals;
}

}  // namespace

std::string Template::render(const nlohmann::ordered_json& context) const {
    static const std::shared_ptr<Frame> globals = make_globals();
    Interp in;
    auto vars = std::make_shared<Frame>();
    if (context.is_object())
        for (auto it = context.begin(); it != context.end(); ++it) (*vars)[it.key()] = from_json(it.value());
    in.frames = {globals, vars};
    std::string out;
    in.out = &out;
    in.exec(*root_);
    return out;
}

nlohmann::ordered_json chat_context(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                    const nlohmann::ordered_json& special_tokens, const nlohmann::ordered_json& tools,
                                    const nlohmann::ordered_json& documents, const nlohmann::ordered_json& extra) {
    nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
    for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it) ctx[it.key()] = it.value();
    // As apply_chat_template: keys whose value is null are dropped (templates handle a missing
    // key, not None), and reasoning_content (and thinking) are filled from any of the names
    // transformers knows for reasoning.
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const auto& raw : messages) {
        if (!raw.is_object()) { msgs.push_back(raw); continue; }
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (auto it = raw.begin(); it != raw.end(); ++it)
            if (!it.value().is_null()) m[it.key()] = it.value();
        const nlohmann::ordered_json* reasoning = nullptr;
        for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
            const auto f = m.find(key);
            if (f != m.end() && !f->is_null()) { reasoning = &*f; break; }
        }
        if (!reasoning) { msgs.push_back(std::move(m)); continue; }
        nlohmann::ordered_json aliased = nlohmann::ordered_json::object();
        aliased["thinking"] = *reasoning;
        for (auto it = m.begin(); it != m.end(); ++it) aliased[it.key()] = it.value();
        aliased["reasoning_content"] = *reasoning;
        msgs.push_back(std::move(aliased));
    }
    ctx["messages"] = std::move(msgs);
    ctx["tools"] = tools;
    ctx["documents"] = documents;
    ctx["add_generation_prompt"] = add_generation_prompt;
    for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
    return ctx;
}

}  // namespace ps::jinja
