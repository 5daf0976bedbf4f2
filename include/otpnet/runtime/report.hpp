// File: otpnet/runtime/report.hpp
//
// Where the runtime's crash reports go. A process that ends with a reason
// other than normal, shutdown or killed produces one (the SASL crash
// report of OTP). By default it is one line through spdlog at error level;
// the behaviours layer installs its logger here.
#pragma once

#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <functional>
#include <string_view>

namespace otpnet {

/// Receives each crash report: the process, its registered name (or
/// empty), and the reason. Called on the crashed process's scheduler.
using crash_report_handler = std::function<void(pid, std::string_view name, const exit_reason&)>;

/// Replaces the handler; an empty one restores the default. Set it before
/// the runtime starts or while no process crashes.
void set_crash_report_handler(crash_report_handler h);

/// Crash reports on (the default) or off. While off, a crash builds no
/// report and calls no handler (the behaviours' logger turns them off when
/// its level drops them). @threadsafe
void set_crash_reports(bool on) noexcept;

}  // namespace otpnet
