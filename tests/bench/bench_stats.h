// Order statistics for the benchmarks' tables.
#pragma once
#include <algorithm>
#include <vector>

namespace ps::bench {

// Nearest-rank percentile (p in [0, 100]); 0 for no samples.
inline double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, size_t(p / 100.0 * double(v.size() - 1) + 0.5));
    return v[i];
}

}  // namespace ps::bench
