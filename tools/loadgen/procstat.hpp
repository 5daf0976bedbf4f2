// File: tools/loadgen/procstat.hpp
//
// What otpnet-loadgen reads about the server process from /proc: its CPU
// time (utime + stime of /proc/PID/stat, every thread included) and its
// resident set (VmRSS of /proc/PID/status); and its own CPU time.
#pragma once

#include <cstdint>
#include <optional>

namespace otpnet::tools::loadgen {

/// User + system CPU time of process `pid` in seconds, or no value if it
/// cannot be read (no such process, no permission). Resolution: one clock
/// tick (sysconf(_SC_CLK_TCK), usually 10 ms).
std::optional<double> process_cpu_seconds(int pid);

/// VmRSS of process `pid` in KiB, or no value.
std::optional<std::uint64_t> process_rss_kib(int pid);

/// User + system CPU time of this process in seconds (getrusage).
double self_cpu_seconds();

/// True if /proc/PID exists.
bool process_exists(int pid);

}  // namespace otpnet::tools::loadgen
