// Our tokenizer.json reader against the `tokenizers` library itself (the oracle venv,
// packaging/make-venv.sh): for EVERY real tokenizer found (tests/common/real_tokenizers.h:
// ../shared/tokenizers beside the checkout, an override, or the npm fetch), the ids of each hard
// text (unicode, emoji, CJK, whitespace runs, numbers, the tokenizer's own added tokens, long
// words; tests/oracles/tokenizers_oracle.py lists them) equal tokenizers' encode(text,
// add_special_tokens=False), and our decode of those ids equals its decode(ids,
// skip_special_tokens=False). Without the files or the venv it skips with the reason (fails
// under CI=true).
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/text/hf_tokenizer.h"
#include "tests/common/oracle.h"
#include "tests/common/real_tokenizers.h"

using nlohmann::json;
using Ids = std::vector<int64_t>;

class TestOracleTokenizers : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    json oracle_;
    QString oracle_error_;
    bool oracle_ran_ = false;

    // One oracle run for all tokenizers (loading them is the slow part).
    const json* oracle(const QString& root) {
        if (!oracle_ran_) {
            oracle_ran_ = true;
            const QString out = tmp_.filePath("oracle.json");
            QProcess p;
            p.setProcessChannelMode(QProcess::MergedChannels);
            p.start(ps::test::oracle_python(),
                    {qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR") + "/tests/oracles/tokenizers_oracle.py", root, out});
            const bool ok = p.waitForFinished(600000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
            const QString log = QString::fromUtf8(p.readAll()).trimmed();
            qInfo("%s", qPrintable(log));
            if (!ok) {
                oracle_error_ = "tokenizers_oracle.py failed: " + log.right(2000);
                return nullptr;
            }
            std::ifstream in(out.toStdString(), std::ios::binary);
            std::stringstream s;
            s << in.rdbuf();
            oracle_ = json::parse(s.str());
        }
        return oracle_error_.isEmpty() ? &oracle_ : nullptr;
    }

private slots:
    void idsAndDecodeMatchTokenizers_data() {
        QTest::addColumn<QString>("name");
        const QString root = ps::test::real_tokenizers_root();
        const QStringList names = ps::test::real_tokenizer_names(root);
        if (names.isEmpty()) QTest::newRow("none") << QString();
        for (const QString& n : names) QTest::newRow(qPrintable(n)) << n;
    }
    void idsAndDecodeMatchTokenizers() {
        QFETCH(QString, name);
        if (name.isEmpty()) {
            if (ps::test::running_under_ci()) QFAIL(ps::test::real_tokenizers_missing_reason());
            QSKIP(ps::test::real_tokenizers_missing_reason());
        }
        PS_REQUIRE_ORACLE("tokenizers");
        const QString root = ps::test::real_tokenizers_root();
        const json* o = oracle(root);
        QVERIFY2(o, qPrintable(oracle_error_));
        QVERIFY2(o->at("cases").contains(name.toStdString()), "the oracle did not read this tokenizer");
        const auto tok = ps::HfTokenizer::load((root + "/" + name).toStdString());
        size_t cases = 0, tokens = 0;
        for (const auto& c : o->at("cases").at(name.toStdString())) {
            const std::string text = c["text"].get<std::string>();
            const QString what = name + " / " + QString::fromStdString(c["name"].get<std::string>());
            const Ids want = c["ids"].get<Ids>();
            const Ids got = tok->encode(text);
            if (got != want) {
                size_t i = 0;
                while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
                QFAIL(qPrintable(QString("%1: ids differ from tokenizers' at position %2 of %3 (ours %4 '%5', theirs %6 '%7')")
                                     .arg(what)
                                     .arg(i)
                                     .arg(want.size())
                                     .arg(i < got.size() ? got[i] : -1)
                                     .arg(i < got.size() ? QString::fromStdString(tok->id_to_token(got[i])) : QString())
                                     .arg(i < want.size() ? want[i] : -1)
                                     .arg(i < want.size() ? QString::fromStdString(tok->id_to_token(want[i])) : QString())));
            }
            const std::string decoded = tok->decode(want);
            QVERIFY2(decoded == c["decoded"].get<std::string>(),
                     qPrintable(what + ": decode differs: ours '" + QString::fromStdString(decoded).left(200) +
                                "', theirs '" + QString::fromStdString(c["decoded"].get<std::string>()).left(200) + "'"));
            ++cases;
            tokens += want.size();
        }
        qInfo("%s: %zu texts, %zu tokens equal to tokenizers %s", qPrintable(name), cases, tokens,
              o->at("tokenizers").get<std::string>().c_str());
        QVERIFY(cases >= 30);
    }
};

QTEST_GUILESS_MAIN(TestOracleTokenizers)
#include "test_oracle_tokenizers.moc"
