// The live monitor's small multiples: which metric lands on which panel, the wall-time x axis
// (keys become the recorded seconds and go back to steps exactly), regime bands following
// the axis, and the y fit that ignores outliers.
#include <QApplication>
#include <QComboBox>
#include <QTest>

#include <cmath>

#include <qcustomplot.h>

#include "ui/live/live_monitor.h"
#include "ui/live/regime_bands.h"

using ps::ui::LiveMonitor;

namespace {

// Step s at 0.5 s per step after a 10 s start-up; SFT warm-up steps before it.
ps::StepMetrics record(int64_t step) {
    ps::StepMetrics m;
    m.step = step;
    m.wall_time = 10.0 + 0.5 * double(step);
    m.set("loss", 0.7 - 0.001 * double(step));
    m.set("rewards/chosen", 0.01 * double(step));
    m.set("rewards/rejected", -0.02 * double(step));
    m.set("logps/chosen", -20.0 + 0.01 * double(step));
    m.set("logps/rejected", -22.0 - 0.03 * double(step));
    m.set("grad_norm", step == 50 ? 1000.0 : 1.0 + 0.01 * double(step % 7));
    m.set("learning_rate", 1e-4);
    m.set("nll_loss", 2.0);
    return m;
}

}  // namespace

class TestLiveMonitor : public QObject {
    Q_OBJECT
private slots:
    void metricsLandOnTheirPanels() {
        LiveMonitor monitor;
        monitor.resize(1200, 1200);
        monitor.beginRun(0, 100);
        std::vector<ps::StepMetrics> batch;
        for (int s = 1; s <= 100; ++s) batch.push_back(record(s));
        monitor.appendMetrics(batch);
        monitor.refresh();
        QCOMPARE(monitor.axisRect(8), nullptr);
        const std::vector<std::pair<QString, int>> expected = {
            {"rewards/chosen", 0}, {"rewards/margins", 1}, {"loss", 2}, {"rewards/accuracies", 3},
            {"logps/chosen", 4},   {"logps/rejected", 4},  {"nll_loss", 5}, {"kl", 5},
            {"log_odds_ratio", 5}, {"grad_norm", 6},       {"learning_rate", 7}};
        for (const auto& [metric, panel] : expected) {
            QCPGraph* g = monitor.rawGraph(metric);
            QVERIFY2(g, qPrintable(metric));
            QCOMPARE(g->keyAxis()->axisRect(), monitor.axisRect(panel));
        }
        QCOMPARE(monitor.pointCount("logps/rejected"), 100);
        QCOMPARE(monitor.pointCount("grad_norm"), 100);
        QCOMPARE(monitor.pointCount("kl"), 0);  // DPO logs no kl: no points, no legend entry
        // Log-probs: the value at step 40 is -22 - 1.2.
        QCOMPARE(monitor.rawGraph("logps/rejected")->data()->at(39)->value, -23.2);
    }

    // A narrow plot (the live area at 1280x720) wraps a panel's legend onto more rows instead
    // of cutting its names ("chos", "rejec" in issue #19); a wide one keeps one row.
    void legendsWrapInsteadOfCutting() {
        LiveMonitor monitor;
        monitor.beginRun(0, 100);
        std::vector<ps::StepMetrics> batch;
        for (int s = 1; s <= 100; ++s) {
            ps::StepMetrics m = record(s);
            if (s % 25 == 0) {
                m.set("eval/rewards/chosen", 0.01 * double(s));
                m.set("eval/rewards/rejected", -0.02 * double(s));
            }
            batch.push_back(m);
        }
        monitor.appendMetrics(batch);
        monitor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&monitor));
        for (const int width : {560, 1600}) {
            monitor.resize(width, 1200);
            QApplication::processEvents();
            monitor.refresh();
            monitor.plot()->replot();
            int rewardsRows = 0, checked = 0;
            for (QCPLayoutElement* e : monitor.plot()->plotLayout()->elements(true)) {
                auto* legend = qobject_cast<QCPLegend*>(e);
                if (!legend || !legend->visible()) continue;
                for (int i = 0; i < legend->itemCount(); ++i) {
                    QCPAbstractLegendItem* item = legend->item(i);
                    if (!item) continue;
                    ++checked;
                    QVERIFY2(item->outerRect().width() >= item->minimumOuterSizeHint().width(),
                             qPrintable(QStringLiteral("%1 px wide: legend entry %2 px of %3")
                                            .arg(width)
                                            .arg(item->outerRect().width())
                                            .arg(item->minimumOuterSizeHint().width())));
                }
                bool rewards = false;
                for (int i = 0; i < legend->itemCount(); ++i)
                    if (auto* pli = qobject_cast<QCPPlottableLegendItem*>(legend->item(i)))
                        rewards = rewards || pli->plottable()->name() == QLatin1String("eval rejected");
                if (rewards) rewardsRows = legend->rowCount();
            }
            QVERIFY(checked >= 6);
            // chosen, rejected, eval chosen, eval rejected: two rows in a 560 px plot, one in 1600.
            if (width == 560) QVERIFY2(rewardsRows >= 2, qPrintable(QString::number(rewardsRows)));
            else QCOMPARE(rewardsRows, 1);
        }
    }

    void wallTimeAxisRekeysAndComesBack() {
        LiveMonitor monitor;
        monitor.resize(1200, 1200);
        monitor.beginRun(0, 100);
        std::vector<ps::StepMetrics> batch;
        for (int s = 1; s <= 60; ++s) batch.push_back(record(s));
        monitor.appendMetrics(batch);
        ps::RunEvent regime;
        regime.step = 30;
        regime.kind = "regime";
        regime.data = {{"from", "healthy"}, {"to", "both_falling"}, {"since_step", 20}};
        monitor.appendEvents({regime});
        monitor.refresh();

        monitor.setXAxis(LiveMonitor::XAxis::WallTime);
        QCPGraph* loss = monitor.rawGraph("loss");
        QCOMPARE(loss->data()->at(0)->key, 10.5);   // step 1
        QCOMPARE(loss->data()->at(59)->key, 40.0);  // step 60
        QCOMPARE(monitor.smoothedGraph("loss")->data()->at(59)->key, 40.0);
        // The band starts at step 20's time.
        const auto bands = monitor.regimeBands().bandItems(0);
        QCOMPARE(int(bands.size()), 1);
        QCOMPARE(bands.front()->topLeft->coords().x(), 20.0);
        // Live points arrive at their wall time.
        monitor.appendMetrics({record(61)});
        QCOMPARE(loss->data()->at(60)->key, 40.5);
        // The axis frames the data's time span.
        monitor.refresh();
        const QCPRange x = monitor.axisRect(0)->axis(QCPAxis::atBottom)->range();
        QVERIFY2(x.lower <= 10.5 && x.upper >= 40.5 && x.upper < 45, qPrintable(QString::number(x.upper)));
        // The crosshair names the step and the time.
        monitor.showCrosshairAt(25.0);
        QVERIFY2(monitor.crosshairText().startsWith("step 30  (25.0 s)"), qPrintable(monitor.crosshairText()));

        monitor.setXAxis(LiveMonitor::XAxis::Step);
        QCOMPARE(loss->data()->at(0)->key, 1.0);
        QCOMPARE(loss->data()->at(60)->key, 61.0);
        QCOMPARE(bands.front()->topLeft->coords().x(), 20.0);
        QCOMPARE(monitor.findChild<QComboBox*>("xAxisBox")->currentIndex(), 0);
    }

    void outliersCanBeIgnoredInTheFit() {
        LiveMonitor monitor;
        monitor.resize(1200, 1200);
        monitor.beginRun(0, 100);
        std::vector<ps::StepMetrics> batch;
        for (int s = 1; s <= 100; ++s) batch.push_back(record(s));
        monitor.appendMetrics(batch);
        monitor.refresh();
        QCPAxis* y = monitor.axisRect(6)->axis(QCPAxis::atLeft);
        QVERIFY(y->range().upper >= 1000.0);  // the spike at step 50 sets the range
        monitor.setIgnoreOutliers(true);
        // grad_norm is 1.00-1.06 apart from the spike: the fit is about that band.
        QVERIFY2(y->range().upper < 1.2 && y->range().lower > 0.8,
                 qPrintable(QStringLiteral("%1 %2").arg(y->range().lower).arg(y->range().upper)));
        monitor.setIgnoreOutliers(false);
        QVERIFY(y->range().upper >= 1000.0);
    }
};

QTEST_MAIN(TestLiveMonitor)
#include "test_live_monitor.moc"
