// train.save_dir must not overwrite what the run did not write (issue #17, item 4): the folder of
// model.source never; a non-empty folder only when a PrefStudio run wrote it (its marker) or
// train.overwrite_save_dir is set. A training run that saves leaves the marker
// (test_lora's saving runs check it end to end).
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/engine/save_dir.h"

namespace fs = std::filesystem;

class TestSaveDir : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    std::string path(const char* name) const { return dir_.filePath(QString::fromLatin1(name)).toStdString(); }

    static void touch(const std::string& file, const std::string& text = "x") {
        fs::create_directories(fs::path(file).parent_path());
        std::ofstream(file) << text;
    }

    // The message of the ConfigError check_save_dir throws; "" when it accepts.
    static std::string refusal(const ps::RunConfig& c) {
        try {
            ps::check_save_dir(c);
        } catch (const ps::ConfigError& e) {
            return e.what();
        }
        return {};
    }

    ps::RunConfig config(const std::string& source, const std::string& save_dir, bool overwrite = false) const {
        ps::RunConfig c;
        c.model.source = source;
        c.train.save_dir = save_dir;
        c.train.overwrite_save_dir = overwrite;
        return c;
    }

private slots:
    void newOrEmptyFolderIsAccepted() {
        QVERIFY(refusal(config("builtin:tiny", path("new/out"))).empty());
        fs::create_directories(path("empty"));
        QVERIFY(refusal(config("builtin:tiny", path("empty"))).empty());
        ps::RunConfig none = config("builtin:tiny", "");
        none.train.save_dir.reset();
        QVERIFY(refusal(none).empty());
    }

    void sourceFolderIsRefusedEvenWithOverwrite() {
        touch(path("base/config.json"), "{}");
        touch(path("base/model.safetensors"));
        for (const std::string& save : {path("base"), path("base/"), path("base/../base"), path("base/./")}) {
            for (bool overwrite : {false, true}) {
                const std::string m = refusal(config(path("base"), save, overwrite));
                QVERIFY2(m.find("train.save_dir") != std::string::npos && m.find("folder of model.source") != std::string::npos,
                         (save + ": " + m).c_str());
            }
        }
        // Through a symbolic link too.
        fs::create_directory_symlink(path("base"), path("link"));
        QVERIFY(!refusal(config(path("base"), path("link"))).empty());
        // A source given as a file inside the folder (a config.json path) names the same folder.
        QVERIFY(!refusal(config(path("base/config.json"), path("base"))).empty());
    }

    void foreignFolderNeedsOverwrite() {
        touch(path("theirs/notes.txt"));
        const std::string m = refusal(config("builtin:tiny", path("theirs")));
        QVERIFY2(m.find("train.save_dir") != std::string::npos && m.find("train.overwrite_save_dir") != std::string::npos &&
                     m.find("did not write") != std::string::npos,
                 m.c_str());
        QVERIFY(refusal(config("builtin:tiny", path("theirs"), true)).empty());
        // A file is never a save folder.
        touch(path("a-file"));
        QVERIFY(refusal(config("builtin:tiny", path("a-file"), true)).find("is a file") != std::string::npos);
    }

    void folderARunWroteIsWrittenAgain() {
        const ps::RunConfig c = config("builtin:tiny", path("ours"));
        fs::create_directories(path("ours"));
        touch(path("ours/model.safetensors"));
        QVERIFY(!refusal(c).empty());
        ps::write_save_marker(path("ours"), c);
        QVERIFY(refusal(c).empty());
        std::ifstream in(path("ours") + "/" + ps::kSaveMarkerFile);
        const auto marker = nlohmann::json::parse(in);
        QCOMPARE(QString::fromStdString(marker["model_source"].get<std::string>()), QStringLiteral("builtin:tiny"));
        QVERIFY(marker["written_by"].get<std::string>().rfind("PrefStudio ", 0) == 0);
    }
};

QTEST_GUILESS_MAIN(TestSaveDir)
#include "test_save_dir.moc"
