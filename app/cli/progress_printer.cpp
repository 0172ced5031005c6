#include "progress_printer.h"

#include <cmath>
#include <unistd.h>

namespace ps::cli {

std::string format_duration(double seconds) {
    if (seconds < 0 || !std::isfinite(seconds)) return "--:--";
    long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

ProgressPrinter::ProgressPrinter(FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

void ProgressPrinter::clear_bar() {
    if (bar_shown_) {
        std::fprintf(out_, "\r\033[K");
        bar_shown_ = false;
    }
}

void ProgressPrinter::on_metrics(const StepMetrics& m) {
    std::lock_guard<std::mutex> lock(mutex_);
    double acc = m.get("eval/rewards/accuracies");
    if (!std::isnan(acc)) last_eval_acc_ = acc;
}

void ProgressPrinter::on_event(const RunEvent& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    clear_bar();
    const char* tag = e.kind == "warning" ? "warning: " : e.kind == "error" ? "error: " : "";
    std::fprintf(out_, "%s%s\n", tag, e.message.c_str());
    std::fflush(out_);
}

void ProgressPrinter::on_progress(const RunProgress& p) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (p.phase == "done") {
        clear_bar();
        return;
    }
    const bool phase_changed = p.phase != last_phase_;
    last_phase_ = p.phase;
    char detail[160] = "";
    if (p.phase == "train")
        std::snprintf(detail, sizeof detail, " loss %.4f  chosen %+.3f  rejected %+.3f%s", p.loss, p.reward_chosen,
                      p.reward_rejected, last_eval_acc_ >= 0 ? "" : "");
    else if (p.phase == "sft")
        std::snprintf(detail, sizeof detail, " sft loss %.4f", p.loss);
    std::string acc;
    if (p.phase == "train" && last_eval_acc_ >= 0) {
        char b[40];
        std::snprintf(b, sizeof b, "  eval acc %.2f", last_eval_acc_);
        acc = b;
    }
    const double frac = p.total_steps > 0 ? static_cast<double>(p.step) / static_cast<double>(p.total_steps) : 0.0;
    if (tty_) {
        // Redraw at most ~10 times a second: the terminal is not the bottleneck of training.
        if (!phase_changed && p.elapsed_s - last_draw_ < 0.1 && p.step != p.total_steps) return;
        last_draw_ = p.elapsed_s;
        const int width = 24;
        const int filled = static_cast<int>(std::lround(frac * width));
        std::string bar(static_cast<size_t>(filled), '#');
        bar.append(static_cast<size_t>(width - filled), '.');
        std::fprintf(out_, "\r\033[K[%s] %lld/%lld %-9s%s%s  %s<%s  %.0f tok/s", bar.c_str(),
                     static_cast<long long>(p.step), static_cast<long long>(p.total_steps), p.phase.c_str(), detail,
                     acc.c_str(), format_duration(p.elapsed_s).c_str(), format_duration(p.eta_s).c_str(),
                     p.tokens_per_second);
        bar_shown_ = true;
    } else {
        // Plain lines for logs and pipes: at phase changes and about every 5% of the run.
        const int64_t every = std::max<int64_t>(1, p.total_steps / 20);
        if (!phase_changed && p.step - last_line_step_ < every && p.step != p.total_steps) return;
        last_line_step_ = p.step;
        std::fprintf(out_, "step %lld/%lld %s%s%s elapsed %s eta %s\n", static_cast<long long>(p.step),
                     static_cast<long long>(p.total_steps), p.phase.c_str(), detail, acc.c_str(),
                     format_duration(p.elapsed_s).c_str(), format_duration(p.eta_s).c_str());
    }
    std::fflush(out_);
}

void ProgressPrinter::on_finish(RunStatus, const nlohmann::json&, const std::string&) {
    std::lock_guard<std::mutex> lock(mutex_);
    clear_bar();
    std::fflush(out_);
}

}  // namespace ps::cli
