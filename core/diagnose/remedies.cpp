#include "core/diagnose/remedies.h"

#include <algorithm>

#include "core/common/errors.h"

namespace ps {

namespace {

// Every remedy, once. Regimes pick from it in their own order.
const std::vector<Remedy>& catalogue() {
    static const std::vector<Remedy> all = {
        {RemedyKind::SftWeight, "sft_weight", "Add an SFT term on the chosen answers",
         "objective.sft_weight = 1.0 (RPO; TRL rpo_alpha, LLaMA-Factory pref_ftx)",
         "An explicit likelihood term on the chosen answers keeps them from being pushed down with the rejected ones.",
         true, "-rpo"},
        {RemedyKind::DpopLambda, "dpop_lambda", "DPO-Positive",
         "objective.dpop_lambda = 5.0",
         "Penalises every chosen log-prob that drops below the reference, inside the DPO loss (Smaug).",
         true, "-dpop"},
        {RemedyKind::LowerLearningRate, "lower_learning_rate", "Lower the learning rate",
         "train.learning_rate halved",
         "Smaller steps move the shared parts of chosen and rejected answers less at once.",
         true, "-lowlr"},
        {RemedyKind::HigherBeta, "higher_beta", "Raise beta",
         "objective.beta tripled (e.g. 0.1 -> 0.3)",
         "A higher beta holds the policy closer to the reference, so both answers drift less.",
         true, "-beta"},
        {RemedyKind::SwitchToKto, "switch_to_kto", "Switch to KTO",
         "objective.algorithm = kto (beta 0.1 when the run's algorithm has no reference model: ORPO, SimPO)",
         "KTO pushes each answer against a reference point instead of only their margin, so chosen is raised on its own.",
         true, "-kto"},
        {RemedyKind::OnPolicyRejected, "on_policy_rejected", "Use on-policy rejected answers",
         "data.train = the same prompts and chosen answers with rejected answers sampled from the reference model "
         "(prefstudio-cli make-data onpolicy --config CONFIG --out FILE)",
         "Rejected answers the model would really say carry the signal; answers it never says are pushed down for nothing.",
         true, "-onpolicy", true},
    };
    return all;
}

}  // namespace

Remedy remedy_by_id(const std::string& id) {
    for (const Remedy& r : catalogue())
        if (r.id == id) return r;
    std::string known;
    for (const Remedy& r : catalogue()) known += (known.empty() ? "" : ", ") + r.id;
    throw Error("unknown remedy '" + id + "'; known remedies: " + known);
}

namespace {

// Why a remedy helps in a regime other than both falling (the catalogue's words are for that).
std::string reason_in(Regime regime, const std::string& id, const std::string& catalogue_why) {
    switch (regime) {
        case Regime::BothRising:
            if (id == "higher_beta") return "A higher beta holds the policy closer to the reference, so the rejected answers are not raised along with the chosen ones.";
            if (id == "lower_learning_rate") return "Smaller steps move the answers' shared tokens less, so raising chosen drags rejected up less.";
            if (id == "dpop_lambda") return "Keeps chosen from falling once the rise stops, without raising rejected.";
            break;
        case Regime::MarginCollapsing:
            if (id == "lower_learning_rate") return "The preference was learned and is being lost: smaller steps stop the policy overshooting it.";
            if (id == "higher_beta") return "A higher beta keeps the policy nearer the reference, where the margin was learned.";
            break;
        case Regime::Diverging:
            if (id == "lower_learning_rate") return "The loss or the rewards left any sensible range: smaller steps keep the updates stable.";
            if (id == "higher_beta") return "A higher beta makes each update smaller relative to the reference.";
            break;
        default: break;
    }
    return catalogue_why;
}

}  // namespace

std::vector<Remedy> remedies_for(Regime regime, const std::string& algorithm, std::optional<DataKind> data) {
    std::vector<std::string> ids;
    switch (regime) {
        case Regime::BothFalling:
            ids = {"sft_weight", "dpop_lambda", "lower_learning_rate", "higher_beta", "switch_to_kto",
                   "on_policy_rejected"};
            break;
        case Regime::BothRising:
            ids = {"higher_beta", "lower_learning_rate", "dpop_lambda", "switch_to_kto"};
            break;
        case Regime::MarginCollapsing:
            ids = {"lower_learning_rate", "higher_beta"};
            break;
        case Regime::Diverging:
            ids = {"lower_learning_rate", "higher_beta"};
            break;
        case Regime::WarmingUp:
        case Regime::Healthy:
            break;
    }
    std::vector<Remedy> out;
    for (const std::string& id : ids) {
        Remedy r = remedy_by_id(id);
        if (!remedy_applies(r.kind, algorithm)) continue;
        if (r.kind == RemedyKind::OnPolicyRejected && data == DataKind::Unpaired) continue;
        if (r.kind == RemedyKind::SwitchToKto && (data == DataKind::Paired || algorithm == "kto")) continue;
        r.why = reason_in(regime, r.id, r.why);
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace ps
