// File: otpnet/behaviours/logger.hpp
//
// The logger: where the behaviours' reports (report.hpp, OTP's SASL
// reports) and every spdlog line of the program go, and in which format.
// Text (the default) is one line per entry in the spirit of SASL:
//   [2024-11-28 21:07:00.123] [error] =SUPERVISOR REPORT==== supervisor: tcp_client_sup <0.5.0>,
//     context: child_terminated, reason: killed, offender: [{pid,<0.9.0>},{id,client},...]
// JSON is one object per line, with the report's fields as keys:
//   {"time":"2024-11-28T21:07:00.123Z","level":"error","report":"supervisor","context":...}
// configure() installs the logger as the report sink (and so as the
// runtime's crash report handler) and as spdlog's default logger.
#pragma once

#include <otpnet/behaviours/report.hpp>

#include <tl/expected.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

namespace otpnet {

enum class log_format : unsigned char { text, json };
enum class log_level : unsigned char { trace, debug, info, warning, error, critical, off };

/// "text", "json" / "trace" ... "off" (also "warn"); nothing for others.
std::string_view to_string(log_format f) noexcept;
std::string_view to_string(log_level l) noexcept;
tl::expected<log_format, std::string> log_format_from_string(std::string_view s);
tl::expected<log_level, std::string> log_level_from_string(std::string_view s);

namespace logger {

/// Lines go to standard error.
struct to_stderr {};
/// Receives each finished line (no trailing newline); for tests. Called on
/// the thread that logs (often a scheduler): it must not block.
using line_callback = std::function<void(std::string_view line)>;
/// Where lines go: stderr, a file (appended to), or a callback.
using destination = std::variant<to_stderr, std::filesystem::path, line_callback>;

struct options {
  log_format format = log_format::text;
  /// Entries below this level are dropped (reports: supervisor and crash
  /// reports and failed application starts are `error`, the rest `info`).
  log_level level = log_level::info;
  /// OTP's progress reports (a child started): off, as in OTP.
  bool progress_reports = false;
  destination sink = to_stderr{};
};

/// Applies `o`, replacing any earlier configuration. Errors: the file
/// cannot be opened ("logger: cannot open /x/y.log: ..."); the earlier
/// configuration then stays. Call it before the runtime starts, or while
/// nothing reports (a report being written meanwhile goes to the old
/// configuration or the new one, never lost or torn).
tl::expected<void, std::string> configure(const options& o);

/// Back to the defaults: no report sink (reports as spdlog lines) and
/// spdlog's own default logger.
void reset();

/// The body of a report's line in `f` (text: "=CRASH REPORT==== ...";
/// json: an object without "time" and "level"). @threadsafe
std::string format_report(const report& r, log_format f);

/// The level a report is logged at.
log_level level_of(const report& r) noexcept;

}  // namespace logger
}  // namespace otpnet
