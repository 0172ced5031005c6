// prefstudio-cli: headless PrefStudio. Wires the command line to core; no Qt.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/common/errors.h"
#include "core/common/user_text.h"
#include "core/config/config_schema.h"
#include "core/engine/runtime_info.h"

int main(int argc, char** argv) {
    CLI::App app{"PrefStudio command line: train, store and inspect preference-optimisation runs"};
    app.set_version_flag("--version", std::string("prefstudio-cli ") + PREFSTUDIO_VERSION + "\n" +
                                          ps::runtime_summary(ps::runtime_info()));
    app.require_subcommand(1);
    std::string db;
    app.add_option("--db", db, "Run store (SQLite file); default: $XDG_DATA_HOME/prefstudio/runs.db");
    app.fallthrough();

    std::string config;
    std::vector<std::string> overrides;
    auto* run = app.add_subcommand("run", "Train a run from a config file and store it");
    auto* config_arg = run->add_option("CONFIG", config, "Run config JSON (see the README's config reference)");
    auto* set_opt = run->add_option("--set", overrides, "Override a config value: key.path=value (repeatable)")
        ->allow_extra_args(false);
    bool dry_run = false;
    auto* dry_run_flag = run->add_flag("--dry-run", dry_run,
                  "Print the resolved device and the memory estimate (weights, gradients, optimiser state, "
                  "activations), then exit without training or storing anything");

    bool json = false;
    run->add_flag("--json", json, "With --dry-run: print one JSON object")->needs(dry_run_flag);
    std::string resume;
    run->add_option("--resume", resume,
                    "Continue a stored run (id or name) from its newest checkpoint (train.checkpoint_every), with "
                    "the config it was started with, in the same store")
        ->excludes(config_arg)
        ->excludes(set_opt)
        ->excludes(dry_run_flag);
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

    std::string export_source, export_to, export_out;
    auto* export_config = app.add_subcommand(
        "export-config", "Write an experiment (a stored run or a config file) as a TRL or LLaMA-Factory config for a "
                         "cluster, with its multi-GPU launch lines");
    export_config->add_option("SOURCE", export_source, "Run id or name, or a run config JSON file")->required();
    export_config->add_option("--to", export_to, "trl or llamafactory")->required();
    export_config->add_option("--out,-o", export_out,
                              "Output YAML (default: standard output); LLaMA-Factory's dataset_info.json goes beside it");

    std::string diag_run;
    auto* diag = app.add_subcommand("diagnose", "Regimes of a stored run: healthy, both rewards falling, ...");
    diag->add_option("RUN", diag_run, "Run id or name")->required();
    diag->add_flag("--json", json, "Print JSON (with every tracked pair, most falling first)");
    int diag_top = 5;
    diag->add_option("--top", diag_top, "Tracked pairs to list whose chosen log-prob fell most (default 5)")
        ->check(CLI::Range(0, 100000));

    ps::cli::DataCommandOptions data_options;
    auto* data = app.add_subcommand("data", "Check and summarise a preference dataset: format, counts, token lengths, length bias, problems, first examples");
    data->add_option("FILE", data_options.file, "Dataset file (JSON Lines or a JSON array)")->required()->check(CLI::ExistingFile);
    data->add_option("--config", data_options.config, "Run config whose data.* settings and model.template apply")->check(CLI::ExistingFile);
    data->add_option("--template", data_options.template_name, "Chat template: auto, plain, chatml, qwen2.5, llama3")
        ->check(CLI::IsMember(ps::find_field("model.template")->choices));
    data->add_option("--tokenizer", data_options.tokenizer, "Tokenizer: a tokenizer.json, a model directory holding one, or byte (built-in); default: the --config model's, else byte");
    data->add_option("--format", data_options.format, "auto, trl, sharegpt or alpaca")
        ->check(CLI::IsMember(ps::find_field("data.format")->choices));
    data->add_option("--column", data_options.columns, "Renamed field, key=name (prompt, query, response, chosen, rejected, kto_tag, messages, system, history); repeatable")
        ->allow_extra_args(false);
    data->add_option("--tag", data_options.tags, "sharegpt tag, key=name (role_tag, content_tag, user_tag, assistant_tag, system_tag); repeatable")
        ->allow_extra_args(false);
    data->add_option("--max-length", data_options.max_length, "Prompt + completion tokens (default 256 or the config's)")->check(CLI::Range(8, 1 << 30));
    data->add_option("--max-prompt-length", data_options.max_prompt_length, "Prompt tokens (default 128 or the config's)")->check(CLI::Range(1, 1 << 30));
    data->add_option("--truncation-mode", data_options.truncation_mode, "drop, keep_end or keep_start")
        ->check(CLI::IsMember(ps::find_field("data.truncation_mode")->choices));
    data->add_option("--preview", data_options.preview, "Number of examples shown rendered (default 3)")->check(CLI::Range(0, 1000));
    data->add_flag("--json", data_options.json, "Print one JSON object");

    ps::cli::MakeDataArgs make_args;
    auto* make = app.add_subcommand("make-data", "Generate a preference dataset (TRL JSONL)");
    make->add_option("KIND", make_args.kind,
                     "arith: a+b= prompts, correct vs plausible wrong sum; onpolicy: the pairs of a run config's "
                     "data.train with rejected answers sampled from the run's reference model (after its SFT warm-up)")
        ->required()
        ->check(CLI::IsMember({"arith", "onpolicy"}));
    make->add_option("--out,-o", make_args.out, "Output JSONL file")->required();
    make->add_option("--count", make_args.count, "arith: number of pairs")->check(CLI::PositiveNumber);
    make->add_option("--max-operand", make_args.max_operand, "arith: operands are drawn from [0, N)")->check(CLI::Range(2, 1000000));
    make->add_option("--seed", make_args.seed, "Random seed (arith: the data; onpolicy: the sampling)")->check(CLI::NonNegativeNumber);
    make->add_option("--config", make_args.config, "onpolicy: the run config (model, SFT warm-up, data)");
    make->add_option("--set", make_args.overrides, "onpolicy: override a config value (repeatable)");
    make->add_option("--samples", make_args.samples,
                     "onpolicy: tries per prompt to get an answer that differs from the chosen one (default 4)")
        ->check(CLI::Range(1, 64));
    make->add_option("--temperature", make_args.temperature, "onpolicy: sampling temperature (default 1.0; 0 = greedy)")
        ->check(CLI::Range(0.0, 100.0));
    make->add_option("--top-p", make_args.top_p, "onpolicy: nucleus sampling (default 1.0 = off)");
    make->add_option("--top-k", make_args.top_k, "onpolicy: top-k sampling (default 0 = off)")->check(CLI::NonNegativeNumber);
    make->add_option("--max-new-tokens", make_args.max_new_tokens,
                     "onpolicy: answer length limit (default 0: the data's longest answer, within data.max_length)")
        ->check(CLI::NonNegativeNumber);
    make->add_option("--batch-size", make_args.batch_size, "onpolicy: prompts generated together (default 32)")
        ->check(CLI::PositiveNumber);
    make->add_flag("--json", make_args.json, "onpolicy: print the report as one JSON object");

    std::string tok_path, tok_template, tok_text;
    bool tok_verbose = false;
    auto* tokenize = app.add_subcommand("tokenize", "Token ids of a text with a tokenizer.json (or the built-in byte tokenizer) as JSON");
    tokenize->add_option("--tokenizer", tok_path,
                         "tokenizer.json, a model directory holding one, or 'byte' for the built-in byte tokenizer")
        ->required();
    tokenize->add_option("--template", tok_template, "Render TEXT as one user message with a chat template first: none (default), auto (the tokenizer's), plain, chatml, qwen2.5 or llama3");
    tokenize->add_option("TEXT", tok_text, "Text to tokenise ('-' reads standard input)")->required();
    tokenize->add_flag("--json", json, "Print JSON (the output is always one JSON object)");
    tokenize->add_flag("--verbose", tok_verbose, "Also print the tokens, special token ids and the detected chat template");
    ps::cli::GenerateArgs gen_args;
    auto* gen = app.add_subcommand("generate", "Answer prompts with a model (greedy or sampled, KV cache, batched)");
    auto* gen_model = gen->add_option("--model", gen_args.model, "Model source: builtin:tiny, builtin:small or a Hugging Face model directory");
    auto* gen_config = gen->add_option("--config", gen_args.config,
                                       "Run config: its trained model (train.save_dir) when one was saved, else its model.source");
    gen_model->excludes(gen_config);
    gen->add_flag("--initial", gen_args.initial, "With --config: use model.source even when a trained model was saved");
    gen->add_option("--prompt", gen_args.prompts, "Prompt text (repeatable; all prompts run as one batch)")->allow_extra_args(false);
    gen->add_option("--ids", gen_args.id_prompts, "Prompt as comma-separated token ids (repeatable), output as ids")
        ->allow_extra_args(false);
    gen->add_option("--max-new-tokens", gen_args.max_new_tokens, "Most tokens generated per prompt (default 64)")
        ->check(CLI::Range(0, 1000000));
    gen->add_option("--temperature", gen_args.temperature, "0 = greedy (default); > 0 samples")->check(CLI::Range(0.0, 100.0));
    gen->add_option("--top-k", gen_args.top_k, "Sample among the k most likely tokens; 0 = off")->check(CLI::NonNegativeNumber);
    gen->add_option("--top-p", gen_args.top_p, "Nucleus sampling threshold in (0, 1]; 1 = off")
        ->check(CLI::Range(1e-9, 1.0));
    gen->add_option("--seed", gen_args.seed, "Sampling seed (and built-in models' weight seed with --model)")
        ->check(CLI::NonNegativeNumber);
    gen->add_option("--dtype", gen_args.dtype, "As model.dtype: float32 (default), bfloat16 or float16")
        ->check(CLI::IsMember(ps::find_field("model.dtype")->choices));
    gen->add_option("--device", gen_args.device, "cpu (default), auto, cuda or cuda:N");
    auto* gen_template = gen->add_option("--template", gen_args.chat_template,
                    "Chat template for text prompts (each is one user turn): auto (default: the one training uses; "
                    "with --config the run's model.template), plain (text as is), chatml, qwen2.5 or llama3");
    gen->add_option("--template-kwargs", gen_args.template_kwargs,
                    "Extra variables for the model's own chat template, a JSON object, e.g. '{\"enable_thinking\": false}' "
                    "(with --config: over the run's model.template_kwargs)");
    gen->add_flag("--raw", gen_args.raw, "Feed each prompt as it is (BOS first where the tokenizer has one), no chat template")
        ->excludes(gen_template);
    gen->add_flag("--json", gen_args.json, "Print one JSON object with ids, text and finish reasons");

    std::string save_source, save_out, save_dtype;
    long long save_seed = 0;
    auto* save = app.add_subcommand("save", "Write a model as a directory transformers loads (config.json, model.safetensors, tokenizer files)");
    save->add_option("--model", save_source, "Model source: builtin:NAME or a Hugging Face model directory")->required();
    save->add_option("--out,-o", save_out, "Output directory (created)")->required();
    save->add_option("--dtype", save_dtype, "Weights dtype, as model.dtype: float32 (default), bfloat16 or float16")
        ->check(CLI::IsMember(ps::find_field("model.dtype")->choices));
    save->add_option("--seed", save_seed, "Built-in models: seed of their random weights")->check(CLI::NonNegativeNumber);

    auto* reference = app.add_subcommand(
        "config-reference", "Print the config reference table (markdown, the README's) from the config schema");
    ps::cli::ImportArgs import_args;
    auto* import_cmd = app.add_subcommand(
        "import", "Store a run trained with TRL / transformers / LLaMA-Factory (trainer_state.json, TensorBoard "
                  "events, trainer_log.jsonl, a console log), once or followed live");
    import_cmd->add_option("PATH", import_args.path,
                           "A source file, or an output directory (the newest source of each run inside is read)")
        ->required();
    import_cmd->add_option("--name", import_args.name, "Name of the stored run (default: its output directory's name)");
    import_cmd->add_flag("--follow", import_args.follow,
                         "Keep reading as the run writes, until its final summary or Ctrl-C");
    import_cmd->add_flag("--json", import_args.json, "Print one JSON object (an array with --all)");
    import_cmd->add_flag("--all", import_args.all, "The directory holds several runs: import each");

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
        if (*run && !resume.empty()) return ps::cli::resume_command(resume, db);
        if (*run && config.empty()) {
            std::fprintf(stderr, "prefstudio-cli: run needs a CONFIG file, or --resume RUN (see prefstudio-cli run --help)\n");
            return 2;
        }
        if (*run && dry_run) return ps::cli::dry_run_command(config, overrides, json);
        if (*run) return ps::cli::run_command(config, overrides, db);
        if (*eval) return ps::cli::eval_command(eval_config, eval_overrides, json);
        if (*runs) return ps::cli::runs_command(db, json);
        if (*exp) return ps::cli::export_command(db, run_id, format, out);
        if (*export_config) return ps::cli::export_config_command(export_source, export_to, export_out, db);
        if (*diag) return ps::cli::diagnose_command(db, diag_run, json, diag_top);
        if (*tokenize) return ps::cli::tokenize_command(tok_path, tok_template, tok_text, tok_verbose);
        if (*data) return ps::cli::data_command(data_options);
        if (*gen) return ps::cli::generate_command(gen_args);
        if (*save) return ps::cli::save_model_command(save_source, save_out, save_dtype, save_seed);
        if (*make) return ps::cli::make_data_command(make_args);
        if (*reference) {
            std::fputs(ps::config_reference_markdown().c_str(), stdout);
            return 0;
        }
        if (*import_cmd) {
            import_args.db = db;
            return ps::cli::import_command(import_args);
        }
    } catch (const ps::Error& e) {
        // Messages quote user text (names, keys, file lines): escaped so a terminal shows, not runs, it.
        std::fprintf(stderr, "prefstudio-cli: %s\n", ps::printable(e.what()).c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "prefstudio-cli: %s\n", ps::printable(e.what()).c_str());
        return 2;
    }
    return 2;
}
