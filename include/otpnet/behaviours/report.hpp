// File: otpnet/behaviours/report.hpp
//
// The reports of the behaviours (OTP's SASL reports): supervisor reports
// (a child terminated, failed to start or to stop, or the supervisor gave
// up), crash reports (a process ended abnormally), progress reports (a
// child started; off by default) and application reports (started, failed
// to start, exited, stopped). Each goes through `emit`, to the sink set with
// `set_report_sink` (the logger installs itself there) or, without a sink,
// as one line through spdlog.
#pragma once

#include <otpnet/behaviours/child_spec.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <variant>

namespace otpnet {

/// What a supervisor report is about.
enum class supervisor_context : unsigned char {
  child_terminated,  ///< a child ended abnormally (or a permanent one at all)
  start_error,       ///< a child failed to start (in init, or on restart)
  shutdown_error,    ///< a child did not stop as asked (killed after its time, or another reason)
  shutdown,          ///< the supervisor gave up: restart intensity reached
};

/// The child a supervisor report is about (OTP's Offender).
struct offender {
  pid child;  ///< none if it was not running
  std::string id;
  std::string start;  ///< the start function's name (OTP's mfa)
  restart_type restart = restart_type::permanent;
  shutdown_spec shutdown;
  child_type type = child_type::worker;
};

struct supervisor_report {
  pid supervisor;
  std::string supervisor_name;  ///< registered name, or empty
  supervisor_context context = supervisor_context::child_terminated;
  exit_reason reason;
  offender child;
};

struct crash_report {
  pid process;
  std::string name;  ///< registered name, or empty
  exit_reason reason;
};

/// A child started (OTP's progress report); emitted only when enabled.
struct progress_report {
  pid supervisor;
  std::string supervisor_name;
  offender started;
};

enum class application_event : unsigned char { started, start_failed, exited, stopped };

struct application_report {
  std::string application;
  application_event event = application_event::started;
  exit_reason reason;  ///< why it failed or exited; normal otherwise
};

using report = std::variant<supervisor_report, crash_report, progress_report, application_report>;
using report_sink = std::function<void(const report&)>;

/// Sends `r` to the sink, or logs it as one line (error level for
/// supervisor and crash reports, info for the others). A progress report is
/// dropped unless enabled. Never throws: a throwing sink loses that report.
/// @threadsafe
void emit(const report& r) noexcept;

/// How serious a report is. `error`: supervisor and crash reports, an
/// application's failed start or abnormal exit; `info`: the others. As a
/// sink's threshold, `off` takes none.
enum class report_severity : unsigned char { info, error, off };

/// The severity of `r`.
report_severity severity_of(const report& r) noexcept;

/// Installs `sink` for every later report at least as severe as `least`
/// (the logger passes its level), and forwards the runtime's crash reports
/// to it; an empty sink restores the defaults (spdlog lines, and the
/// runtime's own crash report). Reports below `least` are dropped before
/// they are built: a crash below it costs no report at all. The sink runs
/// on the thread that emits: a scheduler thread, so it must not block.
/// @threadsafe
void set_report_sink(report_sink sink, report_severity least = report_severity::info);

/// Whether a report of severity `s` would reach the sink (or, without one,
/// spdlog's default logger): emitters check it before building a report.
/// @threadsafe
bool report_wanted(report_severity s) noexcept;

/// Progress reports on or off (off by default). @threadsafe
void set_progress_reports(bool on) noexcept;
bool progress_reports() noexcept;

std::string_view to_string(supervisor_context c) noexcept;
std::string_view to_string(application_event e) noexcept;
/// The default one-line text of a report.
std::string to_string(const report& r);

}  // namespace otpnet
