// The prefstudio-cli subcommands. Each returns the process exit code (0 ok, 2 bad input,
// 1 a run that failed or was stopped) and reports errors as one line on stderr.
#pragma once
#include <string>
#include <vector>

namespace ps::cli {

int run_command(const std::string& config_path, const std::vector<std::string>& overrides,
                const std::string& db_path);
int eval_command(const std::string& config_path, const std::vector<std::string>& overrides, bool json);
int runs_command(const std::string& db_path, bool json);
int export_command(const std::string& db_path, const std::string& run, const std::string& format,
                   const std::string& out_path);
// `top`: how many of the tracked pairs whose chosen answer fell most the text output lists.
int diagnose_command(const std::string& db_path, const std::string& run, bool json, int top = 5);
int make_data_command(const std::string& kind, const std::string& out_path, int count, int max_operand,
                      long long seed);

}  // namespace ps::cli
