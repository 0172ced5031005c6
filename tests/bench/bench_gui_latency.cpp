// How responsive the studio stays while a run trains: runs a config (default: the demo) in
// the real MainWindow, and while it trains a 10 ms probe timer measures how late each of its
// ticks fires (event-loop latency), and the run session records how long each drain+replot
// tick takes. Target: p99 event-loop latency < 50 ms.
//
//   bench_gui_latency [CONFIG.json] [--steps N] [--check]
//
// Runs offscreen unless QT_QPA_PLATFORM says otherwise (e.g. xcb under xvfb-run).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include <QApplication>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTimer>

#include "ui/experiment/experiment_form.h"
#include "ui/live/live_monitor.h"
#include "ui/live/run_session.h"
#include "tests/bench/bench_stats.h"
#include "ui/main_window.h"

namespace {

using ps::bench::percentile;

double maximum(const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
}

}  // namespace

int main(int argc, char** argv) {
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);

    QString config = QStringLiteral("experiments/demo-dpo.json");
    QString steps;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = QString::fromLocal8Bit(argv[++i]);
        else if (std::strcmp(argv[i], "--check") == 0) check = true;
        else config = QString::fromLocal8Bit(argv[i]);
    }

    QTemporaryDir dir;
    ps::ui::MainWindow window(dir.filePath(QStringLiteral("bench.db")));
    if (!window.loadExperiment(config)) {
        std::fprintf(stderr, "bench_gui_latency: %s\n", qPrintable(window.loadError()));
        return 2;
    }
    if (!steps.isEmpty() && !window.experimentForm()->setFieldText(QStringLiteral("train.steps"), steps)) {
        std::fprintf(stderr, "bench_gui_latency: bad --steps '%s'\n", qPrintable(steps));
        return 2;
    }
    if (!window.experimentForm()->isValid()) {
        std::fprintf(stderr, "bench_gui_latency: %s\n",
                     qPrintable(window.experimentForm()->validationMessage()));
        return 2;
    }
    window.show();

    constexpr int kProbeMs = 10;
    std::vector<double> latenessMs;
    QElapsedTimer clock;
    qint64 lastNs = -1;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    probe.setInterval(kProbeMs);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        if (lastNs >= 0) latenessMs.push_back(std::max(0.0, (now - lastNs) / 1e6 - kProbeMs));
        lastNs = now;
    });

    ps::RunStatus status = ps::RunStatus::Failed;
    QObject::connect(&window, &ps::ui::MainWindow::runFinished, &app, [&](ps::RunStatus s) {
        status = s;
        probe.stop();
        app.quit();
    });
    window.runSession()->setRecordTickDurations(true);
    QTimer::singleShot(0, &window, [&] {
        clock.start();
        probe.start();
        window.startRun();
        if (!window.isRunning()) app.exit(1);
    });
    if (app.exec() != 0) {
        std::fprintf(stderr, "bench_gui_latency: the run did not start: %s\n", qPrintable(window.lastRunError()));
        return 2;
    }

    const std::vector<double>& ticks = window.runSession()->tickDurationsMs();
    const double p99 = percentile(latenessMs, 99);
    std::printf("bench_gui_latency: %s, run %s in %.1f s\n", qPrintable(config),
                ps::to_string(status), clock.elapsed() / 1000.0);
    std::printf("%-34s %10s\n", "measure", "value");
    std::printf("%-34s %10zu\n", "probe ticks (10 ms timer)", latenessMs.size());
    std::printf("%-34s %10.2f\n", "event-loop latency p50 (ms)", percentile(latenessMs, 50));
    std::printf("%-34s %10.2f\n", "event-loop latency p99 (ms)", p99);
    std::printf("%-34s %10.2f\n", "event-loop latency max (ms)", maximum(latenessMs));
    std::printf("%-34s %10zu\n", "drain+replot ticks", ticks.size());
    std::printf("%-34s %10.2f\n", "drain+replot p50 (ms)", percentile(ticks, 50));
    std::printf("%-34s %10.2f\n", "drain+replot p99 (ms)", percentile(ticks, 99));
    std::printf("%-34s %10.2f\n", "drain+replot max (ms)", maximum(ticks));
    std::printf("%-34s %10d\n", "points plotted", window.liveMonitor()->totalPointCount());
    std::printf("target p99 latency < 50 ms: %s\n", p99 < 50.0 ? "met" : "MISSED");
    if (status == ps::RunStatus::Failed) {
        std::fprintf(stderr, "bench_gui_latency: the run failed: %s\n", qPrintable(window.lastRunError()));
        return 2;
    }
    return check && p99 >= 50.0 ? 1 : 0;
}
