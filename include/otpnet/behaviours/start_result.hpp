// File: otpnet/behaviours/start_result.hpp
//
// `start_result`: what starting a behaviour process returns once its init
// has finished (OTP's `{ok, Pid} | ignore | {error, Reason}`): gen_server
// start/start_link, supervisor start_child, and the start function of every
// child spec. A supervisor decides from it whether its child is running.
#pragma once

#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <string>
#include <utility>

namespace otpnet {

class start_result {
 public:
  enum class kind : unsigned char { ok, ignore, error };

  /// error(normal); a default value to assign to.
  start_result() : kind_(kind::error) {}

  /// Started: `p` is running and its init succeeded.
  static start_result ok(pid p) { return {kind::ok, p, {}}; }
  /// init chose not to start (the process has ended normally).
  static start_result ignore() { return {kind::ignore, {}, {}}; }
  /// Not started, for `why`. `existing` is the process that holds the
  /// name already for the reason "already_started".
  static start_result error(exit_reason why, pid existing = {}) { return {kind::error, existing, std::move(why)}; }

  kind what() const noexcept { return kind_; }
  bool is_ok() const noexcept { return kind_ == kind::ok; }
  bool is_ignore() const noexcept { return kind_ == kind::ignore; }
  bool is_error() const noexcept { return kind_ == kind::error; }
  explicit operator bool() const noexcept { return is_ok(); }

  /// The started process (ok), or the one holding the name (error
  /// "already_started"); none otherwise.
  pid id() const noexcept { return pid_; }
  /// The error's reason; normal for ok and ignore.
  const exit_reason& reason() const noexcept { return reason_; }

  /// "ok <0.12.0>", "ignore", "error killed".
  std::string to_string() const;

 private:
  start_result(kind k, pid p, exit_reason r) : kind_(k), pid_(p), reason_(std::move(r)) {}
  kind kind_;
  pid pid_;
  exit_reason reason_;
};

}  // namespace otpnet
