// Qt Test for run groups (core/store/run_groups.h): which runs form a group given their configs
// and the ignored key, what tells the groups apart, and a group's mean / min / max / standard
// deviation per step, all against values worked out by hand in the comments.
#include <QtTest>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/run_groups.h"

using nlohmann::json;
using Members = std::vector<size_t>;
using Pairs = std::vector<std::pair<std::string, std::string>>;
using Strings = std::vector<std::string>;

namespace {

json config(const std::string& name, int seed, double beta) {
    return json{{"name", name},
                {"seed", seed},
                {"algorithm", "dpo"},
                {"objective", {{"beta", beta}, {"type", "sigmoid"}}},
                {"train", {{"steps", 60}, {"save_dir", "out/" + name}}},
                {"data", {{"train", "builtin:arithmetic"}}}};
}

// Three seeds of beta 0.1 and one run of beta 0.5, each with its own name and save folder.
std::vector<json> fourRuns() {
    return {config("a", 0, 0.1), config("b", 1, 0.1), config("c", 2, 0.1), config("d", 0, 0.5)};
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

class TestRunGroups : public QObject {
    Q_OBJECT

private slots:
    void seedsFormOneGroup();
    void noKeyGroupsNothing();
    void anotherKeyGroupsOverIt();
    void absentKeysAndTypesKeepRunsApart();
    void ignoredSectionCoversItsKeys();
    void differingKeysLeaveLabelsOut();
    void meanAndBandPerStep();
    void repeatedStepsAndEmptyMembers();
};

void TestRunGroups::seedsFormOneGroup() {
    // a, b, c differ only in seed (and name / save_dir, which are labels): one group; d differs
    // in beta.
    const auto groups = ps::group_runs(fourRuns(), "seed");
    QCOMPARE(groups.size(), size_t(2));
    QCOMPARE(groups[0].members, (Members{0, 1, 2}));
    QCOMPARE(groups[1].members, (Members{3}));
    QCOMPARE(groups[0].distinguishing, (Pairs{{"objective.beta", "0.1"}}));
    QCOMPARE(groups[1].distinguishing, (Pairs{{"objective.beta", "0.5"}}));
    QCOMPARE(groups[0].ignored_values, (Strings{"0", "1", "2"}));
    QCOMPARE(groups[1].ignored_values, (Strings{"0"}));

    // Only the seed group: nothing tells groups apart.
    const auto one = ps::group_runs({config("a", 0, 0.1), config("b", 7, 0.1)}, "seed");
    QCOMPARE(one.size(), size_t(1));
    QCOMPARE(one[0].members, (Members{0, 1}));
    QVERIFY(one[0].distinguishing.empty());
    QCOMPARE(one[0].ignored_values, (Strings{"0", "7"}));
}

void TestRunGroups::noKeyGroupsNothing() {
    const auto groups = ps::group_runs(fourRuns(), "");
    QCOMPARE(groups.size(), size_t(4));
    for (size_t i = 0; i < 4; ++i) QCOMPARE(groups[i].members, (Members{i}));
    // Even two identical configs stay apart.
    QCOMPARE(ps::group_runs({config("a", 0, 0.1), config("a", 0, 0.1)}, "").size(), size_t(2));
}

void TestRunGroups::anotherKeyGroupsOverIt() {
    // Ignoring beta: a (seed 0) and d (seed 0) differ only in beta; b and c stay alone.
    const auto groups = ps::group_runs(fourRuns(), "objective.beta");
    QCOMPARE(groups.size(), size_t(3));
    QCOMPARE(groups[0].members, (Members{0, 3}));
    QCOMPARE(groups[1].members, (Members{1}));
    QCOMPARE(groups[2].members, (Members{2}));
    QCOMPARE(groups[0].ignored_values, (Strings{"0.1", "0.5"}));
    QCOMPARE(groups[0].distinguishing, (Pairs{{"seed", "0"}}));
    QCOMPARE(groups[1].distinguishing, (Pairs{{"seed", "1"}}));
    QCOMPARE(groups[2].distinguishing, (Pairs{{"seed", "2"}}));
}

void TestRunGroups::absentKeysAndTypesKeepRunsApart() {
    json e = config("e", 3, 0.1);
    e["train"]["eval_every"] = 10;  // a key the others lack
    json f = config("f", 4, 0.1);
    f["objective"]["beta"] = "0.1";  // the string "0.1", not the number
    const auto groups = ps::group_runs({config("a", 0, 0.1), e, f}, "seed");
    QCOMPARE(groups.size(), size_t(3));
    // Keys that differ among the groups' first members, sorted: objective.beta (0.1 in a and e,
    // "0.1" in f: its text is the same, its JSON not) and train.eval_every (absent in a and f).
    QCOMPARE(groups[0].distinguishing, (Pairs{{"objective.beta", "0.1"}, {"train.eval_every", "—"}}));
    QCOMPARE(groups[1].distinguishing, (Pairs{{"objective.beta", "0.1"}, {"train.eval_every", "10"}}));
    QCOMPARE(groups[2].distinguishing, (Pairs{{"objective.beta", "0.1"}, {"train.eval_every", "—"}}));
    // A run without the ignored key groups with one that has it.
    json g = config("g", 0, 0.1);
    g.erase("seed");
    const auto withAbsent = ps::group_runs({config("a", 5, 0.1), g}, "seed");
    QCOMPARE(withAbsent.size(), size_t(1));
    QCOMPARE(withAbsent[0].ignored_values, (Strings{"5", "—"}));
}

void TestRunGroups::ignoredSectionCoversItsKeys() {
    json a = config("a", 0, 0.1), b = config("b", 0, 0.1);
    b["data"]["train"] = "other.jsonl";
    // "data" covers data.train; "dat" is not a section of it.
    const auto groups = ps::group_runs({a, b}, "data");
    QCOMPARE(groups.size(), size_t(1));
    QCOMPARE(groups[0].ignored_values, (Strings{"builtin:arithmetic", "other.jsonl"}));
    QCOMPARE(ps::group_runs({a, b}, "dat").size(), size_t(2));
    QCOMPARE(ps::group_runs({a, b}, "data.train").size(), size_t(1));
}

void TestRunGroups::differingKeysLeaveLabelsOut() {
    // name and train.save_dir differ too, but name runs, not what they compute.
    QCOMPARE(ps::differing_config_keys(fourRuns()), (Strings{"objective.beta", "seed"}));
    QVERIFY(ps::is_label_key("name"));
    QVERIFY(ps::is_label_key("train.save_dir"));
    QVERIFY(ps::is_label_key("output_dir"));
    QVERIFY(!ps::is_label_key("seed"));
    QVERIFY(!ps::is_label_key("train.steps"));
    json c = config("c", 0, 0.1);
    c["train"].erase("steps");
    QCOMPARE(ps::differing_config_keys({config("a", 0, 0.1), c}), (Strings{"train.steps"}));
    const auto flat = ps::flatten_config(fourRuns()[0]);
    QCOMPARE(flat.at("objective.beta").text, std::string("0.1"));
    QCOMPARE(flat.at("data.train").text, std::string("builtin:arithmetic"));
    QCOMPARE(flat.at("data.train").canonical, std::string("\"builtin:arithmetic\""));
}

void TestRunGroups::meanAndBandPerStep() {
    // r1: 1, 2, 3 at steps 1-3; r2: 3, 4, 8 at steps 1-3; r3: 5 at step 1, NaN at 2 (skipped),
    // 10 at step 4. By hand:
    //   step 1: {1, 3, 5}  mean 3,   min 1, max 5,  sd sqrt((4 + 0 + 4) / 3) = sqrt(8/3)
    //   step 2: {2, 4}     mean 3,   min 2, max 4,  sd 1
    //   step 3: {3, 8}     mean 5.5, min 3, max 8,  sd 2.5
    //   step 4: {10}       mean 10,  min = max = 10, sd 0
    const ps::GroupSeries g = ps::aggregate_series({{{1, 2, 3}, {1, 2, 3}},
                                                    {{1, 2, 3}, {3, 4, 8}},
                                                    {{1, 2, 4}, {5, kNaN, 10}}});
    QCOMPARE(g.steps, (std::vector<int64_t>{1, 2, 3, 4}));
    QCOMPARE(g.mean, (std::vector<double>{3, 3, 5.5, 10}));
    QCOMPARE(g.min, (std::vector<double>{1, 2, 3, 10}));
    QCOMPARE(g.max, (std::vector<double>{5, 4, 8, 10}));
    QCOMPARE(g.count, (std::vector<int>{3, 2, 2, 1}));
    QCOMPARE(g.stddev.size(), size_t(4));
    QVERIFY(std::abs(g.stddev[0] - std::sqrt(8.0 / 3.0)) < 1e-15);
    QCOMPARE(g.stddev[1], 1.0);
    QCOMPARE(g.stddev[2], 2.5);
    QCOMPARE(g.stddev[3], 0.0);
    QCOMPARE(g.members, 3);
    QVERIFY(g.ragged);

    // Members on the same steps: not ragged.
    const ps::GroupSeries even = ps::aggregate_series({{{10, 20}, {0.5, -1}}, {{10, 20}, {1.5, 1}}});
    QCOMPARE(even.mean, (std::vector<double>{1.0, 0.0}));
    QCOMPARE(even.stddev, (std::vector<double>{0.5, 1.0}));
    QVERIFY(!even.ragged);
}

void TestRunGroups::repeatedStepsAndEmptyMembers() {
    // A step logged twice counts its last value (9, not 7); a member with no finite value is no
    // member (members 2, not ragged).
    const ps::GroupSeries g = ps::aggregate_series({{{1, 1, 2}, {7, 9, 4}},
                                                    {{1, 2}, {3, 6}},
                                                    {{1, 2}, {kNaN, kNaN}},
                                                    {{}, {}}});
    QCOMPARE(g.members, 2);
    QVERIFY(!g.ragged);
    QCOMPARE(g.mean, (std::vector<double>{6, 5}));
    QCOMPARE(g.min, (std::vector<double>{3, 4}));
    QCOMPARE(g.max, (std::vector<double>{9, 6}));
    QVERIFY(ps::aggregate_series({}).steps.empty());
}

QTEST_APPLESS_MAIN(TestRunGroups)
#include "test_run_groups.moc"
