// Reading TRL JSONL, its errors, the deterministic split and the demo-data generator.
#include <QtTest>

#include <fstream>
#include <regex>
#include <set>

#include "core/common/errors.h"
#include "core/data/make_data.h"
#include "core/data/preference_data.h"

class TestData : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    std::string write(const char* name, const std::string& text) {
        std::string path = dir_.filePath(name).toStdString();
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }
    std::string error_of(const std::string& path) {
        try {
            ps::read_preference_file(path);
        } catch (const ps::DataError& e) {
            return e.what();
        }
        return "no error";
    }

private slots:
    void readsJsonLinesAndArrays() {
        auto a = ps::read_preference_file(write("a.jsonl",
            "{\"prompt\": \"1+1=\", \"chosen\": \"2\", \"rejected\": \"3\"}\n\n"
            "{\"prompt\": \"2+2=\", \"chosen\": \"4\", \"rejected\": \"5\", \"extra\": 1}\n"));
        QCOMPARE(a.pairs.size(), size_t(2));
        QCOMPARE(a.pairs[1].prompt, std::string("2+2="));
        QCOMPARE(a.pairs[1].chosen, std::string("4"));
        QCOMPARE(a.pairs[1].source_line, 3L);
        auto b = ps::read_preference_file(write("b.json",
            "  [{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}, {\"chosen\": \"x\", \"rejected\": \"y\"}]"));
        QCOMPARE(b.pairs.size(), size_t(2));
        QCOMPARE(b.pairs[1].prompt, std::string(""));
        QCOMPARE(b.pairs[1].source_line, 2L);
    }

    void errorsNameFileAndLine() {
        auto p = write("e1.jsonl", "{\"chosen\": \"a\", \"rejected\": \"b\"}\n{\"chosen\": \"a\"}\n");
        QCOMPARE(error_of(p), p + ":2: missing field 'rejected' (expected prompt, chosen, rejected strings)");
        p = write("e2.jsonl", "{\"chosen\": \"a\", \"rejected\": \"b\"}\n\n{\"chosen\": \"a\", \n");
        QVERIFY(error_of(p).rfind(p + ":3: invalid JSON", 0) == 0);
        p = write("e3.jsonl", "{\"chosen\": 5, \"rejected\": \"b\"}\n");
        QCOMPARE(error_of(p), p + ":1: field 'chosen' must be a string");
        p = write("e4.jsonl", "{\"chosen\": \"\", \"rejected\": \"b\"}\n");
        QCOMPARE(error_of(p), p + ":1: field 'chosen' is empty");
        p = write("e5.jsonl", "\n  \n");
        QCOMPARE(error_of(p), p + ": the file is empty");
        QCOMPARE(error_of(dir_.filePath("none.jsonl").toStdString()),
                 dir_.filePath("none.jsonl").toStdString() + ": cannot open the file");
    }

    void warnsAboutIdenticalPairs() {
        auto d = ps::read_preference_file(write("w.jsonl", "{\"chosen\": \"a\", \"rejected\": \"a\"}\n"));
        QCOMPARE(d.warnings.size(), size_t(1));
    }

    void splitIsDeterministicAndDisjoint() {
        std::vector<ps::PreferencePair> all(100);
        for (int i = 0; i < 100; ++i) all[i].chosen = std::to_string(i);
        std::vector<ps::PreferencePair> t1, e1, t2, e2, t3, e3;
        ps::split_train_eval(all, 0.1, 0, t1, e1);
        ps::split_train_eval(all, 0.1, 0, t2, e2);
        ps::split_train_eval(all, 0.1, 1, t3, e3);
        QCOMPARE(t1.size(), size_t(90));
        QCOMPARE(e1.size(), size_t(10));
        std::set<std::string> seen;
        for (auto& p : t1) seen.insert(p.chosen);
        for (auto& p : e1) QVERIFY(!seen.count(p.chosen));
        for (size_t i = 0; i < e1.size(); ++i) QCOMPARE(e1[i].chosen, e2[i].chosen);
        bool differs = false;
        for (size_t i = 0; i < e1.size(); ++i) differs |= e1[i].chosen != e3[i].chosen;
        QVERIFY(differs);
        ps::split_train_eval(all, 0.0, 0, t1, e1);
        QCOMPARE(e1.size(), size_t(0));
    }

    void arithPairsAreCorrectAndWrong() {
        ps::ArithDataOptions o;
        o.count = 500;
        auto pairs = ps::make_arith_pairs(o);
        QCOMPARE(pairs.size(), size_t(500));
        std::regex re(R"((\d+)\+(\d+)=)");
        for (const auto& p : pairs) {
            std::smatch m;
            QVERIFY(std::regex_match(p.prompt, m, re));
            const int a = std::stoi(m[1]), b = std::stoi(m[2]);
            QVERIFY(a < 50 && b < 50);
            QCOMPARE(std::stoi(p.chosen), a + b);
            QVERIFY(std::stoi(p.rejected) != a + b);
            QVERIFY(std::abs(std::stoi(p.rejected) - (a + b)) <= 81);  // off by 1, 10 or swapped digits
        }
        // Same seed, same data; another seed, other data.
        auto again = ps::make_arith_pairs(o);
        QCOMPARE(again[123].prompt, pairs[123].prompt);
        QCOMPARE(again[123].rejected, pairs[123].rejected);
        o.seed = 1;
        QVERIFY(ps::make_arith_pairs(o)[0].prompt != pairs[0].prompt || ps::make_arith_pairs(o)[1].prompt != pairs[1].prompt);
    }

    void writeThenReadRoundTrips() {
        ps::ArithDataOptions o;
        o.count = 20;
        auto pairs = ps::make_arith_pairs(o);
        std::string path = dir_.filePath("sub/dir/arith.jsonl").toStdString();
        ps::write_preference_jsonl(pairs, path);
        auto back = ps::read_preference_file(path);
        QCOMPARE(back.pairs.size(), size_t(20));
        QCOMPARE(back.pairs[7].prompt, pairs[7].prompt);
        QCOMPARE(back.pairs[7].chosen, pairs[7].chosen);
        QCOMPARE(back.pairs[7].rejected, pairs[7].rejected);
    }
};

QTEST_GUILESS_MAIN(TestData)
#include "test_data.moc"
