// The report sink: one installed function, or spdlog lines.
#include <otpnet/behaviours/report.hpp>
#include <otpnet/runtime/report.hpp>

#include "behaviours/report_text.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace otpnet {

namespace {

std::mutex sink_mu;
std::shared_ptr<const report_sink> current_sink;  // guarded by sink_mu
std::atomic<bool> progress_on{false};
std::atomic<bool> sink_installed{false};
std::atomic<report_severity> least_wanted{report_severity::info};  // of the installed sink

std::string describe(const offender& o) {
  return "[pid=" + (o.child ? o.child.to_string() : std::string("undefined")) +
         ", id=" + (o.id.empty() ? std::string("undefined") : o.id) +
         ", start=" + (o.start.empty() ? std::string("undefined") : o.start) +
         ", restart_type=" + std::string(to_string(o.restart)) + ", shutdown=" + o.shutdown.to_string() +
         ", child_type=" + std::string(to_string(o.type)) + "]";
}

using detail::who;

struct line_of {
  std::string operator()(const supervisor_report& r) const {
    return "supervisor report: supervisor=" + who(r.supervisor, r.supervisor_name) +
           " context=" + std::string(to_string(r.context)) + " reason=" + r.reason.to_string() +
           " offender=" + describe(r.child);
  }
  std::string operator()(const crash_report& r) const {
    return "crash report: process=" + who(r.process, r.name) + " reason=" + r.reason.to_string();
  }
  std::string operator()(const progress_report& r) const {
    return "progress report: supervisor=" + who(r.supervisor, r.supervisor_name) + " started=" + describe(r.started);
  }
  std::string operator()(const application_report& r) const {
    std::string s = "application report: application=" + r.application + " " + std::string(to_string(r.event));
    if (r.event == application_event::start_failed || r.event == application_event::exited) {
      s += " reason=" + r.reason.to_string();
    }
    return s;
  }
};

void forward_crash(pid p, std::string_view name, const exit_reason& why) {
  emit(crash_report{p, std::string(name), why});
}

}  // namespace

std::string_view to_string(supervisor_context c) noexcept {
  switch (c) {
    case supervisor_context::child_terminated:
      return "child_terminated";
    case supervisor_context::start_error:
      return "start_error";
    case supervisor_context::shutdown_error:
      return "shutdown_error";
    case supervisor_context::shutdown:
      return "shutdown";
  }
  return "?";
}

std::string_view to_string(application_event e) noexcept {
  switch (e) {
    case application_event::started:
      return "started";
    case application_event::start_failed:
      return "start_failed";
    case application_event::exited:
      return "exited";
    case application_event::stopped:
      return "stopped";
  }
  return "?";
}

std::string to_string(const report& r) { return std::visit(line_of{}, r); }

report_severity severity_of(const report& r) noexcept {
  if (std::holds_alternative<supervisor_report>(r) || std::holds_alternative<crash_report>(r)) {
    return report_severity::error;
  }
  if (const auto* a = std::get_if<application_report>(&r)) {
    bool bad = a->event == application_event::start_failed ||
               (a->event == application_event::exited && !a->reason.is_normal() && !a->reason.is_shutdown());
    return bad ? report_severity::error : report_severity::info;
  }
  return report_severity::info;
}

bool report_wanted(report_severity s) noexcept {
  if (!sink_installed.load(std::memory_order_relaxed)) {
    return spdlog::should_log(s == report_severity::error ? spdlog::level::err : spdlog::level::info);
  }
  report_severity least = least_wanted.load(std::memory_order_relaxed);
  return least != report_severity::off && s >= least;
}

void emit(const report& r) noexcept {
  try {
    if (std::holds_alternative<progress_report>(r) && !progress_on.load(std::memory_order_relaxed)) {
      return;
    }
    if (!report_wanted(severity_of(r))) {
      return;
    }
    std::shared_ptr<const report_sink> sink;
    {
      std::lock_guard lk(sink_mu);
      sink = current_sink;
    }
    if (sink) {
      (*sink)(r);
      return;
    }
    bool severe = std::holds_alternative<supervisor_report>(r) || std::holds_alternative<crash_report>(r);
    if (severe) {
      spdlog::error("{}", to_string(r));
    } else {
      spdlog::info("{}", to_string(r));
    }
  } catch (...) {
    // A report must never take its emitter (a scheduler) down with it.
  }
}

void set_report_sink(report_sink sink, report_severity least) {
  bool installed = static_cast<bool>(sink);
  {
    std::lock_guard lk(sink_mu);
    current_sink = installed ? std::make_shared<const report_sink>(std::move(sink)) : nullptr;
    least_wanted.store(installed ? least : report_severity::info, std::memory_order_relaxed);
    sink_installed.store(installed, std::memory_order_relaxed);
  }
  set_crash_report_handler(installed ? crash_report_handler(&forward_crash) : crash_report_handler());
  set_crash_reports(!installed || report_wanted(report_severity::error));
}

void set_progress_reports(bool on) noexcept { progress_on.store(on, std::memory_order_relaxed); }
bool progress_reports() noexcept { return progress_on.load(std::memory_order_relaxed); }

}  // namespace otpnet
