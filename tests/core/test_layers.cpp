// Dependencies point down only: app -> ui -> core, core never includes Qt, and inside core a file
// includes only from its own layer or the layers below it, in the order docs/ARCHITECTURE.md
// writes down (its line "Core layers, bottom first: `common` < `config` < ..."). The tree has one
// include root: every quoted include names its folder from there ("core/engine/trainer.h").
#include <QtTest>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

class TestLayers : public QObject {
    Q_OBJECT
    QString root_;
    std::vector<std::string> layers_;  // bottom first

    static std::string read(const QString& path) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) return {};
        return f.readAll().toStdString();
    }
    struct Include {
        QString file;  // relative to the root
        int line;
        std::string target;
        bool angled;
    };
    std::vector<Include> includes_under(const QString& top) const {
        std::vector<Include> out;
        // (no raw string here: moc misreads one that holds quotes)
        static const std::regex re("^\\s*#\\s*include\\s*([<\"])([^\">]+)[\">]");
        QDirIterator it(root_ + "/" + top, {"*.h", "*.cpp"}, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QString path = it.next();
            const QString rel = QDir(root_).relativeFilePath(path);
            std::istringstream in(read(path));
            std::string text;
            for (int n = 1; std::getline(in, text); ++n) {
                std::smatch m;
                if (std::regex_search(text, m, re)) out.push_back({rel, n, m[2].str(), m[1].str() == "<"});
            }
        }
        return out;
    }
    int layer_of(const std::string& name) const {
        for (size_t i = 0; i < layers_.size(); ++i)
            if (layers_[i] == name) return int(i);
        return -1;
    }
    static std::string folder(const std::string& path, int index) {  // "core/engine/x.h", 1 -> "engine"
        size_t start = 0;
        for (int i = 0; i < index; ++i) {
            start = path.find('/', start);
            if (start == std::string::npos) return {};
            ++start;
        }
        const size_t end = path.find('/', start);
        return end == std::string::npos ? std::string() : path.substr(start, end - start);
    }

    QStringList core_problems() const {
        QStringList problems;
        for (const Include& inc : includes_under("core")) {
            const std::string from = folder(inc.file.toStdString(), 1);
            const QString where = QStringLiteral("%1:%2 includes %3").arg(inc.file).arg(inc.line).arg(QString::fromStdString(inc.target));
            if (inc.angled) {
                if (inc.target.rfind("Q", 0) == 0 || inc.target.rfind("qt", 0) == 0) problems << where + " (core is Qt-free)";
                continue;
            }
            const std::string& target = inc.target;
            if (target.rfind("ui/", 0) == 0 || target.rfind("app/", 0) == 0) {
                problems << where + " (core is below ui and app)";
                continue;
            }
            if (target.rfind("core/", 0) != 0) {
                problems << where + " (name the file from the root: \"core/<layer>/...\")";
                continue;
            }
            const int to = layer_of(folder(target, 1)), own = layer_of(from);
            if (to < 0) problems << where + " (no such layer)";
            else if (to > own) problems << where + " (layer '" + QString::fromStdString(layers_[size_t(to)]) + "' is above '" + QString::fromStdString(from) + "')";
        }
        return problems;
    }

private slots:
    void initTestCase() {
        root_ = qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR");
        const std::string doc = read(root_ + "/docs/ARCHITECTURE.md");
        QVERIFY2(!doc.empty(), "docs/ARCHITECTURE.md is missing");
        const auto at = doc.find("Core layers, bottom first:");
        QVERIFY2(at != std::string::npos, "docs/ARCHITECTURE.md has no line 'Core layers, bottom first: `a` < `b` ...'");
        const std::string line = doc.substr(at, doc.find('\n', at) - at);
        static const std::regex name("`([a-z_]+)`");
        for (auto it = std::sregex_iterator(line.begin(), line.end(), name); it != std::sregex_iterator(); ++it)
            layers_.push_back((*it)[1].str());
        QVERIFY(layers_.size() >= 5);
        // Every folder of core/ is a layer, and every layer a folder.
        const QStringList dirs = QDir(root_ + "/core").entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        for (const QString& d : dirs)
            QVERIFY2(layer_of(d.toStdString()) >= 0, qPrintable("core/" + d + " is not in the layer order of docs/ARCHITECTURE.md"));
        for (const std::string& l : layers_)
            QVERIFY2(dirs.contains(QString::fromStdString(l)), ("layer '" + l + "' has no folder core/" + l).c_str());
    }

    void coreIncludesOnlyItsOwnLayerAndBelow() {
        const QStringList problems = core_problems();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
    }

    void uiIncludesNoAppAndNamesFolders() {
        QStringList problems;
        for (const Include& inc : includes_under("ui")) {
            if (inc.angled || inc.target.rfind("ui_", 0) == 0) continue;  // uic's generated headers
            const QString where = QStringLiteral("%1:%2 includes %3").arg(inc.file).arg(inc.line).arg(QString::fromStdString(inc.target));
            if (inc.target.rfind("app/", 0) == 0) problems << where + " (ui is below app)";
            else if (inc.target.rfind("core/", 0) != 0 && inc.target.rfind("ui/", 0) != 0)
                problems << where + " (name the file from the root: \"ui/...\" or \"core/...\")";
        }
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
    }

    // The checker itself, on a file it must reject: a rule that never fires checks nothing.
    void anUpwardIncludeIsFound() {
        QTemporaryDir dir;
        QVERIFY(QDir(dir.path()).mkpath("core/common"));
        QFile f(dir.filePath("core/common/bad.h"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("#pragma once\n#include \"core/common/fine.h\"\n#include \"core/engine/trainer.h\"\n"
                "#include \"engine/trainer.h\"\n#include <QString>\n#include <vector>\n#include \"common/fine.h\"\n");
        f.close();
        const QString saved = root_;
        root_ = dir.path();
        const QStringList problems = core_problems();
        root_ = saved;
        QCOMPARE(problems.size(), 4);
        QVERIFY2(problems[0].contains("bad.h:3") && problems[0].contains("'engine' is above 'common'"), qPrintable(problems[0]));
        QVERIFY2(problems[1].contains("bad.h:4") && problems[1].contains("name the file from the root"), qPrintable(problems[1]));
        QVERIFY2(problems[2].contains("bad.h:5") && problems[2].contains("Qt-free"), qPrintable(problems[2]));
        QVERIFY2(problems[3].contains("bad.h:7") && problems[3].contains("name the file from the root"), qPrintable(problems[3]));
    }
};

QTEST_GUILESS_MAIN(TestLayers)
#include "test_layers.moc"
