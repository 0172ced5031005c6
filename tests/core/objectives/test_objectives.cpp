// Tests of core/objectives against an independent reference.
//
// Expected losses and metrics come from tests/fixtures/objectives/make_objective_fixtures.py,
// a plain-Python (math module only) transcription of the papers' / TRL's formulas, committed
// with its output objective_cases.json. Gradients are checked against central finite
// differences, and extreme inputs must give finite losses and gradients.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/common/errors.h"
#include "core/objectives/objective.h"

using nlohmann::json;

namespace {

torch::Tensor vec(const std::vector<double>& v, torch::ScalarType dt = torch::kFloat64) {
    return torch::tensor(v, torch::TensorOptions().dtype(torch::kFloat64)).to(dt);
}

torch::Tensor vec_from(const json& j, const char* key) {
    if (!j.contains(key)) return {};
    return vec(j.at(key).get<std::vector<double>>());
}

ps::ObjectiveConfig config_from(const json& j) {
    ps::ObjectiveConfig c;
    c.algorithm = j.at("algorithm").get<std::string>();
    c.beta = j.at("beta").get<double>();
    c.loss_type = j.at("loss_type").get<std::string>();
    c.label_smoothing = j.at("label_smoothing").get<double>();
    c.sft_weight = j.at("sft_weight").get<double>();
    c.dpop_lambda = j.at("dpop_lambda").get<double>();
    c.desirable_weight = j.at("desirable_weight").get<double>();
    c.undesirable_weight = j.at("undesirable_weight").get<double>();
    c.gamma = j.at("gamma").get<double>();
    c.reference_free = j.at("reference_free").get<bool>();
    c.cpo_alpha = j.at("cpo_alpha").get<double>();
    return c;
}

ps::PairedLogps paired_from(const json& in) {
    ps::PairedLogps b;
    b.chosen = vec_from(in, "chosen");
    b.rejected = vec_from(in, "rejected");
    b.chosen_tokens = vec_from(in, "chosen_tokens");
    b.rejected_tokens = vec_from(in, "rejected_tokens");
    b.ref_chosen = vec_from(in, "ref_chosen");
    b.ref_rejected = vec_from(in, "ref_rejected");
    return b;
}

ps::UnpairedLogps unpaired_from(const json& in) {
    ps::UnpairedLogps b;
    b.logps = vec_from(in, "logps");
    b.tokens = vec_from(in, "tokens");
    b.ref_logps = vec_from(in, "ref_logps");
    std::vector<double> d;
    for (bool x : in.at("desirable").get<std::vector<bool>>()) d.push_back(x ? 1.0 : 0.0);
    b.desirable = vec(d).to(torch::kBool);
    b.kl_logps = vec_from(in, "kl_logps");
    b.ref_kl_logps = vec_from(in, "ref_kl_logps");
    return b;
}

ps::ObjectiveOutput run_objective(const json& cs, const ps::PairedLogps& p, const ps::UnpairedLogps& u) {
    const ps::ObjectiveConfig c = config_from(cs.at("config"));
    if (cs.at("kind") == "unpaired") return ps::kto_objective(u, c);
    return ps::paired_objective(p, c);
}

std::map<std::string, double> metric_map(const ps::ObjectiveOutput& out) {
    std::map<std::string, double> m;
    for (const auto& kv : out.metrics) m[kv.first] = kv.second;
    return m;
}

bool close(double actual, double expected, double rel = 1e-9, double abs = 1e-12) {
    return std::fabs(actual - expected) <= rel * std::fabs(expected) + abs;
}

bool all_finite(const torch::Tensor& t) {
    return torch::isfinite(t).all().item<bool>();
}

json load_cases() {
    const QByteArray root = qgetenv("PREFSTUDIO_SOURCE_DIR");
    if (root.isEmpty()) return {};
    const std::string path = root.toStdString() + "/tests/fixtures/objectives/objective_cases.json";
    std::ifstream f(path);
    if (!f) return {};
    return json::parse(f);
}

// One configuration per algorithm/variant, for the stability and misc tests.
std::vector<std::pair<std::string, ps::ObjectiveConfig>> all_variants() {
    std::vector<std::pair<std::string, ps::ObjectiveConfig>> v;
    auto make = [](std::string algo, std::string lt, double beta) {
        ps::ObjectiveConfig c;
        c.algorithm = std::move(algo);
        c.loss_type = std::move(lt);
        c.beta = beta;
        return c;
    };
    v.push_back({"dpo sigmoid", make("dpo", "sigmoid", 0.1)});
    {
        auto c = make("dpo", "sigmoid", 0.1);
        c.label_smoothing = 0.2;
        v.push_back({"dpo cdpo", c});
    }
    {
        auto c = make("dpo", "robust", 0.1);
        c.label_smoothing = 0.2;
        v.push_back({"dpo robust", c});
    }
    v.push_back({"dpo hinge", make("dpo", "hinge", 0.1)});
    v.push_back({"dpo ipo", make("dpo", "ipo", 0.1)});
    {
        auto c = make("dpo", "sigmoid", 0.1);
        c.sft_weight = 1.0;
        v.push_back({"dpo rpo", c});
    }
    {
        auto c = make("dpo", "sigmoid", 0.1);
        c.dpop_lambda = 50.0;
        v.push_back({"dpo dpop", c});
    }
    {
        auto c = make("dpo", "sigmoid", 0.1);
        c.reference_free = true;
        v.push_back({"dpo reference-free", c});
    }
    v.push_back({"orpo", make("orpo", "sigmoid", 0.1)});
    v.push_back({"simpo", make("simpo", "sigmoid", 2.0)});
    {
        auto c = make("simpo", "sigmoid", 2.5);
        c.sft_weight = 1.0;
        c.label_smoothing = 0.1;
        v.push_back({"simpo sft", c});
    }
    for (const char* lt : {"sigmoid", "hinge", "ipo", "simpo"}) v.push_back({std::string("cpo ") + lt, make("cpo", lt, 0.1)});
    {
        auto c = make("cpo", "simpo", 2.0);
        c.cpo_alpha = 0.0;
        c.label_smoothing = 0.2;
        v.push_back({"cpo simpo no nll", c});
    }
    {
        auto c = make("kto", "sigmoid", 0.1);
        c.desirable_weight = 1.0;
        c.undesirable_weight = 1.33;
        v.push_back({"kto", c});
    }
    return v;
}

}  // namespace

class TestObjectives : public QObject {
    Q_OBJECT

private:
    json cases_;

private slots:
    void initTestCase() {
        cases_ = load_cases();
        QVERIFY2(cases_.is_object() && cases_.contains("cases"),
                 "set PREFSTUDIO_SOURCE_DIR to the source tree (objective_cases.json not found)");
        QVERIFY(cases_.at("cases").size() >= 20);
        // The fixture's ORPO clamp must be the one the objective uses.
        QCOMPARE(cases_.at("orpo_log1mexp_max").get<double>(), ps::kOrpoLog1mexpMax);
    }

    // 1. Loss, every metric (and no others) and the number of warnings match the
    //    independent Python reference to 1e-9 relative, in float64.
    void matchesReference_data() {
        QTest::addColumn<int>("index");
        const json& cs = cases_.at("cases");
        for (size_t i = 0; i < cs.size(); ++i)
            QTest::newRow(cs[i].at("name").get<std::string>().c_str()) << static_cast<int>(i);
    }
    void matchesReference() {
        QFETCH(int, index);
        const json& cs = cases_.at("cases")[index];
        const bool unpaired = cs.at("kind") == "unpaired";
        const ps::PairedLogps p = unpaired ? ps::PairedLogps{} : paired_from(cs.at("inputs"));
        const ps::UnpairedLogps u = unpaired ? unpaired_from(cs.at("inputs")) : ps::UnpairedLogps{};
        const ps::ObjectiveOutput out = run_objective(cs, p, u);
        const json& exp = cs.at("expected");

        QCOMPARE(out.loss.dim(), 0);
        QCOMPARE(out.loss.scalar_type(), torch::kFloat64);
        const double loss = out.loss.item<double>();
        QVERIFY2(close(loss, exp.at("loss").get<double>()),
                 qPrintable(QString("loss %1 expected %2").arg(loss, 0, 'g', 17)
                                .arg(exp.at("loss").get<double>(), 0, 'g', 17)));

        const auto got = metric_map(out);
        QCOMPARE(got.size(), out.metrics.size());  // no metric reported twice
        std::set<std::string> expected_names;
        for (const auto& [name, value] : exp.at("metrics").items()) {
            expected_names.insert(name);
            const auto it = got.find(name);
            QVERIFY2(it != got.end(), qPrintable(QString("missing metric %1").arg(name.c_str())));
            QVERIFY2(close(it->second, value.get<double>()),
                     qPrintable(QString("%1 = %2, expected %3")
                                    .arg(name.c_str())
                                    .arg(it->second, 0, 'g', 17)
                                    .arg(value.get<double>(), 0, 'g', 17)));
        }
        for (const auto& kv : got)
            QVERIFY2(expected_names.count(kv.first),
                     qPrintable(QString("unexpected metric %1").arg(kv.first.c_str())));
        QCOMPARE(static_cast<int>(out.warnings.size()), exp.at("warnings").get<int>());
        for (const auto& w : out.warnings) QVERIFY(!w.empty());
    }

    // 2. Autograd gradients w.r.t. the policy log-probs equal central finite differences.
    void gradientsMatchFiniteDifferences_data() {
        QTest::addColumn<int>("index");
        const json& cs = cases_.at("cases");
        for (size_t i = 0; i < cs.size(); ++i) {
            const std::string name = cs[i].at("name").get<std::string>();
            // Its inputs sit on the ORPO clamp (averaged log-probs of 0 and -1e-12), where the
            // function is not differentiable; the stability test covers it.
            if (name == "orpo_near_zero_logps") continue;
            QTest::newRow(name.c_str()) << static_cast<int>(i);
        }
    }
    void gradientsMatchFiniteDifferences() {
        QFETCH(int, index);
        const json& cs = cases_.at("cases")[index];
        const bool unpaired = cs.at("kind") == "unpaired";
        ps::PairedLogps p = unpaired ? ps::PairedLogps{} : paired_from(cs.at("inputs"));
        ps::UnpairedLogps u = unpaired ? unpaired_from(cs.at("inputs")) : ps::UnpairedLogps{};
        std::vector<torch::Tensor*> wrt;
        if (unpaired) {
            wrt = {&u.logps};
        } else {
            wrt = {&p.chosen, &p.rejected};
        }
        for (auto* t : wrt) *t = t->detach().clone().requires_grad_(true);
        const ps::ObjectiveOutput out = run_objective(cs, p, u);
        std::vector<torch::Tensor> leaves;
        for (auto* t : wrt) leaves.push_back(*t);
        auto grads = torch::autograd::grad({out.loss}, leaves, {}, false, false, /*allow_unused=*/true);
        for (size_t k = 0; k < grads.size(); ++k)
            if (!grads[k].defined()) grads[k] = torch::zeros_like(leaves[k]);

        const double h = 1e-6;
        for (size_t k = 0; k < wrt.size(); ++k) {
            torch::Tensor base = wrt[k]->detach().clone();
            for (int64_t i = 0; i < base.size(0); ++i) {
                auto eval = [&](double delta) {
                    torch::Tensor x = base.clone();
                    x[i] += delta;
                    *wrt[k] = x;
                    return run_objective(cs, p, u).loss.item<double>();
                };
                const double fd = (eval(h) - eval(-h)) / (2 * h);
                const double ad = grads[k][i].item<double>();
                QVERIFY2(std::isfinite(ad), "non-finite gradient");
                QVERIFY2(close(ad, fd, 1e-5, 1e-8),
                         qPrintable(QString("input %1[%2]: autograd %3, finite difference %4")
                                        .arg(k).arg(i).arg(ad, 0, 'g', 12).arg(fd, 0, 'g', 12)));
            }
            *wrt[k] = base;
        }
    }

    // Reference log-probs and KTO's KL pairs are constants: no gradient flows into them.
    void referenceAndKlCarryNoGradient() {
        for (const auto& [name, c] : all_variants()) {
            if (c.algorithm == "kto") {
                ps::UnpairedLogps u;
                u.logps = vec({-10, -20, -30, -5}).requires_grad_(true);
                u.ref_logps = vec({-11, -19, -31, -6}).requires_grad_(true);
                u.tokens = vec({4, 8, 12, 2});
                u.desirable = vec({1, 0, 1, 0}).to(torch::kBool);
                u.kl_logps = vec({-40, -50, -45, -60}).requires_grad_(true);
                u.ref_kl_logps = vec({-42, -53, -44, -61}).requires_grad_(true);
                const auto out = ps::kto_objective(u, c);
                const auto g = torch::autograd::grad({out.loss}, {u.logps, u.ref_logps, u.kl_logps,
                                                                  u.ref_kl_logps},
                                                     {}, false, false, /*allow_unused=*/true);
                QVERIFY(g[0].defined() && g[0].abs().sum().item<double>() > 0);
                for (int i = 1; i < 4; ++i)
                    QVERIFY2(!g[i].defined() || g[i].abs().sum().item<double>() == 0,
                             qPrintable(QString("kto input %1 got a gradient").arg(i)));
                continue;
            }
            ps::PairedLogps p;
            p.chosen = vec({-10, -20, -35}).requires_grad_(true);
            p.rejected = vec({-12, -18, -40}).requires_grad_(true);
            p.chosen_tokens = vec({5, 9, 20});
            p.rejected_tokens = vec({6, 8, 25});
            p.ref_chosen = vec({-11, -19, -30}).requires_grad_(true);
            p.ref_rejected = vec({-12.5, -18, -39}).requires_grad_(true);
            const auto out = ps::paired_objective(p, c);
            const auto g = torch::autograd::grad({out.loss}, {p.chosen, p.ref_chosen, p.ref_rejected},
                                                 {}, false, false, /*allow_unused=*/true);
            QVERIFY2(g[0].defined() && g[0].abs().sum().item<double>() > 0, name.c_str());
            QVERIFY2(!g[1].defined() || g[1].abs().sum().item<double>() == 0, name.c_str());
            QVERIFY2(!g[2].defined() || g[2].abs().sum().item<double>() == 0, name.c_str());
        }
    }

    // 3. Extreme log-probs (-1e4; ~0 such as -1e-12 over one token, exactly 0) give a finite
    //    loss, finite metrics and finite gradients for every variant, in float64 and float32.
    void extremeLogpsStayFinite_data() {
        QTest::addColumn<int>("variant");
        QTest::addColumn<int>("dtype");
        const auto v = all_variants();
        for (size_t i = 0; i < v.size(); ++i) {
            QTest::newRow((v[i].first + " f64").c_str()) << static_cast<int>(i)
                                                         << static_cast<int>(torch::kFloat64);
            QTest::newRow((v[i].first + " f32").c_str()) << static_cast<int>(i)
                                                         << static_cast<int>(torch::kFloat32);
        }
    }
    void extremeLogpsStayFinite() {
        QFETCH(int, variant);
        QFETCH(int, dtype);
        const auto dt = static_cast<torch::ScalarType>(dtype);
        const ps::ObjectiveConfig c = all_variants()[variant].second;
        const std::vector<double> big = {-1e4, -1e-12, 0.0, -1e4, -1e-12, -3.0, -1e4, 0.0};
        const std::vector<double> other = {-1e-12, -1e4, -1e-12, -1e4, 0.0, -1e4, -2.0, -1e-300};
        const std::vector<double> ones = {1, 1, 1, 1, 1, 3, 1, 1};
        const std::vector<double> ref_c = {-1e-12, -1e4, -1e4, 0.0, -5.0, -1e4, -1e4, -1e-12};
        const std::vector<double> ref_r = {-1e4, -1e-12, 0.0, -1e4, -1e4, -1e-12, -1e4, -1e4};
        torch::Tensor loss;
        std::vector<torch::Tensor> leaves;
        ps::ObjectiveOutput out;
        if (c.algorithm == "kto") {
            ps::UnpairedLogps u;
            u.logps = vec(big, dt).requires_grad_(true);
            u.ref_logps = vec(ref_c, dt);
            u.tokens = vec(ones, dt);
            u.desirable = vec({1, 0, 1, 0, 1, 0, 1, 0}).to(torch::kBool);
            u.kl_logps = vec(other, dt);
            u.ref_kl_logps = vec(ref_r, dt);
            out = ps::kto_objective(u, c);
            leaves = {u.logps};
        } else {
            ps::PairedLogps p;
            p.chosen = vec(big, dt).requires_grad_(true);
            p.rejected = vec(other, dt).requires_grad_(true);
            p.chosen_tokens = vec(ones, dt);
            p.rejected_tokens = vec(ones, dt);
            p.ref_chosen = vec(ref_c, dt);
            p.ref_rejected = vec(ref_r, dt);
            out = ps::paired_objective(p, c);
            leaves = {p.chosen, p.rejected};
        }
        QCOMPARE(out.loss.scalar_type(), dt);
        QVERIFY2(std::isfinite(out.loss.item<double>()), "loss not finite");
        for (const auto& kv : out.metrics)
            QVERIFY2(std::isfinite(kv.second), kv.first.c_str());
        const auto g = torch::autograd::grad({out.loss}, leaves, {}, false, false, /*allow_unused=*/true);
        for (const auto& t : g) QVERIFY2(!t.defined() || all_finite(t), "gradient not finite");
    }

    // bfloat16/half inputs are computed in float32.
    void reducedPrecisionIsUpcast() {
        ps::ObjectiveConfig c;
        c.algorithm = "orpo";
        ps::PairedLogps p;
        p.chosen = vec({-1.0, -0.0}, torch::kBFloat16).requires_grad_(true);
        p.rejected = vec({-3.0, -5.0}, torch::kBFloat16).requires_grad_(true);
        p.chosen_tokens = vec({1, 2}, torch::kBFloat16);
        p.rejected_tokens = vec({1, 2}, torch::kBFloat16);
        const auto out = ps::paired_objective(p, c);
        QCOMPARE(out.loss.scalar_type(), torch::kFloat32);
        QVERIFY(std::isfinite(out.loss.item<double>()));
        out.loss.backward();
        QVERIFY(p.chosen.grad().defined() && all_finite(p.chosen.grad()));
    }

    // 4a. KTO warnings: weighted balance outside 1:1..4:3, one-sided batch, too few KL pairs.
    void ktoWarnings() {
        ps::ObjectiveConfig c;
        c.algorithm = "kto";
        auto batch = [](std::vector<double> labels, int m) {
            ps::UnpairedLogps u;
            std::vector<double> l, r, t;
            for (size_t i = 0; i < labels.size(); ++i) {
                l.push_back(-10.0 - i);
                r.push_back(-11.0 - i);
                t.push_back(5);
            }
            u.logps = vec(l);
            u.ref_logps = vec(r);
            u.tokens = vec(t);
            u.desirable = vec(labels).to(torch::kBool);
            if (m > 0) {
                std::vector<double> kp(m, -50.0), kr(m, -51.0);
                u.kl_logps = vec(kp);
                u.ref_kl_logps = vec(kr);
            }
            return u;
        };
        // 4:4 and 4:3 are fine; 5:3 is not; 3:4 is not (desirable must not be the minority).
        QVERIFY(ps::kto_objective(batch({1, 1, 1, 1, 0, 0, 0, 0}, 8), c).warnings.empty());
        QVERIFY(ps::kto_objective(batch({1, 1, 1, 1, 0, 0, 0}, 7), c).warnings.empty());
        {
            const auto out = ps::kto_objective(batch({1, 1, 1, 1, 1, 0, 0, 0}, 8), c);
            QCOMPARE(out.warnings.size(), size_t(1));
            QVERIFY(QString::fromStdString(out.warnings[0]).contains("4:3"));
            QVERIFY(QString::fromStdString(out.warnings[0]).contains("objective.desirable_weight"));
        }
        QCOMPARE(ps::kto_objective(batch({1, 1, 1, 0, 0, 0, 0}, 7), c).warnings.size(), size_t(1));
        // Weights bring 6:2 back into range: 6 * 1 : 2 * 2.5 = 1.2.
        {
            ps::ObjectiveConfig w = c;
            w.undesirable_weight = 2.5;
            QVERIFY(ps::kto_objective(batch({1, 1, 1, 1, 1, 1, 0, 0}, 8), w).warnings.empty());
            QVERIFY(!ps::kto_balance_warning(6, 2, w).has_value());
            QVERIFY(ps::kto_balance_warning(6, 2, c).has_value());
            QVERIFY(ps::kto_balance_warning(0, 3, c).has_value());
        }
        // Too few mismatched pairs: kl = 0 and a warning (the 1:1 batch adds no other).
        for (int m : {0, 1}) {
            const auto out = ps::kto_objective(batch({1, 0}, m), c);
            QCOMPARE(out.warnings.size(), size_t(1));
            QVERIFY(QString::fromStdString(out.warnings[0]).contains("at least 2"));
            QCOMPARE(metric_map(out).at("kl"), 0.0);
        }
        {
            const auto out = ps::kto_objective(batch({1, 0}, 2), c);
            QVERIFY(out.warnings.empty());
            QCOMPARE(metric_map(out).at("kl"), 1.0);
        }
    }

    // 4b. ConfigErrors name the field path and, for loss_type, list the valid values.
    void configErrors() {
        ps::PairedLogps p;
        p.chosen = vec({-10, -20});
        p.rejected = vec({-12, -22});
        p.chosen_tokens = vec({4, 5});
        p.rejected_tokens = vec({4, 5});
        p.ref_chosen = vec({-11, -21});
        p.ref_rejected = vec({-11, -21});
        auto expect_error = [&](const ps::ObjectiveConfig& c, const std::string& field,
                                const std::function<void()>& call) {
            try {
                call();
                QFAIL(qPrintable(QString("no ConfigError for %1").arg(field.c_str())));
            } catch (const ps::ConfigError& e) {
                QCOMPARE(QString::fromStdString(e.field()), QString::fromStdString(field));
                QVERIFY(QString(e.what()).contains(QString::fromStdString(field)));
            }
            Q_UNUSED(c);
        };
        {
            ps::ObjectiveConfig c;
            c.loss_type = "exo";
            expect_error(c, "objective.loss_type", [&] { ps::dpo_objective(p, c); });
            expect_error(c, "objective.loss_type", [&] { ps::validate_objective(c); });
            try {
                ps::paired_objective(p, c);
                QFAIL("no error");
            } catch (const ps::ConfigError& e) {
                const QString msg = e.what();
                for (const char* t : {"sigmoid", "robust", "hinge", "ipo", "exo"})
                    QVERIFY2(msg.contains(t), qPrintable(msg));
            }
        }
        for (double eps : {-0.1, 0.5, 0.7, std::nan("")}) {
            ps::ObjectiveConfig c;
            c.label_smoothing = eps;
            expect_error(c, "objective.label_smoothing", [&] { ps::dpo_objective(p, c); });
            c.loss_type = "robust";
            expect_error(c, "objective.label_smoothing", [&] { ps::dpo_objective(p, c); });
            c.algorithm = "simpo";
            expect_error(c, "objective.label_smoothing", [&] { ps::simpo_objective(p, c); });
        }
        {
            ps::ObjectiveConfig c;
            c.label_smoothing = 0.49;
            c.loss_type = "robust";
            QVERIFY(std::isfinite(ps::dpo_objective(p, c).loss.item<double>()));
        }
        {
            ps::ObjectiveConfig c;
            c.beta = 0.0;
            expect_error(c, "objective.beta", [&] { ps::dpo_objective(p, c); });
            c.beta = 0.1;
            c.sft_weight = -1;
            expect_error(c, "objective.sft_weight", [&] { ps::dpo_objective(p, c); });
            c.sft_weight = 0;
            c.dpop_lambda = -1;
            expect_error(c, "objective.dpop_lambda", [&] { ps::dpo_objective(p, c); });
            c.dpop_lambda = 0;
            c.algorithm = "kto";
            c.undesirable_weight = 0;
            expect_error(c, "objective.undesirable_weight", [&] { ps::validate_objective(c); });
        }
        {
            ps::ObjectiveConfig c;
            c.algorithm = "kto";
            expect_error(c, "objective.algorithm", [&] { ps::paired_objective(p, c); });
            c.algorithm = "ppo";
            expect_error(c, "objective.algorithm", [&] { ps::paired_objective(p, c); });
            expect_error(c, "objective.algorithm", [&] { ps::validate_objective(c); });
        }
        // CPO reads its own loss types: robust is DPO's, simpo is CPO's.
        {
            ps::ObjectiveConfig c;
            c.algorithm = "cpo";
            c.loss_type = "robust";
            expect_error(c, "objective.loss_type", [&] { ps::cpo_objective(p, c); });
            try {
                ps::validate_objective(c);
                QFAIL("no error");
            } catch (const ps::ConfigError& e) {
                const QString msg = e.what();
                for (const char* t : {"sigmoid", "hinge", "ipo", "simpo", "robust", "CPO"})
                    QVERIFY2(msg.contains(t), qPrintable(msg));
            }
            c.loss_type = "simpo";
            ps::validate_objective(c);
            c.cpo_alpha = -1;
            expect_error(c, "objective.cpo_alpha", [&] { ps::cpo_objective(p, c); });
            c.algorithm = "dpo";  // DPO does not read simpo
            c.cpo_alpha = 1;
            expect_error(c, "objective.loss_type", [&] { ps::dpo_objective(p, c); });
        }
        // Non-DPO algorithms do not read loss_type.
        {
            ps::ObjectiveConfig c;
            c.algorithm = "simpo";
            c.loss_type = "whatever";
            ps::validate_objective(c);
            QVERIFY(std::isfinite(ps::paired_objective(p, c).loss.item<double>()));
        }
    }

    // CPO on a batch small enough to follow by hand (math module, /usr/bin/python3):
    //   chosen [-2, -3] over [2, 1] tokens, rejected [-4, -1] over [4, 2] tokens, beta 0.1.
    // sigmoid (log-probs summed): z = pc - pr = [2, -2]; losses log(1 + e^-0.2) = 0.5981388693815918
    //   and log(1 + e^0.2) = 0.7981388693815918, mean 0.6981388693815918; NLL = (2 + 3) / (2 + 1) =
    //   5/3; loss = 0.6981388693815918 + 1.0 * 5/3 = 2.3648055360482587. Rewards 0.1 x [-2, -3] and
    //   0.1 x [-4, -1]: chosen -0.25, rejected -0.25, margin 0, accuracy 1/2 (-0.2 > -0.4, -0.3 < -0.1).
    // hinge, cpo_alpha 0: relu(1 - 0.2) = 0.8, relu(1 + 0.2) = 1.2, loss 1.0.
    // simpo, beta 2, gamma 0.5, cpo_alpha 0 (token-averaged: pc = [-1, -3], pr = [-1, -0.5]):
    //   beta (pc - pr) - gamma = [-0.5, -5.5]; losses log(1 + e^0.5) = 0.9740769841801067 and
    //   log(1 + e^5.5) = 5.504078443270571, loss 3.239077713725339; rewards 2 x pc: chosen -4,
    //   2 x pr: rejected -1.5, margin -2.5, accuracy 0. nll_loss 5/3 is logged either way.
    void cpoByHand() {
        ps::PairedLogps p;
        p.chosen = vec({-2, -3});
        p.rejected = vec({-4, -1});
        p.chosen_tokens = vec({2, 1});
        p.rejected_tokens = vec({4, 2});
        ps::ObjectiveConfig c;
        c.algorithm = "cpo";
        auto m = metric_map(ps::paired_objective(p, c));
        QVERIFY(close(ps::paired_objective(p, c).loss.item<double>(), 2.3648055360482587));
        QVERIFY(close(m.at("rewards/chosen"), -0.25));
        QVERIFY(close(m.at("rewards/rejected"), -0.25));
        QVERIFY(close(m.at("rewards/margins"), 0.0, 1e-9, 1e-15));
        QCOMPARE(m.at("rewards/accuracies"), 0.5);
        QVERIFY(close(m.at("logps/chosen"), -2.5));
        QVERIFY(close(m.at("nll_loss"), 5.0 / 3.0));
        QVERIFY(!m.count("log_odds_ratio") && !m.count("kl"));

        c.loss_type = "hinge";
        c.cpo_alpha = 0.0;
        QVERIFY(close(ps::paired_objective(p, c).loss.item<double>(), 1.0));

        c.loss_type = "simpo";
        c.beta = 2.0;
        c.gamma = 0.5;
        const auto out = ps::paired_objective(p, c);
        m = metric_map(out);
        QVERIFY(close(out.loss.item<double>(), 3.239077713725339));
        QVERIFY(close(m.at("rewards/chosen"), -4.0));
        QVERIFY(close(m.at("rewards/rejected"), -1.5));
        QVERIFY(close(m.at("rewards/margins"), -2.5));
        QCOMPARE(m.at("rewards/accuracies"), 0.0);
        QVERIFY(close(m.at("logps/chosen"), -2.5));  // summed log-probs, whatever the loss used
        QVERIFY(close(m.at("nll_loss"), 5.0 / 3.0));
        // CPO-SimPO without its NLL term is SimPO.
        c.algorithm = "simpo";
        QVERIFY(close(ps::paired_objective(p, c).loss.item<double>(), 3.239077713725339));
    }

    void needsReference() {
        ps::ObjectiveConfig c;
        QVERIFY(ps::needs_reference(c));
        c.reference_free = true;
        QVERIFY(!ps::needs_reference(c));
        c.reference_free = false;
        c.algorithm = "kto";
        QVERIFY(ps::needs_reference(c));
        c.algorithm = "orpo";
        QVERIFY(!ps::needs_reference(c));
        c.algorithm = "simpo";
        QVERIFY(!ps::needs_reference(c));
        c.algorithm = "cpo";
        QVERIFY(!ps::needs_reference(c));
    }

    // paired_objective picks the same function the algorithm names; DPO without token
    // counts still works (and leaves out nll_loss) unless ipo or sft_weight needs them.
    void dispatcherAndOptionalTokens() {
        const json& cs = cases_.at("cases");
        for (const auto& cse : cs) {
            if (cse.at("kind") != "paired") continue;
            const auto c = config_from(cse.at("config"));
            const auto p = paired_from(cse.at("inputs"));
            const double via = ps::paired_objective(p, c).loss.item<double>();
            double direct = 0;
            if (c.algorithm == "dpo") direct = ps::dpo_objective(p, c).loss.item<double>();
            if (c.algorithm == "orpo") direct = ps::orpo_objective(p, c).loss.item<double>();
            if (c.algorithm == "simpo") direct = ps::simpo_objective(p, c).loss.item<double>();
            if (c.algorithm == "cpo") direct = ps::cpo_objective(p, c).loss.item<double>();
            QCOMPARE(via, direct);
        }
        ps::PairedLogps p = paired_from(cs[0].at("inputs"));
        ps::ObjectiveConfig c = config_from(cs[0].at("config"));
        QCOMPARE(c.loss_type, std::string("sigmoid"));
        const double with_tokens = ps::dpo_objective(p, c).loss.item<double>();
        p.chosen_tokens = torch::Tensor();
        p.rejected_tokens = torch::Tensor();
        const auto out = ps::dpo_objective(p, c);
        QCOMPARE(out.loss.item<double>(), with_tokens);
        QVERIFY(!metric_map(out).count("nll_loss"));
        c.loss_type = "ipo";
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::dpo_objective(p, c));
        c.algorithm = "orpo";
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::orpo_objective(p, c));
        // Shape mismatches are reported, not broadcast.
        ps::PairedLogps bad = paired_from(cs[0].at("inputs"));
        bad.rejected = bad.rejected.slice(0, 0, 2);
        QVERIFY_THROWS_EXCEPTION(ps::Error, ps::paired_objective(bad, config_from(cs[0].at("config"))));
    }
};

QTEST_GUILESS_MAIN(TestObjectives)
#include "test_objectives.moc"
