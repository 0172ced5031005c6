// The compare view's seed groups, smoothing, metric pickers, log scale, number formatting and
// export confirmation (issue #19), over a real RunStore: three runs that differ only in seed
// (one of them stopped a step early) and one with another beta. Every expected number is worked
// out by hand in the comments.
#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QLabel>
#include <QScreen>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <memory>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

#include "ui/common/format.h"
#include "ui/common/plot_items.h"
#include "ui/compare/compare_view.h"
#include "core/store/run_store.h"

using nlohmann::json;
using ps::ui::CompareView;

namespace {

json configFor(const std::string& name, int seed, double beta) {
    return json{{"name", name},
                {"seed", seed},
                {"algorithm", "dpo"},
                {"objective", {{"type", "sigmoid"}, {"beta", beta}}},
                {"train", {{"steps", 5}, {"learning_rate", 5e-7}}}};
}

// `losses[i]` at step i + 1; margins and a learning rate alongside.
int64_t addRun(ps::RunStore& store, const std::string& name, int seed, double beta,
               const std::vector<double>& losses, const std::vector<double>& margins) {
    ps::RunInfo info;
    info.name = name;
    info.algorithm = "dpo";
    info.model = "tiny";
    info.dataset = "demo";
    info.config = configFor(name, seed, beta);
    info.resolved_config = info.config;
    info.device = "cpu";
    const int64_t id = store.create_run(info);
    std::vector<ps::StepMetrics> batch;
    for (size_t i = 0; i < losses.size(); ++i) {
        ps::StepMetrics m;
        m.step = int64_t(i) + 1;
        m.wall_time = 0.1 * double(i);
        m.set("loss", losses[i]);
        m.set("rewards/margins", margins[i]);
        m.set("learning_rate", 5e-7);
        batch.push_back(m);
    }
    store.append_metrics(id, batch);
    store.finish_run(id, ps::RunStatus::Completed, json::object(), "", 1.0);
    return id;
}

std::vector<double> values(const QCPGraph* g) {
    std::vector<double> out;
    for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) out.push_back(it->value);
    return out;
}
std::vector<double> keys(const QCPGraph* g) {
    std::vector<double> out;
    for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) out.push_back(it->key);
    return out;
}

// Element-wise, to 1e-12 (sums of three decimals are not exact in binary).
bool near(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::abs(a[i] - b[i]) > 1e-12) return false;
    return true;
}
QString show(const std::vector<double>& v) {
    QStringList s;
    for (double x : v) s << QString::number(x, 'g', 17);
    return s.join(", ");
}

}  // namespace

class TestCompareGroups : public QObject {
    Q_OBJECT

private slots:
    void init();
    void seedsAreOneLineWithABand();
    void noGroupingShowsEveryRun();
    void smoothingIsTheLiveEma();
    void anyLoggedMetric();
    void logScale();
    void readableNumbers();
    void exportSaysWhere();
    void fitsTheScreen();

private:
    std::unique_ptr<QTemporaryDir> dir_;
    std::shared_ptr<ps::RunStore> store_;
    int64_t s0_ = 0, s1_ = 0, s2_ = 0, b_ = 0;
    std::unique_ptr<CompareView> view_;
};

void TestCompareGroups::init() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    store_ = std::make_shared<ps::RunStore>(dir_->filePath("runs.db").toStdString());
    // Seeds 0-2 at beta 0.1 (seed 2 stopped after step 4), one run at beta 0.5 whose first
    // margin is float noise.
    s0_ = addRun(*store_, "seed0", 0, 0.1, {1.0, 0.8, 0.6, 0.5, 0.4}, {0.0, 0.1, 0.2, 0.3, 0.3});
    s1_ = addRun(*store_, "seed1", 1, 0.1, {0.9, 0.7, 0.7, 0.4, 0.2}, {0.0, 0.1, 0.1, 0.2, 0.3});
    s2_ = addRun(*store_, "seed2", 2, 0.1, {1.1, 0.9, 0.5, 0.6}, {0.0, -0.1, 0.1, 0.2});
    b_ = addRun(*store_, "beta-0.5", 0, 0.5, {0.7, 0.6, 0.5, 0.4, 0.3}, {-5.2e-9, 0.1, 0.2, 0.3, 0.3});
    view_ = std::make_unique<CompareView>();
    view_->setRuns(store_, {s0_, s1_, s2_, b_});
    view_->setSmoothing(0.0);
}

void TestCompareGroups::seedsAreOneLineWithABand() {
    QCOMPARE(view_->groupKey(), QStringLiteral("seed"));  // the default
    const auto lines = view_->lines();
    QCOMPARE(lines.size(), size_t(2));
    QCOMPARE(lines[0].runIds, (std::vector<int64_t>{s0_, s1_, s2_}));
    QCOMPARE(lines[0].label, QStringLiteral("beta=0.1 (3 seeds)"));
    QCOMPARE(lines[1].label, QStringLiteral("#%1 beta-0.5").arg(b_));
    QCOMPARE(view_->graphCount("loss"), 2);
    QCOMPARE(ps::ui::legendEntryCount(view_->plot()->legend), 2);
    auto* item = qobject_cast<QCPPlottableLegendItem*>(view_->plot()->legend->item(0));
    QVERIFY(item);
    QCOMPARE(item->plottable()->name(), QStringLiteral("beta=0.1 (3 seeds)"));
    QCOMPARE(view_->runColor(s0_), view_->runColor(s2_));
    QVERIFY(view_->runColor(s0_) != view_->runColor(b_));

    // The group's loss, by hand: step 1 (1.0 + 0.9 + 1.1) / 3 = 1.0, step 2 (0.8 + 0.7 + 0.9) / 3
    // = 0.8, step 3 (0.6 + 0.7 + 0.5) / 3 = 0.6, step 4 (0.5 + 0.4 + 0.6) / 3 = 0.5, step 5 only
    // seeds 0 and 1: (0.4 + 0.2) / 2 = 0.3.
    QCPGraph* mean = view_->graph(s1_, "loss");
    QVERIFY(mean);
    QCOMPARE(mean, view_->graph(s0_, "loss"));
    QCOMPARE(keys(mean), (std::vector<double>{1, 2, 3, 4, 5}));
    QVERIFY2(near(values(mean), {1.0, 0.8, 0.6, 0.5, 0.3}), qPrintable(show(values(mean))));
    // Min-max band: min 0.9, 0.7, 0.5, 0.4, 0.2; max 1.1, 0.9, 0.7, 0.6, 0.4.
    QCPGraph* lower = view_->bandGraph(s0_, "loss", false);
    QCPGraph* upper = view_->bandGraph(s0_, "loss", true);
    QVERIFY(lower && upper);
    QCOMPARE(upper->channelFillGraph(), lower);
    QVERIFY2(near(values(lower), {0.9, 0.7, 0.5, 0.4, 0.2}), qPrintable(show(values(lower))));
    QVERIFY2(near(values(upper), {1.1, 0.9, 0.7, 0.6, 0.4}), qPrintable(show(values(upper))));
    // The single run has no band; the header says how ragged groups are averaged.
    QVERIFY(view_->bandGraph(b_, "loss", false) == nullptr);
    QVERIFY(view_->graph(b_, "loss") != mean);
    bool stated = false;
    for (QLabel* l : view_->findChildren<QLabel*>())
        stated = stated || l->text().contains(QStringLiteral("mean of the runs that logged that step"));
    QVERIFY(stated);

    // Mean +/- standard deviation: step 1 sd = sqrt(((0)^2 + 0.1^2 + 0.1^2) / 3) = sqrt(0.02 / 3);
    // step 5 sd of {0.4, 0.2} = 0.1.
    view_->setBand(CompareView::Band::StdDev);
    QCOMPARE(view_->bandBox()->currentIndex(), 1);
    lower = view_->bandGraph(s0_, "loss", false);
    upper = view_->bandGraph(s0_, "loss", true);
    QVERIFY(lower && upper);
    const double sd1 = std::sqrt(0.02 / 3.0);
    QVERIFY(std::abs(values(lower)[0] - (1.0 - sd1)) < 1e-12);
    QVERIFY(std::abs(values(upper)[0] - (1.0 + sd1)) < 1e-12);
    QVERIFY(std::abs(values(lower)[4] - 0.2) < 1e-12);
    QVERIFY(std::abs(values(upper)[4] - 0.4) < 1e-12);
    view_->setBand(CompareView::Band::None);
    QVERIFY(view_->bandGraph(s0_, "loss", false) == nullptr);

    // The summary shows the group's mean line: final 0.3 (step 5), best (min) 0.3, max 1.0.
    QTableWidget* t = view_->summaryTable();
    int found = 0;
    for (int row = 0; row < t->rowCount(); ++row) {
        if (t->item(row, 0)->text() != QLatin1String("loss") ||
            t->item(row, 1)->text() != QLatin1String("beta=0.1 (3 seeds)"))
            continue;
        QVERIFY(std::abs(t->item(row, 2)->data(Qt::UserRole).toDouble() - 0.3) < 1e-12);
        QCOMPARE(t->item(row, 2)->text(), QStringLiteral("0.3"));
        QVERIFY(std::abs(t->item(row, 5)->data(Qt::UserRole).toDouble() - 1.0) < 1e-12);
        ++found;
    }
    QCOMPARE(found, 1);
}

void TestCompareGroups::noGroupingShowsEveryRun() {
    // The combo lists seed, the keys that differ (objective.beta) and "nothing".
    QComboBox* box = view_->groupBox();
    QVERIFY(box->findData(QStringLiteral("objective.beta")) >= 0);
    QVERIFY(box->findData(QString()) >= 0);
    QVERIFY(box->findData(QStringLiteral("name")) < 0);  // a label, not a setting
    box->setCurrentIndex(box->findData(QString()));       // as a user would
    QCOMPARE(view_->groupKey(), QString());
    QCOMPARE(view_->lines().size(), size_t(4));
    QCOMPARE(view_->graphCount("loss"), 4);
    QCOMPARE(ps::ui::legendEntryCount(view_->plot()->legend), 4);
    QVERIFY(near(values(view_->graph(s2_, "loss")), {1.1, 0.9, 0.5, 0.6}));
    QVERIFY(view_->bandGraph(s0_, "loss", false) == nullptr);

    // Grouping over beta instead: seed0 and beta-0.5 (both seed 0) differ only in beta.
    view_->setGroupKey(QStringLiteral("objective.beta"));
    const auto lines = view_->lines();
    QCOMPARE(lines.size(), size_t(3));
    QCOMPARE(lines[0].runIds, (std::vector<int64_t>{s0_, b_}));
    QCOMPARE(lines[0].label, QStringLiteral("seed=0 (2 runs, beta = 0.1, 0.5)"));
    // (1.0 + 0.7) / 2, (0.8 + 0.6) / 2, ...
    QVERIFY2(near(values(view_->graph(b_, "loss")), {0.85, 0.7, 0.55, 0.45, 0.35}),
             qPrintable(show(values(view_->graph(b_, "loss")))));
}

void TestCompareGroups::smoothingIsTheLiveEma() {
    view_->setGroupKey(QString());
    // Debiased EMA at w = 0.5 of seed 0's loss 1.0, 0.8, 0.6, 0.5, 0.4, by hand:
    //   last = 0.5, 0.65, 0.625, 0.5625, 0.48125; / (1 - 0.5^n) = 0.5, 0.75, 0.875, 0.9375, 0.96875
    //   -> 1, 13/15, 5/7, 3/5, 77/155.
    view_->smoothingSlider()->setValue(50);  // as a user would
    QCOMPARE(view_->smoothing(), 0.5);
    QVERIFY2(near(values(view_->graph(s0_, "loss")), {1.0, 13.0 / 15.0, 5.0 / 7.0, 0.6, 77.0 / 155.0}),
             qPrintable(show(values(view_->graph(s0_, "loss")))));
    // The raw values stay, faint, behind.
    QCPGraph* raw = view_->rawGraph(s0_, "loss");
    QVERIFY(raw);
    QVERIFY(near(values(raw), {1.0, 0.8, 0.6, 0.5, 0.4}));
    QVERIFY(raw->pen().color().alpha() < 255);

    // Grouped, each run is smoothed before the mean. Step 2: seed 0 13/15; seed 1
    // (0.25 * 0.9 + 0.5 * 0.7) / 0.75 = 23/30; seed 2 (0.25 * 1.1 + 0.5 * 0.9) / 0.75 = 29/30;
    // mean (26 + 23 + 29) / 90 = 13/15. Step 5 (seeds 0 and 1): seed 1's EMA of 0.9, 0.7, 0.7,
    // 0.4, 0.2 is last = 0.45, 0.575, 0.6375, 0.51875, 0.359375, / 0.96875 = 0.37096774...; the
    // mean with 77/155 is (77/155 + 0.359375/0.96875) / 2.
    view_->setGroupKey(QStringLiteral("seed"));
    const std::vector<double> g = values(view_->graph(s0_, "loss"));
    QCOMPARE(g.size(), size_t(5));
    QVERIFY(std::abs(g[1] - 13.0 / 15.0) < 1e-12);
    QVERIFY(std::abs(g[4] - (77.0 / 155.0 + 0.359375 / 0.96875) / 2.0) < 1e-12);
    QVERIFY(view_->rawGraph(s0_, "loss") == nullptr);  // groups show their band instead

    view_->setSmoothing(0.0);
    QCOMPARE(view_->smoothingSlider()->value(), 0);
    QVERIFY(near(values(view_->graph(s0_, "loss")), {1.0, 0.8, 0.6, 0.5, 0.3}));
}

void TestCompareGroups::anyLoggedMetric() {
    const QStringList metrics = view_->availableMetrics();
    QCOMPARE(metrics, (QStringList{"learning_rate", "loss", "rewards/margins"}));
    QComboBox* box = view_->panelMetricBox(CompareView::kAccuracyPanel);
    QVERIFY(box->findText(QStringLiteral("learning_rate")) >= 0);
    // The default (rewards/accuracies) was not logged: listed, shown as no data.
    QCOMPARE(view_->graphCount("rewards/accuracies"), 0);
    const int index = box->findText(QStringLiteral("learning_rate"));
    box->setCurrentIndex(index);
    emit box->activated(index);  // what a user's pick sends
    QCOMPARE(view_->panelMetrics(CompareView::kAccuracyPanel), QStringList{"learning_rate"});
    QCOMPARE(view_->graphCount("learning_rate"), 2);
    // Two lines, and the group's band edges.
    QCOMPARE(view_->axisRect(CompareView::kAccuracyPanel)->graphs().size(), 4);
    QVERIFY(view_->plottedMetrics().contains(QStringLiteral("learning_rate")));
}

void TestCompareGroups::logScale() {
    // Loss is positive: the axis goes logarithmic.
    QVERIFY(view_->setLogScale(CompareView::kLossPanel, true));
    QCPAxis* y = view_->axisRect(CompareView::kLossPanel)->axis(QCPAxis::atLeft);
    QCOMPARE(y->scaleType(), QCPAxis::stLogarithmic);
    QVERIFY(view_->logScaleBox(CompareView::kLossPanel)->isChecked());
    QVERIFY(y->range().lower > 0.0 && y->range().lower < 0.2 && y->range().upper > 1.1);

    // Margins reach -0.1 (seed 2, step 2): refused, with the reason.
    view_->logScaleBox(CompareView::kMarginPanel)->setChecked(true);  // as a user would
    QVERIFY(!view_->logScale(CompareView::kMarginPanel));
    QVERIFY(!view_->logScaleBox(CompareView::kMarginPanel)->isChecked());
    QCOMPARE(view_->axisRect(CompareView::kMarginPanel)->axis(QCPAxis::atLeft)->scaleType(), QCPAxis::stLinear);
    QVERIFY2(view_->statusText().contains(QStringLiteral("Log scale not applied")) &&
                 view_->statusText().contains(QStringLiteral("-0.1")),
             qPrintable(view_->statusText()));

    // A pick that brings values <= 0 to a log panel turns it back to linear, and says so.
    view_->setPanelMetrics(CompareView::kLossPanel, {"rewards/margins"});
    QVERIFY(!view_->logScale(CompareView::kLossPanel));
    QCOMPARE(y->scaleType(), QCPAxis::stLinear);
    QVERIFY2(view_->statusText().contains(QStringLiteral("Log scale turned off")), qPrintable(view_->statusText()));
}

void TestCompareGroups::readableNumbers() {
    // The formatter, by hand: 4 significant digits, trailing zeros dropped, a short exponent
    // outside [1e-3, 1e6), "0" below 1e-6 of the scale.
    QCOMPARE(ps::ui::formatNumber(0.32), QStringLiteral("0.32"));
    QCOMPARE(ps::ui::formatNumber(0.6931472), QStringLiteral("0.6931"));
    QCOMPARE(ps::ui::formatNumber(12.3456), QStringLiteral("12.35"));
    QCOMPARE(ps::ui::formatNumber(123456.0), QStringLiteral("123456"));
    QCOMPARE(ps::ui::formatNumber(1234567.0), QStringLiteral("1.235e6"));
    QCOMPARE(ps::ui::formatNumber(-0.0012346), QStringLiteral("-0.001235"));
    QCOMPARE(ps::ui::formatNumber(5e-7), QStringLiteral("5e-7"));
    QCOMPARE(ps::ui::formatNumber(-5.2e-9), QStringLiteral("-5.2e-9"));
    QCOMPARE(ps::ui::formatNumber(-5.2e-9, 0.3), QStringLiteral("0"));
    QCOMPARE(ps::ui::formatNumber(5e-7, 5e-7), QStringLiteral("5e-7"));
    QCOMPARE(ps::ui::formatNumber(std::nan("")), QString());

    // In the summary: beta-0.5's margins start at -5.2e-9 next to margins up to 0.3: its Min
    // reads "0" (the exact value stays in the tooltip); the learning rate 5e-7 reads "5e-7".
    view_->setPanelMetrics(CompareView::kAccuracyPanel, {"learning_rate"});
    QTableWidget* t = view_->summaryTable();
    bool margin = false, lr = false;
    for (int row = 0; row < t->rowCount(); ++row) {
        if (t->item(row, 1)->data(Qt::UserRole).toLongLong() != b_) continue;
        if (t->item(row, 0)->text() == QLatin1String("rewards/margins")) {
            QCOMPARE(t->item(row, 4)->data(Qt::UserRole).toDouble(), -5.2e-9);
            QCOMPARE(t->item(row, 4)->text(), QStringLiteral("0"));
            QVERIFY(t->item(row, 4)->toolTip().contains(QStringLiteral("e-09")));
            QCOMPARE(t->item(row, 5)->text(), QStringLiteral("0.3"));
            margin = true;
        }
        if (t->item(row, 0)->text() == QLatin1String("learning_rate")) {
            QCOMPARE(t->item(row, 2)->text(), QStringLiteral("5e-7"));
            lr = true;
        }
    }
    QVERIFY(margin && lr);
}

void TestCompareGroups::exportSaysWhere() {
    const QString png = dir_->filePath("groups.png");
    QVERIFY(view_->exportPng(png, 900, 600));
    QFile p(png);
    QVERIFY(p.open(QIODevice::ReadOnly));
    QCOMPARE(p.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
    QVERIFY2(view_->statusText().contains(png), qPrintable(view_->statusText()));
    // The status line is shown in the view (a window of its own, without a status bar).
    QLabel* line = nullptr;
    for (QLabel* l : view_->findChildren<QLabel*>())
        if (l->text() == view_->statusText()) line = l;
    QVERIFY(line);

    const QString csv = dir_->filePath("groups.csv");
    QVERIFY(view_->exportCsv(csv));
    QVERIFY(QFile::exists(csv));
    QCOMPARE(view_->statusText(), QStringLiteral("Data saved to %1").arg(csv));
    // Grouped, the file holds the lines as plotted. The seed group's loss at step 1, by hand:
    // mean (1.0 + 0.9 + 1.1) / 3 = 1.0, min 0.9, max 1.1, population std
    // sqrt((0 + 0.01 + 0.01) / 3) = 0.0816497; at step 5 only seeds 0 and 1: mean 0.3, min 0.2,
    // max 0.4, std 0.1, count 2. The beta-0.5 run is a line of one: std 0, count 1.
    {
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
        const QStringList rows = QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(rows.first(), QStringLiteral("line,run_ids,metric,step,mean,min,max,std,count"));
        const QString ids = QStringLiteral("%1;%2;%3").arg(s0_).arg(s1_).arg(s2_);
        auto row = [&](const QString& start) -> QStringList {
            for (const QString& r : rows)
                if (r.startsWith(start)) return r.split(',');
            return {};
        };
        const QStringList first = row(QStringLiteral("beta=0.1 (3 seeds),%1,loss,1,").arg(ids));
        QCOMPARE(first.size(), 9);
        QVERIFY(std::abs(first[4].toDouble() - 1.0) < 1e-12);
        QVERIFY(std::abs(first[5].toDouble() - 0.9) < 1e-12);
        QVERIFY(std::abs(first[6].toDouble() - 1.1) < 1e-12);
        QVERIFY2(std::abs(first[7].toDouble() - std::sqrt(0.02 / 3)) < 1e-12, qPrintable(first[7]));
        QCOMPARE(first[8], QStringLiteral("3"));
        const QStringList last = row(QStringLiteral("beta=0.1 (3 seeds),%1,loss,5,").arg(ids));
        QCOMPARE(last.size(), 9);
        QVERIFY(std::abs(last[4].toDouble() - 0.3) < 1e-12);
        QVERIFY(std::abs(last[7].toDouble() - 0.1) < 1e-12);
        QCOMPARE(last[8], QStringLiteral("2"));
        const QStringList single = row(QStringLiteral("#%1 beta-0.5,%1,loss,2,").arg(b_));
        QCOMPARE(single.size(), 9);
        QVERIFY(std::abs(single[4].toDouble() - 0.6) < 1e-12);
        QCOMPARE(single[7], QStringLiteral("0"));
        QCOMPARE(single[8], QStringLiteral("1"));
    }
    // A folder that does not exist: the status line says so.
    const QString bad = dir_->filePath("missing/x.csv");
    QVERIFY(!view_->exportCsv(bad));
    QVERIFY(view_->statusText().startsWith(QStringLiteral("Could not write")));

    const QByteArray shot = qgetenv("PREFSTUDIO_COMPARE_SCREENSHOT");
    if (!shot.isEmpty()) {
        view_->setSmoothing(0.6);
        view_->resize(1400, 900);
        view_->show();
        QVERIFY(QTest::qWaitForWindowExposed(view_.get()));
        QVERIFY(view_->grab().save(QString::fromLocal8Bit(shot)));
    }
}

void TestCompareGroups::fitsTheScreen() {
    // Opened as a window larger than the screen, it shrinks to the screen's free area.
    CompareView view;
    view.setRuns(store_, {s0_, s1_, s2_, b_});
    const QRect avail = view.screen()->availableGeometry();
    view.resize(avail.width() + 400, avail.height() + 400);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QVERIFY2(view.width() <= avail.width() && view.height() <= avail.height(),
             qPrintable(QStringLiteral("%1x%2 on %3x%4").arg(view.width()).arg(view.height())
                            .arg(avail.width()).arg(avail.height())));
}

QTEST_MAIN(TestCompareGroups)
#include "test_compare_groups.moc"
