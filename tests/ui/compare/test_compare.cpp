// The run comparison view over a real RunStore: two runs of different lengths whose configs
// differ in objective.beta and name, plotted, aligned by step and by fraction, their configs
// diffed, summarised and exported. Set PREFSTUDIO_COMPARE_SCREENSHOT=/path.png to also save a
// screenshot of the view.
#include <QCheckBox>
#include <QComboBox>
#include <QDomDocument>
#include <QFile>
#include <QLabel>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <memory>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

#include "ui/common/plot_items.h"
#include "ui/compare/compare_view.h"
#include "ui/compare/config_diff.h"
#include "ui/runs/runs_model.h"
#include "core/store/run_store.h"

using nlohmann::json;
using ps::ui::CompareView;

namespace {

// Known series: run A has 10 steps, run B 20.
double lossA(int step) {
    static const double v[10] = {0.69, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.32};
    return v[step - 1];
}
double lossB(int step) { return 0.7 - 0.01 * step; }  // 0.69 ... 0.5

json configFor(const std::string& name, double beta) {
    return json{{"name", name},
                {"algorithm", "dpo"},
                {"objective", {{"type", "sigmoid"}, {"beta", beta}}},
                {"train", {{"lr", 5e-6}, {"batch_size", 4}}},
                {"model", {{"name", "tiny"}, {"layers", json::array({1, 2})}}}};
}

int64_t addRun(ps::RunStore& store, const std::string& name, double beta, int steps,
               bool withEval, double scale) {
    ps::RunInfo info;
    info.name = name;
    info.algorithm = "dpo";
    info.model = "tiny";
    info.dataset = "demo";
    info.config = configFor(name, beta);
    info.resolved_config = configFor(name, beta);
    info.device = "cpu";
    const int64_t id = store.create_run(info);
    std::vector<ps::StepMetrics> batch;
    for (int s = 1; s <= steps; ++s) {
        ps::StepMetrics m;
        m.step = s;
        m.wall_time = 0.1 * s;
        m.set("rewards/chosen", scale * 0.01 * s);
        m.set("rewards/rejected", scale * -0.02 * s);
        m.set("rewards/margins", scale * 0.03 * s);
        m.set("loss", steps == 10 ? lossA(s) : lossB(s));
        if (withEval && s % 10 == 0) m.set("eval/loss", 0.6);
        batch.push_back(m);
    }
    store.append_metrics(id, batch);
    store.finish_run(id, ps::RunStatus::Completed, json{{"loss", steps == 10 ? 0.32 : 0.5}}, "",
                     1.0);
    return id;
}

}  // namespace

class TestCompare : public QObject {
    Q_OBJECT

private slots:
    void init();
    void flattenAndDiff();
    void plotsOneGraphPerRun();
    void alignByFraction();
    void configTableShowsDifferences();
    void summaryOfLoss();
    void exports();
    void userTextIsPlain();

private:
    std::unique_ptr<QTemporaryDir> dir_;
    std::shared_ptr<ps::RunStore> store_;
    int64_t a_ = 0, b_ = 0;
    std::unique_ptr<CompareView> view_;
};

void TestCompare::init() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    store_ = std::make_shared<ps::RunStore>(dir_->filePath("runs.db").toStdString());
    a_ = addRun(*store_, "beta-0.1", 0.1, 10, false, 1.0);
    b_ = addRun(*store_, "beta-0.5", 0.5, 20, true, 0.5);
    view_ = std::make_unique<CompareView>();
    view_->setRuns(store_, {a_, b_});
}

void TestCompare::flattenAndDiff() {
    const auto flat = ps::ui::compare::flattenConfig(
        json{{"a", {{"b", {{"c", 1}}}}}, {"s", "x"}, {"l", {1, 2}}, {"o", json::array({json{{"k", true}}})}});
    QCOMPARE(flat.size(), size_t(4));
    QCOMPARE(flat.at("a.b.c").text, std::string("1"));
    QCOMPARE(flat.at("s").text, std::string("x"));
    QCOMPARE(flat.at("l").text, std::string("[1,2]"));
    QCOMPARE(flat.at("o[0].k").text, std::string("true"));

    const auto rows = ps::ui::compare::buildConfigRows(
        {json{{"x", 1}, {"y", "1"}, {"z", 2}}, json{{"x", 1}, {"y", 1}}});
    QCOMPARE(rows.size(), size_t(3));
    QVERIFY(!rows[0].differs);  // x
    QVERIFY(rows[1].differs);   // y: "1" vs 1
    QVERIFY(rows[2].differs);   // z: missing in run 2
    QVERIFY(!rows[2].present[1]);
    QCOMPARE(ps::ui::compare::differingRows(rows).size(), size_t(2));
    QCOMPARE(ps::ui::compare::csvField("a,\"b\""), std::string("\"a,\"\"b\"\"\""));
}

void TestCompare::plotsOneGraphPerRun() {
    QCOMPARE(view_->runIds(), (std::vector<int64_t>{a_, b_}));
    QCOMPARE(view_->runLabel(a_), QStringLiteral("#%1 beta-0.1").arg(a_));
    QVERIFY(view_->runColor(a_) != view_->runColor(b_));

    QCOMPARE(view_->graphCount("rewards/chosen"), 2);
    QCOMPARE(view_->graphCount("rewards/rejected"), 2);
    QCOMPARE(view_->graphCount("rewards/margins"), 2);
    QCOMPARE(view_->graphCount("loss"), 2);
    QCOMPARE(view_->graphCount("eval/loss"), 1);
    QCOMPARE(view_->graphCount("rewards/accuracies"), 0);

    // Chosen and rejected share the rewards panel: 2 runs x 2 curves, each smoothed (the
    // default 0.6) with its raw values faint behind.
    QCOMPARE(view_->axisRect(CompareView::kRewardsPanel)->graphs().size(), 8);
    for (QCPGraph* g : view_->axisRect(CompareView::kRewardsPanel)->graphs())
        QVERIFY(g->valueAxis() == view_->axisRect(CompareView::kRewardsPanel)->axis(QCPAxis::atLeft));

    QCPGraph* chosenA = view_->graph(a_, "rewards/chosen");
    QCPGraph* chosenB = view_->graph(b_, "rewards/chosen");
    QCPGraph* rejectedA = view_->graph(a_, "rewards/rejected");
    QVERIFY(chosenA && chosenB && rejectedA);
    QCOMPARE(chosenA->data()->size(), 10);
    QCOMPARE(chosenB->data()->size(), 20);
    QCOMPARE(rejectedA->data()->size(), 10);
    QCOMPARE(chosenA->pen().style(), Qt::SolidLine);
    QCOMPARE(rejectedA->pen().style(), Qt::DashLine);
    QCOMPARE(view_->graph(b_, "rewards/rejected")->pen().style(), Qt::DashLine);
    // Each run one colour, on every curve.
    QCOMPARE(chosenA->pen().color(), view_->runColor(a_));
    QCOMPARE(rejectedA->pen().color(), view_->runColor(a_));
    QCOMPARE(chosenB->pen().color(), view_->runColor(b_));
    // Eval counterparts as markers.
    QCPGraph* evalB = view_->graph(b_, "eval/loss");
    QVERIFY(evalB);
    QCOMPARE(evalB->lineStyle(), QCPGraph::lsNone);
    QVERIFY(evalB->scatterStyle().shape() != QCPScatterStyle::ssNone);
    QCOMPARE(evalB->data()->size(), 2);

    // The legend names the runs.
    QCOMPARE(ps::ui::legendEntryCount(view_->plot()->legend), 2);
    auto* item = qobject_cast<QCPPlottableLegendItem*>(view_->plot()->legend->item(0));
    QVERIFY(item);
    QCOMPARE(item->plottable()->name(), QStringLiteral("#%1 beta-0.1").arg(a_));

    // By step: x is the step.
    QCOMPARE((chosenA->data()->constEnd() - 1)->key, 10.0);
    QCOMPARE((chosenB->data()->constEnd() - 1)->key, 20.0);
    QCOMPARE(chosenA->data()->constBegin()->value, 0.01);
}

void TestCompare::alignByFraction() {
    view_->alignmentBox()->setCurrentIndex(1);  // as a user would
    QCOMPARE(view_->alignment(), CompareView::Alignment::ByFraction);
    for (int64_t id : {a_, b_}) {
        for (const char* metric : {"rewards/chosen", "rewards/rejected", "loss"}) {
            QCPGraph* g = view_->graph(id, metric);
            QVERIFY(g);
            QCOMPARE((g->data()->constEnd() - 1)->key, 1.0);
        }
    }
    QCOMPARE(view_->graph(a_, "loss")->data()->constBegin()->key, 0.1);
    QCOMPARE(view_->graph(b_, "loss")->data()->constBegin()->key, 0.05);
    QCOMPARE((view_->graph(b_, "eval/loss")->data()->constEnd() - 1)->key, 1.0);
    QVERIFY(view_->axisRect(CompareView::kLossPanel)->axis(QCPAxis::atBottom)->range().upper <= 1.1);

    view_->setAlignment(CompareView::Alignment::ByStep);
    QCOMPARE(view_->alignmentBox()->currentIndex(), 0);
    QCOMPARE((view_->graph(b_, "loss")->data()->constEnd() - 1)->key, 20.0);
}

void TestCompare::configTableShowsDifferences() {
    QTableWidget* table = view_->configTable();
    QVERIFY(view_->differencesOnly());  // the default
    QCOMPARE(table->columnCount(), 3);  // setting + 2 runs
    QCOMPARE(table->horizontalHeaderItem(1)->text(), QStringLiteral("#%1 beta-0.1").arg(a_));
    QStringList keys = view_->visibleConfigKeys();
    keys.sort();
    QCOMPARE(keys, (QStringList{"name", "objective.beta"}));

    // Differing cells are highlighted and hold each run's value.
    for (int row = 0; row < table->rowCount(); ++row) {
        if (table->item(row, 0)->text() != QLatin1String("objective.beta")) continue;
        QCOMPARE(table->item(row, 1)->text(), QStringLiteral("0.1"));
        QCOMPARE(table->item(row, 2)->text(), QStringLiteral("0.5"));
        QVERIFY(table->item(row, 1)->background().style() != Qt::NoBrush);
    }

    view_->differencesOnlyBox()->setChecked(false);
    const QStringList all = view_->visibleConfigKeys();
    QVERIFY(all.size() > 2);
    QVERIFY(all.contains("train.lr"));
    QVERIFY(all.contains("model.layers"));
    for (int row = 0; row < table->rowCount(); ++row)
        if (table->item(row, 0)->text() == QLatin1String("train.lr"))
            QCOMPARE(table->item(row, 1)->background().style(), Qt::NoBrush);
    view_->setDifferencesOnly(true);
    QCOMPARE(view_->visibleConfigKeys().size(), 2);
}

void TestCompare::summaryOfLoss() {
    auto a = view_->summary(a_, "loss");
    auto b = view_->summary(b_, "loss");
    QVERIFY(a && b);
    QCOMPARE(a->final, 0.32);
    QCOMPARE(a->best, 0.3);  // min for loss
    QCOMPARE(a->min, 0.3);
    QCOMPARE(a->max, 0.69);
    QCOMPARE(b->final, lossB(20));
    QCOMPARE(b->best, lossB(20));
    QCOMPARE(b->max, lossB(1));
    // Best is the max for margins.
    QCOMPARE(view_->summary(a_, "rewards/margins")->best, 0.3);

    // The table shows the same numbers (kept exactly in Qt::UserRole).
    QTableWidget* t = view_->summaryTable();
    QCOMPARE(t->columnCount(), 6);
    int found = 0;
    for (int row = 0; row < t->rowCount(); ++row) {
        if (t->item(row, 0)->text() != QLatin1String("loss")) continue;
        const qlonglong id = t->item(row, 1)->data(Qt::UserRole).toLongLong();
        if (id == a_) {
            QCOMPARE(t->item(row, 2)->data(Qt::UserRole).toDouble(), 0.32);
            QCOMPARE(t->item(row, 3)->data(Qt::UserRole).toDouble(), 0.3);
            QCOMPARE(t->item(row, 4)->data(Qt::UserRole).toDouble(), 0.3);
            QCOMPARE(t->item(row, 5)->data(Qt::UserRole).toDouble(), 0.69);
            QCOMPARE(t->item(row, 2)->text(), QStringLiteral("0.32"));
            ++found;
        } else if (id == b_) {
            QCOMPARE(t->item(row, 2)->data(Qt::UserRole).toDouble(), lossB(20));
            QCOMPARE(t->item(row, 5)->data(Qt::UserRole).toDouble(), lossB(1));
            ++found;
        }
    }
    QCOMPARE(found, 2);
    // 4 training metrics x 2 runs + eval/loss of run B.
    QCOMPARE(t->rowCount(), 9);
}

void TestCompare::exports() {
    const QString csv = dir_->filePath("out.csv");
    QVERIFY(view_->exportCsv(csv));
    QFile f(csv);
    QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList lines = QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.first(), QStringLiteral("run_id,run_name,metric,step,value"));
    // header + 10 x 4 (run A) + 20 x 4 + 2 eval points (run B)
    QCOMPARE(lines.size(), 1 + 40 + 80 + 2);
    QVERIFY(lines.contains(QStringLiteral("%1,beta-0.1,loss,10,0.32").arg(a_)));
    QVERIFY(lines.contains(QStringLiteral("%1,beta-0.5,eval/loss,20,0.6").arg(b_)));

    const QString png = dir_->filePath("out.png");
    QVERIFY(view_->exportPng(png));
    QFile p(png);
    QVERIFY(p.open(QIODevice::ReadOnly));
    QVERIFY(p.size() > 1000);
    QCOMPARE(p.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));

    const QString pdf = dir_->filePath("out.pdf");
    QVERIFY(view_->exportPdf(pdf));
    QFile d(pdf);
    QVERIFY(d.open(QIODevice::ReadOnly));
    QVERIFY(d.size() > 1000);
    QCOMPARE(d.read(5), QByteArray("%PDF-"));

    // SVG: valid XML with an <svg> root whose size is the requested one, and the run names drawn
    // as text (the legend).
    const QString svg = dir_->filePath("out.svg");
    QVERIFY(view_->exportSvg(svg, 900, 600));
    QFile v(svg);
    QVERIFY(v.open(QIODevice::ReadOnly));
    QDomDocument doc;
    QVERIFY(doc.setContent(&v));
    QCOMPARE(doc.documentElement().tagName(), QStringLiteral("svg"));
    QCOMPARE(doc.documentElement().attribute("viewBox"), QStringLiteral("0 0 900 600"));
    QVERIFY(doc.toString().contains("beta-0.5"));

    const QByteArray shot = qgetenv("PREFSTUDIO_COMPARE_SCREENSHOT");
    if (!shot.isEmpty()) {
        view_->resize(1400, 1000);
        view_->show();
        QVERIFY(QTest::qWaitForWindowExposed(view_.get()));
        const QString path = QString::fromLocal8Bit(shot);
        QVERIFY(view_->grab().save(path));
        // The configuration tab too, next to the first shot ("x.png" -> "x-config.png").
        if (auto* tabs = view_->findChild<QTabWidget*>()) {
            tabs->setCurrentIndex(1);
            QVERIFY(view_->grab().save(QString(path).replace(".png", "-config.png")));
            tabs->setCurrentIndex(0);
        }
        // And the exported plot, aligned by fraction of training.
        view_->setAlignment(CompareView::Alignment::ByFraction);
        QVERIFY(view_->exportPng(QString(path).replace(".png", "-export.png"), 1200, 900));
    }
}

// Issue #17, item 5: a run named like HTML shows its name, not a bold word and a broken image;
// notes and errors in the Runs tooltips are escaped, not rendered.
void TestCompare::userTextIsPlain() {
    const std::string html = "<img src=x><b>bold</b>";
    const int64_t c = addRun(*store_, html, 0.2, 5, false, 1.0);
    view_->setRuns(store_, {a_, c});
    QLabel* header = nullptr;
    for (QLabel* l : view_->findChildren<QLabel*>())
        if (l->text().startsWith(QStringLiteral("Comparing"))) header = l;
    QVERIFY(header);
    QVERIFY2(header->text().contains(QString::fromStdString(html)), qPrintable(header->text()));
    QCOMPARE(header->textFormat(), Qt::PlainText);

    ps::ui::RunsModel model;
    ps::StoredRun run;
    run.id = 7;
    run.name = html;
    run.notes = "<img src=x> see <a href=\"http://x\">this</a>";
    run.error = "<b>boom</b>";
    run.status = ps::RunStatus::Failed;
    model.setRuns({run});
    const QString notes = model.data(model.index(0, ps::ui::RunsModel::NameColumn), Qt::ToolTipRole).toString();
    QVERIFY2(notes.contains(QStringLiteral("&lt;img src=x&gt;")) && notes.contains(QStringLiteral("&lt;a href=")),
             qPrintable(notes));
    QVERIFY2(!notes.contains(QStringLiteral("<img")) && !notes.contains(QStringLiteral("<a ")), qPrintable(notes));
    int statusColumn = -1;
    for (int col = 0; col < model.columnCount(); ++col)
        if (model.headerData(col, Qt::Horizontal, Qt::DisplayRole).toString() == QStringLiteral("Status")) statusColumn = col;
    QVERIFY(statusColumn >= 0);
    const QString error = model.data(model.index(0, statusColumn), Qt::ToolTipRole).toString();
    QVERIFY2(error.contains(QStringLiteral("&lt;b&gt;boom&lt;/b&gt;")) && !error.contains(QStringLiteral("<b>")),
             qPrintable(error));
    QCOMPARE(model.data(model.index(0, ps::ui::RunsModel::NameColumn), Qt::DisplayRole).toString(), QString::fromStdString(html));
}

QTEST_MAIN(TestCompare)
#include "test_compare.moc"
