#include "core/common/run_types.h"

#include <cmath>
#include <limits>

#include <fstream>

#include <unistd.h>

#include "core/common/errors.h"

namespace ps {

int64_t process_resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    long long pages_total = 0, pages_resident = 0;
    if (!(statm >> pages_total >> pages_resident)) return -1;
    const long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? static_cast<int64_t>(pages_resident) * page : -1;
}

const char* to_string(RunStatus s) {
    switch (s) {
        case RunStatus::Created: return "created";
        case RunStatus::Running: return "running";
        case RunStatus::Paused: return "paused";
        case RunStatus::Completed: return "completed";
        case RunStatus::Stopped: return "stopped";
        case RunStatus::Failed: return "failed";
        case RunStatus::Interrupted: return "interrupted";
    }
    return "unknown";
}

RunStatus run_status_from_string(const std::string& s) {
    for (RunStatus v : {RunStatus::Created, RunStatus::Running, RunStatus::Paused,
                        RunStatus::Completed, RunStatus::Stopped, RunStatus::Failed, RunStatus::Interrupted})
        if (s == to_string(v)) return v;
    throw Error("unknown run status '" + s + "'");
}

double StepMetrics::get(const std::string& name) const {
    for (const auto& [k, v] : values)
        if (k == name) return v;
    return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace ps
