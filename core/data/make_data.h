// Generated preference datasets: the demo data and the experiments' data are made by
// `prefstudio-cli make-data`, never hand-written or committed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/preference_data.h"

namespace ps {

struct ArithDataOptions {
    int count = 2000;        // number of pairs
    int max_operand = 50;    // operands drawn from [0, max_operand)
    uint64_t seed = 0;
};

// "a+b=" prompts; chosen is the correct sum, rejected a plausible wrong one (off by one,
// off by ten, or digits swapped). Same options, same file, on every machine.
std::vector<PreferencePair> make_arith_pairs(const ArithDataOptions& options);

// Names of the generators `make-data` knows, for its --help and errors.
std::vector<std::string> data_generator_names();

}  // namespace ps
