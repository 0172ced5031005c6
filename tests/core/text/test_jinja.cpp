// Our Jinja interpreter (core/text/jinja_template.h) against jinja2 with transformers' settings:
// tests/oracles/render_jinja_fixtures.py rendered (with the oracle venv) every real chat template
// under ../shared/tokenizers over a set of conversations, and small language cases; its output is
// tests/fixtures/chat_templates/jinja_fixtures.json. Every string must be equal, every jinja2
// error must be an error here too (same message where the template raised it itself). The real
// templates are read from the tokenizer files at test time (tests/common/real_tokenizers.h):
// skipped when absent; their sha256 must be the one the fixtures were rendered from.
// Hand-derived cases: line:column of errors, and the typed raise_exception.
#include <QtTest>

#include <QCryptographicHash>
#include <QDir>
#include <QFile>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config/run_config.h"
#include "core/data/data_pipeline.h"
#include "core/text/byte_tokenizer.h"
#include "core/config/config_schema.h"
#include "core/text/chat_template.h"
#include "core/text/hf_tokenizer.h"
#include "core/text/jinja_template.h"
#include "tests/common/real_tokenizers.h"

using nlohmann::ordered_json;
using ps::jinja::Template;
using ps::jinja::TemplateError;

namespace {

ordered_json load_fixtures() {
    const QString path = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR") + "/tests/fixtures/chat_templates/jinja_fixtures.json";
    std::ifstream in(path.toStdString());
    if (!in) throw std::runtime_error("cannot read " + path.toStdString());
    return ordered_json::parse(in);
}

// The template as transformers takes it: chat_template.jinja beside the config, else
// tokenizer_config.json's chat_template (a string, or the "default" entry of a list).
std::string read_template(const QString& folder) {
    QFile jinja(folder + "/chat_template.jinja");
    if (jinja.open(QIODevice::ReadOnly)) return jinja.readAll().toStdString();
    std::ifstream in((folder + "/tokenizer_config.json").toStdString());
    const ordered_json cfg = ordered_json::parse(in);
    const auto t = cfg.find("chat_template");
    if (t == cfg.end()) return {};
    if (t->is_string()) return t->get<std::string>();
    if (t->is_array())
        for (const auto& e : *t)
            if (e.value("name", "") == "default") return e.value("template", "");
    return {};
}

std::string sha256(const std::string& s) {
    return QCryptographicHash::hash(QByteArray::fromStdString(s), QCryptographicHash::Sha256).toHex().toStdString();
}

struct Outcome {
    bool ok = false;
    bool raised = false;  // raise_exception
    std::string text;     // the render, or the error message
    int line = 0, column = 0;
};

Outcome run(const std::string& source, const ordered_json& context) {
    Outcome o;
    try {
        const Template t(source);
        o.text = t.render(context);
        o.ok = true;
    } catch (const ps::jinja::RaisedException& e) {
        o.raised = true;
        o.text = e.message();
        o.line = e.line();
        o.column = e.column();
    } catch (const TemplateError& e) {
        o.text = e.message();
        o.line = e.line();
        o.column = e.column();
    }
    return o;
}

std::string show(const std::string& s) { return ordered_json(s).dump(); }

// The real tokenizers are required under CI=true (the CI machine has them), skipped elsewhere.
#define REQUIRE_REAL_TOKENIZERS(root)                                                          \
    do {                                                                                      \
        if ((root).isEmpty()) {                                                               \
            if (qEnvironmentVariable("CI") == "true") QFAIL(ps::test::real_tokenizers_missing_reason()); \
            QSKIP(ps::test::real_tokenizers_missing_reason());                                \
        }                                                                                     \
    } while (0)

std::vector<ps::ChatMessage> messages_of(const ordered_json& j) {
    std::vector<ps::ChatMessage> out;
    for (const auto& m : j) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    return out;
}

}  // namespace

class TestJinja : public QObject {
    Q_OBJECT

private slots:
    void real_templates_render_as_transformers() {
        const ordered_json fx = load_fixtures();
        const QString root = ps::test::real_tokenizers_root();
        if (root.isEmpty()) QSKIP(ps::test::real_tokenizers_missing_reason());
        std::map<std::string, ordered_json> conversations;
        for (const auto& c : fx["conversations"]) conversations[c["name"].get<std::string>()] = c;
        int compared = 0, templates = 0;
        std::vector<std::string> failures;
        for (auto it = fx["templates"].begin(); it != fx["templates"].end(); ++it) {
            const QString folder = root + "/" + QString::fromStdString(it.key());
            if (!QFileInfo::exists(folder + "/tokenizer_config.json")) {
                qWarning("%s: not under %s, skipped", it.key().c_str(), qPrintable(root));
                continue;
            }
            const std::string source = read_template(folder);
            QCOMPARE(sha256(source), it.value()["sha256"].get<std::string>());
            ++templates;
            for (const auto& r : it.value()["renders"]) {
                const ordered_json& c = conversations.at(r["conversation"].get<std::string>());
                const ordered_json ctx = ps::jinja::chat_context(
                    c["messages"], r["add_generation_prompt"].get<bool>(), it.value()["special_tokens"],
                    c.contains("tools") ? c["tools"] : ordered_json(nullptr), nullptr,
                    c.contains("extra") ? c["extra"] : ordered_json::object());
                const Outcome o = run(source, ctx);
                const std::string where = it.key() + " / " + r["conversation"].get<std::string>() +
                                          (r["add_generation_prompt"].get<bool>() ? " +gen" : "");
                ++compared;
                if (r.contains("output")) {
                    if (!o.ok || o.text != r["output"].get<std::string>())
                        failures.push_back(where + ": got " + (o.ok ? show(o.text) : "error " + o.text) +
                                           "\n  want " + show(r["output"].get<std::string>()));
                } else {
                    const auto& err = r["error"];
                    const bool want_raised = err["type"] == "TemplateError";
                    if (o.ok || o.raised != want_raised || o.text != err["message"].get<std::string>())
                        failures.push_back(where + ": got " + (o.ok ? show(o.text) : "error " + o.text) +
                                           "\n  want error " + err["message"].get<std::string>());
                }
            }
        }
        for (const auto& f : failures) qWarning("%s", f.c_str());
        qInfo("%d templates, %d renders compared, %zu differ", templates, compared, failures.size());
        QVERIFY(templates > 0);
        QVERIFY(failures.empty());
    }

    // model.template auto on a Hugging Face directory: the model's own template, a preference
    // pair split as TRL's own apply_chat_template splits it (fixtures: trl_splits).
    void auto_template_splits_as_trl() {
        const ordered_json fx = load_fixtures();
        const QString root = ps::test::real_tokenizers_root();
        if (root.isEmpty()) QSKIP(ps::test::real_tokenizers_missing_reason());
        std::map<std::string, ordered_json> pairs;
        for (const auto& p : fx["pairs"]) pairs[p["name"].get<std::string>()] = p;
        int compared = 0;
        for (auto it = fx["templates"].begin(); it != fx["templates"].end(); ++it) {
            const std::string folder = (root + "/" + QString::fromStdString(it.key())).toStdString();
            if (!QFileInfo::exists(QString::fromStdString(folder) + "/tokenizer_config.json")) continue;
            std::string warning;
            const std::string name = ps::resolve_template_name("auto", folder, &warning);
            QCOMPARE(name, "model:" + folder);
            QVERIFY(warning.empty());
            const ps::ChatTemplate tmpl(name);
            QVERIFY(tmpl.is_model_template());
            QVERIFY(!tmpl.appends_eos());
            for (const auto& want : it.value()["trl_splits"]) {
                const ordered_json& p = pairs.at(want["pair"].get<std::string>());
                if (want.contains("error")) {  // the template refuses the conversation: so do we
                    bool refused = false;
                    try {
                        tmpl.split(messages_of(p["prompt"]), {messages_of(p["chosen"]), messages_of(p["rejected"])});
                    } catch (const ps::Error& e) {
                        refused = std::string(e.what()).find(want["error"].get<std::string>()) != std::string::npos;
                        if (!refused) qWarning("%s: %s", it.key().c_str(), e.what());
                    }
                    QVERIFY2(refused, (it.key() + " / " + want["pair"].get<std::string>() + ": should fail as TRL").c_str());
                    ++compared;
                    continue;
                }
                const ps::ChatSplit got = tmpl.split(messages_of(p["prompt"]),
                                                     {messages_of(p["chosen"]), messages_of(p["rejected"])});
                const std::string where = it.key() + " / " + want["pair"].get<std::string>();
                QVERIFY2(got.prompt == want["prompt"].get<std::string>(), (where + ": prompt " + show(got.prompt)).c_str());
                QVERIFY2(got.completions[0] == want["chosen"].get<std::string>(), (where + ": chosen " + show(got.completions[0])).c_str());
                QVERIFY2(got.completions[1] == want["rejected"].get<std::string>(), (where + ": rejected " + show(got.completions[1])).c_str());
                // One answer alone: the same text (TRL narrows the prompt by each answer).
                QCOMPARE(tmpl.render_completion(messages_of(p["prompt"]), messages_of(p["chosen"])),
                         want["chosen"].get<std::string>());
                ++compared;
            }
        }
        qInfo("%d pairs split as TRL", compared);
        // A model directory without a template falls back to plain, saying so; builtin models are plain.
        const QString gpt2 = root + "/gpt2";
        if (QFileInfo::exists(gpt2 + "/tokenizer_config.json")) {
            std::string warning;
            QCOMPARE(ps::resolve_template_name("auto", gpt2.toStdString(), &warning), std::string("plain"));
            QVERIFY(warning.find("has no chat template") != std::string::npos);
        }
        std::string warning = "x";
        QCOMPARE(ps::resolve_template_name("auto", "builtin:tiny", &warning), std::string("plain"));
        QVERIFY(warning.empty());
    }

    // auto falling back to plain is a data warning where conversations are rendered.
    void plain_fallback_is_a_data_warning() {
        const QString root = ps::test::real_tokenizers_root();
        if (root.isEmpty() || !QFileInfo::exists(root + "/gpt2/tokenizer_config.json"))
            QSKIP(ps::test::real_tokenizers_missing_reason());
        const std::string datasets = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR").toStdString() + "/tests/fixtures/datasets/";
        ps::RunConfig c;
        c.model.source = (root + "/gpt2").toStdString();  // a tokenizer_config.json without a template
        c.model.chat_template = "auto";
        c.data.max_length = 512;
        c.data.max_prompt_length = 256;
        ps::ByteTokenizer tok;
        auto has_warning = [](const ps::PreparedData& d) {
            for (const auto& w : d.warnings)
                if (w.find("has no chat template") != std::string::npos) return true;
            return false;
        };
        c.data.train = datasets + "trl_conversational.jsonl";
        const ps::PreparedData conv = ps::prepare_data(c, tok);
        QCOMPARE(conv.template_name, std::string("plain"));
        QVERIFY(has_warning(conv));
        c.data.train = datasets + "trl_standard.jsonl";  // text: no template is applied anyway
        QVERIFY(!has_warning(ps::prepare_data(c, tok)));
    }

    // Our tokenizer's ids of every fixture render equal HF tokenizers' (the fixture's "ids": the
    // folder's tokenizer.json, no special tokens added: the text carries the template's own).
    void real_template_renders_tokenize_as_hf() {
        const ordered_json fx = load_fixtures();
        const QString root = ps::test::real_tokenizers_root();
        REQUIRE_REAL_TOKENIZERS(root);
        int compared = 0;
        std::vector<std::string> failures;
        for (auto it = fx["templates"].begin(); it != fx["templates"].end(); ++it) {
            const QString folder = root + "/" + QString::fromStdString(it.key());
            if (!QFileInfo::exists(folder + "/tokenizer.json")) {
                qWarning("%s: not under %s, skipped", it.key().c_str(), qPrintable(root));
                continue;
            }
            const auto tok = ps::load_hf_tokenizer(folder.toStdString());
            for (const auto& r : it.value()["renders"]) {
                if (!r.contains("ids")) continue;
                const std::vector<int64_t> want = r["ids"].get<std::vector<int64_t>>();
                const std::vector<int64_t> got = tok->encode(r["output"].get<std::string>());
                ++compared;
                if (got != want)
                    failures.push_back(it.key() + " / " + r["conversation"].get<std::string>() +
                                       (r["add_generation_prompt"].get<bool>() ? " +gen" : "") + ": got " +
                                       ordered_json(got).dump() + "\n  want " + ordered_json(want).dump());
            }
        }
        for (const auto& f : failures) qWarning("%s", f.c_str());
        qInfo("%d renders tokenized, %zu differ", compared, failures.size());
        QVERIFY(compared > 0);
        QVERIFY(failures.empty());
    }

    // model.template_kwargs reaches the model's own template as apply_chat_template's keyword
    // arguments: Qwen3 with enable_thinking false renders as the fixture rendered by jinja2.
    void template_kwargs_from_the_run_config() {
        const ordered_json fx = load_fixtures();
        const QString root = ps::test::real_tokenizers_root();
        REQUIRE_REAL_TOKENIZERS(root);
        const std::string folder = (root + "/qwen3").toStdString();
        if (!QFileInfo::exists(QString::fromStdString(folder) + "/tokenizer_config.json") || !fx["templates"].contains("qwen3"))
            QSKIP("no qwen3 tokenizer");
        ps::RunConfig c;
        ps::read_config(nlohmann::json::parse(R"({"data": {"train": "x.jsonl"},
            "model": {"source": "builtin:tiny", "template_kwargs": {"enable_thinking": false}}})"), c);
        QCOMPARE(c.model.template_kwargs, nlohmann::json({{"enable_thinking", false}}));
        QCOMPARE(ps::write_config(c)["model"]["template_kwargs"], nlohmann::json({{"enable_thinking", false}}));
        ordered_json conv;
        for (const auto& x : fx["conversations"])
            if (x["name"] == "enable_thinking_false") conv = x;
        QCOMPARE(conv["extra"], ordered_json({{"enable_thinking", false}}));
        std::string want_off;
        for (const auto& r : fx["templates"]["qwen3"]["renders"])
            if (r["conversation"] == "enable_thinking_false" && r["add_generation_prompt"].get<bool>())
                want_off = r["output"].get<std::string>();
        QVERIFY(!want_off.empty());
        const std::vector<ps::ChatMessage> prompt = messages_of(conv["messages"]);
        const ps::ChatTemplate with("model:" + folder, c.model.template_kwargs);
        QCOMPARE(with.render_prompt(prompt), want_off);
        // Without it, the generation prompt has no empty think block (the difference the key makes).
        const ps::ChatTemplate without("model:" + folder);
        QVERIFY(without.render_prompt(prompt) != want_off);
        QVERIFY(want_off.find("<think>\n\n</think>\n\n") != std::string::npos);
        // Not an object: a typed error naming the key.
        try {
            ps::read_config(nlohmann::json::parse(R"({"data": {"train": "x.jsonl"}, "model": {"template_kwargs": [1]}})"), c);
            QFAIL("no error");
        } catch (const ps::ConfigError& e) {
            QVERIFY2(std::string(e.what()).find("model.template_kwargs") != std::string::npos, e.what());
        }
    }

    void language_cases_as_jinja2() {
        const ordered_json fx = load_fixtures();
        std::vector<std::string> failures;
        for (const auto& c : fx["cases"]) {
            const Outcome o = run(c["template"].get<std::string>(), c["context"]);
            const std::string name = c["name"].get<std::string>();
            if (c.contains("output")) {
                if (!o.ok || o.text != c["output"].get<std::string>())
                    failures.push_back(name + ": got " + (o.ok ? show(o.text) : "error " + o.text) + "\n  want " +
                                       show(c["output"].get<std::string>()));
                continue;
            }
            const auto& err = c["error"];
            const std::string type = err["type"].get<std::string>();
            // An error there is an error here: raise_exception's with its message, the others
            // with jinja2's message (syntax errors on jinja2's line too).
            bool same = !o.ok && o.raised == (type == "TemplateError") && o.text == err["message"].get<std::string>();
            if (type == "syntax") same = same && o.line == err["line"].get<int>();
            if (!same)
                failures.push_back(name + ": got " + (o.ok ? show(o.text) : "error " + std::to_string(o.line) + ":" + o.text) +
                                   "\n  want error " + err.dump());
        }
        for (const auto& f : failures) qWarning("%s", f.c_str());
        qInfo("%zu cases, %zu differ", fx["cases"].size(), failures.size());
        QVERIFY(failures.empty());
    }

    // Line and column (1-based, in characters) of errors, counted by hand from the sources.
    void errors_name_line_and_column() {
        struct Case { const char* source; int line, column; const char* says; };
        const Case cases[] = {
            {"ab\n  {{ 1 + }}", 2, 10, "unexpected 'end of print statement'"},  // the closing }}
            {"{% if x %}\nabc", 2, 4, "'endif'"},                            // unclosed: where the template ends
            {"é\n\n  {% frob %}", 3, 6, "unknown tag 'frob'"},  // columns count characters
            {"{{ 'a' | nosuch }}", 1, 10, "No filter named 'nosuch'."},
            {"x\n {{ 'a' + 1 }}", 2, 9, "can only concatenate str (not \"int\") to str"},
            {"{{ 'unterminated }}", 1, 4, "string is not closed"},
            {"{% for m in msgs %}\n{{ m.a.b }}{% endfor %}", 2, 7, "'dict object' has no attribute 'a'"},
        };
        for (const Case& c : cases) {
            const ordered_json ctx = {{"msgs", ordered_json::array({ordered_json::object()})}};
            const Outcome o = run(c.source, ctx);
            QVERIFY2(!o.ok, c.source);
            QVERIFY2(o.text.find(c.says) != std::string::npos, (std::string(c.source) + " -> " + o.text).c_str());
            QCOMPARE(o.line, c.line);
            QCOMPARE(o.column, c.column);
        }
        try {
            Template t("{{ 1 +* 2 }}");
            QFAIL("no syntax error");
        } catch (const TemplateError& e) {
            QCOMPARE(std::string(e.what()).substr(0, 20), std::string("chat template 1:7: u"));
        }
    }

    void raise_exception_is_typed() {
        const Template t("{% if messages[0].role != 'user' %}\n  {{ raise_exception('first must be user') }}{% endif %}");
        try {
            t.render(ps::jinja::chat_context(ordered_json::array({{{"role", "system"}, {"content", "s"}}}), true));
            QFAIL("no exception");
        } catch (const ps::jinja::RaisedException& e) {
            QCOMPARE(e.message(), std::string("first must be user"));
            QCOMPARE(e.line(), 2);
            QCOMPARE(e.column(), 6);  // a call's errors point at what is called
        }
    }

    void chat_context_as_apply_chat_template() {
        // null-valued keys dropped; reasoning aliased as transformers does; extra kwargs win.
        const ordered_json msgs = ordered_json::array({{{"role", "assistant"}, {"content", nullptr}, {"reasoning", "r"}}});
        const ordered_json ctx = ps::jinja::chat_context(msgs, false, {{"bos_token", "<s>"}}, nullptr, nullptr,
                                                         {{"bos_token", "B"}, {"enable_thinking", false}});
        const Template t("{{ messages[0].content is defined }} {{ messages[0] | tojson }} {{ bos_token }} "
                         "{{ tools is none }} {{ enable_thinking is false }} {{ add_generation_prompt }}");
        QCOMPARE(t.render(ctx), std::string("False {\"thinking\": \"r\", \"role\": \"assistant\", \"reasoning\": "
                                            "\"r\", \"reasoning_content\": \"r\"} B True True False"));
    }
};

QTEST_APPLESS_MAIN(TestJinja)
#include "test_jinja.moc"
