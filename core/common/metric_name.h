// Which part of a run a metric belongs to, read from its name: the SFT warm-up ("sft/loss"),
// preference training (plain TRL names: "loss", "rewards/chosen") or evaluation
// ("eval/rewards/chosen"). The one place that reads the "sft/" and "eval/" prefixes; importers
// of runs from other tools rename their scalars to these names first.
#pragma once
#include <string_view>

namespace ps {

enum class MetricPhase { Sft, Train, Eval };
const char* to_string(MetricPhase phase);  // "sft", "train", "eval"

struct MetricName {
    MetricPhase phase = MetricPhase::Train;
    std::string_view key;  // the name within its phase; views the name passed in
};

// "eval/rewards/chosen" -> {Eval, "rewards/chosen"}, "sft/loss" -> {Sft, "loss"},
// "loss" -> {Train, "loss"}.
MetricName split_metric_name(std::string_view name);

}  // namespace ps
