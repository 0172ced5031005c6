// A small paired dataset for studio tests: `count` prompts "a+b=" with the right sum as chosen
// and a near miss as rejected (TRL's JSONL), so a test needs no data fixture file.
#pragma once
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace ps::test {

// Returns false when the file cannot be written.
inline bool write_arith_pairs(const std::string& path, int count) {
    std::ofstream out(path);
    for (int i = 0; i < count && out; ++i) {
        const int a = i % 7 + 1, b = i / 3 + 1;
        const nlohmann::json pair = {{"prompt", std::to_string(a) + "+" + std::to_string(b) + "="},
                                     {"chosen", std::to_string(a + b)},
                                     {"rejected", std::to_string(a + b + 1 + i % 3)}};
        out << pair.dump() << "\n";
    }
    return static_cast<bool>(out);
}

}  // namespace ps::test
