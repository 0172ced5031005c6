// The choice-valued config keys the engine branches on, as enums: a missing case is a compiler
// warning instead of a silent string mismatch. choice_table<E>() (run_config.cpp) is each one's
// JSON spelling; the config schema binds the keys through it.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ps {

// The choice-valued keys the engine branches on are enums, so a missing case is a compiler
// warning (an error with -Werror=switch) instead of a silent string mismatch. choice_table<E>()
// (run_config.cpp) is each one's JSON spelling; the schema binds them through it.
enum class ModelDType { Auto, Float32, BFloat16, Float16 };  // model.dtype; Auto = float32
enum class TruncationMode { Drop, KeepEnd, KeepStart };      // data.truncation_mode
enum class LrSchedule { Cosine, Linear, Constant };          // train.schedule
enum class ReferenceMode { Cached, OnTheFly };               // train.reference_logps
enum class AnswerCheck { Auto, On, Off };                   // train.answer_check; Auto = on for built-in models

template <typename E>
const std::vector<std::pair<E, std::string>>& choice_table();
template <>
const std::vector<std::pair<ModelDType, std::string>>& choice_table<ModelDType>();
template <>
const std::vector<std::pair<TruncationMode, std::string>>& choice_table<TruncationMode>();
template <>
const std::vector<std::pair<LrSchedule, std::string>>& choice_table<LrSchedule>();
template <>
const std::vector<std::pair<ReferenceMode, std::string>>& choice_table<ReferenceMode>();
template <>
const std::vector<std::pair<AnswerCheck, std::string>>& choice_table<AnswerCheck>();

template <typename E>
const std::string& choice_name(E value) {
    for (const auto& [v, name] : choice_table<E>())
        if (v == value) return name;
    return choice_table<E>().front().second;  // unreachable: every enumerator has a row
}
template <typename E>
std::optional<E> parse_choice(std::string_view name) {
    for (const auto& [v, n] : choice_table<E>())
        if (n == name) return v;
    return std::nullopt;
}
template <typename E>
std::vector<std::string> choice_names() {
    std::vector<std::string> out;
    for (const auto& row : choice_table<E>()) out.push_back(row.second);
    return out;
}

// The dtype a run computes in: model.dtype with `auto` resolved (float32).
ModelDType resolved_dtype(ModelDType requested);

// Whether a run of `model_source` checks greedy answers: train.answer_check with `auto`
// resolved (on for built-in models, whose answers are short; off for Hugging Face models,
// where generating every tracked answer at every eval can cost more than the eval itself).
bool answer_check_enabled(AnswerCheck setting, const std::string& model_source);

}  // namespace ps
