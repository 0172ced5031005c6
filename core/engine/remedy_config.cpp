#include "core/engine/remedy_config.h"

#include "core/common/errors.h"
#include "core/config/algorithm.h"
#include "core/engine/onpolicy_data.h"

namespace ps {

namespace {

// Sets "a.b.c" in `j`, making the objects on the way (a non-object on the way is replaced).
void set_path(nlohmann::json& j, const std::string& path, const nlohmann::json& value) {
    nlohmann::json* node = &j;
    size_t start = 0;
    while (true) {
        const size_t dot = path.find('.', start);
        const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!node->is_object()) *node = nlohmann::json::object();
        if (dot == std::string::npos) {
            (*node)[key] = value;
            return;
        }
        node = &(*node)[key];
        start = dot + 1;
    }
}

}  // namespace

nlohmann::json remedy_overrides(const std::string& id, const RunConfig& config) {
    const Remedy r = remedy_by_id(id);
    const std::string& algo = config.objective.algorithm;
    if (!r.one_click)
        throw Error("remedy '" + id + "' (" + r.title + ") is advice only: " + r.change);
    if (!remedy_applies(r.kind, algo))
        throw Error("remedy '" + id + "' (" + r.title + ") does not apply to objective.algorithm '" + algo +
                    "'; pick another remedy");
    nlohmann::json o = nlohmann::json::object();
    switch (r.kind) {
        case RemedyKind::SftWeight: o["objective.sft_weight"] = 1.0; break;
        case RemedyKind::DpopLambda: o["objective.dpop_lambda"] = 5.0; break;
        case RemedyKind::LowerLearningRate: o["train.learning_rate"] = config.train.learning_rate * 0.5; break;
        case RemedyKind::HigherBeta: o["objective.beta"] = config.objective.beta * 3.0; break;
        case RemedyKind::SwitchToKto: {
            o["objective.algorithm"] = algorithm_spec(Algorithm::Kto).name;
            // KTO needs a reference model and a beta that anchors to it: a beta of an algorithm
            // without a reference (SimPO's scale, ORPO's lambda) means something else.
            o["objective.reference_free"] = false;
            if (const auto from = find_algorithm(algo); from && algorithm_spec(*from).reference == ReferenceUse::None)
                for (const ParameterSpec& p : algorithm_spec(Algorithm::Kto).parameters)
                    if (p.path == "objective.beta") o["objective.beta"] = p.default_value;
            break;
        }
        case RemedyKind::OnPolicyRejected:
            o["data.train"] = default_onpolicy_path(config);
            // The file is TRL JSONL whatever the original's format and column names were.
            if (config.data.format != "auto" && config.data.format != "trl") o["data.format"] = "auto";
            if (!config.data.columns.empty()) o["data.columns"] = nlohmann::json::object();
            if (!config.data.tags.empty()) o["data.tags"] = nlohmann::json::object();
            break;
    }
    return o;
}

nlohmann::json apply_remedy(nlohmann::json experiment, const std::string& id, const RunConfig& config) {
    const nlohmann::json overrides = remedy_overrides(id, config);
    if (!experiment.is_object()) experiment = nlohmann::json::object();
    for (auto it = overrides.begin(); it != overrides.end(); ++it) set_path(experiment, it.key(), *it);
    const Remedy r = remedy_by_id(id);
    std::string name = experiment.contains("name") && experiment["name"].is_string()
                           ? experiment["name"].get<std::string>()
                           : std::string("experiment");
    const std::string& suffix = r.name_suffix;
    if (!suffix.empty() && (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0))
        name += suffix;
    experiment["name"] = name;
    return experiment;
}

}  // namespace ps
