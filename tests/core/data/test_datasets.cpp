// Every dataset format read as TRL / LLaMA-Factory read it, each validation case from a
// committed fixture (tests/fixtures/datasets), chat templates against hand-derived renders,
// truncation, length-grouped batching and the dataset summary.
#include <QtTest>
#include <QTemporaryDir>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/data/data_pipeline.h"
#include "core/data/dataset_summary.h"
#include "core/data/json_records.h"
#include "core/data/preference_data.h"
#include "core/data/tokenize.h"
#include "core/text/byte_tokenizer.h"
#include "core/text/chat_template.h"

namespace {

std::string fixture(const std::string& name) {
    return std::string(qgetenv("PREFSTUDIO_SOURCE_DIR").constData()) + "/tests/fixtures/datasets/" + name;
}

ps::PreferenceDataset read(const std::string& name, const ps::DataOptions& o = {}) {
    return ps::read_preference_file(fixture(name), o);
}

ps::PreferenceDataset scan(const std::string& name, const ps::DataOptions& o = {}) {
    return ps::scan_preference_file(fixture(name), o);
}

std::string error_of(const std::string& name, const ps::DataOptions& o = {}) {
    try {
        read(name, o);
    } catch (const ps::DataError& e) {
        return e.what();
    }
    return "no error";
}

std::vector<ps::ChatMessage> messages(const nlohmann::json& j) {
    std::vector<ps::ChatMessage> out;
    for (const auto& m : j) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    return out;
}

std::vector<int64_t> bytes(const std::string& s) {
    return std::vector<int64_t>(s.begin(), s.end());
}

}  // namespace

class TestDatasets : public QObject {
    Q_OBJECT

private slots:
    // ---------------------------------------------------------------- formats
    void trlStandard() {
        auto d = read("trl_standard.jsonl");
        QCOMPARE(d.format, std::string("trl-standard"));
        QVERIFY(!d.unpaired);
        QCOMPARE(d.pairs.size(), size_t(3));
        QCOMPARE(d.pairs[0].prompt, std::string("The sky is"));
        QCOMPARE(d.pairs[0].chosen, std::string(" blue."));
        QCOMPARE(d.pairs[2].source_line, 4L);  // the blank line 3 is skipped, lines still count
        QVERIFY(!d.pairs[2].conversational);
    }

    void trlConversational() {
        auto d = read("trl_conversational.jsonl");
        QCOMPARE(d.format, std::string("trl-conversational"));
        QCOMPARE(d.pairs.size(), size_t(2));
        const auto& p = d.pairs[1];
        QVERIFY(p.conversational);
        QCOMPARE(p.prompt_messages.size(), size_t(4));
        QCOMPARE(p.prompt_messages[0].role, std::string("system"));
        QCOMPARE(p.prompt_messages[3].content, std::string("2+2?"));
        QCOMPARE(p.chosen_messages.size(), size_t(1));
        QCOMPARE(p.rejected_messages[0].content, std::string("22"));
    }

    void trlImplicitPrompt() {
        // TRL's extract_prompt: the longest common prefix; a space before the first difference
        // goes to the completions.
        auto d = read("trl_implicit_prompt.jsonl");
        QCOMPARE(d.format, std::string("trl-standard"));
        QCOMPARE(d.pairs[0].prompt, std::string("The sky is"));
        QCOMPARE(d.pairs[0].chosen, std::string(" blue."));
        QCOMPARE(d.pairs[0].rejected, std::string(" green."));
        QCOMPARE(d.pairs[1].prompt, std::string(""));  // "Tea" vs "Coffee": nothing shared
        QCOMPARE(d.pairs[1].chosen, std::string("Tea, please."));
        QCOMPARE(d.implicit_prompts, size_t(1));
        // Conversational: the shared leading messages.
        auto c = read("trl_implicit_conversational.json");
        QCOMPARE(c.format, std::string("trl-conversational"));
        QCOMPARE(c.pairs[0].prompt_messages.size(), size_t(1));
        QCOMPARE(c.pairs[0].prompt_messages[0].content, std::string("What color is the sky?"));
        QCOMPARE(c.pairs[0].chosen_messages.size(), size_t(1));
        QCOMPARE(c.pairs[0].chosen_messages[0].content, std::string("It is blue."));
        QCOMPARE(c.pairs[0].source_line, 1L);  // JSON array: record index
        // A text prompt beside whole conversations (UltraFeedback binarized's layout): TRL's
        // maybe_extract_prompt ignores the text and extracts the shared messages.
        auto u = read("trl_text_prompt_conversational.jsonl");
        QCOMPARE(u.format, std::string("trl-conversational"));
        QCOMPARE(u.pairs[0].prompt_messages.size(), size_t(1));
        QCOMPARE(u.pairs[0].prompt_messages[0].role, std::string("user"));
        QCOMPARE(u.pairs[0].rejected_messages.size(), size_t(1));
        QCOMPARE(u.pairs[0].rejected_messages[0].content, std::string("Green."));
        // Whole UTF-8 characters: "é" (C3 A9) and "è" (C3 A8) share their first byte.
        QCOMPARE(ps::implicit_prompt_length(std::string("caf\xC3\xA9"), std::string("caf\xC3\xA8")), size_t(3));
        // One text a prefix of the other: TRL leaves the last shared character to the completions.
        QCOMPARE(ps::implicit_prompt_length(std::string("abc"), std::string("abcd")), size_t(2));
    }

    void trlUnpaired() {
        auto d = read("trl_unpaired.jsonl");
        QCOMPARE(d.format, std::string("trl-unpaired-standard"));
        QVERIFY(d.unpaired);
        QCOMPARE(d.unpaired_examples.size(), size_t(5));
        QCOMPARE(d.unpaired_examples[1].completion, std::string(" green."));
        QVERIFY(d.unpaired_examples[0].desirable);
        QVERIFY(!d.unpaired_examples[1].desirable);
        auto c = read("trl_unpaired_conversational.jsonl");
        QCOMPARE(c.format, std::string("trl-unpaired-conversational"));
        QCOMPARE(c.unpaired_examples[1].completion_messages[0].content, std::string("It is green."));
        QVERIFY(!c.unpaired_examples[1].desirable);
    }

    void llamaFactorySharegptPreference() {
        auto d = read("dpo_en_demo.json");
        QCOMPARE(d.format, std::string("sharegpt-preference"));
        QVERIFY(d.json_array);
        QCOMPARE(d.pairs.size(), size_t(2));
        const auto& p = d.pairs[1];
        QCOMPARE(p.prompt_messages.size(), size_t(4));
        QCOMPARE(p.prompt_messages[0].role, std::string("system"));
        QCOMPARE(p.prompt_messages[0].content, std::string("You answer in one word."));
        QCOMPARE(p.prompt_messages[2].role, std::string("assistant"));
        QCOMPARE(p.prompt_messages[3].role, std::string("user"));
        QCOMPARE(p.chosen_messages[0].role, std::string("assistant"));
        QCOMPARE(p.chosen_messages[0].content, std::string("Cold."));
    }

    void llamaFactoryKto() {
        auto d = read("kto_en_demo.json");
        QCOMPARE(d.format, std::string("sharegpt-kto"));
        QVERIFY(d.unpaired);
        QCOMPARE(d.unpaired_examples.size(), size_t(3));
        const auto& e = d.unpaired_examples[1];
        QCOMPARE(e.prompt_messages.size(), size_t(1));
        QCOMPARE(e.prompt_messages[0].content, std::string("Name a primary colour."));
        QCOMPARE(e.completion_messages[0].content, std::string("Green, obviously."));
        QVERIFY(!e.desirable);
        QVERIFY(d.unpaired_examples[2].desirable);
    }

    void llamaFactoryAlpacaRanking() {
        auto d = read("alpaca_ranking.json");
        QCOMPARE(d.format, std::string("alpaca-ranking"));
        // instruction + "\n" + input is the user turn (LLaMA-Factory's alpaca converter).
        QCOMPARE(d.pairs[0].prompt_messages.size(), size_t(1));
        QCOMPARE(d.pairs[0].prompt_messages[0].content, std::string("Translate to French.\nGood morning"));
        QCOMPARE(d.pairs[0].chosen_messages[0].content, std::string("Bonjour"));
        // system, then the history turns, then the instruction (input empty: no newline).
        const auto& p = d.pairs[1].prompt_messages;
        QCOMPARE(p.size(), size_t(4));
        QCOMPARE(p[0].role, std::string("system"));
        QCOMPARE(p[1].content, std::string("Translate to French: Good morning"));
        QCOMPARE(p[2].role, std::string("assistant"));
        QCOMPARE(p[3].content, std::string("And now to German."));
    }

    void columnMapping() {
        ps::DataOptions o;
        o.columns = {{"prompt", "question"}, {"chosen", "good"}, {"rejected", "bad"}};
        auto d = read("renamed_columns.jsonl", o);
        QCOMPARE(d.format, std::string("trl-standard"));
        QCOMPARE(d.pairs[1].prompt, std::string("3+3="));
        QCOMPARE(d.pairs[1].rejected, std::string("7"));
        // Without the mapping the fields are not found, and the error says how to fix it.
        QVERIFY(error_of("renamed_columns.jsonl").find("data.columns") != std::string::npos);

        ps::DataOptions t;
        t.format = "sharegpt";
        t.columns = {{"messages", "dialog"}, {"chosen", "better"}, {"rejected", "worse"}};
        t.tags = {{"role_tag", "speaker"}, {"content_tag", "text"}, {"user_tag", "asker"}, {"assistant_tag", "bot"}};
        auto s = read("renamed_tags.json", t);
        QCOMPARE(s.format, std::string("sharegpt-preference"));
        QCOMPARE(s.pairs[0].prompt_messages[0].role, std::string("user"));
        QCOMPARE(s.pairs[0].prompt_messages[0].content, std::string("2+2?"));
        QCOMPARE(s.pairs[0].rejected_messages[0].content, std::string("5"));
    }

    void forcedFormat() {
        ps::DataOptions o;
        o.format = "alpaca";
        // A TRL file read as alpaca: the missing instruction is named.
        QVERIFY(error_of("trl_standard.jsonl", o).find("missing field 'instruction'") != std::string::npos);
    }

    // ---------------------------------------------------------------- validation
    void malformedJsonHasLineAndColumn() {
        const std::string p = fixture("bad_json.jsonl");
        // {"prompt": "a", "chosen": "b" "rejected": "c"}: a comma is missing before the string
        // "rejected" of columns 31-40; the position is where the parser stands, its last character.
        QCOMPARE(error_of("bad_json.jsonl"),
                 p + ":2: invalid JSON at column 40: syntax error while parsing object - unexpected string literal; expected '}'");
        const std::string a = fixture("bad_json_array.json");
        // Record 2 starts on line 3; the literal "tru" (columns 46-48) is rejected when the
        // parser has read the '}' after it, column 49.
        const std::string e = error_of("bad_json_array.json");
        QVERIFY2(e.rfind(a + ":3: record 2: invalid JSON at column 49: syntax error while parsing value - invalid literal", 0) == 0, e.c_str());
        const std::string u = error_of("unterminated_array.json");
        QVERIFY2(u.find("the file ends inside the JSON array (is the closing ']' missing?)") != std::string::npos, u.c_str());
    }

    // Issue #17: a record nested 100,000 deep or with a number past double is one error naming
    // the file and line, not a crash or an escaped exception.
    void hostileRecordsAreOneError() {
        QTemporaryDir dir;
        auto error_in = [&](const std::string& name, const std::string& content) {
            const std::string path = dir.filePath(QString::fromStdString(name)).toStdString();
            std::ofstream(path) << content;
            try {
                ps::read_preference_file(path, {});
            } catch (const ps::DataError& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        const std::string ok = R"({"prompt": "a", "chosen": "b", "rejected": "c"})";
        const std::string d = error_in("deep.jsonl", ok + "\n{\"prompt\": " + std::string(100000, '[') +
                                                         std::string(100000, ']') + "}\n");
        // The object is level 1; the 64th '[' (column 12 + 63 = 75) is level 65.
        QVERIFY2(d.find("deep.jsonl:2: the record nests deeper than 64 levels (at column 75)") != std::string::npos,
                 d.c_str());
        const std::string b = error_in("big.jsonl", ok + "\n{\"prompt\": \"a\", \"chosen\": 1e309, \"rejected\": \"c\"}\n");
        QVERIFY2(b.find("big.jsonl:2: the number '1e309' is out of range for a double") != std::string::npos, b.c_str());
    }

    void missingAndMistypedFields() {
        QCOMPARE(error_of("missing_field.jsonl"),
                 fixture("missing_field.jsonl") + ":2: missing field 'rejected' (expected prompt, chosen, rejected strings)");
        QCOMPARE(error_of("mistyped_field.jsonl"), fixture("mistyped_field.jsonl") + ":2: field 'prompt' must be a string");
        QCOMPARE(error_of("bad_label.jsonl"), fixture("bad_label.jsonl") + ":1: field 'label' must be true or false, got a string \"yes\"");
        auto d = scan("missing_field.jsonl");
        QCOMPARE(d.errors.size(), size_t(1));
        QCOMPARE(d.errors[0].field, std::string("rejected"));
        QCOMPARE(d.errors[0].line, 2L);
    }

    void emptyCompletions() {
        QCOMPARE(error_of("empty_chosen.jsonl"), fixture("empty_chosen.jsonl") + ":1: field 'chosen' is empty");
        QCOMPARE(error_of("empty_rejected.json"), fixture("empty_rejected.json") + ":1: record 2: field 'rejected' is empty");
    }

    void chosenEqualToRejectedIsACountedWarning() {
        auto d = read("chosen_equals_rejected.jsonl");
        QCOMPARE(d.pairs.size(), size_t(3));  // kept: a warning, not an error
        QCOMPARE(d.warning_counts.size(), size_t(1));
        QCOMPARE(d.warning_counts[0].count, size_t(2));
        QCOMPARE(d.warning_counts[0].first_line, 1L);
        QCOMPARE(d.warnings[0], std::string("2 pair(s) have chosen equal to rejected; they teach nothing (first at line 1)"));
    }

    void invalidUtf8() {
        // Line 2: {"prompt": "caf\xE9", ... : the lone 0xE9 byte is column 16.
        QCOMPARE(error_of("invalid_utf8.jsonl"),
                 fixture("invalid_utf8.jsonl") + ":2: invalid UTF-8 at column 16 (byte 0xE9); save the file as UTF-8");
        QCOMPARE(ps::find_invalid_utf8("ok \xC3\xA9"), std::string::npos);
        QCOMPARE(ps::find_invalid_utf8("\xC0\xAF"), size_t(0));          // overlong
        QCOMPARE(ps::find_invalid_utf8("a\xED\xA0\x80"), size_t(1));      // surrogate
        QCOMPARE(ps::find_invalid_utf8("ab\xF0\x9F\x98"), size_t(2));     // cut short
    }

    void unknownRoles() {
        QCOMPARE(error_of("unknown_role.jsonl"),
                 fixture("unknown_role.jsonl") + ":1: unknown role 'bot' in chosen[0] (expected system, user or assistant)");
        const std::string e = error_of("unknown_role_sharegpt.json");
        QVERIFY2(e.find("record 1: unknown role 'robot' in conversations[1] (expected human, gpt or system") != std::string::npos, e.c_str());
        auto d = scan("unknown_role_sharegpt.json");
        QCOMPARE(d.errors[0].field, std::string("conversations[1].from"));
    }

    void conversationsEndWhereTheFormatSays() {
        QVERIFY(error_of("prompt_ends_with_assistant.jsonl")
                    .find(":1: the prompt must end with a user message (the completion answers it), but it ends with a assistant message") !=
                std::string::npos);
        QVERIFY(error_of("sharegpt_ends_with_gpt.json").find("must end with a human turn; 'chosen' and 'rejected' are the answers to it") !=
                std::string::npos);
        QVERIFY(error_of("kto_ends_with_user.json").find("must end with the assistant turn that 'label' judges") != std::string::npos);
    }

    void mixedFormats() {
        auto d = scan("mixed_formats.jsonl");
        QCOMPARE(d.errors.size(), size_t(2));
        QCOMPARE(d.errors[0].line, 2L);
        QCOMPARE(d.errors[0].message,
                 std::string("mixed formats: this record is trl-conversational but the file's first record (line 1) is "
                             "trl-standard; one file must hold one format"));
        QCOMPARE(d.errors[1].line, 3L);
        // The thrown error names the first and counts the rest.
        QVERIFY(error_of("mixed_formats.jsonl").find("(and 1 more problem; `prefstudio-cli data ") != std::string::npos);
    }

    void emptyFiles() {
        QCOMPARE(error_of("empty.jsonl"), fixture("empty.jsonl") + ": the file is empty");
        QCOMPARE(error_of("blank_lines.jsonl"), fixture("blank_lines.jsonl") + ": the file is empty");
        QCOMPARE(error_of("empty_array.json"), fixture("empty_array.json") + ": the file holds no preference pairs");
        QCOMPARE(error_of("no_such_file.jsonl"), fixture("no_such_file.jsonl") + ": cannot open the file");
    }

    void errorCollectionStops() {
        // Many bad lines: listing stops at max_errors, the run is stopped by the first.
        QTemporaryDir dir;
        const std::string path = dir.filePath("many.jsonl").toStdString();
        {
            std::ofstream out(path);
            for (int i = 0; i < 100; ++i) out << "{\"chosen\": \"a\"}\n";
        }
        ps::DataOptions o;
        o.max_errors = 5;
        auto d = ps::scan_preference_file(path, o);
        QCOMPARE(d.errors.size(), size_t(6));
        QCOMPARE(d.errors.back().message, std::string("reading stopped after 5 problems"));
    }

    // ---------------------------------------------------------------- chat templates
    void chatTemplatesMatchPublishedRenders() {
        std::ifstream in(fixture("chat_templates.json"));
        const auto j = nlohmann::json::parse(in);
        QVERIFY(j["cases"].size() >= 10);
        for (const auto& c : j["cases"]) {
            ps::ChatTemplate t(c["template"].get<std::string>());
            const auto prompt = messages(c["prompt"]);
            const auto completion = messages(c["completion"]);
            QCOMPARE(t.render_prompt(prompt), c["expected_prompt"].get<std::string>());
            QCOMPARE(t.render_completion(prompt, completion), c["expected_completion"].get<std::string>());
        }
        QVERIFY(ps::ChatTemplate("plain").appends_eos());
        QVERIFY(!ps::ChatTemplate("chatml").appends_eos());
        QCOMPARE(ps::resolve_template_name("auto", "builtin:tiny"), std::string("plain"));
        QVERIFY_THROWS_EXCEPTION(ps::ConfigError, ps::ChatTemplate("vicuna"));
    }

    void renderAndTokenize() {
        ps::ByteTokenizer tok;
        ps::TruncationOptions lim;
        lim.max_length = 512;
        lim.max_prompt_length = 256;
        // Standard text: verbatim whatever the template (TRL applies templates to messages only);
        // [BOS] prompt, completion + EOS.
        ps::PreferencePair p{"2+2=", "4", "5", 1};
        ps::TokenizeStats st;
        ps::TokenizedPair t;
        QVERIFY(ps::tokenize_pair(p, tok, ps::ChatTemplate("chatml"), lim, st, t));
        std::vector<int64_t> want_prompt{ps::ByteTokenizer::kBos, '2', '+', '2', '='};
        QCOMPARE(t.prompt, want_prompt);
        QCOMPARE(t.chosen, (std::vector<int64_t>{'4', ps::ByteTokenizer::kEos}));
        // Conversational with chatml: the template ends the completion, no EOS appended.
        auto d = read("trl_conversational.jsonl");
        QVERIFY(ps::tokenize_pair(d.pairs[0], tok, ps::ChatTemplate("chatml"), lim, st, t));
        auto prompt = bytes("<|im_start|>user\nWhat color is the sky?<|im_end|>\n<|im_start|>assistant\n");
        prompt.insert(prompt.begin(), ps::ByteTokenizer::kBos);
        QCOMPARE(t.prompt, prompt);
        QCOMPARE(t.chosen, bytes("It is blue.<|im_end|>"));
        // Plain template on messages: joined lines, EOS appended.
        QVERIFY(ps::tokenize_pair(d.pairs[0], tok, ps::ChatTemplate("plain"), lim, st, t));
        auto chosen = bytes("It is blue.");
        chosen.push_back(ps::ByteTokenizer::kEos);
        QCOMPARE(t.chosen, chosen);
        QCOMPARE(st.kept, size_t(3));
    }

    // Generation prompts are the pipeline's prompts: a typed text is one user turn through a
    // chat template (hand-written ChatML / Llama 3 strings), verbatim under plain.
    void generationPromptsMatchThePipeline() {
        ps::ByteTokenizer tok;
        const ps::ChatTemplate chatml("chatml"), llama3("llama3"), plain("plain");
        const std::string chatml_text = "<|im_start|>user\nWhat color is the sky?<|im_end|>\n<|im_start|>assistant\n";
        QCOMPARE(ps::render_text_prompt("What color is the sky?", chatml), chatml_text);
        auto want = bytes(chatml_text);
        want.insert(want.begin(), ps::ByteTokenizer::kBos);
        QCOMPARE(ps::prompt_token_ids(ps::render_text_prompt("What color is the sky?", chatml), tok), want);
        // The pipeline's prompt of the same conversation (first pair of the fixture).
        ps::TruncationOptions lim;
        lim.max_length = 512;
        lim.max_prompt_length = 256;
        ps::TokenizeStats st;
        ps::TokenizedPair t;
        auto d = read("trl_conversational.jsonl");
        QVERIFY(ps::tokenize_pair(d.pairs[0], tok, chatml, lim, st, t));
        QCOMPARE(t.prompt, want);
        QCOMPARE(ps::render_prompt_of(d.pairs[0], chatml), chatml_text);
        const std::string llama3_text =
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a primary colour.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n";
        QCOMPARE(ps::render_text_prompt("  Name a primary colour.\n", llama3), llama3_text);  // content trimmed
        ps::PreferencePair conv;
        conv.conversational = true;
        conv.prompt_messages = {{"user", "Name a primary colour."}};
        conv.chosen_messages = {{"assistant", "Red."}};
        conv.rejected_messages = {{"assistant", "Pink."}};
        QVERIFY(ps::tokenize_pair(conv, tok, llama3, lim, st, t));
        QCOMPARE(ps::prompt_token_ids(ps::render_text_prompt("Name a primary colour.", llama3), tok), t.prompt);
        // Plain: the text as it is, as standard examples are: [BOS] 2 + 2 =.
        QCOMPARE(ps::render_text_prompt("2+2=", plain), std::string("2+2="));
        ps::PreferencePair standard{"2+2=", "4", "5", 1};
        QVERIFY(ps::tokenize_pair(standard, tok, plain, lim, st, t));
        QCOMPARE(ps::prompt_token_ids(ps::render_text_prompt("2+2=", plain), tok),
                 (std::vector<int64_t>{ps::ByteTokenizer::kBos, '2', '+', '2', '='}));
        QCOMPARE(t.prompt, (std::vector<int64_t>{ps::ByteTokenizer::kBos, '2', '+', '2', '='}));
    }

    // The Samples panel's eval prompts: the eval file's first prompts, rendered and fitted as
    // the run does, distinct, examples the run drops skipped.
    void samplePromptsOfARun() {
        ps::ByteTokenizer tok;
        ps::RunConfig c;
        c.model.chat_template = "chatml";
        c.data.train = fixture("trl_conversational.jsonl");
        c.data.eval = fixture("trl_conversational.jsonl");
        c.data.max_length = 512;
        c.data.max_prompt_length = 256;
        auto p = ps::sample_prompts(c, tok, 5);
        QCOMPARE(p.size(), size_t(2));
        QCOMPARE(p[0].text, std::string("What color is the sky?"));
        QCOMPARE(p[0].rendered, std::string("<|im_start|>user\nWhat color is the sky?<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(p[0].ids.size(), p[0].rendered.size() + 1);  // BOS + one byte each
        QCOMPARE(p[0].source_line, 1L);
        QCOMPARE(p[1].text, std::string("2+2?"));  // the last user message of a multi-turn prompt
        QCOMPARE(p[1].rendered, std::string("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                                            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                                            "<|im_start|>assistant\n"));
        QCOMPARE(ps::sample_prompts(c, tok, 1).size(), size_t(1));
        // A prompt limit the second prompt (163 tokens with BOS) exceeds, the first (73) not:
        // the second is dropped as the run drops it.
        c.data.max_prompt_length = 100;
        c.data.max_length = 200;
        auto fitted = ps::sample_prompts(c, tok, 5);
        QCOMPARE(fitted.size(), size_t(1));
        QCOMPARE(fitted[0].ids.size(), size_t(73));
        // KTO: the prompts of unpaired examples, each once, in file order.
        ps::RunConfig k;
        k.data.train = fixture("trl_unpaired.jsonl");
        k.data.eval = fixture("trl_unpaired.jsonl");
        auto u = ps::sample_prompts(k, tok, 3);
        QCOMPARE(u.size(), size_t(3));
        QCOMPARE(u[0].text, std::string("The sky is"));
        QCOMPARE(u[1].text, std::string("2+2="));
        QCOMPARE(u[2].text, std::string("1+1="));
        QCOMPARE(u[1].ids, (std::vector<int64_t>{ps::ByteTokenizer::kBos, '2', '+', '2', '='}));
    }

    // ---------------------------------------------------------------- truncation
    void truncationModes() {
        ps::ByteTokenizer tok;
        ps::PreferencePair p{"abcdefghij", "0123456789", "xy", 1};  // prompt 1+10 tokens, chosen 11, rejected 3
        ps::TruncationOptions lim;
        lim.max_length = 16;
        lim.max_prompt_length = 8;
        ps::TokenizedPair t;
        {
            ps::TokenizeStats st;
            lim.mode = ps::TruncationMode::Drop;
            QVERIFY(!ps::tokenize_pair(p, tok, ps::ChatTemplate(), lim, st, t));
            QCOMPARE(st.dropped_prompt_too_long, size_t(1));
            QCOMPARE(st.kept, size_t(0));
        }
        {
            ps::TokenizeStats st;
            lim.mode = ps::TruncationMode::KeepEnd;  // BOS kept, then the last 7 prompt tokens
            QVERIFY(ps::tokenize_pair(p, tok, ps::ChatTemplate(), lim, st, t));
            QCOMPARE(t.prompt, (std::vector<int64_t>{ps::ByteTokenizer::kBos, 'd', 'e', 'f', 'g', 'h', 'i', 'j'}));
            // 16 - 8 = 8 tokens left for each completion: the chosen loses its end (and its EOS).
            QCOMPARE(t.chosen, bytes("01234567"));
            QCOMPARE(t.rejected, (std::vector<int64_t>{'x', 'y', ps::ByteTokenizer::kEos}));
            QCOMPARE(st.truncated_prompts, size_t(1));
            QCOMPARE(st.truncated_completions, size_t(1));
        }
        {
            ps::TokenizeStats st;
            lim.mode = ps::TruncationMode::KeepStart;
            QVERIFY(ps::tokenize_pair(p, tok, ps::ChatTemplate(), lim, st, t));
            QCOMPARE(t.prompt, (std::vector<int64_t>{ps::ByteTokenizer::kBos, 'a', 'b', 'c', 'd', 'e', 'f', 'g'}));
        }
    }

    // ---------------------------------------------------------------- batching
    void lengthGroupedBatches() {
        // 400 items of lengths 1..400 in batches of 8: grouped batches hold similar lengths.
        std::vector<size_t> lengths(400);
        for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = i + 1;
        ps::BatchSampler grouped(lengths, 8, 7, true), plain(lengths, 8, 7, false), again(lengths, 8, 7, true);
        auto gb = grouped.epoch_batches();
        QCOMPARE(gb.size(), size_t(50));
        std::set<size_t> seen;
        double spread_g = 0, spread_p = 0;
        for (const auto& b : gb) {
            size_t lo = 1000, hi = 0;
            for (size_t i : b) {
                seen.insert(i);
                lo = std::min(lo, lengths[i]);
                hi = std::max(hi, lengths[i]);
            }
            spread_g += static_cast<double>(hi - lo);
        }
        QCOMPARE(seen.size(), size_t(400));  // a permutation: every item once per epoch
        // One mega-batch (50 batches of 8 = 400): sorted, so each batch spans exactly 7.
        QCOMPARE(spread_g / 50.0, 7.0);
        for (const auto& b : plain.epoch_batches()) {
            size_t lo = 1000, hi = 0;
            for (size_t i : b) { lo = std::min(lo, lengths[i]); hi = std::max(hi, lengths[i]); }
            spread_p += static_cast<double>(hi - lo);
        }
        QVERIFY(spread_p / 50.0 > 100.0);
        // Same seed, same batches; next() hands them out in order.
        QCOMPARE(again.next(8), gb[0]);
        QCOMPARE(again.next(8), gb[1]);
        // Without grouping the order is the plain seeded shuffle the trainer always used.
        ps::BatchSampler old_style(400, 7);
        QCOMPARE(old_style.next(8), plain.epoch_batches()[0]);
    }

    void paddingFraction() {
        // Two pairs in one batch: prompt 2 + completions (3, 1) and prompt 1 + (1, 1).
        // Rows: 5, 3, 2, 2 tokens; padded to 5 each: 20 slots, 12 real: 40% padding.
        ps::TokenRows pairs;
        pairs.rows_per_group = 2;
        pairs.prompts = {{1, 2}, {1}};
        pairs.sources = {0, 1};
        pairs.rows = {{{3, 4, 5}, 0, true}, {{6}, 0, false}, {{2}, 1, true}, {{3}, 1, false}};
        QCOMPARE(ps::padding_fraction(pairs, {{0, 1}}), 0.4);
        // Each alone: 10 slots (8 real) and 4 slots (4 real).
        QCOMPARE(ps::padding_fraction(pairs, {{0}, {1}}), 2.0 / 14.0);
    }

    void splitIsDeterministic() {
        std::vector<size_t> t1, e1, t2, e2;
        ps::split_indices(50, 0.2, 3, t1, e1);
        ps::split_indices(50, 0.2, 3, t2, e2);
        QCOMPARE(e1.size(), size_t(10));
        QCOMPARE(e1, e2);
        QCOMPARE(t1, t2);
    }

    // ---------------------------------------------------------------- pipeline and config
    void preparedDataFromConfig() {
        ps::RunConfig c;
        c.data.train = fixture("dpo_en_demo.json");
        c.data.eval = fixture("dpo_en_demo.json");
        c.model.chat_template = "chatml";
        c.data.max_length = 400;
        c.data.max_prompt_length = 240;  // the second prompt renders to 170 bytes
        ps::ByteTokenizer tok;
        auto d = ps::prepare_data(c, tok);
        QCOMPARE(d.format, std::string("sharegpt-preference"));
        QCOMPARE(d.template_name, std::string("chatml"));
        QCOMPARE(d.train.groups(), size_t(2));
        QCOMPARE(d.train.row(0, 0).completion, bytes("Red is a primary colour.<|im_end|>"));
        c.data.eval = fixture("kto_en_demo.json");
        QVERIFY_THROWS_EXCEPTION(ps::ConfigError, ps::prepare_data(c, tok));
        c.data.eval.reset();
        c.data.train = fixture("kto_en_demo.json");
        c.data.eval_fraction = 0.0;
        auto k = ps::prepare_data(c, tok);
        QVERIFY(k.unpaired);
        QCOMPARE(k.train.groups(), size_t(3));
        QVERIFY(!k.train.row(1).desirable);
    }

    void configKeys() {
        auto j = nlohmann::json::parse(R"({"data": {"train": "x.jsonl", "format": "sharegpt", "truncation_mode": "keep_end",
            "group_by_length": false, "columns": {"messages": "conversations", "chosen": "chosen", "system": null},
            "tags": {"role_tag": "from"}}, "model": {"template": "llama3"}})");
        auto c = ps::RunConfig::from_json(j);
        QVERIFY(c.data.truncation_mode == ps::TruncationMode::KeepEnd);
        QVERIFY(!c.data.group_by_length);
        QCOMPARE(c.data.columns.size(), size_t(2));  // null columns are unused ones (LLaMA-Factory writes them)
        QCOMPARE(c.data.tags.at("role_tag"), std::string("from"));
        QCOMPARE(c.model.chat_template, std::string("llama3"));
        QCOMPARE(c.to_json()["data"]["columns"]["messages"].get<std::string>(), std::string("conversations"));
        auto error = [](const char* text) {
            try {
                ps::RunConfig::from_json(nlohmann::json::parse(text));
            } catch (const ps::ConfigError& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        QCOMPARE(error(R"({"data": {"train": "x", "columns": {"answer": "a"}}})"),
                 std::string("data.columns.answer: unknown key (valid keys: prompt, query, response, chosen, rejected, "
                             "kto_tag, messages, system, history, completion, label)"));
        QCOMPARE(error(R"({"data": {"train": "x", "truncation_mode": "middle"}})"),
                 std::string("data.truncation_mode: 'middle' is not one of: drop, keep_end, keep_start"));
        QCOMPARE(error(R"({"data": {"train": "x", "shuffle": true}})"),
                 std::string("data.shuffle: unknown key (check the spelling; valid keys are listed in the README's config reference)"));
        QCOMPARE(error(R"({"data": {"train": "x", "columns": {"chosen": 3}}})"),
                 std::string("data.columns.chosen: must be a field name (a non-empty string), got a number"));
    }

    // ---------------------------------------------------------------- summary
    void summary() {
        ps::ByteTokenizer tok;
        ps::SummaryOptions o;
        o.limits.max_length = 64;
        o.limits.max_prompt_length = 12;
        o.keep_examples = 2;
        auto s = ps::summarize_dataset(fixture("trl_standard.jsonl"), tok, o);
        QVERIFY(s.ok());
        QCOMPARE(s.format, std::string("trl-standard"));
        QCOMPARE(s.examples, size_t(3));
        // Prompts with BOS: 11, 5, 19 tokens; 19 > 12 is dropped.
        QCOMPARE(s.prompt_lengths, (std::vector<uint32_t>{11, 5, 19}));
        QCOMPARE(s.fit.kept, size_t(2));
        QCOMPARE(s.fit.dropped_prompt_too_long, size_t(1));
        // chosen/rejected with EOS: (7, 8), (2, 2), (7, 44): chosen longer in 0 of 3.
        QCOMPARE(s.chosen_longer, size_t(0));
        QCOMPARE(s.rejected_longer, size_t(2));
        QCOMPARE(s.same_length, size_t(1));
        const auto p = ps::length_percentiles(s.rejected_lengths);
        QCOMPARE(p.p50, size_t(8));
        QCOMPARE(p.max, size_t(44));
        QCOMPARE(s.preview.size(), size_t(2));
        QCOMPARE(s.preview[1].prompt, std::string("2+2="));
        auto j = s.to_json();
        QCOMPARE(j["length_bias"]["chosen_longer_share"].get<double>(), 0.0);
        QCOMPARE(j["dropped"]["prompt_too_long"].get<int>(), 1);
        // A file with problems: summary still made, problems listed.
        auto bad = ps::summarize_dataset(fixture("mixed_formats.jsonl"), tok, o);
        QVERIFY(!bad.ok());
        QCOMPARE(bad.examples, size_t(1));
        QCOMPARE(bad.records, size_t(3));
    }

    void diffSpan() {
        auto d = ps::diff_span("The answer is 42.", "The answer is 43.");
        QCOMPARE(d.prefix, size_t(15));
        QCOMPARE(d.suffix, size_t(1));
        d = ps::diff_span("abc", "abc");
        QCOMPARE(d.prefix + d.suffix, size_t(3));
        d = ps::diff_span("caf\xC3\xA9!", "caf\xC3\xA8!");  // differ inside one character
        QCOMPARE(d.prefix, size_t(3));
        QCOMPARE(d.suffix, size_t(1));
    }
};

QTEST_GUILESS_MAIN(TestDatasets)
#include "test_datasets.moc"
