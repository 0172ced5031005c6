// Studio plots with big series (issue #7):
//  (a) replot of 8 plots (one real LiveMonitor, its 8 panels ~600x300 px each) whose training
//      series hold 1,000,000 points each (9 series, every panel at least one; random walk; raw
//      + smoothed graph per series): 50 replots, median / p95. Target: median < 16 ms.
//  (b) opening a stored run of 1,000,000 metric rows (10 metrics x 100,000 steps) the way the
//      studio does it (MainWindow::openStoredRun: the run record without its diagnosis,
//      LiveMonitor + diagnosis panel, one replot). Target < 300 ms. Then how long until the
//      diagnosis, made on a pool thread, is shown.
//
//   bench_plot [--points N] [--steps N] [--reps N]
//
// Runs offscreen unless QT_QPA_PLATFORM says otherwise.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <QApplication>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <qcustomplot.h>

#include "ui/live/diagnosis_panel.h"
#include "ui/live/live_monitor.h"
#include "tests/bench/bench_stats.h"
#include "ui/main_window.h"
#include "core/store/run_store.h"

namespace {

using ps::bench::percentile;

double msSince(const QElapsedTimer& t) { return double(t.nsecsElapsed()) / 1e6; }

// One or two series on each of the monitor's eight panels.
const char* const kTrainSeries[] = {"rewards/chosen", "rewards/rejected", "rewards/margins", "loss",
                                    "rewards/accuracies", "logps/chosen", "nll_loss", "grad_norm",
                                    "learning_rate"};
constexpr int kSeries = int(sizeof(kTrainSeries) / sizeof(kTrainSeries[0]));

// `steps` step records, each with every training series of the monitor (random walks).
std::vector<ps::StepMetrics> randomWalk(int steps, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 0.02);
    std::vector<ps::StepMetrics> records(static_cast<size_t>(steps));
    double v[kSeries] = {0.0, 0.0, 0.0, 0.69, 0.5, -20.0, 2.0, 1.0, 1e-3};
    for (int s = 0; s < steps; ++s) {
        ps::StepMetrics& m = records[size_t(s)];
        m.step = s + 1;
        m.values.reserve(kSeries);
        for (int k = 0; k < kSeries; ++k) {
            v[k] += noise(rng);
            if (k == 4) v[k] = std::clamp(v[k], 0.0, 1.0);
            m.values.emplace_back(kTrainSeries[k], v[k]);
        }
    }
    return records;
}

}  // namespace

int main(int argc, char** argv) {
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);

    int points = 1000000;
    int storedSteps = 100000;
    int reps = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--points") == 0) points = std::atoi(argv[i + 1]);
        else if (std::strcmp(argv[i], "--steps") == 0) storedSteps = std::atoi(argv[i + 1]);
        else if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
    }

    // ---- (a) replot: one LiveMonitor = 8 plots ----
    std::printf("## (a) replot, %d points per series, 8 plots (one LiveMonitor, 8 panels)\n\n", points);
    QElapsedTimer t;
    t.start();
    auto monitor = std::make_unique<ps::ui::LiveMonitor>();
    monitor->resize(1320, 1500);  // each panel's axis rect ~ 600 x 300 px with labels
    monitor->show();
    const std::vector<ps::StepMetrics> records = randomWalk(points, 42u);
    QElapsedTimer feed;
    feed.start();
    monitor->beginRun(0, points);
    monitor->appendMetrics(records);
    const double feedMs = msSince(feed);
    QApplication::processEvents();
    const QRect r0 = monitor->rewardsAxisRect()->rect();
    std::printf("setup %.0f ms (appendMetrics of %d steps x %d series: %.0f ms); axis rect %dx%d px; "
                "%d points in the graphs\n\n",
                msSince(t), points, kSeries, feedMs, r0.width(), r0.height(), monitor->totalPointCount());

    std::vector<double> replot;
    for (int i = 0; i < reps + 2; ++i) {
        QElapsedTimer one;
        one.start();
        monitor->plot()->replot(QCustomPlot::rpImmediateRefresh);
        // Two warm-up replots (first layout, buffers), not counted.
        if (i >= 2) replot.push_back(msSince(one));
    }
    std::printf("| measure | median (ms) | p95 (ms) | max (ms) |\n|---|---|---|---|\n");
    std::printf("| replot, 8 plots | **%.1f** | %.1f | %.1f |\n", percentile(replot, 50),
                percentile(replot, 95), percentile(replot, 100));
    // Panning: the step range moves before every replot, so nothing drawn can be reused.
    std::vector<double> pan;
    for (int i = 0; i < reps; ++i) {
        QElapsedTimer one;
        one.start();
        QCPAxis* x = monitor->rewardsAxisRect()->axis(QCPAxis::atBottom);
        x->moveRange((i % 2 ? -1 : 1) * x->range().size() * 0.01);  // all panels follow
        monitor->plot()->replot(QCustomPlot::rpImmediateRefresh);
        pan.push_back(msSince(one));
    }
    std::printf("| pan + replot, 8 plots (range moves 1%% each time) | %.1f | %.1f | %.1f |\n\n",
                percentile(pan, 50), percentile(pan, 95), percentile(pan, 100));
    monitor.reset();

    // ---- (b) open a stored run of 10 metrics x storedSteps rows ----
    const char* const kStored[] = {"rewards/chosen", "rewards/rejected", "rewards/margins",
                                   "rewards/accuracies", "loss", "logps/chosen", "logps/rejected",
                                   "logits/chosen", "logits/rejected", "grad_norm"};
    std::printf("## (b) open a stored run: 10 metrics x %d steps = %d rows\n\n", storedSteps,
                10 * storedSteps);
    QTemporaryDir dir;
    ps::ui::MainWindow window(dir.filePath(QStringLiteral("bench.db")));
    window.resize(1600, 1000);
    window.show();
    QApplication::processEvents();
    int64_t runId = 0;
    {
        QElapsedTimer write;
        write.start();
        ps::RunStore& store = *window.store();
        ps::RunInfo info;
        info.name = "big";
        info.algorithm = "dpo";
        info.model = "builtin:tiny";
        info.config = {{"name", "big"}};
        info.resolved_config = {{"sft", {{"steps", 0}}}, {"train", {{"steps", storedSteps}}}};
        runId = store.create_run(info);
        std::mt19937 rng(7);
        std::normal_distribution<double> noise(0.0, 0.02);
        double v[10] = {};
        std::vector<ps::StepMetrics> batch;
        for (int s = 1; s <= storedSteps; ++s) {
            ps::StepMetrics m;
            m.step = s;
            m.wall_time = s * 0.01;
            for (int k = 0; k < 10; ++k) {
                v[k] += noise(rng);
                m.set(kStored[k], k == 3 ? std::clamp(0.5 + v[k], 0.0, 1.0) : v[k]);
            }
            batch.push_back(std::move(m));
            if (batch.size() == 10000 || s == storedSteps) {
                store.append_metrics(runId, batch);
                batch.clear();
            }
        }
        store.finish_run(runId, ps::RunStatus::Completed, {{"rewards/chosen", v[0]}}, "", 1000.0);
        std::printf("store written in %.0f ms (batches of 10,000 steps)\n\n", msSince(write));
    }

    std::vector<double> load, open, replotB, diagnosed;
    for (int i = 0; i < 3; ++i) {
        QElapsedTimer a;
        a.start();
        const auto series = window.store()->load_metrics(runId);
        load.push_back(msSince(a));
        size_t rows = 0;
        for (const auto& s : series) rows += s.values.size();
        if (rows != size_t(10) * size_t(storedSteps)) {
            std::fprintf(stderr, "bench_plot: loaded %zu rows\n", rows);
            return 1;
        }
        QElapsedTimer b;
        b.start();
        if (!window.openStoredRun(runId)) return 1;
        open.push_back(msSince(b));
        QElapsedTimer c;
        c.start();
        window.livePlot()->replot(QCustomPlot::rpImmediateRefresh);
        replotB.push_back(msSince(c));
        // The diagnosis (stream + regime detector) comes from a pool thread; wait for it, so the
        // next open is not measured against it.
        while (window.diagnosisPanel()->isDiagnosing()) QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
        diagnosed.push_back(msSince(b));
    }
    std::printf("| step (3 opens) | median (ms) |\n|---|---|\n");
    std::printf("| RunStore::load_metrics (1 run, %d rows) | %.0f |\n", 10 * storedSteps, percentile(load, 50));
    std::printf("| MainWindow::openStoredRun total (load_metrics + events + records + monitor + "
                "diagnosis + 1 replot) | **%.0f** |\n",
                percentile(open, 50));
    std::printf("| of which outside load_metrics (≈ total − load) | %.0f |\n",
                percentile(open, 50) - percentile(load, 50));
    std::printf("| one more replot of the opened run | %.1f |\n", percentile(replotB, 50));
    std::printf("| open until the diagnosis is shown (pool thread: stream + regime detector) | %.0f |\n",
                percentile(diagnosed, 50));
    std::printf("\npoints plotted: %d\n", window.liveMonitor()->totalPointCount());
    return 0;
}
