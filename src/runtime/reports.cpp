#include "runtime/reports.hpp"

#include "runtime/names.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

namespace otpnet {

namespace {

std::mutex handler_mu;
std::atomic<bool> reports_on{true};
crash_report_handler& handler() {
  static crash_report_handler h;
  return h;
}

}  // namespace

void set_crash_report_handler(crash_report_handler h) {
  std::lock_guard lk(handler_mu);
  handler() = std::move(h);
}

void set_crash_reports(bool on) noexcept { reports_on.store(on, std::memory_order_relaxed); }

namespace internal {

void report_crash(pid p, const exit_reason& why) noexcept {
  if (!reports_on.load(std::memory_order_relaxed)) {
    return;
  }
  try {
    crash_report_handler h;
    {
      std::lock_guard lk(handler_mu);
      h = handler();
    }
    if (h) {
      h(p, name_of(p), why);
      return;
    }
    if (!spdlog::should_log(spdlog::level::err)) {
      return;
    }
    std::string name = name_of(p);
    spdlog::error("crash report: process {}{}{} exited with reason {}", p.to_string(), name.empty() ? "" : " ", name,
                  why.to_string());
  } catch (...) {
    // A report must never take the scheduler down with it.
  }
}

}  // namespace internal
}  // namespace otpnet
