#include "core/data/make_data.h"

#include <random>
#include <set>
#include <utility>

#include "core/common/errors.h"

namespace ps {
namespace {

// std::uniform_int_distribution differs between standard libraries; this does not.
uint64_t draw(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

std::string wrong_sum(int sum, std::mt19937_64& rng) {
    for (;;) {
        int wrong = sum;
        switch (draw(rng, 4)) {
            case 0: wrong = sum + 1; break;
            case 1: wrong = sum - 1; break;
            case 2: wrong = sum + (draw(rng, 2) ? 10 : -10); break;
            default: {
                std::string s = std::to_string(sum);
                if (s.size() >= 2) std::swap(s[s.size() - 1], s[s.size() - 2]);
                wrong = std::stoi(s);
                break;
            }
        }
        if (wrong != sum && wrong >= 0) return std::to_string(wrong);
    }
}

}  // namespace

std::vector<PreferencePair> make_arith_pairs(const ArithDataOptions& o) {
    if (o.count < 1) throw Error("make-data arith: --count must be at least 1");
    if (o.max_operand < 2) throw Error("make-data arith: --max-operand must be at least 2");
    std::mt19937_64 rng(o.seed);
    std::vector<PreferencePair> pairs;
    pairs.reserve(static_cast<size_t>(o.count));
    for (int i = 0; i < o.count; ++i) {
        int a = static_cast<int>(draw(rng, static_cast<uint64_t>(o.max_operand)));
        int b = static_cast<int>(draw(rng, static_cast<uint64_t>(o.max_operand)));
        PreferencePair p;
        p.prompt = std::to_string(a) + "+" + std::to_string(b) + "=";
        p.chosen = std::to_string(a + b);
        p.rejected = wrong_sum(a + b, rng);
        p.source_line = i + 1;
        pairs.push_back(std::move(p));
    }
    return pairs;
}

std::vector<std::string> data_generator_names() { return {"arith"}; }

}  // namespace ps
