// Completion log-probs: a hand-computed 3-token example, padding independence of the
// concatenated chosen/rejected forward, and collation masks.
#include <QtTest>
#include <torch/torch.h>

#include <cmath>

#include "core/data/batching.h"
#include "core/text/byte_tokenizer.h"
#include "core/engine/trainer.h"
#include "core/objectives/logprobs.h"

class TestLogprobs : public QObject {
    Q_OBJECT
private slots:
    void handComputedExample() {
        // Sequence of 4 tokens [0, 1, 2, 1]; tokens 2 and 3 (values 2, 1) are the completion.
        // logits at position 1 predict token 2 (value 2): log softmax([1,2,3])[2] = 3 - log(e+e^2+e^3)
        // logits at position 2 predict token 3 (value 1): log softmax([0,0,0])[1] = -log 3
        auto logits = torch::tensor({{{5.0, 0.0, 0.0}, {1.0, 2.0, 3.0}, {0.0, 0.0, 0.0}, {9.0, 9.0, 9.0}}},
                                    torch::kFloat32);
        auto ids = torch::tensor({{0, 1, 2, 1}}, torch::kInt64);
        auto mask = torch::tensor({{0.0f, 0.0f, 1.0f, 1.0f}});
        auto lp = ps::completion_logps(logits, ids, mask);
        const double expected = (3.0 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0))) - std::log(3.0);
        QVERIFY(std::fabs(expected - (-1.50621825311249)) < 1e-13);  // written out: -0.4076059644 - 1.0986122887
        QVERIFY(std::fabs(lp.sum[0].item<double>() - expected) < 1e-6);
        QCOMPARE(lp.tokens[0].item<double>(), 2.0);
        // Mean logit over the vocabulary at the scored positions 1 and 2, summed: 2 + 0 = 2.
        QVERIFY(std::fabs(lp.logits_sum[0].item<double>() - 2.0) < 1e-6);
    }

    void gradientFlowsOnlyThroughCompletionPositions() {
        auto logits = torch::randn({1, 4, 3}, torch::requires_grad());
        auto ids = torch::tensor({{0, 1, 2, 1}}, torch::kInt64);
        auto mask = torch::tensor({{0.0f, 0.0f, 1.0f, 1.0f}});
        ps::completion_logps(logits, ids, mask).sum.sum().backward();
        auto g = logits.grad().abs().sum(-1)[0];
        QCOMPARE(g[0].item<double>(), 0.0);  // predicts a prompt token
        QVERIFY(g[1].item<double>() > 0);
        QVERIFY(g[2].item<double>() > 0);
        QCOMPARE(g[3].item<double>(), 0.0);  // last position predicts nothing
    }

    void collationMarksCompletionTokens() {
        ps::TokenRows p;  // one pair: two rows of one group
        p.rows_per_group = 2;
        p.prompts = {{257, 49, 43}};  // <bos> 1 +
        p.sources = {0};
        p.rows = {{{50, 258}, 0, true}, {{51, 52, 53, 258}, 0, false}};  // chosen, rejected
        auto b = ps::collate_groups(p, {0}, 256);
        QCOMPARE(b.input_ids.sizes().vec(), (std::vector<int64_t>{2, 7}));
        auto ids = b.input_ids;
        QCOMPARE(ids[0][3].item<int64_t>(), int64_t(50));
        QCOMPARE(ids[0][5].item<int64_t>(), int64_t(256));  // right padding
        QCOMPARE(b.completion_mask[0].sum().item<double>(), 2.0);
        QCOMPARE(b.completion_mask[1].sum().item<double>(), 4.0);
        QCOMPARE(b.completion_mask[0][2].item<double>(), 0.0);
        QCOMPARE(b.completion_mask[0][3].item<double>(), 1.0);
        QCOMPARE(b.real_tokens, int64_t(12));
    }

    void concatenatedForwardEqualsSeparateForwards() {
        torch::manual_seed(0);
        ps::CausalLM m(ps::builtin_shape("tiny"));
        ps::ByteTokenizer tok;
        ps::TokenizeStats st;
        std::vector<ps::PreferencePair> text{{"12+30=", "42", "43", 1}, {"1+1=", "2", "twenty-two", 2}};
        auto pairs = ps::tokenize_rows(text, tok, 64, 32, st);
        torch::NoGradGuard ng;
        auto both = ps::forward_logps(m, ps::collate_groups(pairs, {0, 1}, tok.pad_id()), torch::kCPU);
        for (size_t i = 0; i < 2; ++i) {
            auto alone = ps::forward_logps(m, ps::collate_groups(pairs, {i}, tok.pad_id()), torch::kCPU);
            // Padding after a sequence never changes its log-probs (causal attention).
            QVERIFY(std::fabs(both.sum[i].item<double>() - alone.sum[0].item<double>()) < 1e-4);
            QVERIFY(std::fabs(both.sum[2 + i].item<double>() - alone.sum[1].item<double>()) < 1e-4);
        }
        QCOMPARE(both.tokens[3].item<double>(), 11.0);  // "twenty-two" + <eos>
    }

    void tokenizationDropsLongPromptsAndTruncatesCompletions() {
        ps::ByteTokenizer tok;
        ps::TokenizeStats st;
        std::vector<ps::PreferencePair> text{{"short", "ok", "no", 1},
                                             {std::string(40, 'x'), "a", "b", 2},
                                             {"p", std::string(100, 'c'), "r", 3}};
        auto out = ps::tokenize_rows(text, tok, 32, 16, st);
        QCOMPARE(out.groups(), size_t(2));
        QCOMPARE(st.dropped_prompt_too_long, size_t(1));
        QCOMPARE(st.truncated_completions, size_t(1));
        QCOMPARE(out.length(out.row(1, 0)), size_t(32));
        QCOMPARE(out.row(0, 0).completion.back(), tok.eos_id());
        QCOMPARE(out.sources[1], size_t(2));  // the third pair: the second was dropped
        QCOMPARE(out.row(1, 1).group, size_t(1));
        QVERIFY(out.row(1, 0).desirable && !out.row(1, 1).desirable);
    }
};

QTEST_GUILESS_MAIN(TestLogprobs)
#include "test_logprobs.moc"
