#include "core/store/run_owner.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <fstream>
#include <sstream>

namespace ps {

namespace {

std::string read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string boot_id() { return read_first_line("/proc/sys/kernel/random/boot_id"); }

// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); empty when the process
// does not exist. The command name (field 2) may hold spaces and parentheses: fields are
// counted after its last ')'.
std::string process_start_ticks(int64_t pid) {
    const std::string stat = read_first_line("/proc/" + std::to_string(pid) + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream rest(stat.substr(close + 1));
    std::string field;
    for (int i = 3; i <= 22; ++i)
        if (!(rest >> field)) return {};
    return field;
}

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return {};
    return buf;
}

}  // namespace

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

RunOwner current_run_owner() {
    RunOwner o;
    o.host = host_name();
    o.pid = static_cast<int64_t>(getpid());
    o.process_start = boot_id() + ":" + process_start_ticks(o.pid);
    o.heartbeat_at = unix_now();
    return o;
}

bool run_owner_alive(const RunOwner& owner, double now) {
    if (!owner.recorded()) return false;
    if (owner.host != host_name()) return now - owner.heartbeat_at < kForeignOwnerTimeoutS;
    const std::string boot = boot_id();
    const size_t colon = owner.process_start.rfind(':');
    if (colon == std::string::npos || owner.process_start.substr(0, colon) != boot) return false;  // rebooted since
    const std::string recorded = owner.process_start.substr(colon + 1);
    if (recorded.empty()) return kill(static_cast<pid_t>(owner.pid), 0) == 0 || errno == EPERM;  // no /proc
    return process_start_ticks(owner.pid) == recorded;
}

}  // namespace ps
