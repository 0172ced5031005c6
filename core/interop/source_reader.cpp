// The four readers. Each keeps how far it has read, so read() returns only what is new.
#include "core/interop/source_reader.h"

#include <boost/crc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <system_error>

#include "core/common/errors.h"
#include "core/interop/log_entry.h"
#include "core/interop/tensorboard_event.pb.h"

namespace fs = std::filesystem;

namespace ps {

using interop::EntryKind;
using interop::MappedEntry;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The bytes of `path` from `offset` to its current end ("" when it has not grown).
std::string read_from(const std::string& path, uint64_t offset) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path, 0, "cannot open the file");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
    if (size <= offset) return {};
    std::string out(size - offset, '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(&out[0], static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<size_t>(in.gcount()));
    return out;
}

// A step's values with one value per name: a later value of the same name replaces it.
void put(StepMetrics& m, const std::string& name, double v) {
    for (auto& nv : m.values)
        if (nv.first == name) {
            nv.second = v;
            return;
        }
    m.values.emplace_back(name, v);
}

// The training configuration files a run leaves beside its logs: LLaMA-Factory's
// training_args.yaml / llamaboard_config.yaml, a script's training_config.json, W&B's
// config.yaml ({key: {value: ...}}). Merged into one object; absent files are skipped.
nlohmann::json side_config(const std::string& dir, std::vector<std::string>& warnings) {
    nlohmann::json config = nlohmann::json::object();
    std::error_code ec;
    for (const char* name : {"llamaboard_config.yaml", "training_args.yaml", "training_config.json", "config.yaml"}) {
        const fs::path p = fs::path(dir) / name;
        if (!fs::is_regular_file(p, ec)) continue;
        try {
            nlohmann::json j;
            if (ends_with(name, ".json")) {
                std::ifstream in(p);
                std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                j = interop::parse_python_json(text);
                if (j.is_discarded()) throw DataError(p.string(), 0, "not valid JSON");
            } else {
                j = interop::read_yaml_as_json(p.string());
            }
            if (!j.is_object()) continue;
            if (std::string(name) == "config.yaml") {
                // W&B: every key holds {desc, value}; its own keys start with "_wandb".
                for (auto it = j.begin(); it != j.end(); ++it) {
                    if (starts_with(it.key(), "_wandb")) continue;
                    if (it->is_object() && it->contains("value")) config[it.key()] = (*it)["value"];
                }
            } else {
                for (auto it = j.begin(); it != j.end(); ++it) config[it.key()] = *it;
            }
        } catch (const Error& e) {
            warnings.push_back(std::string("the configuration was not read: ") + e.what());
        }
    }
    return config;
}

// The step a log entry gives ("step" of log_history, "current_steps" of LLaMA-Factory).
bool step_of(const nlohmann::json& entry, const char* key, int64_t& step) {
    auto it = entry.find(key);
    if (it == entry.end() || !it->is_number()) return false;
    step = it->get<int64_t>();
    return true;
}

// ---------------------------------------------------------------- trainer_state.json

// trainer_state.json, or a bare log_history list. The file is rewritten whole (at every
// checkpoint), so each read parses it again and hands out the entries past those handed out.
class TrainerStateReader : public SourceReader {
public:
    explicit TrainerStateReader(SourceFile source) : SourceReader(std::move(source)) {
        config_ = side_config(source_.run_dir, warnings_);
        if (config_.empty()) config_ = nlohmann::json::object();
    }

    ReadBatch read(bool follow) override {
        ReadBatch batch;
        const std::string path = current_file();
        std::error_code ec;
        const auto size = fs::file_size(path, ec);
        const auto mtime = fs::last_write_time(path, ec);
        if (ec) {
            if (follow) return batch;
            throw DataError(path, 0, "cannot read the file: " + ec.message());
        }
        if (path == last_path_ && size == last_size_ && mtime == last_mtime_) return batch;
        const std::string text = read_from(path, 0);
        nlohmann::json j = interop::parse_python_json(text);
        if (j.is_discarded()) {
            if (follow) return batch;  // being rewritten: read it at the next change
            // Say where: nlohmann's message names the byte.
            try {
                const nlohmann::json again = nlohmann::json::parse(interop::quote_nonfinite(text));
                (void)again;
            } catch (const nlohmann::json::parse_error& e) {
                throw DataError(path, 0, std::string("not valid JSON: ") + e.what());
            }
            throw DataError(path, 0, "not valid JSON");
        }
        last_path_ = path;
        last_size_ = size;
        last_mtime_ = mtime;
        const nlohmann::json* history = nullptr;
        if (j.is_array()) {
            history = &j;
        } else if (j.is_object() && j.contains("log_history") && j["log_history"].is_array()) {
            history = &j["log_history"];
            nlohmann::json state = nlohmann::json::object();
            for (const char* k : {"global_step", "max_steps", "num_train_epochs", "logging_steps", "eval_steps",
                                  "save_steps", "train_batch_size"})
                if (j.contains(k) && !j[k].is_null()) state[k] = j[k];
            config_["trainer_state"] = state;
            int64_t max_steps = 0;
            if (step_of(j, "max_steps", max_steps) && max_steps > 0) batch.total_steps = max_steps;
        } else {
            throw DataError(path, 0, "neither a trainer_state.json (no \"log_history\" list) nor a log_history list");
        }
        if (history->size() < consumed_) {
            warnings_.push_back(path + " holds fewer log entries than read before; only later entries are read");
            consumed_ = history->size();
        }
        for (size_t i = consumed_; i < history->size(); ++i) {
            const nlohmann::json& entry = (*history)[i];
            int64_t step = 0;
            if (!step_of(entry, "step", step)) {
                step = int64_t(i) + 1;
                if (!counted_warning_) warnings_.push_back(path + ": log entries without \"step\" are numbered by their position");
                counted_warning_ = true;
            }
            MappedEntry m = interop::map_log_entry(entry, {"step"});
            if (m.kind == EntryKind::Summary) {
                batch.finished = true;
                batch.summary.update(m.summary);
                continue;
            }
            if (m.values.empty()) continue;
            StepMetrics s;
            s.step = step;
            s.wall_time = kNaN;  // the Trainer's state keeps no times
            s.values = std::move(m.values);
            batch.steps.push_back(std::move(s));
        }
        consumed_ = history->size();
        return batch;
    }

private:
    // A run's state is read from its newest file: checkpoint-N/trainer_state.json files and
    // the output directory's own one are the same run at different times.
    std::string current_file() const {
        if (source_.key_path == source_.path) return source_.path;
        std::string best = source_.path;
        // (Not file_time_type{}: libstdc++'s file clock starts in 2174, so every file is older.)
        fs::file_time_type best_time = fs::file_time_type::min();
        std::error_code ec;
        auto consider = [&](const fs::path& p) {
            std::error_code e;
            if (!fs::is_regular_file(p, e)) return;
            const auto t = fs::last_write_time(p, e);
            if (!e && t > best_time) {
                best_time = t;
                best = p.string();
            }
        };
        consider(source_.key_path);
        for (fs::directory_iterator it(source_.run_dir, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_directory(ec) && starts_with(it->path().filename().string(), "checkpoint-"))
                consider(it->path() / "trainer_state.json");
        return best;
    }

    size_t consumed_ = 0;
    std::string last_path_;
    uintmax_t last_size_ = 0;
    fs::file_time_type last_mtime_{};
    bool counted_warning_ = false;
};

// ---------------------------------------------------------------- line-based formats

// Hands out complete lines of a growing file ('\n'-terminated; console logs also split at '\r',
// where progress bars redraw). A last line without its newline waits while following.
class LineFeed {
public:
    explicit LineFeed(bool split_cr) : split_cr_(split_cr) {}

    // Appends what the file gained and returns the complete lines (with their 1-based numbers).
    std::vector<std::pair<long, std::string>> take(const std::string& path, bool follow,
                                                    std::vector<std::string>& warnings) {
        const std::string more = read_from(path, offset_);
        offset_ += more.size();
        pending_ += more;
        std::vector<std::pair<long, std::string>> lines;
        size_t start = 0;
        for (size_t i = 0; i < pending_.size(); ++i) {
            const char c = pending_[i];
            if (c == '\n' || (split_cr_ && c == '\r')) {
                if (c == '\n') ++line_;
                lines.emplace_back(c == '\n' ? line_ : line_ + 1, pending_.substr(start, i - start));
                start = i + 1;
            }
        }
        pending_.erase(0, start);
        if (!follow && !pending_.empty()) {
            lines.emplace_back(line_ + 1, pending_);  // the last line, without its newline
            tail_line_ = line_ + 1;
            pending_.clear();
        }
        return lines;
    }
    long tail_line() const { return tail_line_; }  // the line handed out without its newline, 0 if none

private:
    bool split_cr_;
    uint64_t offset_ = 0;
    std::string pending_;
    long line_ = 0;
    long tail_line_ = 0;
};

// ---------------------------------------------------------------- LLaMA-Factory trainer_log.jsonl

class LlamaFactoryReader : public SourceReader {
public:
    explicit LlamaFactoryReader(SourceFile source) : SourceReader(std::move(source)), feed_(false) {
        config_ = side_config(source_.run_dir, warnings_);
    }

    ReadBatch read(bool follow) override {
        ReadBatch batch;
        for (auto& [line, text] : feed_.take(source_.path, follow, warnings_)) {
            if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
            nlohmann::json j = interop::parse_python_json(text);
            if (j.is_discarded() || !j.is_object()) {
                if (line == feed_.tail_line()) {
                    warnings_.push_back(source_.path + ":" + std::to_string(line) +
                                        ": the last line is incomplete (no newline, not valid JSON); it was left out");
                    continue;
                }
                throw DataError(source_.path, line, "not a JSON object: " + text.substr(0, 80));
            }
            int64_t step = 0, total = 0;
            if (!step_of(j, "current_steps", step))
                throw DataError(source_.path, line, "no \"current_steps\"; not a LLaMA-Factory trainer_log.jsonl line");
            if (step_of(j, "total_steps", total) && total > 0) batch.total_steps = total;
            // LogCallback's names: "lr" (learning_rate from v0.9.1), "accuracy" (the trainer's
            // rewards/accuracies).
            nlohmann::json renamed = nlohmann::json::object();
            for (auto it = j.begin(); it != j.end(); ++it) {
                if (it.key() == "lr") renamed["learning_rate"] = *it;
                else if (it.key() == "accuracy") renamed["rewards/accuracies"] = *it;
                else if (it.key() == "eval_accuracy") renamed["eval_rewards/accuracies"] = *it;
                else renamed[it.key()] = *it;
            }
            MappedEntry m = interop::map_log_entry(
                renamed, {"current_steps", "total_steps", "percentage", "elapsed_time", "remaining_time"});
            // The last line (current_steps == total_steps, no loss) is the end of training.
            if (m.kind == EntryKind::Summary || (total > 0 && step >= total && !j.contains("loss") && !j.contains("eval_loss"))) {
                batch.finished = true;
                double epoch = 0.0;
                if (j.contains("epoch") && interop::number_of(j["epoch"], epoch)) batch.summary["epoch"] = epoch;
                if (j.contains("elapsed_time") && j["elapsed_time"].is_string()) {
                    const double t = interop::parse_elapsed(j["elapsed_time"].get<std::string>());
                    if (std::isfinite(t)) batch.summary["train_runtime"] = t;
                }
                continue;
            }
            if (m.values.empty()) continue;
            StepMetrics s;
            s.step = step;
            s.wall_time = j.contains("elapsed_time") && j["elapsed_time"].is_string()
                              ? interop::parse_elapsed(j["elapsed_time"].get<std::string>())
                              : kNaN;
            s.values = std::move(m.values);
            batch.steps.push_back(std::move(s));
        }
        return batch;
    }

private:
    LineFeed feed_;
};

// ---------------------------------------------------------------- console logs

// The Trainer prints each log as a Python dict line; W&B keeps stdout as output.log. The dict
// lines carry no step (before transformers 4.x's "step" key), so a train dict k is step
// k * logging_steps and an eval dict j is step j * eval_steps (the run's configuration, W&B's
// config.yaml beside the log); without them the dicts are numbered.
class ConsoleLogReader : public SourceReader {
public:
    explicit ConsoleLogReader(SourceFile source) : SourceReader(std::move(source)), feed_(true) {
        config_ = side_config(source_.run_dir, warnings_);
        double ls = 0.0;
        if (config_.contains("logging_steps") && interop::number_of(config_["logging_steps"], ls) && ls >= 1)
            logging_steps_ = int64_t(ls);
        first_step_ = config_.value("logging_first_step", false);
        double es = 0.0;
        const std::string strategy = config_.contains("eval_strategy") && config_["eval_strategy"].is_string()
                                         ? config_["eval_strategy"].get<std::string>()
                                         : config_.contains("evaluation_strategy") && config_["evaluation_strategy"].is_string()
                                               ? config_["evaluation_strategy"].get<std::string>()
                                               : std::string();
        if (strategy == "steps") {
            if (config_.contains("eval_steps") && interop::number_of(config_["eval_steps"], es) && es >= 1)
                eval_steps_ = int64_t(es);
            else if (config_.contains("eval_steps") && config_["eval_steps"].is_null())
                eval_steps_ = logging_steps_;  // transformers: eval_steps defaults to logging_steps
        }
        double max_steps = 0.0;
        if (config_.contains("max_steps") && interop::number_of(config_["max_steps"], max_steps) && max_steps > 0)
            total_steps_ = int64_t(max_steps);
    }

    ReadBatch read(bool follow) override {
        ReadBatch batch;
        if (total_steps_ > 0) batch.total_steps = total_steps_;
        for (auto& [line, text] : feed_.take(source_.path, follow, warnings_)) {
            const size_t at = text.find("{'");
            if (at == std::string::npos) continue;
            size_t end = 0;
            nlohmann::json j = interop::parse_python_literal(text, at, end);
            if (j.is_discarded() || !j.is_object()) continue;  // console text that only looks like one
            MappedEntry m = interop::map_log_entry(j, {"step"});
            if (m.kind == EntryKind::Summary) {
                batch.finished = true;
                batch.summary.update(m.summary);
                continue;
            }
            if (m.values.empty()) continue;
            int64_t step = 0;
            if (!step_of(j, "step", step)) {
                if (m.kind == EntryKind::Eval) {
                    ++evals_;
                    step = eval_steps_ > 0 ? evals_ * eval_steps_ : last_train_step_;
                } else {
                    ++trains_;
                    if (logging_steps_ > 0) step = first_step_ ? (trains_ == 1 ? 1 : (trains_ - 1) * logging_steps_)
                                                                : trains_ * logging_steps_;
                    else step = trains_;
                }
                if (logging_steps_ == 0 && !counted_warning_) {
                    warnings_.push_back(source_.path + ": no logging_steps in a config.yaml beside it; the logged dicts are numbered 1, 2, ...");
                    counted_warning_ = true;
                }
            }
            if (m.kind == EntryKind::Train) last_train_step_ = step;
            StepMetrics s;
            s.step = step;
            s.wall_time = kNaN;
            s.values = std::move(m.values);
            batch.steps.push_back(std::move(s));
        }
        return batch;
    }

private:
    LineFeed feed_;
    int64_t logging_steps_ = 0, eval_steps_ = 0, total_steps_ = 0;
    bool first_step_ = false;
    int64_t trains_ = 0, evals_ = 0, last_train_step_ = 0;
    bool counted_warning_ = false;
};

// ---------------------------------------------------------------- TensorBoard event files

// CRC32C (Castagnoli), as TFRecord frames use it, masked so that a CRC of data holding CRCs
// is not itself a CRC.
uint32_t masked_crc32c(const char* data, size_t n) {
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
    crc.process_bytes(data, n);
    const uint32_t c = crc.checksum();
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

uint64_t le64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
uint32_t le32(const char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

class TensorBoardReader : public SourceReader {
public:
    // An event is a few hundred bytes; the training arguments' text a few tens of kB. Anything
    // past this is not a length TensorBoard writes.
    static constexpr uint64_t kMaxRecord = uint64_t(1) << 28;

    explicit TensorBoardReader(SourceFile source) : SourceReader(std::move(source)) {}

    ReadBatch read(bool follow) override {
        if (error_) {
            const std::string e = *error_;
            throw DataError(source_.path, 0, e);
        }
        ReadBatch batch;
        const std::string more = read_from(source_.path, file_offset_);
        file_offset_ += more.size();
        buffer_ += more;
        size_t pos = 0;
        bool any = false;
        while (true) {
            const uint64_t at = consumed_ + pos;  // the record's byte offset in the file
            const size_t left = buffer_.size() - pos;
            if (left < 12) break;
            const char* p = buffer_.data() + pos;
            const uint64_t length = le64(p);
            std::string problem;
            if (masked_crc32c(p, 8) != le32(p + 8)) problem = "the length's CRC does not match";
            else if (length > kMaxRecord) problem = "impossible record length " + std::to_string(length);
            if (problem.empty() && left < 12 + length + 4) break;
            tbproto::Event event;
            if (problem.empty() && masked_crc32c(p + 12, size_t(length)) != le32(p + 12 + length))
                problem = "the data's CRC does not match";
            else if (problem.empty() && !event.ParseFromArray(p + 12, int(length)))
                problem = "the record is not a TensorBoard Event";
            if (!problem.empty()) {
                // What was read before the corrupt record goes out first; the error at the next read.
                error_ = "corrupt TensorBoard record at byte " + std::to_string(at) + ": " + problem;
                if (!any || !follow) corrupt(at, problem);
                if (pending_) {
                    batch.steps.push_back(std::move(*pending_));
                    pending_.reset();
                }
                buffer_.erase(0, pos);
                consumed_ += pos;
                return batch;
            }
            take_event(event, batch);
            pos += 12 + size_t(length) + 4;
            any = true;
        }
        buffer_.erase(0, pos);
        consumed_ += pos;
        // The step being read may get more scalars in the next record; it goes out when a new
        // step starts, at the end of the run, or when the writer has paused between records
        // (a read found nothing new and no record is half written).
        if (pending_ && (!follow || batch.finished || (!any && buffer_.empty()))) {
            batch.steps.push_back(std::move(*pending_));
            pending_.reset();
        }
        if (!follow && !buffer_.empty())
            warnings_.push_back(source_.path + ": the last record at byte " + std::to_string(consumed_) + " is incomplete (" +
                                std::to_string(buffer_.size()) + " bytes); it was left out");
        return batch;
    }

private:
    [[noreturn]] void corrupt(uint64_t offset, const std::string& what) const {
        throw DataError(source_.path, 0, "corrupt TensorBoard record at byte " + std::to_string(offset) + ": " + what);
    }

    // The scalar of a Value: simple_value, or a one-element float/double tensor (float_val,
    // double_val or tensor_content). false for text, histograms, images.
    static bool scalar_of(const tbproto::SummaryValue& v, double& out) {
        if (v.value_case() == tbproto::SummaryValue::kSimpleValue) {
            out = double(v.simple_value());
            return true;
        }
        if (v.value_case() != tbproto::SummaryValue::kTensor) return false;
        const tbproto::Tensor& t = v.tensor();
        if (t.dtype() == 1) {  // DT_FLOAT
            if (t.float_val_size() == 1) return out = double(t.float_val(0)), true;
            if (t.tensor_content().size() == 4) {
                float f;
                std::memcpy(&f, t.tensor_content().data(), 4);
                return out = double(f), true;
            }
        } else if (t.dtype() == 2) {  // DT_DOUBLE
            if (t.double_val_size() == 1) return out = t.double_val(0), true;
            if (t.tensor_content().size() == 8) {
                std::memcpy(&out, t.tensor_content().data(), 8);
                return true;
            }
        }
        return false;
    }

    void take_event(const tbproto::Event& event, ReadBatch& batch) {
        if (!origin_) origin_ = event.wall_time();
        if (event.what_case() != tbproto::Event::kSummary) return;
        for (const tbproto::SummaryValue& v : event.summary().value()) {
            const std::string& tag = v.tag();
            if (v.value_case() == tbproto::SummaryValue::kTensor && v.tensor().dtype() == 7) {  // DT_STRING: text
                if (v.tensor().string_val_size() < 1) continue;
                if (tag == "args/text_summary" || tag == "model_config/text_summary") {
                    nlohmann::json j = interop::parse_python_json(v.tensor().string_val(0));
                    if (!j.is_object()) continue;
                    if (tag == "args/text_summary") {
                        for (auto it = j.begin(); it != j.end(); ++it) config_[it.key()] = *it;
                    } else {
                        config_["model_config"] = j;
                    }
                }
                continue;
            }
            double value = 0.0;
            if (!scalar_of(v, value)) continue;
            // transformers' TensorBoardCallback: "train/<key>" and "eval/<key>".
            std::string name = tag;
            if (starts_with(tag, "train/")) {
                const std::string key = tag.substr(6);
                if (is_summary_key(key)) {
                    batch.summary[key] = value;
                    batch.finished = true;
                    continue;
                }
                name = key;
            }
            if (pending_ && pending_->step != event.step()) {
                batch.steps.push_back(std::move(*pending_));
                pending_.reset();
            }
            if (!pending_) {
                pending_.emplace();
                pending_->step = event.step();
                pending_->wall_time = event.wall_time() - *origin_;
            }
            put(*pending_, name, value);
        }
    }

    uint64_t file_offset_ = 0;  // bytes of the file read so far
    uint64_t consumed_ = 0;     // bytes of the file parsed into records
    std::string buffer_;        // read but not yet parsed (a record still being written)
    std::optional<double> origin_;
    std::optional<StepMetrics> pending_;
    std::optional<std::string> error_;  // a corrupt record found after good ones in one read
};

}  // namespace

const char* to_string(ImportFormat format) {
    switch (format) {
        case ImportFormat::TrainerState: return "trainer_state";
        case ImportFormat::TensorBoard: return "tensorboard";
        case ImportFormat::LlamaFactoryLog: return "llamafactory_log";
        case ImportFormat::ConsoleLog: return "console_log";
    }
    return "trainer_state";
}

ImportFormat import_format_from_string(const std::string& name) {
    for (ImportFormat f : {ImportFormat::TrainerState, ImportFormat::TensorBoard, ImportFormat::LlamaFactoryLog,
                           ImportFormat::ConsoleLog})
        if (name == to_string(f)) return f;
    throw Error("unknown import format '" + name + "' (trainer_state, tensorboard, llamafactory_log, console_log)");
}

bool is_summary_key(const std::string& key) {
    static const std::set<std::string> keys = {"train_runtime", "train_loss", "train_samples_per_second",
                                               "train_steps_per_second", "total_flos"};
    return keys.count(key) > 0;
}

std::string metric_name_from_log_key(const std::string& key) {
    if (starts_with(key, "eval_")) return "eval/" + key.substr(5);
    if (starts_with(key, "train/")) return key.substr(6);
    if (key == "lr") return "learning_rate";
    return key;
}

SourceFile source_file_for(const std::string& path_text) {
    std::error_code ec;
    const fs::path path = fs::absolute(path_text, ec).lexically_normal();
    if (!fs::is_regular_file(path, ec)) throw DataError(path_text, 0, "no such file");
    SourceFile s;
    s.path = path.string();
    s.key_path = s.path;
    s.run_dir = path.parent_path().string();
    const std::string file = path.filename().string();
    if (starts_with(file, "events.out.tfevents.")) {
        s.format = ImportFormat::TensorBoard;
        // <output_dir>/runs/<date_host>/events...: the run is output_dir's.
        fs::path dir = path.parent_path();
        if (dir.parent_path().filename() == "runs") dir = dir.parent_path().parent_path();
        else if (dir.filename() == "runs") dir = dir.parent_path();
        s.run_dir = dir.string();
    } else if (file == "trainer_log.jsonl" || ends_with(file, ".jsonl")) {
        s.format = ImportFormat::LlamaFactoryLog;
    } else if (ends_with(file, ".json")) {
        s.format = ImportFormat::TrainerState;
        const fs::path dir = path.parent_path();
        if (file == "trainer_state.json" && starts_with(dir.filename().string(), "checkpoint-")) {
            s.run_dir = dir.parent_path().string();
            s.key_path = (dir.parent_path() / "trainer_state.json").string();
        }
    } else if (ends_with(file, ".log") || ends_with(file, ".txt") || ends_with(file, ".out")) {
        s.format = ImportFormat::ConsoleLog;
        // W&B: <run>/files/output.log
        if (path.parent_path().filename() == "files") s.run_dir = path.parent_path().string();
    } else {
        throw DataError(path.string(), 0,
                        "not a format PrefStudio imports (trainer_state.json, events.out.tfevents.*, "
                        "trainer_log.jsonl, a console log *.log)");
    }
    s.name = fs::path(s.run_dir).filename().string();
    if (s.name.empty()) s.name = file;
    return s;
}

std::unique_ptr<SourceReader> open_source_reader(const SourceFile& source) {
    switch (source.format) {
        case ImportFormat::TrainerState: return std::make_unique<TrainerStateReader>(source);
        case ImportFormat::TensorBoard: return std::make_unique<TensorBoardReader>(source);
        case ImportFormat::LlamaFactoryLog: return std::make_unique<LlamaFactoryReader>(source);
        case ImportFormat::ConsoleLog: return std::make_unique<ConsoleLogReader>(source);
    }
    throw Error("unknown import format");
}

namespace {

// rewards/chosen = beta * logps/chosen at every train step (same beta > 0, at least two steps
// with different log-probs): the rewards have no reference, so a CPO-family trainer.
bool rewards_are_scaled_logps(const std::vector<StepMetrics>& steps) {
    std::optional<double> beta, first_logp;
    bool moved = false;
    int n = 0;
    for (const StepMetrics& m : steps) {
        std::optional<double> r, l;
        for (const auto& [k, v] : m.values) {
            if (k == "rewards/chosen") r = v;
            if (k == "logps/chosen") l = v;
        }
        if (!r || !l) continue;
        if (!std::isfinite(*r) || !std::isfinite(*l) || std::fabs(*l) < 1e-6) return false;
        const double b = *r / *l;
        if (!(b > 0)) return false;
        if (!beta) beta = b, first_logp = *l;
        else if (std::fabs(b - *beta) > 1e-4 * *beta) return false;
        if (*l != *first_logp) moved = true;
        ++n;
    }
    return n >= 2 && moved;
}

}  // namespace

DetectedAlgorithm detect_algorithm(const nlohmann::json& config, const std::vector<std::string>& names,
                                   const std::vector<StepMetrics>& steps) {
    auto has_metric = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
    auto text = [&](const char* k) -> std::string {
        return config.is_object() && config.contains(k) && config[k].is_string() ? config[k].get<std::string>() : std::string();
    };
    auto has = [&](const char* k) { return config.is_object() && config.contains(k); };
    DetectedAlgorithm d;
    // LLaMA-Factory: stage dpo with pref_loss sigmoid|hinge|ipo|kto_pair|orpo|simpo; stage kto.
    const std::string stage = text("stage");
    if (!stage.empty()) {
        if (stage == "kto") return {"kto", "", "stage kto"};
        if (stage == "dpo") {
            const std::string pref = text("pref_loss").empty() ? "sigmoid" : text("pref_loss");
            if (pref == "orpo") return {"orpo", "", "stage dpo, pref_loss orpo"};
            if (pref == "simpo") return {"simpo", "", "stage dpo, pref_loss simpo"};
            return {"dpo", pref, "stage dpo, pref_loss " + pref};
        }
        return {"", "", "stage " + stage + " (not preference training)"};
    }
    if (has_metric("log_odds_ratio") || has_metric("odds_ratio_loss")) return {"orpo", "", "the odds-ratio metrics"};
    const std::string loss_type = text("loss_type");
    // TRL's configs: KTOConfig has desirable_weight, CPOConfig cpo_alpha (loss_type simpo is SimPO).
    if (has("desirable_weight") || has_metric("kl")) return {"kto", loss_type, has("desirable_weight") ? "KTO's arguments" : "the kl metric"};
    if (has("cpo_alpha") || has("simpo_gamma")) {
        if (loss_type == "simpo") return {"simpo", "simpo", "loss_type simpo"};
        return {"cpo", loss_type, "CPO's arguments"};
    }
    // A script's own configuration ("method": "ipo", as 11-smollm's training_config.json).
    for (const char* k : {"method", "training_type", "algorithm"}) {
        const std::string m = text(k);
        if (m == "dpo" || m == "ipo" || m == "hinge" || m == "robust")
            return {"dpo", m == "dpo" ? (loss_type.empty() ? "sigmoid" : loss_type) : m, std::string(k) + " " + m};
        if (m == "kto" || m == "orpo" || m == "simpo" || m == "cpo") return {m, "", std::string(k) + " " + m};
    }
    if (!loss_type.empty() && (has("rpo_alpha") || has("ref_model_init_kwargs") || has("precompute_ref_log_probs") || has("beta")))
        return {"dpo", loss_type, "DPO's arguments (loss_type " + loss_type + ")"};
    if (loss_type.empty() && rewards_are_scaled_logps(steps))
        return {"cpo", "", "rewards are beta x the policy's log-probs (no reference): TRL's CPO"};
    if (has_metric("rewards/chosen") || has_metric("rewards/accuracies"))
        return {"dpo", loss_type, "the reward metrics"};
    return d;
}

}  // namespace ps
