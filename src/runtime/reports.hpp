// File: runtime/reports.hpp (private)
#pragma once

#include <otpnet/runtime/report.hpp>

#include <string>

namespace otpnet::internal {

/// Reports the crash of `p` (its registered name looked up here, only if
/// the report goes anywhere).
void report_crash(pid p, const exit_reason& why) noexcept;

}  // namespace otpnet::internal
