// `prefstudio-cli import PATH`: runs trained with TRL / transformers / LLaMA-Factory into the
// store, once or followed live (core/interop/import_run.h).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>

#include "commands.h"
#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/interop/import_run.h"
#include "core/store/run_store.h"
#include "progress_printer.h"

namespace ps::cli {
namespace {

std::atomic<bool> g_stop_follow{false};

extern "C" void on_follow_interrupt(int) { g_stop_follow.store(true); }

void print_result(const ImportResult& r, bool updated) {
    std::printf("%s run %lld '%s' from %s (%s): %lld log entries, %lld points, %zu metrics%s%s\n",
                updated ? "updated" : "imported", static_cast<long long>(r.run_id), ps::printable(r.name).c_str(), ps::printable(r.source.path).c_str(),
                to_string(r.source.format), static_cast<long long>(r.steps), static_cast<long long>(r.points),
                r.metric_points.size(), r.algorithm.empty() ? "" : (", algorithm " + r.algorithm).c_str(),
                r.finished ? "" : " (no final summary: the run had not finished when the file was written)");
}

}  // namespace

int import_command(const ImportArgs& args) {
    std::vector<SourceFile> sources = find_sources(args.path);
    if (sources.size() > 1 && !args.all) {
        std::fprintf(stderr, "prefstudio-cli: %s holds %zu runs:\n", args.path.c_str(), sources.size());
        for (const SourceFile& s : sources)
            std::fprintf(stderr, "  %-16s %s\n", to_string(s.format), s.path.c_str());
        std::fprintf(stderr, "Import one by its path, or all of them with --all.\n");
        return 2;
    }
    if (sources.size() > 1 && args.follow) throw Error("--follow follows one run; give the path of one of the " +
                                                       std::to_string(sources.size()) + " runs");
    if (sources.size() > 1 && !args.name.empty()) throw Error("--name names one run; " + args.path + " holds " +
                                                              std::to_string(sources.size()));
    RunStore store(args.db.empty() ? RunStore::default_path() : args.db);
    ImportOptions options;
    options.name = args.name;

    if (args.follow) {
        const SourceFile& source = sources.front();
        const bool updated = store.find_run_by_source(source.key_path).has_value();
        std::fprintf(stderr, "following %s (%s); Ctrl-C stops\n", source.path.c_str(), to_string(source.format));
        g_stop_follow = false;
        auto previous = std::signal(SIGINT, on_follow_interrupt);
        std::signal(SIGTERM, on_follow_interrupt);
        // The store sink flushes after every read; the printer shows progress and regime changes.
        ProgressPrinter printer(stderr);
        std::shared_ptr<RunStore> shared(std::shared_ptr<RunStore>{}, &store);
        StoreSink sink(shared, 10000, std::numeric_limits<double>::infinity());
        options.after_read = [&sink] { sink.flush(); };
        ImportResult r;
        try {
            r = stream_source(source, {&sink, &printer}, true, &g_stop_follow, options);
        } catch (...) {
            std::signal(SIGINT, previous);
            throw;
        }
        std::signal(SIGINT, previous);
        r.run_id = sink.run_id();
        if (!sink.last_error().empty()) throw StoreError(sink.last_error());
        for (const std::string& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
        if (args.json) {
            nlohmann::json j = r.to_json();
            j["updated"] = updated;
            std::cout << j.dump(2) << "\n";
        } else {
            print_result(r, updated);
        }
        return 0;
    }

    nlohmann::json all = nlohmann::json::array();
    for (const SourceFile& source : sources) {
        const bool updated = store.find_run_by_source(source.key_path).has_value();
        ImportResult r = import_source(store, source, options);
        for (const std::string& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
        if (args.json) {
            nlohmann::json j = r.to_json();
            j["updated"] = updated;
            all.push_back(std::move(j));
        } else {
            print_result(r, updated);
        }
    }
    if (args.json) std::cout << (args.all ? all : all.front()).dump(2) << "\n";
    return 0;
}

}  // namespace ps::cli
