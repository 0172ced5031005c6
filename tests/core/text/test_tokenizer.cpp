// The built-in byte-level tokenizer.
#include <QtTest>

#include "core/common/errors.h"
#include "core/text/byte_tokenizer.h"

class TestTokenizer : public QObject {
    Q_OBJECT
private slots:
    void encodesUtf8Bytes() {
        ps::ByteTokenizer t;
        // "é" is U+00E9 = bytes C3 A9; "1+1=" is ASCII.
        QCOMPARE(t.encode("1+1="), (std::vector<int64_t>{49, 43, 49, 61}));
        QCOMPARE(t.encode("\xC3\xA9"), (std::vector<int64_t>{195, 169}));
        QCOMPARE(t.encode(""), std::vector<int64_t>{});
    }
    void decodesBackAndNamesSpecials() {
        ps::ByteTokenizer t;
        const std::string text = "h\xC3\xA9llo \xF0\x9F\x99\x82 12+30=42";
        QCOMPARE(t.decode(t.encode(text)), text);
        QCOMPARE(t.decode({ps::ByteTokenizer::kBos, 65, ps::ByteTokenizer::kEos}), std::string("<bos>A<eos>"));
        QCOMPARE(t.vocab_size(), int64_t(259));
        QVERIFY_THROWS_EXCEPTION(ps::Error, t.decode({259}));
    }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
