// Generation: KV-cache greedy decoding equals argmax of a full forward token by token (and
// the fixture script's own greedy continuations), left-padded batches equal single prompts,
// top-k = 1 equals greedy, top-p/top-k/temperature filtering on hand-made distributions,
// seeded sampling, stop tokens, and the `prefstudio-cli generate` / `save` commands.
#include <QtTest>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>  // getpid: torch 2.x's headers no longer include it

#include "core/common/errors.h"
#include "core/data/preference_data.h"
#include "core/data/tokenize.h"
#include "core/model/generation.h"
#include "core/model/hf_config.h"
#include "core/model/model_io.h"
#include "core/model/model_source.h"
#include "core/model/text_generator.h"
#include "core/text/byte_tokenizer.h"
#include "core/text/chat_template.h"
#include "core/text/hf_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string source_dir() { return std::string(qgetenv("PREFSTUDIO_SOURCE_DIR").constData()); }
std::string fixtures() { return source_dir() + "/tests/fixtures/models"; }

// Greedy decoding the slow way: a full forward over the whole sequence for every new token.
std::vector<int64_t> greedy_without_cache(ps::CausalLM& m, std::vector<int64_t> seq, int n) {
    torch::NoGradGuard g;
    m->eval();
    const size_t start = seq.size();
    for (int i = 0; i < n; ++i) {
        auto ids = torch::tensor(seq, torch::kLong).view({1, -1});
        seq.push_back(m->forward(ids).select(1, -1).argmax(-1).item<int64_t>());
    }
    return std::vector<int64_t>(seq.begin() + static_cast<long>(start), seq.end());
}

ps::CausalLM tiny(uint64_t seed) {
    torch::manual_seed(seed);
    return ps::CausalLM(ps::builtin_shape("tiny"));
}

struct CliResult {
    int code;
    QByteArray out, err;
};

CliResult cli(const QStringList& args) {
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("PREFSTUDIO_CLI")), args);
    p.waitForFinished(120000);
    return {p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}

}  // namespace

class TestGeneration : public QObject {
    Q_OBJECT

private slots:
    void cachedGreedyEqualsFullForward_data() {
        QTest::addColumn<QString>("source");
        for (const char* s : {"builtin:tiny", "llama", "qwen2", "qwen3", "mistral"}) QTest::newRow(s) << QString(s);
    }
    void cachedGreedyEqualsFullForward() {
        QFETCH(QString, source);
        std::string src = source.toStdString();
        if (src.rfind("builtin:", 0) != 0) src = fixtures() + "/" + src;
        torch::manual_seed(5);
        auto m = ps::load_model_source(src).model;
        // 24 new tokens: Mistral's window of 4 is crossed many times inside the cache.
        const std::vector<int64_t> prompt{1, 17, 42, 5, 60};
        ps::GenerationOptions o;
        o.max_new_tokens = 24;
        auto got = ps::generate_tokens(m, {prompt}, o);
        QCOMPARE(got[0].tokens, greedy_without_cache(m, prompt, 24));
        QCOMPARE(got[0].finish_reason, std::string("length"));
    }

    void greedyMatchesTheFixtureScript_data() {
        QTest::addColumn<QString>("name");
        for (const char* n : {"llama", "qwen2", "qwen3", "mistral"}) QTest::newRow(n) << QString(n);
    }
    void greedyMatchesTheFixtureScript() {
        // Independent of our forward: the reference implementation's own greedy continuation.
        QFETCH(QString, name);
        const json ref = ps::read_json_file(fixtures() + "/reference_logits.json");
        auto m = ps::load_hf_model(fixtures() + "/" + name.toStdString());
        ps::GenerationOptions o;
        o.max_new_tokens = static_cast<int>(ref["models"][name.toStdString()]["greedy"].size());
        auto got = ps::generate_tokens(m, {ref["greedy_prompt"].get<std::vector<int64_t>>()}, o);
        QCOMPARE(got[0].tokens, ref["models"][name.toStdString()]["greedy"].get<std::vector<int64_t>>());
    }

    void leftPaddedBatchEqualsSinglePrompts() {
        auto m = ps::load_hf_model(fixtures() + "/mistral");
        const std::vector<std::vector<int64_t>> prompts{{1, 5}, {1, 17, 42, 5, 60, 70, 3}, {9}, {1, 2, 3, 4, 5}};
        ps::GenerationOptions o;
        o.max_new_tokens = 12;
        auto batch = ps::generate_tokens(m, prompts, o);
        for (size_t i = 0; i < prompts.size(); ++i) {
            auto alone = ps::generate_tokens(m, {prompts[i]}, o);
            QCOMPARE(batch[i].tokens, alone[0].tokens);
            QCOMPARE(batch[i].tokens, greedy_without_cache(m, prompts[i], 12));
        }
    }

    void topKOneEqualsGreedy() {
        auto m = tiny(11);
        ps::GenerationOptions greedy;
        greedy.max_new_tokens = 20;
        ps::GenerationOptions k1 = greedy;
        k1.temperature = 0.7;
        k1.top_k = 1;
        k1.seed = 99;
        const std::vector<std::vector<int64_t>> prompts{{257, 49, 43, 49, 61}, {257, 50}};
        auto a = ps::generate_tokens(m, prompts, greedy);
        auto b = ps::generate_tokens(m, prompts, k1);
        for (size_t i = 0; i < prompts.size(); ++i) QCOMPARE(a[i].tokens, b[i].tokens);
    }

    void filtersOnAHandMadeDistribution() {
        // probabilities 0.5, 0.3, 0.15, 0.05 as logits (log p): top-p keeps the smallest set
        // whose mass reaches p; top-k the k largest; temperature divides the logits.
        auto logits = torch::tensor({std::log(0.15), std::log(0.5), std::log(0.05), std::log(0.3)}).to(torch::kFloat32).view({1, 4});
        auto kept = [&](double t, int k, double p) {
            auto f = ps::filter_logits(logits, t, k, p)[0];
            std::vector<int> out;
            for (int i = 0; i < 4; ++i)
                if (std::isfinite(f[i].item<float>())) out.push_back(i);
            return out;
        };
        QCOMPARE(kept(1.0, 0, 0.75), (std::vector<int>{1, 3}));     // 0.5 + 0.3 >= 0.75
        QCOMPARE(kept(1.0, 0, 0.85), (std::vector<int>{0, 1, 3}));  // needs 0.15 too
        QCOMPARE(kept(1.0, 0, 0.4), (std::vector<int>{1}));         // the top token alone
        QCOMPARE(kept(1.0, 0, 1.0), (std::vector<int>{0, 1, 2, 3}));
        QCOMPARE(kept(1.0, 2, 1.0), (std::vector<int>{1, 3}));
        QCOMPARE(kept(1.0, 3, 0.75), (std::vector<int>{1, 3}));
        auto hot = ps::filter_logits(logits, 2.0, 0, 1.0);
        QVERIFY(torch::allclose(hot, logits / 2.0));
        // Temperature 0.25 raises p to the 4th power: 0.0625 / (0.0625 + 0.0081 + 0.00050625 +
        // 0.00000625) = 0.8795 for the top token, 0.1140 for the second, so top-p 0.85 keeps
        // the top token alone and 0.9 the two.
        auto sharp = torch::softmax(logits / 0.25, -1);
        QVERIFY(std::fabs(sharp[0][1].item<float>() - 0.8795f) < 1e-3f);
        QCOMPARE(kept(0.25, 0, 0.85), (std::vector<int>{1}));
        QCOMPARE(kept(0.25, 0, 0.9), (std::vector<int>{1, 3}));
    }

    void samplingFollowsTheDistribution() {
        // The empirical frequencies of sampled first tokens approach softmax(logits / T). The
        // temperature is chosen so that the random tiny model's distribution is peaked (top
        // token 0.2-0.7) but not degenerate: a sampler picking wrong indices would show.
        auto m = tiny(2);
        ps::GenerationOptions o;
        o.max_new_tokens = 1;
        const std::vector<int64_t> prompt{257, 72, 105};
        torch::Tensor logits, probs;
        {
            torch::NoGradGuard g;
            m->eval();
            logits = m->forward(torch::tensor(prompt).view({1, -1})).select(1, -1)[0].to(torch::kFloat64);
        }
        for (double t : {1.0, 0.5, 0.2, 0.1, 0.05, 0.03, 0.02, 0.015, 0.01, 0.007, 0.005}) {
            o.temperature = t;
            probs = torch::softmax(logits / t, -1);
            if (probs.max().item<double>() > 0.2) break;
        }
        std::vector<std::vector<int64_t>> prompts(400, prompt);
        std::vector<double> count(259, 0.0);
        for (uint64_t seed = 0; seed < 5; ++seed) {
            o.seed = seed;
            for (const auto& r : ps::generate_tokens(m, prompts, o)) count[r.tokens[0]] += 1.0;
        }
        // The five most likely tokens: each frequency within 4.5 standard errors of its probability.
        auto top = std::get<1>(probs.topk(5));
        for (int r = 0; r < 5; ++r) {
            const int64_t id = top[r].item<int64_t>();
            const double p = probs[id].item<double>(), f = count[static_cast<size_t>(id)] / 2000.0;
            const double se = std::sqrt(p * (1 - p) / 2000.0);
            qInfo("temperature %g: token %lld p %.4f frequency %.4f", o.temperature, static_cast<long long>(id), p, f);
            QVERIFY2(std::fabs(f - p) < 4.5 * se, qPrintable(QString("token %1: p %2, frequency %3").arg(id).arg(p).arg(f)));
        }
        QVERIFY(probs.max().item<double>() > 0.2 && probs.max().item<double>() < 0.8);
    }

    void seededSamplingRepeats() {
        auto m = tiny(4);
        ps::GenerationOptions o;
        o.max_new_tokens = 16;
        o.temperature = 1.3;
        o.top_p = 0.95;
        o.top_k = 50;
        o.seed = 1234;
        const std::vector<std::vector<int64_t>> prompts{{257, 72, 105}, {257, 33}};
        auto a = ps::generate_tokens(m, prompts, o);
        auto b = ps::generate_tokens(m, prompts, o);
        QCOMPARE(a[0].tokens, b[0].tokens);
        QCOMPARE(a[1].tokens, b[1].tokens);
        // Row 0 draws from the stream of (seed, 0) whatever else is in the batch.
        auto alone = ps::generate_tokens(m, {prompts[0]}, o);
        QCOMPARE(alone[0].tokens, a[0].tokens);
        o.seed = 1235;
        auto c = ps::generate_tokens(m, prompts, o);
        QVERIFY(c[0].tokens != a[0].tokens || c[1].tokens != a[1].tokens);
    }

    void stopsAtStopTokens() {
        auto m = tiny(6);
        ps::GenerationOptions o;
        o.max_new_tokens = 10;
        const std::vector<int64_t> prompt{257, 49, 50};
        auto full = ps::generate_tokens(m, {prompt}, o)[0].tokens;
        QCOMPARE(full.size(), size_t(10));
        o.stop_ids = {full[3]};
        const size_t first = static_cast<size_t>(std::find(full.begin(), full.end(), full[3]) - full.begin());
        auto stopped = ps::generate_tokens(m, {prompt, prompt}, o);
        QCOMPARE(stopped[0].tokens, std::vector<int64_t>(full.begin(), full.begin() + static_cast<long>(first)));
        QCOMPARE(stopped[0].finish_reason, std::string("stop"));
        o.max_new_tokens = 0;
        QVERIFY(ps::generate_tokens(m, {prompt}, o)[0].tokens.empty());
    }

    void badRequestsAreErrors() {
        auto m = tiny(1);
        ps::GenerationOptions o;
        QVERIFY_EXCEPTION_THROWN(ps::generate_tokens(m, {{}}, o), ps::ModelError);
        QVERIFY_EXCEPTION_THROWN(ps::generate_tokens(m, {{1, 300}}, o), ps::ModelError);
        o.top_p = 0.0;
        QVERIFY_EXCEPTION_THROWN(ps::generate_tokens(m, {{1}}, o), ps::ModelError);
        o.top_p = 1.0;
        o.temperature = -1;
        QVERIFY_EXCEPTION_THROWN(ps::generate_tokens(m, {{1}}, o), ps::ModelError);
    }

    void textGeneratorUsesTheByteTokenizer() {
        auto g = ps::TextGenerator::open("builtin:tiny");
        ps::GenerationOptions o;
        o.max_new_tokens = 8;
        auto r = g->generate({"12+30=", "hi"}, o);
        QCOMPARE(r.size(), size_t(2));
        QCOMPARE(r[0].prompt_ids.front(), int64_t(257));  // BOS first, as in training
        QCOMPARE(r[0].prompt_ids.size(), size_t(7));
        QVERIFY(r[0].completion_ids.size() <= 8);
        // Same as the core decoding on a model with the same seed.
        auto m = tiny(0);
        auto direct = ps::generate_tokens(m, {r[0].prompt_ids}, [] { ps::GenerationOptions x; x.max_new_tokens = 8; x.stop_ids = {258}; return x; }());
        QCOMPARE(r[0].completion_ids, direct[0].tokens);
    }

    // Typed prompts go through the chat template training uses, so prompt ids equal the data
    // pipeline's prompt of the same one-turn conversation (reference: the hand-written ChatML
    // string of test_datasets and test_hf_tokenizer).
    void textGeneratorAppliesTheChatTemplate() {
        const std::string chatml_text = "<|im_start|>user\nWhat color is the sky?<|im_end|>\n<|im_start|>assistant\n";
        ps::PreferencePair conv;
        conv.conversational = true;
        conv.prompt_messages = {{"user", "What color is the sky?"}};
        conv.chosen_messages = {{"assistant", "Blue."}};
        conv.rejected_messages = {{"assistant", "Green."}};
        ps::TruncationOptions lim;
        lim.max_length = 512;
        lim.max_prompt_length = 256;
        ps::TokenizeStats st;
        ps::TokenizedPair pipeline;
        {
            // A Hugging Face directory whose tokenizer_config.json holds a ChatML template: "auto"
            // renders it; <|im_start|> is one special token (277) as in the tokenizer tests.
            const fs::path d = fs::temp_directory_path() / ("prefstudio_test_gen_tmpl_" + std::to_string(::getpid()));
            fs::remove_all(d);
            ps::ModelShape shape = ps::builtin_shape("tiny");
            shape.vocab_size = 280;  // the tokenizer's 276 + 4 added tokens
            torch::manual_seed(1);
            ps::CausalLM m(shape);
            ps::SaveOptions so;
            so.copy_files_from = source_dir() + "/tests/fixtures/tokenizer/tiny_bytelevel";
            ps::save_hf_model(m, d.string(), so);
            auto g = ps::TextGenerator::open(d.string());
            QCOMPARE(g->template_name(), "model:" + d.string());  // its own template, rendered as Jinja
            QCOMPARE(g->render_prompt("What color is the sky?"), chatml_text);
            auto tok = ps::HfTokenizer::load(d.string());
            QVERIFY(ps::tokenize_pair(conv, *tok, ps::ChatTemplate(ps::resolve_template_name("auto", d.string())), lim, st, pipeline));
            const auto ids = g->encode_prompt("What color is the sky?");
            QCOMPARE(ids, pipeline.prompt);
            QCOMPARE(ids.front(), int64_t(277));
            QCOMPARE(ids, tok->encode(chatml_text));  // no BOS: the tokenizer has none
            ps::GenerationOptions o;
            o.max_new_tokens = 5;
            auto r = g->generate({"What color is the sky?"}, o);
            QCOMPARE(r[0].prompt_ids, ids);
            QCOMPARE(r[0].prompt, std::string("What color is the sky?"));
            QCOMPARE(r[0].completion_ids, g->generate_ids({ids}, o)[0].completion_ids);
            // "none": the text as it is.
            ps::TextGeneratorOptions raw;
            raw.chat_template = "none";
            auto gr = ps::TextGenerator::open(d.string(), raw);
            QCOMPARE(gr->template_name(), std::string("none"));
            QCOMPARE(gr->encode_prompt("hello world"), (std::vector<int64_t>{261, 269}));
            // The run's model.template_kwargs reach the template, as in training: a Qwen3-style
            // template that writes an empty think block when enable_thinking is false.
            {
                const fs::path cfg_path = d / "tokenizer_config.json";
                std::ifstream in(cfg_path);
                nlohmann::ordered_json cfg = nlohmann::ordered_json::parse(in);
                in.close();
                cfg["chat_template"] =
                    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
                    "{% if m.role == 'assistant' %}<think>\n\n</think>\n\n{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}"
                    "{% if add_generation_prompt %}<|im_start|>assistant\n"
                    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}";
                std::ofstream(cfg_path) << cfg.dump(2);
            }
            ps::TextGeneratorOptions thinking_off;
            thinking_off.template_kwargs = {{"enable_thinking", false}};
            auto gk = ps::TextGenerator::open(d.string(), thinking_off);
            QCOMPARE(gk->render_prompt("What color is the sky?"), chatml_text + "<think>\n\n</think>\n\n");
            QCOMPARE(ps::TextGenerator::open(d.string())->render_prompt("What color is the sky?"), chatml_text);
            QVERIFY(ps::tokenize_pair(conv, *tok,
                                      ps::ChatTemplate(ps::resolve_template_name("auto", d.string()), thinking_off.template_kwargs),
                                      lim, st, pipeline));
            QCOMPARE(gk->encode_prompt("What color is the sky?"), pipeline.prompt);
            // The same from the command line: --template-kwargs (a JSON object, else exit 2).
            auto k = cli({"generate", "--model", QString::fromStdString(d.string()), "--prompt", "What color is the sky?",
                          "--max-new-tokens", "1", "--template-kwargs", R"({"enable_thinking": false})", "--json"});
            QVERIFY2(k.code == 0, k.err.constData());
            QCOMPARE(json::parse(k.out.toStdString())["results"][0]["prompt_ids"].get<std::vector<int64_t>>(), pipeline.prompt);
            auto bad_kwargs = cli({"generate", "--model", QString::fromStdString(d.string()), "--prompt", "x",
                                   "--template-kwargs", "enable_thinking=false"});
            QCOMPARE(bad_kwargs.code, 2);
            QVERIFY2(bad_kwargs.err.contains("--template-kwargs must be a JSON object"), bad_kwargs.err.constData());
            fs::remove_all(d);
        }
        // The byte tokenizer with a named template: [BOS] + the rendered bytes, as the pipeline.
        ps::ByteTokenizer byte;
        ps::TextGeneratorOptions named;
        named.chat_template = "chatml";
        auto g = ps::TextGenerator::open("builtin:tiny", named);
        QVERIFY(ps::tokenize_pair(conv, byte, ps::ChatTemplate("chatml"), lim, st, pipeline));
        QCOMPARE(g->encode_prompt("What color is the sky?"), pipeline.prompt);
        QCOMPARE(pipeline.prompt.size(), chatml_text.size() + 1);
        named.chat_template = "llama3";
        g = ps::TextGenerator::open("builtin:tiny", named);
        std::vector<int64_t> llama3{ps::ByteTokenizer::kBos};
        for (char c : std::string("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a primary colour.<|eot_id|>"
                                  "<|start_header_id|>assistant<|end_header_id|>\n\n"))
            llama3.push_back(static_cast<unsigned char>(c));
        QCOMPARE(g->encode_prompt("Name a primary colour."), llama3);
        // Built-in models resolve "auto" to plain: verbatim, as their standard training prompts.
        g = ps::TextGenerator::open("builtin:tiny");
        QCOMPARE(g->template_name(), std::string("plain"));
        QCOMPARE(g->encode_prompt("2+2="), (std::vector<int64_t>{ps::ByteTokenizer::kBos, '2', '+', '2', '='}));
        named.chat_template = "vicuna";
        QVERIFY_THROWS_EXCEPTION(ps::ConfigError, ps::TextGenerator::open("builtin:tiny", named));
    }

    // A run building its built-in model while the Samples tab opens another: each gets the
    // weights of its own seed (load_model_source_seeded holds one lock for seed + build).
    void concurrentBuildsKeepTheirSeeds() {
        const auto weights = [](ps::CausalLM& m) {
            std::vector<torch::Tensor> all;
            for (const auto& p : m->parameters()) all.push_back(p.detach().flatten());
            return torch::cat(all);
        };
        auto reference = ps::load_model_source_seeded("builtin:tiny", torch::kFloat32, 11).model;
        const torch::Tensor want = weights(reference);
        ps::TextGeneratorOptions other;
        other.seed = 12;
        std::atomic<bool> stop{false};
        std::thread generator_thread([&] {
            while (!stop) ps::TextGenerator::open("builtin:tiny", other);
        });
        int same = 0;
        for (int i = 0; i < 30; ++i) {
            auto m = ps::load_model_source_seeded("builtin:tiny", torch::kFloat32, 11).model;
            if (torch::equal(weights(m), want)) ++same;
        }
        stop = true;
        generator_thread.join();
        QCOMPARE(same, 30);
    }

    void cancelStopsGeneration() {
        auto m = tiny(0);
        std::atomic<bool> cancel{true};
        ps::GenerationOptions o;
        o.max_new_tokens = 50;
        o.cancel = &cancel;
        auto r = ps::generate_tokens(m, {{257, 'a'}, {257, 'b', 'c'}}, o);
        for (const auto& row : r) {
            QCOMPARE(row.finish_reason, std::string("cancelled"));
            QVERIFY(row.tokens.empty());
        }
        cancel = false;
        r = ps::generate_tokens(m, {{257, 'a'}}, o);
        QVERIFY(r[0].finish_reason != "cancelled");
    }

    void stopIdsComeFromTheModelDirectory() {
        // qwen3's config.json says eos_token_id [2, 3]; generation_config.json may add more.
        const json ref = ps::read_json_file(fixtures() + "/reference_logits.json");
        const auto greedy = ref["models"]["qwen3"]["greedy"].get<std::vector<int64_t>>();
        const fs::path d = fs::temp_directory_path() / ("prefstudio_test_gen_stop_" + std::to_string(::getpid()));
        fs::remove_all(d);
        fs::create_directories(d);
        for (const auto& f : fs::directory_iterator(fixtures() + "/qwen3")) fs::copy_file(f.path(), d / f.path().filename());
        std::ofstream(d / "generation_config.json") << json{{"eos_token_id", {greedy[2], 2}}}.dump();
        ps::TextGeneratorOptions to;
        to.need_tokenizer = false;
        auto g = ps::TextGenerator::open(d.string(), to);
        ps::GenerationOptions o;
        o.max_new_tokens = 8;
        auto r = g->generate_ids({ref["greedy_prompt"].get<std::vector<int64_t>>()}, o);
        QCOMPARE(r[0].completion_ids, std::vector<int64_t>(greedy.begin(), greedy.begin() + 2));
        QCOMPARE(r[0].finish_reason, std::string("stop"));
        QVERIFY_EXCEPTION_THROWN(g->generate({"text"}, o), ps::ModelError);  // no tokenizer read
        fs::remove_all(d);
    }

    void cliGenerate() {
        auto a = cli({"generate", "--model", "builtin:tiny", "--prompt", "12+30=", "--prompt", "7+1=", "--max-new-tokens", "6",
                      "--temperature", "0.9", "--top-p", "0.9", "--seed", "3", "--json"});
        QVERIFY2(a.code == 0, a.err.constData());
        auto j = json::parse(a.out.toStdString());
        QCOMPARE(j["results"].size(), size_t(2));
        QCOMPARE(j["results"][0]["prompt"].get<std::string>(), std::string("12+30="));
        QVERIFY(j["results"][0]["completion_ids"].size() <= 6);
        auto b = cli({"generate", "--model", "builtin:tiny", "--prompt", "12+30=", "--prompt", "7+1=", "--max-new-tokens", "6",
                      "--temperature", "0.9", "--top-p", "0.9", "--seed", "3", "--json"});
        QCOMPARE(b.out, a.out);  // seeded: same text
        // Token ids into a Hugging Face directory (its tokenizer is not needed).
        const json ref = ps::read_json_file(fixtures() + "/reference_logits.json");
        auto c = cli({"generate", "--model", QString::fromStdString(fixtures() + "/qwen3"), "--ids", "1,17,42,5",
                      "--max-new-tokens", "8", "--json"});
        QVERIFY2(c.code == 0, c.err.constData());
        auto cj = json::parse(c.out.toStdString());
        // qwen3's eos ids are 2 and 3: the greedy reference continuation has neither, so all 8 come out.
        QCOMPARE(cj["results"][0]["completion_ids"].get<std::vector<int64_t>>(),
                 ref["models"]["qwen3"]["greedy"].get<std::vector<int64_t>>());
        auto text = cli({"generate", "--model", "builtin:tiny", "--prompt", "a", "--max-new-tokens", "2"});
        QCOMPARE(text.code, 0);
        QVERIFY(text.out.startsWith("### a\n"));
        // Bad input: exit 2 with one line.
        QCOMPARE(cli({"generate", "--model", "builtin:tiny"}).code, 2);
        QCOMPARE(cli({"generate", "--prompt", "x"}).code, 2);
        QCOMPARE(cli({"generate", "--model", "/nonexistent", "--prompt", "x"}).code, 2);
        QCOMPARE(cli({"generate", "--model", "builtin:tiny", "--ids", "1,x"}).code, 2);
        QCOMPARE(cli({"generate", "--model", "builtin:tiny", "--prompt", "x", "--top-p", "0"}).code, 2);
        auto no_tok = cli({"generate", "--model", QString::fromStdString(fixtures() + "/qwen2"), "--prompt", "x"});
        QCOMPARE(no_tok.code, 2);
        QVERIFY(no_tok.err.contains("tokenizer"));
        QCOMPARE(cli({"generate", "--help"}).code, 0);
        // --template NAME renders each prompt as one user turn; --raw feeds it as it is.
        auto chat = cli({"generate", "--model", "builtin:tiny", "--template", "chatml", "--prompt", "hi", "--max-new-tokens", "2", "--json"});
        QVERIFY2(chat.code == 0, chat.err.constData());
        auto cj2 = json::parse(chat.out.toStdString());
        QCOMPARE(cj2["template"].get<std::string>(), std::string("chatml"));
        std::vector<int64_t> want{257};
        for (char ch : std::string("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")) want.push_back(ch);
        QCOMPARE(cj2["results"][0]["prompt_ids"].get<std::vector<int64_t>>(), want);
        QCOMPARE(cj2["results"][0]["prompt"].get<std::string>(), std::string("hi"));
        auto raw = cli({"generate", "--model", "builtin:tiny", "--raw", "--prompt", "hi", "--max-new-tokens", "2", "--json"});
        QVERIFY2(raw.code == 0, raw.err.constData());
        auto rj = json::parse(raw.out.toStdString());
        QCOMPARE(rj["template"].get<std::string>(), std::string("none"));
        QCOMPARE(rj["results"][0]["prompt_ids"].get<std::vector<int64_t>>(), (std::vector<int64_t>{257, 'h', 'i'}));
        auto bad = cli({"generate", "--model", "builtin:tiny", "--template", "vicuna", "--prompt", "x"});
        QCOMPARE(bad.code, 2);
        QVERIFY(bad.err.contains("vicuna"));
        QCOMPARE(cli({"generate", "--model", "builtin:tiny", "--raw", "--template", "chatml", "--prompt", "x"}).code, 2);
    }

    void cliSave() {
        const fs::path out = fs::temp_directory_path() / ("prefstudio_test_gen_" + std::to_string(::getpid()));
        fs::remove_all(out);
        auto r = cli({"save", "--model", QString::fromStdString(fixtures() + "/qwen2"), "--out", QString::fromStdString(out.string()),
                      "--dtype", "bfloat16"});
        QVERIFY2(r.code == 0, r.err.constData());
        // qwen2's weights are bfloat16 on disk: saving in bfloat16 reproduces the same logits.
        auto a = ps::load_hf_model(fixtures() + "/qwen2");
        auto b = ps::load_hf_model(out.string());
        auto ids = torch::tensor({1, 5, 9, 33}).view({1, -1});
        torch::NoGradGuard g;
        QVERIFY(torch::equal(a->forward(ids), b->forward(ids)));
        QCOMPARE(ps::read_json_file((out / "config.json").string())["torch_dtype"].get<std::string>(), std::string("bfloat16"));
        QCOMPARE(cli({"save", "--model", "builtin:nope", "--out", QString::fromStdString(out.string())}).code, 2);
        fs::remove_all(out);
    }
};

QTEST_GUILESS_MAIN(TestGeneration)
#include "test_generation.moc"
