// Learning-rate schedules with linear warmup, as Hugging Face's get_*_schedule_with_warmup,
// evaluated at the 1-based optimiser step (so the first step already has a non-zero rate).
#pragma once
#include "core/config/config_choices.h"

namespace ps {

// Multiplier of the peak learning rate at `step` (1..total_steps).
double lr_factor(LrSchedule schedule, int step, int warmup_steps, int total_steps);

}  // namespace ps
