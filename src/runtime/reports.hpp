// File: runtime/reports.hpp (private)
#pragma once

#include <otpnet/runtime/report.hpp>

#include <string>

namespace otpnet::internal {

void report_crash(pid p, const std::string& name, const exit_reason& why) noexcept;

}  // namespace otpnet::internal
