// Checkpoint folders (core/engine/run_checkpoint.h): the atomic write (a killed write's
// temporary folder is never taken for a checkpoint and is cleaned away), train.keep_checkpoints,
// and that what a checkpoint restores (AdamW's state, the generators, the batch sampler)
// continues exactly as the uninterrupted object would.
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "core/common/errors.h"
#include "core/data/tokenize.h"
#include "core/engine/run_checkpoint.h"

namespace fs = std::filesystem;
using namespace ps;

namespace {

void touch_meta(const std::string& dir, int64_t step) {
    std::ofstream(dir + "/meta.json") << "{\"step\": " << step << "}\n";
}

std::vector<int64_t> steps_of(const std::vector<CheckpointDir>& all) {
    std::vector<int64_t> out;
    for (const auto& c : all) out.push_back(c.step);
    return out;
}

}  // namespace

class TestRunCheckpoint : public QObject {
    Q_OBJECT

private slots:
    void atomicWriteIgnoresAndCleansLeftovers() {
        QTemporaryDir tmp;
        const std::string root = tmp.filePath("ckpt").toStdString();
        const std::string first = write_checkpoint_atomically(root, 10, [](const std::string& d) { touch_meta(d, 10); });
        QCOMPARE(QString::fromStdString(fs::path(first).filename().string()), QString("step-10"));
        // A write killed halfway: its temporary folder holds a meta.json but was never renamed.
        fs::create_directories(root + "/.tmp-step-20");
        touch_meta(root + "/.tmp-step-20", 20);
        // A step folder without meta.json is not whole either.
        fs::create_directories(root + "/step-30");
        QCOMPARE(steps_of(list_checkpoints(root)), std::vector<int64_t>{10});
        QVERIFY(fs::exists(root + "/.tmp-step-20"));  // listing alone does not remove
        QCOMPARE(steps_of(list_checkpoints(root, true)), std::vector<int64_t>{10});
        QVERIFY(!fs::exists(root + "/.tmp-step-20"));

        // The next write cleans leftovers as well, and its own temporary folder is gone after.
        fs::create_directories(root + "/.tmp-step-25");
        write_checkpoint_atomically(root, 40, [](const std::string& d) { touch_meta(d, 40); });
        QVERIFY(!fs::exists(root + "/.tmp-step-25"));
        QVERIFY(!fs::exists(root + "/.tmp-step-40"));
        QCOMPARE(steps_of(list_checkpoints(root)), (std::vector<int64_t>{10, 40}));
    }

    void failedWriteLeavesThePreviousCheckpoints() {
        QTemporaryDir tmp;
        const std::string root = tmp.filePath("ckpt").toStdString();
        write_checkpoint_atomically(root, 5, [](const std::string& d) { touch_meta(d, 5); });
        bool threw = false;
        try {
            write_checkpoint_atomically(root, 6, [](const std::string& d) {
                std::ofstream(d + "/trainable.pt") << "half";
                throw StoreError("disk full");
            });
        } catch (const StoreError&) {
            threw = true;
        }
        QVERIFY(threw);
        QCOMPARE(steps_of(list_checkpoints(root)), std::vector<int64_t>{5});
        QVERIFY(!fs::exists(root + "/.tmp-step-6"));
        std::ifstream meta(root + "/step-5/meta.json");
        std::string text((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
        QCOMPARE(QString::fromStdString(text), QString("{\"step\": 5}\n"));

        // The same step written again replaces it whole.
        write_checkpoint_atomically(root, 5, [](const std::string& d) { std::ofstream(d + "/meta.json") << "new\n"; });
        std::ifstream again(root + "/step-5/meta.json");
        std::string text2((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
        QCOMPARE(QString::fromStdString(text2), QString("new\n"));
        QCOMPARE(steps_of(list_checkpoints(root)), std::vector<int64_t>{5});

        // Killed between the two renames of a step written again: the old folder comes back.
        fs::rename(root + "/step-5", root + "/.old-step-5");
        fs::create_directories(root + "/.tmp-step-5");
        QCOMPARE(steps_of(list_checkpoints(root, true)), std::vector<int64_t>{5});
        QVERIFY(!fs::exists(root + "/.old-step-5") && !fs::exists(root + "/.tmp-step-5"));
    }

    void keepCheckpointsKeepsTheNewest() {
        QTemporaryDir tmp;
        const std::string root = tmp.filePath("ckpt").toStdString();
        for (int64_t s : {3, 6, 9, 12, 15}) {
            write_checkpoint_atomically(root, s, [s](const std::string& d) { touch_meta(d, s); });
            prune_checkpoints(root, 2);
        }
        QCOMPARE(steps_of(list_checkpoints(root)), (std::vector<int64_t>{12, 15}));
        // Numeric order, not text order: step-100 is newer than step-99.
        for (int64_t s : {99, 100}) write_checkpoint_atomically(root, s, [s](const std::string& d) { touch_meta(d, s); });
        prune_checkpoints(root, 1);
        QCOMPARE(steps_of(list_checkpoints(root)), std::vector<int64_t>{100});
    }

    // AdamW, the CPU generator: three steps, a checkpoint, two more steps; against the
    // checkpoint loaded into a fresh parameter and optimizer and the same two steps.
    void optimizerAndGeneratorContinueExactly() {
        QTemporaryDir tmp;
        auto step = [](torch::Tensor& w, torch::optim::AdamW& opt) {
            opt.zero_grad();
            auto x = torch::rand({4, 3});  // draws from the default generator
            auto loss = (x.matmul(w) - 1.0).pow(2).sum();
            loss.backward();
            opt.step();
        };
        torch::manual_seed(11);
        torch::Tensor w = torch::randn({3, 2}).requires_grad_(true);
        torch::optim::AdamW opt({w}, torch::optim::AdamWOptions(0.01).weight_decay(0.1));
        for (int i = 0; i < 3; ++i) step(w, opt);
        const std::string root = tmp.filePath("ckpt").toStdString();
        const std::string dir = write_checkpoint_atomically(root, 3, [&](const std::string& d) {
            save_checkpoint_tensors(d, {w}, opt);
            touch_meta(d, 3);
        });
        for (int i = 0; i < 2; ++i) step(w, opt);
        const torch::Tensor uninterrupted = w.detach().clone();

        torch::manual_seed(999);  // another generator state, overwritten by the checkpoint's
        torch::Tensor w2 = torch::zeros({3, 2}).requires_grad_(true);
        torch::optim::AdamW opt2({w2}, torch::optim::AdamWOptions(0.01).weight_decay(0.1));
        load_checkpoint_tensors(dir, {w2}, opt2);
        for (int i = 0; i < 2; ++i) step(w2, opt2);
        QVERIFY(torch::equal(w2.detach(), uninterrupted));

        // A checkpoint of other shapes is refused, naming the folder.
        torch::Tensor wrong = torch::zeros({2, 2}).requires_grad_(true);
        torch::optim::AdamW opt3({wrong}, torch::optim::AdamWOptions(0.01));
        QVERIFY_THROWS_EXCEPTION(StoreError, load_checkpoint_tensors(dir, {wrong}, opt3));
    }

    // The batch sampler (grouped by length, several epochs): restored from its state it gives
    // the batches the uninterrupted sampler gives.
    void samplerContinuesTheSameBatches() {
        std::vector<size_t> lengths;
        for (size_t i = 0; i < 37; ++i) lengths.push_back(5 + (i * 7) % 13);
        for (bool grouped : {false, true}) {
            BatchSampler a(lengths, 4, 21, grouped);
            for (int i = 0; i < 11; ++i) a.next(4);
            const std::string state = a.state();
            BatchSampler b(lengths, 4, 21, grouped);  // a fresh one at the start
            b.restore(state);
            for (int i = 0; i < 40; ++i) QCOMPARE(b.next(4), a.next(4));  // past two epoch ends
            BatchSampler other(std::vector<size_t>(10, 3), 4, 21, grouped);
            QVERIFY_THROWS_EXCEPTION(DataError, other.restore(state));  // data of another size
        }
    }

    void metaRoundTripsAndRefusesBadFiles() {
        CheckpointMeta m;
        m.step = 40;
        m.sft_steps = 3;
        m.config = {{"seed", 5}};
        m.reference_key = "abc";
        m.model_checksum = "m";
        m.start_checksum = "s";
        m.sampler = "0 1 0 5";
        m.last_values = {{"loss", 0.5}};
        m.last_abs_reward = 1.25;
        m.pair_logps = {{0, 0, -1.5, -2.5}, {1, 25, -3.0, -4.0}};
        m.warned = {"w"};
        m.elapsed = 12.5;
        const CheckpointMeta r = CheckpointMeta::from_json(nlohmann::json::parse(m.to_json().dump()));
        QCOMPARE(r.to_json().dump(), m.to_json().dump());
        QCOMPARE(r.pair_logps[1].step, int64_t(25));
        nlohmann::json bad = m.to_json();
        bad.erase("sampler");
        QVERIFY_THROWS_EXCEPTION(StoreError, CheckpointMeta::from_json(bad));
        bad = m.to_json();
        bad["format"] = 99;
        QVERIFY_THROWS_EXCEPTION(StoreError, CheckpointMeta::from_json(bad));
    }
};

QTEST_GUILESS_MAIN(TestRunCheckpoint)
#include "test_run_checkpoint.moc"
