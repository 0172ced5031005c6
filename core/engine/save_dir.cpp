#include "core/engine/save_dir.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/errors.h"
#include "core/common/user_text.h"

namespace fs = std::filesystem;

namespace ps {

namespace {

// The same folder by identity (symlinks, "..", relative paths), else by normalised path.
bool same_folder(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::absolute(a).lexically_normal() == fs::absolute(b).lexically_normal();
}

}  // namespace

void check_save_dir(const RunConfig& c) {
    if (!c.train.save_dir) return;
    const fs::path dir = *c.train.save_dir;
    std::error_code ec;
    if (!is_builtin_source(c.model.source)) {
        fs::path source = c.model.source;
        if (fs::is_regular_file(source, ec)) source = source.parent_path();
        if (same_folder(dir, source))
            throw ConfigError("train.save_dir", quote_value(dir.string()) +
                                                    " is the folder of model.source: saving there would overwrite the "
                                                    "model this run trains from; choose another folder");
    }
    if (!fs::exists(dir, ec)) return;
    if (!fs::is_directory(dir, ec))
        throw ConfigError("train.save_dir", quote_value(dir.string()) + " is a file, not a folder; choose a folder");
    if (fs::is_empty(dir, ec) || fs::exists(dir / kSaveMarkerFile, ec) || c.train.overwrite_save_dir) return;
    throw ConfigError("train.save_dir", quote_value(dir.string()) +
                                            " is a folder that a PrefStudio run did not write (it holds files and no " +
                                            kSaveMarkerFile +
                                            "); choose an empty or new folder, or set train.overwrite_save_dir: true "
                                            "to write over its model files");
}

void write_save_marker(const std::string& dir, const RunConfig& c) {
    const nlohmann::json marker = {{"written_by", std::string("PrefStudio ") + PREFSTUDIO_VERSION},
                                   {"run", c.name},
                                   {"algorithm", c.objective.algorithm},
                                   {"model_source", c.model.source}};
    std::ofstream out(fs::path(dir) / kSaveMarkerFile, std::ios::trunc);
    out << marker.dump(2) << "\n";
    if (!out) throw Error("cannot write " + (fs::path(dir) / kSaveMarkerFile).string() + " (the saved model is complete)");
}

}  // namespace ps
