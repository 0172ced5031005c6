// prefstudio-cli: headless PrefStudio. Wires the command line to core; no Qt.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common/errors.h"

int main(int argc, char** argv) {
    CLI::App app{"PrefStudio command line: train, store and inspect preference-optimisation runs"};
    app.set_version_flag("--version", std::string("prefstudio-cli ") + PREFSTUDIO_VERSION);
    app.require_subcommand(1);
    std::string db;
    app.add_option("--db", db, "Run store (SQLite file); default: $XDG_DATA_HOME/prefstudio/runs.db");
    app.fallthrough();

    std::string config;
    std::vector<std::string> overrides;
    auto* run = app.add_subcommand("run", "Train a run from a config file and store it");
    run->add_option("CONFIG", config, "Run config JSON (see the README's config reference)")->required();
    run->add_option("--set", overrides, "Override a config value: key.path=value (repeatable)")
        ->allow_extra_args(false);

    bool json = false;
    std::string eval_config;
    std::vector<std::string> eval_overrides;
    auto* eval = app.add_subcommand("eval", "Score the configured model (initial state, no training) on the data");
    eval->add_option("CONFIG", eval_config, "Run config JSON")->required();
    eval->add_option("--set", eval_overrides, "Override a config value: key.path=value (repeatable)")
        ->allow_extra_args(false);
    eval->add_flag("--json", json, "Print one JSON object with the metric names");

    auto* runs = app.add_subcommand("runs", "List the stored runs with their status and final metrics");
    runs->add_flag("--json", json, "Print JSON instead of a table");

    std::string run_id, format = "csv", out;
    auto* exp = app.add_subcommand("export", "Write a stored run's metrics as CSV or JSON");
    exp->add_option("RUN", run_id, "Run id or name")->required();
    exp->add_option("--format", format, "csv or json")->check(CLI::IsMember({"csv", "json"}));
    exp->add_option("--out,-o", out, "Output file (default: standard output)");

    std::string diag_run;
    auto* diag = app.add_subcommand("diagnose", "Regimes of a stored run: healthy, both rewards falling, ...");
    diag->add_option("RUN", diag_run, "Run id or name")->required();
    diag->add_flag("--json", json, "Print JSON (with every tracked pair, most falling first)");
    int diag_top = 5;
    diag->add_option("--top", diag_top, "Tracked pairs to list whose chosen log-prob fell most (default 5)")
        ->check(CLI::Range(0, 100000));

    std::string kind, data_out;
    int count = 2000, max_operand = 50;
    long long seed = 0;
    auto* make = app.add_subcommand("make-data", "Generate a preference dataset (TRL JSONL)");
    make->add_option("KIND", kind, "Dataset kind: arith (a+b= prompts, correct vs plausible wrong sum)")->required();
    make->add_option("--out,-o", data_out, "Output JSONL file")->required();
    make->add_option("--count", count, "Number of pairs")->check(CLI::PositiveNumber);
    make->add_option("--max-operand", max_operand, "Operands are drawn from [0, N)")->check(CLI::Range(2, 1000000));
    make->add_option("--seed", seed, "Random seed")->check(CLI::NonNegativeNumber);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "prefstudio-cli: %s (see prefstudio-cli --help)\n", e.what());
        return 2;
    }

    try {
        if (*run) return ps::cli::run_command(config, overrides, db);
        if (*eval) return ps::cli::eval_command(eval_config, eval_overrides, json);
        if (*runs) return ps::cli::runs_command(db, json);
        if (*exp) return ps::cli::export_command(db, run_id, format, out);
        if (*diag) return ps::cli::diagnose_command(db, diag_run, json, diag_top);
        if (*make) return ps::cli::make_data_command(kind, data_out, count, max_operand, seed);
    } catch (const ps::Error& e) {
        std::fprintf(stderr, "prefstudio-cli: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "prefstudio-cli: %s\n", e.what());
        return 2;
    }
    return 2;
}
