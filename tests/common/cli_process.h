// Runs prefstudio-cli (or any program) as a user would and returns what it printed, for the CLI tests.
#pragma once
#include <QProcess>
#include <QString>
#include <QStringList>

namespace ps::test {

struct CliResult {
    int code;  // -1: it did not finish within the timeout
    QString out, err;
};

inline CliResult run_cli(const QString& program, const QStringList& args, int timeout_ms) {
    QProcess p;
    p.start(program, args);
    if (!p.waitForFinished(timeout_ms)) return {-1, "", "timeout"};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace ps::test
