// Where the tests find the real tokenizer files (the layout tests/fixtures/tokenizer/
// fetch_tokenizers.sh writes: ROOT/<name>/tokenizer.json), first hit wins:
//   1. PREFSTUDIO_TOKENIZERS_DIR, when set in the environment ctest runs in (an override);
//   2. ../shared/tokenizers beside the checkout (PREFSTUDIO_SOURCE_DIR/../shared/tokenizers):
//      machines without the npm registry keep them there;
//   3. what the fetch_tokenizers test fetched from npm (PREFSTUDIO_FETCHED_TOKENIZERS_DIR, set by
//      CMake to build/tokenizers).
// Empty when none of them holds a tokenizer: the callers skip, saying so.
#pragma once
#include <QDir>
#include <QFileInfo>
#include <QString>
#include <QStringList>

namespace ps::test {

inline bool holds_tokenizers(const QString& root) {
    if (root.isEmpty()) return false;
    const QDir d(root);
    for (const QString& sub : d.entryList(QDir::Dirs | QDir::NoDotAndDotDot))
        if (QFileInfo::exists(d.filePath(sub + "/tokenizer.json"))) return true;
    return false;
}

inline QString real_tokenizers_root() {
    const QStringList candidates{
        qEnvironmentVariable("PREFSTUDIO_TOKENIZERS_DIR"),
        qEnvironmentVariableIsEmpty("PREFSTUDIO_SOURCE_DIR")
            ? QString()
            : qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR") + "/../shared/tokenizers",
        qEnvironmentVariable("PREFSTUDIO_FETCHED_TOKENIZERS_DIR")};
    for (const QString& c : candidates)
        if (holds_tokenizers(c)) return QDir(c).absolutePath();
    return {};
}

// The names (sub-folders with a tokenizer.json) under the root, sorted.
inline QStringList real_tokenizer_names(const QString& root) {
    QStringList names;
    const QDir d(root);
    for (const QString& sub : d.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
        if (QFileInfo::exists(d.filePath(sub + "/tokenizer.json"))) names << sub;
    return names;
}

inline const char* real_tokenizers_missing_reason() {
    return "no real tokenizer files: set PREFSTUDIO_TOKENIZERS_DIR, or put them in ../shared/tokenizers "
           "beside the checkout, or let the fetch_tokenizers test fetch them (needs npm and its registry)";
}

}  // namespace ps::test
