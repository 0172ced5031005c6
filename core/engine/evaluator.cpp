#include "core/engine/evaluator.h"

#include <algorithm>
#include <map>

#include "core/engine/reference_model.h"

namespace ps {

Evaluator::Evaluator(const RunConfig& config, RunSetup& setup, RunStream& stream, BatchObjective& objective)
    : config_(config), setup_(setup), stream_(stream), objective_(objective) {}

StepMetrics Evaluator::metrics(Split split, const std::string& prefix, std::vector<float>* row_logps) {
    torch::NoGradGuard no_grad;
    setup_.policy->eval();
    const TokenRows& rows = setup_.rows(split);
    std::map<std::string, double> sums, weights;
    double loss_sum = 0, n_total = 0;
    auto add = [&](const std::string& name, double value, double n) {
        sums[name] += value * n;
        weights[name] += n;
    };
    for (const std::vector<size_t>& idx : pass_batches(rows.groups(), config_)) {
        stream_.check_control();
        const ScoredBatch s = objective_.score(split, idx);
        if (row_logps) {
            row_logps->resize(rows.rows.size());
            auto lp = s.policy.sum.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
            const float* v = lp.data_ptr<float>();
            const size_t n = idx.size();  // batch rows: each group's first row, then each group's second
            for (size_t side = 0; side < rows.rows_per_group; ++side)
                for (size_t j = 0; j < n; ++j) (*row_logps)[idx[j] * rows.rows_per_group + side] = v[side * n + j];
        }
        const double n = static_cast<double>(idx.size());
        loss_sum += s.out.loss.item<double>() * n;
        for (const auto& [k, v] : s.out.metrics) add(k, v, n);
        if (s.logits_chosen) add("logits/chosen", *s.logits_chosen, n);
        if (s.logits_rejected) add("logits/rejected", *s.logits_rejected, n);
        n_total += n;
    }
    StepMetrics m;
    m.set(prefix + "loss", loss_sum / std::max(n_total, 1.0));
    for (const auto& [k, v] : sums) m.set(prefix + k, v / weights[k]);
    return m;
}

void Evaluator::evaluate(int64_t step, PairTracker& tracker, AnswerChecker& answers) {
    stream_.phase = "eval";
    const bool capture = tracker.active() && tracker.from_eval();
    std::vector<float> row_logps;
    StepMetrics m;
    if (setup_.data.eval_size() > 0) m = metrics(Split::Eval, "eval/", capture ? &row_logps : nullptr);
    if (tracker.active()) tracker.record(step, capture ? &row_logps : nullptr);
    answers.check(step, m);
    if (!m.values.empty()) {
        m.step = step;
        stream_.emit(m);
    }
    setup_.policy->train();
    stream_.phase = "train";
}

}  // namespace ps
