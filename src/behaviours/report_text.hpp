// File: behaviours/report_text.hpp (private)
//
// Pieces of the text of reports, shared by the report sink's plain lines
// (report.cpp) and the logger's formats (logger_format.cpp).
#pragma once

#include <otpnet/runtime/pid.hpp>

#include <string>

namespace otpnet::detail {

/// A process in a report: its registered name, if any, and its pid.
inline std::string who(pid p, const std::string& name) {
  return name.empty() ? p.to_string() : name + " " + p.to_string();
}

}  // namespace otpnet::detail
