#include "core/common/metric_name.h"

namespace ps {

const char* to_string(MetricPhase phase) {
    switch (phase) {
        case MetricPhase::Sft: return "sft";
        case MetricPhase::Train: return "train";
        case MetricPhase::Eval: return "eval";
    }
    return "train";
}

MetricName split_metric_name(std::string_view name) {
    constexpr std::string_view kSft = "sft/", kEval = "eval/";
    if (name.substr(0, kSft.size()) == kSft) return {MetricPhase::Sft, name.substr(kSft.size())};
    if (name.substr(0, kEval.size()) == kEval) return {MetricPhase::Eval, name.substr(kEval.size())};
    return {MetricPhase::Train, name};
}

}  // namespace ps
