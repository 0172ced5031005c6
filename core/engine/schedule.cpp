#include "core/engine/schedule.h"

#include <algorithm>
#include <cmath>


namespace ps {

double lr_factor(LrSchedule schedule, int step, int warmup_steps, int total_steps) {
    if (warmup_steps > 0 && step <= warmup_steps)
        return static_cast<double>(step) / static_cast<double>(warmup_steps);
    if (schedule == LrSchedule::Constant) return 1.0;
    const int decay_steps = std::max(1, total_steps - warmup_steps);
    const double progress = std::clamp(static_cast<double>(step - 1 - warmup_steps) / decay_steps, 0.0, 1.0);  // HF: 0-based
    switch (schedule) {
        case LrSchedule::Cosine: return 0.5 * (1.0 + std::cos(M_PI * progress));
        case LrSchedule::Linear: return 1.0 - progress;
        case LrSchedule::Constant: break;
    }
    return 1.0;
}

}  // namespace ps
