// The algorithm table (core/config/algorithm.h): every row complete and consistent, the
// questions the engine, the memory estimate, the remedies and the form ask of it, and the
// objective section of the run config read through its keys.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/common/errors.h"
#include "core/config/algorithm.h"
#include "core/config/run_config.h"
#include "core/diagnose/remedies.h"
#include "core/engine/remedy_config.h"
#include "core/model/memory_estimate.h"
#include "core/model/model_shape.h"

using ps::Algorithm;
using ps::AlgorithmSpec;
using ps::LossType;
using ps::ReferenceUse;
using ps::RemedyKind;

namespace {

ps::ObjectiveConfig objective(const std::string& algorithm) {
    ps::ObjectiveConfig o;
    o.algorithm = algorithm;
    return o;
}

bool has_parameter(const AlgorithmSpec& row, const std::string& path) {
    return std::any_of(row.parameters.begin(), row.parameters.end(),
                       [&](const ps::ParameterSpec& p) { return p.path == path; });
}

bool lists(const AlgorithmSpec& row, RemedyKind r) {
    return std::find(row.remedies.begin(), row.remedies.end(), r) != row.remedies.end();
}

std::string error_field(const std::function<void()>& call, std::string* message = nullptr) {
    try {
        call();
    } catch (const ps::ConfigError& e) {
        if (message) *message = e.what();
        return e.field();
    }
    return "no error";
}

}  // namespace

class TestAlgorithm : public QObject {
    Q_OBJECT

private slots:
    void everyAlgorithmHasOneCompleteRow() {
        std::vector<std::string> names;
        for (Algorithm a : ps::kAlgorithms) {
            const AlgorithmSpec& row = ps::algorithm_spec(a);
            QVERIFY(row.algorithm == a);
            QVERIFY(!row.name.empty() && !row.title.empty() && !row.summary.empty());
            QVERIFY2(row.advice != nullptr, row.name.c_str());
            QVERIFY2(!row.parameters.empty(), row.name.c_str());
            QVERIFY2(has_parameter(row, "objective.beta"), row.name.c_str());
            QVERIFY(ps::find_algorithm(row.name) == a);
            QVERIFY(ps::algorithm_of(objective(row.name)) == a);
            names.push_back(row.name);
        }
        QCOMPARE(names, (std::vector<std::string>{"dpo", "kto", "orpo", "simpo", "cpo"}));
        QCOMPARE(ps::algorithm_names(), std::string("dpo, kto, orpo, simpo, cpo"));
        QVERIFY(!ps::find_algorithm("ppo"));
        std::string message;
        QCOMPARE(error_field([] { ps::algorithm_of(objective("ppo")); }, &message), std::string("objective.algorithm"));
        QCOMPARE(message, std::string("objective.algorithm: 'ppo' is not one of: dpo, kto, orpo, simpo, cpo"));
        QVERIFY_THROWS_EXCEPTION(ps::ConfigError, ps::objective_parameters("ppo"));
        QVERIFY(ps::objective_advice(objective("ppo")).empty());  // unknown: no advice, no throw
    }

    // A parameter is an objective key, shows the key's range, and a row reads a loss type
    // exactly when it has the loss parameter, whose choices are the row's loss types.
    void parametersAreObjectiveKeys() {
        for (Algorithm a : ps::kAlgorithms) {
            const AlgorithmSpec& row = ps::algorithm_spec(a);
            std::set<std::string> seen;
            for (const ps::ParameterSpec& p : row.parameters) {
                QVERIFY2(seen.insert(p.path).second, p.path.c_str());
                const auto field = std::find_if(ps::objective_fields().begin(), ps::objective_fields().end(),
                                                [&](const ps::ObjectiveField& f) { return "objective." + f.key == p.path; });
                QVERIFY2(field != ps::objective_fields().end(), p.path.c_str());
                QVERIFY(field->kind == p.kind);
                QVERIFY(field->minimum == p.minimum && field->maximum == p.maximum);
                QCOMPARE(field->minimum_exclusive, p.minimum_exclusive);
                QCOMPARE(field->maximum_exclusive, p.maximum_exclusive);
                // The default is valid for the key.
                if (p.kind == ps::ParameterSpec::Kind::Real) {
                    ps::ObjectiveConfig o = objective(row.name);
                    o.*(field->real) = p.default_value;
                    ps::check_objective_values(o);
                }
            }
            QCOMPARE(has_parameter(row, "objective.loss_type"), !row.loss_types.empty());
            for (const ps::ParameterSpec& p : row.parameters) {
                if (p.path != "objective.loss_type") continue;
                std::vector<std::string> names;
                for (LossType t : row.loss_types) names.push_back(ps::loss_type_name(t));
                QCOMPARE(p.choices, names);
                QCOMPARE(p.default_choice, names.front());
            }
            QCOMPARE(has_parameter(row, "objective.reference_free"), row.reference_optional);
        }
        QCOMPARE(ps::range_text(ps::objective_parameters("dpo")[0]), std::string("> 0"));
    }

    void referenceAndRewardsAsTheRowsSay() {
        QVERIFY(ps::algorithm_spec(Algorithm::Dpo).reference == ReferenceUse::Cached);
        QVERIFY(ps::algorithm_spec(Algorithm::Kto).reference == ReferenceUse::EveryStep);
        QVERIFY(ps::algorithm_spec(Algorithm::Orpo).reference == ReferenceUse::None);
        QVERIFY(ps::algorithm_spec(Algorithm::Simpo).reference == ReferenceUse::None);
        QVERIFY(ps::algorithm_spec(Algorithm::Cpo).reference == ReferenceUse::None);
        QVERIFY(ps::algorithm_spec(Algorithm::Kto).data == ps::DataKind::Unpaired);
        // Rewards are relative exactly where a reference is used.
        for (Algorithm a : ps::kAlgorithms) {
            const AlgorithmSpec& row = ps::algorithm_spec(a);
            QCOMPARE(row.rewards == ps::RewardKind::RelativeToReference, row.reference != ReferenceUse::None);
        }

        ps::ObjectiveConfig dpo = objective("dpo");
        QVERIFY(ps::needs_reference(dpo));
        QVERIFY(!ps::reference_in_every_step(dpo, ps::ReferenceMode::Cached));
        QVERIFY(ps::reference_in_every_step(dpo, ps::ReferenceMode::OnTheFly));
        QVERIFY(ps::rewards_relative_to_reference(dpo));
        QVERIFY(!ps::token_averaged_logps(dpo));
        dpo.loss_type = "ipo";
        QVERIFY(ps::token_averaged_logps(dpo));
        QVERIFY(QString::fromStdString(ps::rewards_meaning(dpo)).contains("averaged"));
        dpo.loss_type = "sigmoid";
        dpo.reference_free = true;  // a uniform reference: none is built, rewards are absolute
        QVERIFY(!ps::needs_reference(dpo));
        QVERIFY(!ps::reference_in_every_step(dpo, ps::ReferenceMode::OnTheFly));
        QVERIFY(!ps::rewards_relative_to_reference(dpo));

        ps::ObjectiveConfig kto = objective("kto");
        QVERIFY(ps::needs_reference(kto));
        QVERIFY(ps::reference_in_every_step(kto, ps::ReferenceMode::Cached));
        kto.reference_free = true;  // not KTO's option
        QVERIFY(ps::needs_reference(kto));

        for (const char* name : {"orpo", "simpo"}) {
            const ps::ObjectiveConfig o = objective(name);
            QVERIFY(!ps::needs_reference(o));
            QVERIFY(!ps::reference_in_every_step(o, ps::ReferenceMode::OnTheFly));
            QVERIFY(!ps::rewards_relative_to_reference(o));
            QVERIFY(ps::token_averaged_logps(o));
            QVERIFY(QString::fromStdString(ps::rewards_meaning(o)).contains("no reference"));
        }
    }

    // CPO (TRL CPOTrainer): no reference, TRL's four loss types, log-probs summed for
    // sigmoid/hinge and averaged for ipo/simpo, an NLL weight that defaults to TRL's 1.0.
    void cpoRow() {
        const AlgorithmSpec& row = ps::algorithm_spec(Algorithm::Cpo);
        QVERIFY(row.data == ps::DataKind::Paired);
        QVERIFY(row.rewards == ps::RewardKind::PolicyLogProb);
        QVERIFY(row.loss_types ==
                (std::vector<LossType>{LossType::Sigmoid, LossType::Hinge, LossType::Ipo, LossType::Simpo}));
        std::vector<std::string> paths;
        for (const ps::ParameterSpec& p : row.parameters) paths.push_back(p.path);
        QCOMPARE(paths, (std::vector<std::string>{"objective.beta", "objective.loss_type", "objective.cpo_alpha",
                                                  "objective.gamma", "objective.label_smoothing"}));
        ps::ObjectiveConfig o = objective("cpo");
        QCOMPARE(o.cpo_alpha, 1.0);
        QVERIFY(!ps::needs_reference(o));
        QVERIFY(!ps::reference_in_every_step(o, ps::ReferenceMode::OnTheFly));
        QVERIFY(!ps::rewards_relative_to_reference(o));
        for (const char* t : {"sigmoid", "hinge", "ipo", "simpo"}) {
            o.loss_type = t;
            ps::validate_objective(o);
            QCOMPARE(ps::token_averaged_logps(o), std::string(t) == "ipo" || std::string(t) == "simpo");
        }
        o.loss_type = "robust";
        std::string message;
        QCOMPARE(error_field([&] { ps::validate_objective(o); }, &message), std::string("objective.loss_type"));
        QCOMPARE(message, std::string("objective.loss_type: unknown CPO loss type 'robust'; valid: sigmoid, hinge, ipo, simpo"));
        o.loss_type = "sigmoid";
        o.cpo_alpha = -0.5;
        QCOMPARE(error_field([&] { ps::validate_objective(o); }), std::string("objective.cpo_alpha"));
        o.cpo_alpha = 0.0;
        const auto advice = ps::objective_advice(o);
        QVERIFY(std::any_of(advice.begin(), advice.end(),
                            [](const std::string& a) { return a.find("no NLL term") != std::string::npos; }));
        o.loss_type = "simpo";
        o.beta = 2.0;
        o.gamma = 1.0;
        QVERIFY(QString::fromStdString(ps::objective_advice(o).front()).contains("gamma/beta = 0.5"));
        // No remedy that anchors to a reference or sets another algorithm's NLL weight.
        QVERIFY(!ps::remedy_applies(RemedyKind::HigherBeta, "cpo"));
        QVERIFY(!ps::remedy_applies(RemedyKind::SftWeight, "cpo"));
        QVERIFY(ps::remedy_applies(RemedyKind::SwitchToKto, "cpo"));
    }

    void lossTypesBelongToTheirAlgorithm() {
        ps::ObjectiveConfig o = objective("dpo");
        for (const char* t : {"sigmoid", "ipo", "hinge", "robust"}) {
            o.loss_type = t;
            QCOMPARE(ps::loss_type_name(ps::loss_type_of(o, Algorithm::Dpo)), std::string(t));
            ps::validate_objective(o);
        }
        std::string message;
        o.loss_type = "simpo";  // a TRL loss type, but not DPO's
        QCOMPARE(error_field([&] { ps::validate_objective(o); }, &message), std::string("objective.loss_type"));
        QCOMPARE(message, std::string("objective.loss_type: unknown DPO loss type 'simpo'; valid: sigmoid, ipo, hinge, robust"));
        // Algorithms without a loss type do not read it.
        o.algorithm = "orpo";
        ps::validate_objective(o);
        QVERIFY(ps::loss_type_token_averaged(LossType::Ipo));
        QVERIFY(ps::loss_type_token_averaged(LossType::Simpo));
        QVERIFY(!ps::loss_type_token_averaged(LossType::Sigmoid));
    }

    void valuesAreCheckedByTheirKey() {
        struct Case {
            double ps::ObjectiveConfig::*member;
            double value;
            const char* field;
            const char* message;
        };
        const std::vector<Case> cases = {
            {&ps::ObjectiveConfig::beta, 0.0, "objective.beta",
             "objective.beta: must be positive (DPO 0.1, SimPO 2.0, ORPO lambda 0.1), got 0"},
            {&ps::ObjectiveConfig::beta, std::nan(""), "objective.beta", "objective.beta: must be a finite number, got nan"},
            {&ps::ObjectiveConfig::label_smoothing, 0.5, "objective.label_smoothing",
             "objective.label_smoothing: must be in [0, 0.5) (the assumed share of flipped preference labels), got 0.5"},
            {&ps::ObjectiveConfig::sft_weight, -1, "objective.sft_weight", "objective.sft_weight: must be 0 or positive, got -1"},
            {&ps::ObjectiveConfig::desirable_weight, 0, "objective.desirable_weight",
             "objective.desirable_weight: must be positive, got 0"},
            {&ps::ObjectiveConfig::gamma, -0.5, "objective.gamma",
             "objective.gamma: must be 0 or positive (SimPO margin, e.g. 0.5), got -0.5"},
        };
        for (const Case& c : cases) {
            ps::ObjectiveConfig o;
            o.*c.member = c.value;
            std::string message;
            QCOMPARE(error_field([&] { ps::check_objective_values(o); }, &message), std::string(c.field));
            QCOMPARE(message, std::string(c.message));
        }
    }

    // The objective section is read and written through objective_fields(): every key there,
    // every value back.
    void objectiveSectionFollowsItsKeys() {
        nlohmann::json j = {{"data", {{"train", "x.jsonl"}}},
                            {"objective", {{"algorithm", "simpo"}, {"beta", 2.5}, {"gamma", 1.2}, {"label_smoothing", 0.1},
                                           {"sft_weight", 0.3}, {"reference_free", true}, {"loss_type", "hinge"}}}};
        const ps::RunConfig c = ps::RunConfig::from_json(j);
        QCOMPARE(c.objective.algorithm, std::string("simpo"));
        QCOMPARE(c.objective.gamma, 1.2);
        QCOMPARE(c.objective.sft_weight, 0.3);
        QVERIFY(c.objective.reference_free);
        const nlohmann::json out = c.to_json()["objective"];
        QCOMPARE(out.size(), ps::objective_fields().size());
        for (const ps::ObjectiveField& f : ps::objective_fields()) QVERIFY2(out.contains(f.key), f.key.c_str());
        QVERIFY(ps::RunConfig::from_json(c.to_json()).to_json() == c.to_json());
        j["objective"]["gama"] = 1.0;
        try {
            ps::RunConfig::from_json(j);
            QFAIL("no error");
        } catch (const ps::ConfigError& e) {
            QCOMPARE(e.field(), std::string("objective.gama"));
        }
    }

    // Which remedies a diagnosis offers is the row's; those that set a parameter are listed
    // only where the algorithm has it, "raise beta" only where beta anchors to a reference.
    void remediesFollowTheTable() {
        const std::vector<std::pair<RemedyKind, std::string>> kinds = {
            {RemedyKind::SftWeight, "sft_weight"},           {RemedyKind::DpopLambda, "dpop_lambda"},
            {RemedyKind::LowerLearningRate, "lower_learning_rate"}, {RemedyKind::HigherBeta, "higher_beta"},
            {RemedyKind::SwitchToKto, "switch_to_kto"},      {RemedyKind::OnPolicyRejected, "on_policy_rejected"},
        };
        for (Algorithm a : ps::kAlgorithms) {
            const AlgorithmSpec& row = ps::algorithm_spec(a);
            std::set<std::string> offered;
            for (const ps::Remedy& r : ps::remedies_for(ps::Regime::BothFalling, row.name)) offered.insert(r.id);
            for (const auto& [kind, id] : kinds) {
                QVERIFY(ps::remedy_by_id(id).kind == kind);
                QVERIFY2(offered.count(id) == (lists(row, kind) ? 1u : 0u), (row.name + " " + id).c_str());
            }
            if (lists(row, RemedyKind::SftWeight)) QVERIFY(has_parameter(row, "objective.sft_weight"));
            if (lists(row, RemedyKind::DpopLambda)) QVERIFY(has_parameter(row, "objective.dpop_lambda"));
            if (lists(row, RemedyKind::HigherBeta)) QVERIFY(row.reference != ReferenceUse::None);
            QCOMPARE(lists(row, RemedyKind::SwitchToKto), a != Algorithm::Kto);
        }
        QVERIFY(!ps::remedy_applies(RemedyKind::HigherBeta, "simpo"));  // no reference to hold to
        QVERIFY(ps::remedy_applies(RemedyKind::HigherBeta, ""));         // any algorithm

        ps::RunConfig c;
        c.data.train = "x.jsonl";
        c.objective.algorithm = "simpo";
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::remedy_overrides("higher_beta", c));
        // Switching to KTO from an algorithm without a reference resets beta to KTO's default.
        QCOMPARE(ps::remedy_overrides("switch_to_kto", c)["objective.beta"].get<double>(), 0.1);
        c.objective.algorithm = "dpo";
        QVERIFY(!ps::remedy_overrides("switch_to_kto", c).contains("objective.beta"));
    }

    // The memory estimate asks the table whether a reference is built and kept in every step.
    void memoryEstimateAsksTheTable() {
        for (Algorithm a : ps::kAlgorithms) {
            for (const char* logps : {"cached", "on_the_fly"}) {
                ps::RunConfig c;
                c.data.train = "x.jsonl";
                c.objective.algorithm = ps::algorithm_spec(a).name;
                c.train.reference_logps = *ps::parse_choice<ps::ReferenceMode>(logps);
                const auto e = ps::estimate_training_memory(ps::builtin_shape("tiny"), c);
                const std::string what = c.objective.algorithm + " " + logps;
                QVERIFY2(e.reference_model == ps::needs_reference(c.objective), what.c_str());
                QVERIFY2(e.reference_held_in_training == ps::reference_in_every_step(c.objective, c.train.reference_logps), what.c_str());
                QVERIFY2((e.item_bytes("reference") > 0) == e.reference_held_in_training, what.c_str());
                QVERIFY2((e.reference_pass_bytes > 0) == e.reference_model, what.c_str());
                const bool kl = ps::algorithm_spec(a).reference == ReferenceUse::EveryStep;
                for (const ps::MemoryItem& item : e.items)
                    if (item.key == "backward") QCOMPARE(QString::fromStdString(item.label).contains("KL"), kl);
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestAlgorithm)
#include "test_algorithm.moc"
