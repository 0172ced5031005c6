// The one tiny run config the engine tests start from: a short run on short sequences (the
// arithmetic pairs of make_data fit in 32 tokens, prompts in 16) with a constant learning rate
// high enough for the built-in tiny model to move in a few steps. Each test then sets only what
// it is about (algorithm, steps, evals, adapters, ...), so the differences between tests are
// visible where they are.
#pragma once
#include <string>

#include "core/config/run_config.h"

namespace ps::test {

inline ps::RunConfig tiny_run_config(const std::string& train_data, int steps, const std::string& name = "tiny") {
    ps::RunConfig c;
    c.name = name;
    c.data.train = train_data;
    c.data.max_length = 32;
    c.data.max_prompt_length = 16;
    c.train.steps = steps;
    c.train.batch_size = 8;
    c.train.learning_rate = 5e-3;
    c.train.warmup_steps = 0;
    c.train.schedule = ps::LrSchedule::Constant;
    return c;
}

}  // namespace ps::test
