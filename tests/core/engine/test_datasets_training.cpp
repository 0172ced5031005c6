// The data formats feed training: KTO trains on unpaired examples (TRL's prompt/completion/
// label, LLaMA-Factory's KTO sharegpt) with its reference point from mismatched pairs;
// conversational data with a chat template trains DPO; unpaired data are refused for DPO.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <mutex>

#include "tests/common/collect_sink.h"
#include "core/data/batching.h"
#include "core/data/make_data.h"
#include "core/engine/run_thread.h"
#include "tests/common/tiny_config.h"

namespace {

using ps::test::CollectSink;

std::string fixture(const std::string& name) {
    return std::string(qgetenv("PREFSTUDIO_SOURCE_DIR").constData()) + "/tests/fixtures/datasets/" + name;
}

}  // namespace

class TestDatasetsTraining : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string unpaired_;

    ps::RunConfig config(const std::string& data, const std::string& algorithm, int steps) {
        ps::RunConfig c = ps::test::tiny_run_config(data, steps, "datasets");
        c.objective.algorithm = algorithm;
        c.train.eval_every = 0;
        c.train.threads = 1;
        c.validate();
        return c;
    }

private slots:
    void initTestCase() {
        // TRL unpaired KTO: every arithmetic pair becomes a desirable (correct sum) and an
        // undesirable (wrong sum) example, in separate records.
        ps::ArithDataOptions o;
        o.count = 64;
        o.max_operand = 10;
        unpaired_ = dir_.filePath("unpaired.jsonl").toStdString();
        std::ofstream out(unpaired_);
        for (const auto& p : ps::make_arith_pairs(o)) {
            out << nlohmann::json{{"prompt", p.prompt}, {"completion", p.chosen}, {"label", true}}.dump() << "\n";
            out << nlohmann::json{{"prompt", p.prompt}, {"completion", p.rejected}, {"label", false}}.dump() << "\n";
        }
    }

    void mismatchedCompletionsAreRotatedByOne() {
        ps::TokenRows ex;  // three unpaired examples: one row a group
        for (int64_t i = 0; i < 3; ++i) {
            ex.prompts.push_back({100 + i});
            ex.sources.push_back(size_t(i));
            ex.rows.push_back({{200 + i, 300 + i}, size_t(i), true});
        }
        auto b = ps::collate_mismatched(ex, {0, 1, 2}, 0);
        // Row j: prompt j, completion j-1 (row 0 takes the last one), as TRL's KL dataset.
        auto ids = b.input_ids;
        QCOMPARE(ids.size(0), int64_t(3));
        QCOMPARE(ids[0][0].item<int64_t>(), int64_t(100));
        QCOMPARE(ids[0][1].item<int64_t>(), int64_t(202));
        QCOMPARE(ids[1][1].item<int64_t>(), int64_t(200));
        QCOMPARE(ids[2][0].item<int64_t>(), int64_t(102));
        QCOMPARE(ids[2][2].item<int64_t>(), int64_t(301));
        QCOMPARE(b.completion_mask[1][0].item<float>(), 0.0f);
        QCOMPARE(b.completion_mask[1][1].item<float>(), 1.0f);
    }

    void pairsAndExamplesAreRowsOfGroups() {
        // Two pairs (groups 0, 1: chosen then rejected row each) and, apart, three examples.
        ps::TokenRows pairs;
        pairs.rows_per_group = 2;
        pairs.prompts = {{10}, {11, 12}};
        pairs.sources = {0, 2};
        pairs.rows = {{{20}, 0, true}, {{30, 31}, 0, false}, {{21, 22}, 1, true}, {{32}, 1, false}};
        // Side by side: group 1's chosen, group 0's chosen, group 1's rejected, group 0's rejected.
        auto b = ps::collate_groups(pairs, {1, 0}, 0);
        QCOMPARE(b.input_ids.sizes().vec(), (std::vector<int64_t>{4, 4}));
        QCOMPARE(b.input_ids[0][2].item<int64_t>(), int64_t(21));
        QCOMPARE(b.input_ids[1][0].item<int64_t>(), int64_t(10));
        QCOMPARE(b.input_ids[1][1].item<int64_t>(), int64_t(20));
        QCOMPARE(b.input_ids[2][2].item<int64_t>(), int64_t(32));
        QCOMPARE(b.input_ids[3][2].item<int64_t>(), int64_t(31));
        QCOMPARE(b.real_tokens, int64_t(4 + 2 + 3 + 3));
        QCOMPARE(pairs.group_length(0), size_t(3));  // prompt 1 + longer completion 2
        // The warm-up rows: each group's desirable row only.
        auto w = ps::collate_desirable(pairs, {0, 1}, 0);
        QCOMPARE(w.input_ids.size(0), int64_t(2));
        QCOMPARE(w.input_ids[1][2].item<int64_t>(), int64_t(21));
        QCOMPARE(w.completion_mask.sum().item<float>(), 3.0f);

        ps::TokenRows ex;  // desirable, undesirable, desirable
        ex.prompts = {{1}, {2}, {3}};
        ex.sources = {0, 1, 2};
        ex.rows = {{{4}, 0, true}, {{5}, 1, false}, {{6}, 2, true}};
        auto d = ps::collate_desirable(ex, {0, 1, 2}, 0);
        QCOMPARE(d.input_ids.size(0), int64_t(2));
        QCOMPARE(d.input_ids[1][0].item<int64_t>(), int64_t(3));
        QCOMPARE(d.input_ids[1][1].item<int64_t>(), int64_t(6));

        // Appending keeps each row with its own prompt.
        ps::TokenRows both = pairs;
        both.append(pairs);
        QCOMPARE(both.groups(), size_t(4));
        QCOMPARE(both.row(3, 1).group, size_t(3));
        QCOMPARE(both.prompt(both.row(3, 1).group), (std::vector<int64_t>{11, 12}));
        QCOMPARE(both.sources[3], size_t(2));
    }

    void ktoTrainsOnUnpairedExamples() {
        auto c = config(unpaired_, "kto", 40);
        c.objective.beta = 0.5;
        c.data.eval_fraction = 0.25;
        CollectSink sink;
        ps::RunControl control;
        QVERIFY2(ps::run_training(c, c.to_json(), {&sink}, control) == ps::RunStatus::Completed, sink.error.c_str());
        const auto* data = sink.event_with("format");
        QVERIFY(data);
        QCOMPARE(data->data["format"].get<std::string>(), std::string("trl-unpaired-standard"));
        QVERIFY(data->data["unpaired"].get<bool>());
        QCOMPARE(data->data["train_pairs"].get<int>() + data->data["eval_pairs"].get<int>(), 128);
        auto loss = sink.series("loss");
        QCOMPARE(loss.size(), size_t(40));
        // Step 1: the policy is the reference, so r = 0 and z0 = 0 for every example:
        // each loss term is 1 - sigmoid(0) = 0.5 (KTO paper, TRL), whatever its label.
        QVERIFY2(std::fabs(loss[0] - 0.5) < 1e-4, qPrintable(QString::number(loss[0], 'g', 10)));
        QVERIFY(std::fabs(sink.series("kl")[0]) < 1e-4);
        QVERIFY(std::fabs(sink.series("rewards/chosen")[0]) < 1e-4);
        // Training separates desirable from undesirable completions.
        auto margins = sink.series("rewards/margins");
        QVERIFY2(margins.back() > 0.05, qPrintable(QString::number(margins.back())));
        QVERIFY(loss.back() < loss[0]);
        auto eval_margin = sink.series("eval/rewards/margins");
        QCOMPARE(eval_margin.size(), size_t(1));
        QVERIFY(std::isfinite(eval_margin[0]));
        QVERIFY(!std::isnan(sink.series("eval/loss")[0]));
    }

    void llamaFactoryKtoDemoTrains() {
        auto c = config(fixture("kto_en_demo.json"), "kto", 2);
        c.data.max_length = 128;
        c.data.max_prompt_length = 64;
        c.data.eval_fraction = 0;
        c.train.batch_size = 3;
        CollectSink sink;
        ps::RunControl control;
        QVERIFY2(ps::run_training(c, c.to_json(), {&sink}, control) == ps::RunStatus::Completed, sink.error.c_str());
        QCOMPARE(sink.series("loss").size(), size_t(2));
        QVERIFY(std::fabs(sink.series("loss")[0] - 0.5) < 1e-4);
    }

    void unpairedDataAreRefusedForDpo() {
        auto c = config(unpaired_, "dpo", 2);
        CollectSink sink;
        ps::RunControl control;
        QCOMPARE(ps::run_training(c, c.to_json(), {&sink}, control), ps::RunStatus::Failed);
        QVERIFY2(sink.error.rfind("objective.algorithm: the data are unpaired examples (trl-unpaired-standard", 0) == 0,
                 sink.error.c_str());
    }

    void conversationalDataTrainWithChatTemplate() {
        auto c = config(fixture("dpo_en_demo.json"), "dpo", 2);
        c.model.chat_template = "chatml";
        c.data.max_length = 256;
        c.data.max_prompt_length = 192;
        c.data.eval_fraction = 0;
        CollectSink sink;
        ps::RunControl control;
        QVERIFY2(ps::run_training(c, c.to_json(), {&sink}, control) == ps::RunStatus::Completed, sink.error.c_str());
        // Policy = reference at step 1: the DPO loss is log 2.
        QVERIFY(std::fabs(sink.series("loss")[0] - std::log(2.0)) < 1e-4);
        const auto* data = sink.event_with("template");
        QVERIFY(data);
        QCOMPARE(data->data["template"].get<std::string>(), std::string("chatml"));
        QCOMPARE(data->data["format"].get<std::string>(), std::string("sharegpt-preference"));
    }

    void paddingIsReportedAndGroupingHelps() {
        ps::ArithDataOptions o;
        o.count = 400;
        o.max_operand = 1000;  // 1- to 3-digit operands: lengths vary
        const std::string path = dir_.filePath("arith.jsonl").toStdString();
        ps::write_preference_jsonl(ps::make_arith_pairs(o), path);
        auto c = config(path, "dpo", 1);
        CollectSink sink;
        ps::RunControl control;
        QVERIFY2(ps::run_training(c, c.to_json(), {&sink}, control) == ps::RunStatus::Completed, sink.error.c_str());
        const auto* data = sink.event_with("padding_fraction");
        QVERIFY(data);
        const double grouped = data->data["padding_fraction"].get<double>();
        const double plain = data->data["padding_fraction_ungrouped"].get<double>();
        QVERIFY2(grouped < plain, qPrintable(QString("%1 vs %2").arg(grouped).arg(plain)));
        QVERIFY(grouped >= 0.0 && plain < 1.0);
    }
};

QTEST_GUILESS_MAIN(TestDatasetsTraining)
#include "test_datasets_training.moc"
