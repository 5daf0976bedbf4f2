// File: tools/loadgen/report.hpp
//
// otpnet-loadgen's two outputs: the human summary and the JSON document
// (docs/performance.md lists the JSON fields).
#pragma once

#include "loadgen.hpp"

#include <string>

namespace otpnet::tools::loadgen {

/// The human summary, several lines ending in '\n'.
std::string to_text(const config& cfg, const results& r);

/// One JSON document (pretty-printed), ending in '\n'.
std::string to_json(const config& cfg, const results& r);

/// True when the run counts as a success: no errors, nothing fatal, and
/// something was measured.
bool succeeded(const config& cfg, const results& r);

}  // namespace otpnet::tools::loadgen
