// The prefstudio-cli subcommands. Each returns the process exit code (0 ok, 2 bad input,
// 1 a run that failed or was stopped) and reports errors as one line on stderr.
#pragma once
#include <string>
#include <vector>

namespace ps::cli {

int run_command(const std::string& config_path, const std::vector<std::string>& overrides,
                const std::string& db_path);
// `run --resume RUN`: the run continued from its newest checkpoint (core/store/resume_run.h).
int resume_command(const std::string& run, const std::string& db_path);
// `run CONFIG --dry-run`: the resolved device and the memory estimate (core/model/
// memory_estimate.h) as a table, or one JSON object; trains and stores nothing.
int dry_run_command(const std::string& config_path, const std::vector<std::string>& overrides, bool json);
int eval_command(const std::string& config_path, const std::vector<std::string>& overrides, bool json);
int runs_command(const std::string& db_path, bool json);
int export_command(const std::string& db_path, const std::string& run, const std::string& format,
                   const std::string& out_path);
// `top`: how many of the tracked pairs whose chosen answer fell most the text output lists.
int diagnose_command(const std::string& db_path, const std::string& run, bool json, int top = 5);
// TEXT "-" reads standard input. template_name: empty or "none" (TEXT as it is), "auto" (the
// tokenizer's chat template) or a template name: TEXT becomes one rendered user message.
int tokenize_command(const std::string& tokenizer_path, const std::string& template_name, const std::string& text,
                     bool verbose);
struct DataCommandOptions {
    std::string file;
    std::string config;        // run config whose data.* and model.template apply (optional)
    std::string template_name; // empty: the config's, else auto
    std::string tokenizer;     // empty or "byte"
    std::string format;        // empty: the config's, else auto
    std::vector<std::string> columns, tags;  // "key=name"
    int max_length = 0, max_prompt_length = 0;  // 0: the config's (defaults 256, 128)
    std::string truncation_mode;
    int preview = 3;
    bool json = false;
};
// `data FILE`: detected format, counts, token-length percentiles, length bias, problems,
// warnings and the first examples rendered. Exit 2 when the file has problems.
int data_command(const DataCommandOptions& options);
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
    // Text prompts: "auto" = the chat template training uses (with --config: the run's
    // model.template), or plain/chatml/qwen2.5/llama3; raw = the text as it is.
    std::string chat_template = "auto";
    // Extra variables for a model's own template, a JSON object ({"enable_thinking": false});
    // with --config they go over the run's model.template_kwargs.
    std::string template_kwargs;
    bool raw = false;
    bool json = false;
};
int generate_command(const GenerateArgs& args);
int save_model_command(const std::string& model, const std::string& out_dir, const std::string& dtype, long long seed);
struct MakeDataArgs {
    std::string kind;  // arith | onpolicy
    std::string out;
    // arith
    int count = 2000;
    int max_operand = 50;
    long long seed = 0;
    // onpolicy: the run config whose reference model answers the prompts of its data.train
    std::string config;
    std::vector<std::string> overrides;
    int samples = 4;
    double temperature = 1.0;
    double top_p = 1.0;
    int top_k = 0;
    int max_new_tokens = 0;
    int batch_size = 32;
    bool json = false;
};
int make_data_command(const MakeDataArgs& args);
// `export-config (RUN|CONFIG) --to trl|llamafactory [-o FILE]`: a stored run's resolved config or
// a config file as a TRL or LLaMA-Factory YAML (standard output without -o; LLaMA-Factory's
// dataset_info.json beside FILE). Warnings (what trains differently there) go to stderr.
int export_config_command(const std::string& source, const std::string& to, const std::string& out_path,
                          const std::string& db_path);
struct ImportArgs {
    std::string path;  // a source file or an output directory
    std::string db;
    std::string name;  // empty: the output directory's name
    bool follow = false;
    bool json = false;
    bool all = false;  // a directory holding several runs: import each
};
// `import PATH`: import_command.cpp. Exit 2 when the path holds several runs and --all is not
// given (they are listed), or when a source cannot be read.
int import_command(const ImportArgs& args);

}  // namespace ps::cli
