// Reading is streamed: a large file (tens of MB, generated here) is read with memory bounded by
// the examples kept, not by the file. Peak RSS (VmHWM) is measured around each read.
#include <QtTest>

#include <fstream>
#include <string>

#include "core/data/preference_data.h"

namespace {

// Peak resident set size of this process in kB (Linux /proc).
long peak_rss_kb() {
    std::ifstream in("/proc/self/status");
    std::string key;
    long value = 0;
    while (in >> key) {
        if (key == "VmHWM:") {
            in >> value;
            return value;
        }
        in.ignore(1 << 20, '\n');
    }
    return -1;
}

// Resets the peak to the current RSS (Linux >= 4.0); false where not allowed.
bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

// ~1 kB records: prompt ~400 bytes, chosen and rejected ~300 each.
void write_big(const std::string& path, bool array, size_t records) {
    std::ofstream out(path, std::ios::binary);
    const std::string prompt(400, 'p'), chosen(300, 'c'), rejected(300, 'r');
    if (array) out << "[\n";
    for (size_t i = 0; i < records; ++i) {
        if (array && i) out << ",\n";
        out << "{\"prompt\": \"" << i << ' ' << prompt << "\", \"chosen\": \"" << chosen << "\", \"rejected\": \"" << rejected
            << "\"}";
        if (!array) out << '\n';
    }
    if (array) out << "\n]\n";
}

}  // namespace

class TestDatasetsStream : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    void check(bool array) {
        const std::string path = dir_.filePath(array ? "big.json" : "big.jsonl").toStdString();
        const size_t records = 40000;  // ~41 MB
        write_big(path, array, records);
        QVERIFY(QFileInfo(QString::fromStdString(path)).size() > 40'000'000);
        if (!reset_peak_rss()) QSKIP("cannot reset the peak RSS here (/proc/self/clear_refs)");
        const long before = peak_rss_kb();
        size_t seen = 0;
        ps::DataVisitor visitor;
        // Keep one example in a thousand: memory may grow by those, not by the file.
        visitor.pair = [&](ps::PreferencePair&) { return seen++ % 1000 == 0; };
        auto ds = ps::scan_preference_file(path, {}, &visitor);
        const long growth_kb = peak_rss_kb() - before;
        QVERIFY(ds.errors.empty());
        QCOMPARE(seen, records);
        QCOMPARE(ds.pairs.size(), size_t(40));
        QCOMPARE(ds.records, records);
        qInfo("%s: %zu records, %.1f MB, peak RSS grew by %.1f MB", array ? "JSON array" : "JSON Lines", records,
              static_cast<double>(ds.bytes) / 1e6, static_cast<double>(growth_kb) / 1024.0);
        // One 1 MB read buffer, one record, the 40 kept pairs: far below the 41 MB file.
        QVERIFY2(growth_kb < 8 * 1024, qPrintable(QString("peak RSS grew by %1 kB").arg(growth_kb)));
    }

private slots:
    void jsonLinesStream() { check(false); }
    void jsonArrayStream() { check(true); }
};

QTEST_GUILESS_MAIN(TestDatasetsStream)
#include "test_datasets_stream.moc"
