// Who writes a run: the process that created it (host, pid, when that process started) and the
// last time it wrote (heartbeat). A run still marked running whose owner is gone was killed or
// lost its machine; the store reports it as interrupted (RunStatus::Interrupted) instead of
// running forever.
#pragma once
#include <cstdint>
#include <string>

namespace ps {

struct RunOwner {
    std::string host;     // gethostname()
    int64_t pid = 0;      // 0: not recorded (a run stored before owners were)
    // "<boot id>:<start time in clock ticks since boot>" from /proc: a pid reused by another
    // process, or the same pid after a reboot, is not the owner.
    std::string process_start;
    double heartbeat_at = 0;  // Unix seconds of the owner's last write

    bool recorded() const { return pid > 0; }
};

// This process as an owner, heartbeat now.
RunOwner current_run_owner();
double unix_now();

// Another host's owner is taken as gone when it has not written for this long: its process
// cannot be checked from here. (A store shared between hosts is unusual: SQLite's WAL needs
// shared memory; a copied store's runs read as interrupted.)
constexpr double kForeignOwnerTimeoutS = 600;

// Whether the owner is still running: on this host (same boot), its process with the same start
// time exists; on another host, its heartbeat is recent. An unrecorded owner is gone.
bool run_owner_alive(const RunOwner& owner, double now);

}  // namespace ps
