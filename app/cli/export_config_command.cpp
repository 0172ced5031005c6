// `prefstudio-cli export-config (RUN|CONFIG) --to trl|llamafactory [-o FILE]`: an experiment as a
// TRL or LLaMA-Factory config for a cluster (core/interop/export_config.h).
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/common/errors.h"
#include "core/config/run_config.h"
#include "core/interop/export_config.h"
#include "core/store/run_store.h"

namespace fs = std::filesystem;

namespace ps::cli {
namespace {

bool looks_like_file(const std::string& s) {
    return s.find('/') != std::string::npos || (s.size() > 5 && s.compare(s.size() - 5, 5, ".json") == 0);
}

// A config file when `source` is one, else a stored run of that id or name.
RunConfig export_source(const std::string& source, const std::string& db_path) {
    std::error_code ec;
    if (fs::is_regular_file(source, ec)) return load_run_config(source);
    if (looks_like_file(source)) throw Error("config file '" + source + "' does not exist");
    const std::string db = db_path.empty() ? RunStore::default_path() : db_path;
    if (!fs::exists(db, ec))
        throw Error("'" + source + "' is neither a config file nor a stored run (there is no run store at " + db + ")");
    RunStore store(db, RunStore::Access::ReadOnly);
    return stored_run_config(store.resolve_run(source));
}

}  // namespace

int export_config_command(const std::string& source, const std::string& to, const std::string& out_path,
                          const std::string& db_path) {
    const auto target = find_export_target(to);
    if (!target) throw Error("unknown --to '" + to + "': use trl or llamafactory");
    const RunConfig config = export_source(source, db_path);
    const bool to_stdout = out_path.empty() || out_path == "-";
    ExportOptions options;
    if (!to_stdout) options.yaml_path = out_path;
    const ConfigExport e = export_config(config, *target, options);
    auto print_warnings = [&] {
        for (const std::string& w : e.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    };
    if (to_stdout) {
        print_warnings();
        std::cout << e.text;
        if (*target == ExportTarget::LlamaFactory)
            std::fprintf(stderr, "note: dataset_info.json is written only with -o FILE; its entries are in the last "
                                 "comment lines\n");
        return 0;
    }
    // Written first: a file that cannot be written is the one line on stderr.
    const auto written = write_config_export(e, out_path);
    print_warnings();
    const std::string name = fs::path(out_path).filename().string();
    for (const std::string& w : written) std::printf("wrote %s\n", w.c_str());
    if (*target == ExportTarget::Trl)
        std::printf("launch: %s --config %s\n",
                    e.trainer == "dpo" || e.trainer == "kto" ? ("trl " + e.trainer).c_str()
                                                             : ("python examples/scripts/" + e.trainer + ".py").c_str(),
                    name.c_str());
    else
        std::printf("launch: llamafactory-cli train %s\n", name.c_str());
    std::printf("follow: prefstudio-cli import %s --follow\n", e.output_dir.c_str());
    return 0;
}

}  // namespace ps::cli
