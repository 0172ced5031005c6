// The dataset page on committed fixtures: summary text, histograms, the table of pairs and the
// side-by-side view with the differing parts highlighted; problems listed for a bad file.
// Set PREFSTUDIO_DATASET_SCREENSHOT=/path.png to save a screenshot.
#include <QLabel>
#include <QListWidget>
#include <QTableWidget>
#include <QTest>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextEdit>

#include <qcustomplot.h>

#include "ui/data/dataset_page.h"

namespace {

QString fixture(const char* name) {
    return QString::fromLocal8Bit(qgetenv("PREFSTUDIO_SOURCE_DIR")) + "/tests/fixtures/datasets/" + name;
}

// Background colour of the character at `pos` of the view's text.
QColor backgroundAt(QTextEdit* view, int pos) {
    QTextCursor c(view->document());
    c.setPosition(pos + 1);  // the format of the character before the cursor
    return c.charFormat().background().color();
}

}  // namespace

class TestDatasetPage : public QObject {
    Q_OBJECT

private slots:
    void showsSharegptPreference() {
        ps::ui::DatasetPage page;
        page.resize(1200, 800);
        ps::SummaryOptions o;
        o.template_name = "chatml";
        o.limits.max_length = 512;
        o.limits.max_prompt_length = 256;  // the second prompt renders to 170 bytes
        page.load(fixture("dpo_en_demo.json"), o);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        const QString text = page.summaryLabel()->text();
        QVERIFY2(text.contains("sharegpt-preference"), qPrintable(text));
        QVERIFY(text.contains("2 kept"));
        QVERIFY(text.contains("chatml"));
        // Byte tokens: pair 1 chosen "Red is a primary colour.<|im_end|>" 34 > rejected
        // "Green, obviously.<|im_end|>" 27; pair 2 "Cold.<|im_end|>" 15 < 67: 1 of 2 pairs.
        QVERIFY2(text.contains("chosen longer than rejected in <b>50.0%</b>"), qPrintable(text));
        // Histograms: prompt, chosen and rejected, each counting every example once.
        QCOMPARE(page.histogram()->graphCount(), 3);
        for (int g = 0; g < 3; ++g) {
            double total = 0;
            for (auto it = page.histogram()->graph(g)->data()->begin(); it != page.histogram()->graph(g)->data()->end(); ++it)
                total += it->value;
            QCOMPARE(total, 2.0);
        }
        // The table: one row per pair, chosen and rejected side by side.
        QCOMPARE(page.table()->rowCount(), 2);
        QCOMPARE(page.table()->item(1, 0)->text(), QString("2"));  // record 2
        QCOMPARE(page.table()->item(1, 2)->text(), QString("Cold.<|im_end|>"));
        QVERIFY(page.table()->item(1, 3)->text().startsWith("The opposite of hot"));
        // Selecting a pair shows it in full; the differing middle is highlighted, the shared
        // "<|im_end|>" ending is not.
        page.selectExample(1);
        QCOMPARE(page.chosenView()->toPlainText(), QString("Cold.<|im_end|>"));
        QVERIFY(page.promptView()->toPlainText().endsWith("<|im_start|>assistant\n"));
        QCOMPARE(backgroundAt(page.chosenView(), 0), QColor(0xC8, 0xE6, 0xC9));
        QCOMPARE(backgroundAt(page.rejectedView(), 0), QColor(0xFF, 0xCD, 0xD2));
        const int endMark = page.chosenView()->toPlainText().indexOf("<|im_end|>");
        QVERIFY(backgroundAt(page.chosenView(), endMark + 2) != QColor(0xC8, 0xE6, 0xC9));
        QCOMPARE(page.problems()->count(), 1);
        QCOMPARE(page.problems()->item(0)->text(), QString("No problems found."));
        const QByteArray shot = qgetenv("PREFSTUDIO_DATASET_SCREENSHOT");
        if (!shot.isEmpty()) page.grab().save(QString::fromLocal8Bit(shot));
    }

    void showsKtoLabels() {
        ps::ui::DatasetPage page;
        page.load(fixture("kto_en_demo.json"));
        QVERIFY(page.summaryLabel()->text().contains("2 desirable, 1 undesirable"));
        QCOMPARE(page.table()->rowCount(), 3);
        QCOMPARE(page.table()->item(1, 3)->text(), QString("undesirable"));
    }

    void listsProblems() {
        ps::ui::DatasetPage page;
        page.load(fixture("mixed_formats.jsonl"));
        QCOMPARE(page.problems()->count(), 2);
        QVERIFY(page.problems()->item(0)->text().startsWith("error: "));
        QVERIFY(page.problems()->item(0)->text().contains("mixed_formats.jsonl:2: mixed formats"));
        QCOMPARE(page.table()->rowCount(), 1);  // the valid first record is still shown
    }
};

QTEST_MAIN(TestDatasetPage)
#include "test_dataset_page.moc"
