// The Hugging Face oracles (transformers, trl, tokenizers, tensorboard, peft) live in a venv made
// by packaging/make-venv.sh; CMake passes its Python as PREFSTUDIO_ORACLE_PYTHON. An oracle that
// is missing fails the test under CI (CI=true) and skips it with the reason elsewhere: a
// comparison that did not run never passes.
#pragma once
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QtTest>
#include <cstdlib>

namespace ps::test {

inline bool running_under_ci() {
    const char* ci = std::getenv("CI");
    return ci && (QString::fromUtf8(ci).toLower() == "true" || QString::fromUtf8(ci) == "1");
}

// Empty when the oracle Python is configured and imports `modules`; else why not.
inline QString oracle_missing(const QStringList& modules) {
    const QString python = qEnvironmentVariable("PREFSTUDIO_ORACLE_PYTHON");
    if (python.isEmpty())
        return "no oracle venv configured (PREFSTUDIO_ORACLE_PYTHON is empty; make one with "
               "`bash packaging/make-venv.sh build/venv` and re-run cmake)";
    QProcess p;
    p.start(python, {"-c", "import " + modules.join(", ")});
    if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
        return "the oracle venv " + python + " cannot import " + modules.join(", ") + ": " +
               QString::fromUtf8(p.readAllStandardError()).trimmed().right(400);
    return {};
}

inline QString oracle_python() { return qEnvironmentVariable("PREFSTUDIO_ORACLE_PYTHON"); }

}  // namespace ps::test

// In a Qt Test function: skip (or fail under CI) unless the oracle venv imports the modules.
#define PS_REQUIRE_ORACLE(...)                                                          \
    do {                                                                                \
        const QString why_ = ps::test::oracle_missing(QStringList{__VA_ARGS__});        \
        if (!why_.isEmpty()) {                                                          \
            if (ps::test::running_under_ci()) QFAIL(qPrintable("oracle missing under CI: " + why_)); \
            QSKIP(qPrintable(why_));                                                    \
        }                                                                               \
    } while (0)
