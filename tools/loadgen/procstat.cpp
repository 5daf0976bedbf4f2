// File: tools/loadgen/procstat.cpp
//
// /proc readers for otpnet-loadgen (see procstat.hpp).

#include "procstat.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace otpnet::tools::loadgen {

std::optional<double> process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) {
    return std::nullopt;
  }
  // The command name (field 2) is in parentheses and may hold spaces or
  // parentheses itself: the fields resume after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields(line.substr(close + 1));
  std::string f;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // Field 3 (state) is the first after ')'; utime and stime are 14 and 15.
  for (int field = 3; field <= 15; ++field) {
    if (!(fields >> f)) {
      return std::nullopt;
    }
    if (field == 14) {
      utime = std::stoull(f);
    } else if (field == 15) {
      stime = std::stoull(f);
    }
  }
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

std::optional<std::uint64_t> process_rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (in && std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream v(line.substr(6));
      std::uint64_t kib = 0;
      if (v >> kib) {
        return kib;
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

double self_cpu_seconds() {
  ::rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const ::timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

bool process_exists(int pid) { return pid > 0 && ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

}  // namespace otpnet::tools::loadgen
