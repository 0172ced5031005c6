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
int diagnose_command(const std::string& db_path, const std::string& run, bool json);
struct GenerateArgs {
    std::string model;   // a model source, or
    std::string config;  // a run config: its trained model (train.save_dir) when saved, else model.source
    bool initial = false;  // with config: model.source even when a trained model was saved
    std::vector<std::string> prompts;
    std::vector<std::string> id_prompts;  // "1,2,3"
    int max_new_tokens = 64;
    double temperature = 0.0;
    int top_k = 0;
    double top_p = 1.0;
    long long seed = 0;
    std::string dtype = "float32";
    std::string device = "cpu";
    bool json = false;
};
int generate_command(const GenerateArgs& args);
int save_model_command(const std::string& model, const std::string& out_dir, const std::string& dtype, long long seed);
int make_data_command(const std::string& kind, const std::string& out_path, int count, int max_operand,
                      long long seed);

}  // namespace ps::cli
