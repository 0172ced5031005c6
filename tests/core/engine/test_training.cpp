// End-to-end training runs on tiny data: the first DPO loss is log 2, 20 steps lower it,
// the same seed gives the same curve, stop and failure end the run cleanly.
#include <QFile>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/common/collect_sink.h"
#include "tests/common/reference_check.h"
#include "core/model/model_shape.h"
#include "core/common/errors.h"
#include "core/data/make_data.h"
#include "core/engine/run_thread.h"
#include "core/engine/schedule.h"
#include "tests/common/tiny_config.h"

namespace {

using ps::test::CollectSink;

}  // namespace

class TestTraining : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string data_;

    ps::RunConfig tiny_config(int sft_steps, int steps) {
        ps::RunConfig c = ps::test::tiny_run_config(data_, steps);
        c.sft.steps = sft_steps;
        c.sft.learning_rate = 3e-3;
        c.train.eval_every = 10;
        c.validate();
        return c;
    }

    // 20 pairs, 16 of them for training, seen whole at every step: the loss must fall.
    ps::RunConfig full_batch_config(int steps) {
        ps::ArithDataOptions o;
        o.count = 20;
        o.max_operand = 10;
        auto small = dir_.filePath("small.jsonl").toStdString();
        ps::write_preference_jsonl(ps::make_arith_pairs(o), small);
        auto c = tiny_config(20, steps);
        c.data.train = small;
        c.data.eval_fraction = 0.2;
        c.train.batch_size = 16;
        return c;
    }

private slots:
    void initTestCase() {
        ps::ArithDataOptions o;
        o.count = 64;
        o.max_operand = 10;
        data_ = dir_.filePath("tiny.jsonl").toStdString();
        ps::write_preference_jsonl(ps::make_arith_pairs(o), data_);
    }

    void schedulesFollowHuggingFace() {
        // Warmup: linear from step/warmup; cosine afterwards reaches 1/2 half-way through decay.
        QCOMPARE(ps::lr_factor(ps::LrSchedule::Cosine, 5, 10, 110), 0.5);
        QCOMPARE(ps::lr_factor(ps::LrSchedule::Cosine, 11, 10, 110), 1.0);
        QVERIFY(std::fabs(ps::lr_factor(ps::LrSchedule::Cosine, 61, 10, 110) - 0.5) < 1e-12);
        QVERIFY(std::fabs(ps::lr_factor(ps::LrSchedule::Linear, 61, 10, 110) - 0.5) < 1e-12);
        QCOMPARE(ps::lr_factor(ps::LrSchedule::Constant, 100, 10, 110), 1.0);
    }

    void dpoLossStartsAtLog2AndFalls() {
        CollectSink sink;
        ps::RunControl control;
        auto c = full_batch_config(20);
        auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QVERIFY2(status == ps::RunStatus::Completed, sink.error.c_str());
        auto loss = sink.series("loss");
        QCOMPARE(loss.size(), size_t(20));
        // Policy == reference at step 1, so every DPO logit is 0 and the loss is exactly log 2.
        QVERIFY(std::fabs(loss[0] - std::log(2.0)) < 1e-5);
        QVERIFY(std::fabs(sink.series("rewards/chosen")[0]) < 1e-6);
        double last5 = 0;
        for (size_t i = 15; i < 20; ++i) last5 += loss[i] / 5;
        QVERIFY2(last5 < loss[0] - 0.05, qPrintable(QString("loss %1 -> %2").arg(loss[0]).arg(last5)));
        // Margin = chosen - rejected, step by step.
        auto rc = sink.series("rewards/chosen"), rr = sink.series("rewards/rejected"), mg = sink.series("rewards/margins");
        for (size_t i = 0; i < rc.size(); ++i) QVERIFY(std::fabs(mg[i] - (rc[i] - rr[i])) < 1e-6);
        QCOMPARE(sink.series("sft/loss").size(), size_t(20));
        QCOMPARE(sink.series("eval/loss").size(), size_t(2));  // steps 10 and 20
        QVERIFY(sink.final_metrics.contains("eval/rewards/accuracies"));
        for (const char* k : {"rewards/accuracies", "logps/chosen", "logps/rejected", "logits/chosen",
                              "logits/rejected", "grad_norm", "learning_rate", "tokens_per_second", "nll_loss"})
            QVERIFY2(sink.final_metrics.contains(k), k);
        // Progress carries the memory in use: this process's RSS, as /proc/self/status's VmRSS.
        QVERIFY(!sink.progress.empty());
        const ps::RunProgress& last = sink.progress.back();
        QCOMPARE(last.memory_kind, std::string("process RSS"));
        QFile proc_status("/proc/self/status");
        QVERIFY(proc_status.open(QIODevice::ReadOnly));
        double vm_rss_kb = 0;
        for (const QByteArray& line : proc_status.readAll().split('\n'))
            if (line.startsWith("VmRSS:")) vm_rss_kb = line.mid(6).trimmed().split(' ').front().toDouble();
        const double rss_mb = double(last.memory_bytes) / 1048576.0;
        QVERIFY2(rss_mb > 10 && std::fabs(rss_mb - vm_rss_kb / 1024.0) < 0.25 * (vm_rss_kb / 1024.0),
                 qPrintable(QString("progress %1 MB, VmRSS %2 MB").arg(rss_mb).arg(vm_rss_kb / 1024.0)));
    }

    void everyAlgorithmLowersItsLoss_data() {
        QTest::addColumn<QString>("algorithm");
        QTest::addColumn<double>("beta");
        QTest::newRow("dpo") << "dpo" << 0.1;
        QTest::newRow("kto") << "kto" << 0.1;
        QTest::newRow("orpo") << "orpo" << 0.1;
        QTest::newRow("simpo") << "simpo" << 2.0;
    }
    void everyAlgorithmLowersItsLoss() {
        QFETCH(QString, algorithm);
        QFETCH(double, beta);
        auto c = full_batch_config(30);
        c.objective.algorithm = algorithm.toStdString();
        c.objective.beta = beta;
        CollectSink sink;
        ps::RunControl control;
        auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QVERIFY2(status == ps::RunStatus::Completed, sink.error.c_str());
        auto loss = sink.series("loss");
        QCOMPARE(loss.size(), size_t(30));
        double first5 = 0, last5 = 0;
        for (size_t i = 0; i < 5; ++i) first5 += loss[i] / 5;
        for (size_t i = 25; i < 30; ++i) last5 += loss[i] / 5;
        QCOMPARE(sink.algorithm, c.objective.algorithm);  // the resolved config reaches the sinks
        QVERIFY2(last5 < first5 - 0.02, qPrintable(QString("%1: %2 -> %3").arg(algorithm).arg(first5).arg(last5)));
        if (c.objective.algorithm == "kto") QVERIFY(sink.final_metrics.contains("kl"));
        if (c.objective.algorithm == "orpo") QVERIFY(sink.final_metrics.contains("log_odds_ratio"));
    }

    void onTheFlyReferenceEqualsCache() {
        auto c = tiny_config(10, 6);
        CollectSink cached, fly;
        ps::RunControl c1, c2;
        ps::run_training(c, c.to_json(), {&cached}, c1);
        c.train.reference_logps = ps::ReferenceMode::OnTheFly;
        ps::run_training(c, c.to_json(), {&fly}, c2);
        // The same reference values step by step (not the same rewards: the two runs' references
        // differ in their last bits, and the policies' trajectories drift apart from there).
        const ps::ModelShape shape = ps::builtin_shape("tiny");
        const int64_t widest = std::max({shape.vocab_size, shape.hidden_size, shape.intermediate_size});
        const std::string mismatch = ps::test::compare_references(cached, fly, c.objective.beta, c.train.batch_size, widest, 6);
        QVERIFY2(mismatch.empty(), mismatch.c_str());
    }

    void referenceCacheIsReusedFromDisk() {
        QTemporaryDir cache;
        qputenv("PREFSTUDIO_CACHE_DIR", cache.path().toUtf8());
        auto c = tiny_config(10, 6);
        const std::string own_data = cache.filePath("data.jsonl").toStdString();  // this test edits it
        QVERIFY(QFile::copy(QString::fromStdString(data_), QString::fromStdString(own_data)));
        c.data.train = own_data;
        auto from_disk = [](const CollectSink& s) {
            for (const auto& e : s.events)
                if (e.data.contains("from_disk")) return e.data["from_disk"].get<bool>() ? 1 : 0;
            return -1;  // no reference event at all
        };
        CollectSink first, second, other_beta, changed_data;
        ps::RunControl c1, c2, c3, c4;
        ps::run_training(c, c.to_json(), {&first}, c1);
        QCOMPARE(from_disk(first), 0);
        QCOMPARE(QDir(cache.path() + "/reference-logps").entryList({"*.bin"}).size(), 1);
        ps::run_training(c, c.to_json(), {&second}, c2);
        QCOMPARE(from_disk(second), 1);
        QCOMPARE(first.series("rewards/chosen"), second.series("rewards/chosen"));  // same numbers from disk
        c.objective.beta = 0.3;  // the reference does not depend on beta
        ps::run_training(c, c.to_json(), {&other_beta}, c3);
        QCOMPARE(from_disk(other_beta), 1);
        // A damaged file of the right size (bits flipped in its data) is never used (issue #17, item 7):
        // the log-probs are computed again, the run says so, and the file is replaced.
        const QString bin = cache.path() + "/reference-logps/" +
                            QDir(cache.path() + "/reference-logps").entryList({"*.bin"}).front();
        {
            QFile f(bin);
            QVERIFY(f.open(QIODevice::ReadWrite));
            const qint64 middle = f.size() / 2;
            QVERIFY(f.seek(middle));
            QByteArray bytes = f.read(4);
            for (auto& b : bytes) b = static_cast<char>(~b);
            QVERIFY(f.seek(middle));
            QCOMPARE(f.write(bytes), qint64(4));
        }
        CollectSink damaged, repaired;
        ps::RunControl c5, c6;
        ps::run_training(c, c.to_json(), {&damaged}, c5);
        QCOMPARE(from_disk(damaged), 0);
        bool warned = false;
        for (const auto& e : damaged.events)
            if (e.kind == "warning" && e.message.find("was damaged") != std::string::npos) warned = true;
        QVERIFY(warned);
        QCOMPARE(damaged.series("rewards/chosen"), other_beta.series("rewards/chosen"));
        ps::run_training(c, c.to_json(), {&repaired}, c6);
        QCOMPARE(from_disk(repaired), 1);
        // Other data (one more pair) means another reference: computed again, never reused wrongly.
        {
            std::ofstream(own_data, std::ios::app) << R"({"prompt": "9+9=", "chosen": "18", "rejected": "19"})" << "\n";
        }
        ps::run_training(c, c.to_json(), {&changed_data}, c4);
        QCOMPARE(from_disk(changed_data), 0);
        qunsetenv("PREFSTUDIO_CACHE_DIR");
    }

    void sameSeedSameCurve() {
        CollectSink a, b;
        ps::RunControl ca, cb;
        auto c = tiny_config(5, 8);
        ps::run_training(c, c.to_json(), {&a}, ca);
        ps::run_training(c, c.to_json(), {&b}, cb);
        QCOMPARE(a.series("loss"), b.series("loss"));
        QCOMPARE(a.series("rewards/rejected"), b.series("rewards/rejected"));
        c.seed = 1;
        CollectSink d;
        ps::RunControl cd;
        ps::run_training(c, c.to_json(), {&d}, cd);
        QVERIFY(a.series("loss") != d.series("loss"));
    }

    void stopEndsTheRunAsStopped() {
        auto sink = std::make_shared<CollectSink>();
        ps::RunThread run(tiny_config(0, 100000), nlohmann::json::object(), {sink});
        run.start();
        QTRY_VERIFY_WITH_TIMEOUT(sink->series("loss").size() >= 3, 30000);
        run.pause();
        QTRY_VERIFY(run.paused());
        run.request_stop();  // a paused run stops too
        run.join();
        QVERIFY(run.finished());
        QVERIFY(run.status() == ps::RunStatus::Stopped);
        QVERIFY(sink->status == ps::RunStatus::Stopped);
        QVERIFY(sink->series("loss").size() < 100000);
    }

    void badDataFailsWithOneSentence() {
        CollectSink sink;
        ps::RunControl control;
        auto c = tiny_config(0, 5);
        c.data.train = dir_.filePath("missing.jsonl").toStdString();
        auto status = ps::run_training(c, c.to_json(), {&sink}, control);
        QVERIFY(status == ps::RunStatus::Failed);
        QVERIFY(sink.started);  // the failed run is still introduced to the sinks (and stored)
        QVERIFY2(sink.error.find("missing.jsonl: cannot open the file") != std::string::npos, sink.error.c_str());
    }
};

QTEST_GUILESS_MAIN(TestTraining)
#include "test_training.moc"
