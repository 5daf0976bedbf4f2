#include "runtime/reports.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

namespace otpnet {

namespace {

std::mutex handler_mu;
crash_report_handler& handler() {
  static crash_report_handler h;
  return h;
}

}  // namespace

void set_crash_report_handler(crash_report_handler h) {
  std::lock_guard lk(handler_mu);
  handler() = std::move(h);
}

namespace internal {

void report_crash(pid p, const std::string& name, const exit_reason& why) noexcept {
  try {
    crash_report_handler h;
    {
      std::lock_guard lk(handler_mu);
      h = handler();
    }
    if (h) {
      h(p, name, why);
      return;
    }
    spdlog::error("crash report: process {}{}{} exited with reason {}", p.to_string(), name.empty() ? "" : " ", name,
                  why.to_string());
  } catch (...) {
    // A report must never take the scheduler down with it.
  }
}

}  // namespace internal
}  // namespace otpnet
