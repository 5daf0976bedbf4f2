// File: otpnet/runtime/exit_reason.hpp
//
// `exit_reason`: why a process ended, or the reason an exit signal carries
// (OTP's exit reason term). The well-known reasons have kinds of their own
// (normal, shutdown, kill, killed, noproc, noconnection, timeout); anything
// else is `other` with a text, which is how an escaped exception is
// recorded ("std::runtime_error: boom").
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace otpnet {

class exit_reason {
 public:
  enum class kind : unsigned char { normal, shutdown, kill, killed, noproc, timeout, other };

  /// normal.
  exit_reason() noexcept = default;
  exit_reason(kind k) noexcept : kind_(k) {}  // NOLINT(google-explicit-constructor)
  /// `other` with a text; `shutdown` with a text is OTP's {shutdown, Term}.
  exit_reason(kind k, std::string text) : kind_(k), text_(std::make_shared<const std::string>(std::move(text))) {}

  static exit_reason normal() noexcept { return kind::normal; }
  static exit_reason shutdown() noexcept { return kind::shutdown; }
  static exit_reason kill() noexcept { return kind::kill; }
  static exit_reason killed() noexcept { return kind::killed; }
  static exit_reason noproc() noexcept { return kind::noproc; }
  static exit_reason timeout() noexcept { return kind::timeout; }
  static exit_reason other(std::string text) { return {kind::other, std::move(text)}; }

  kind what() const noexcept { return kind_; }
  /// The text of `other` (or of a shutdown with a text); empty otherwise.
  std::string_view text() const noexcept { return text_ ? std::string_view(*text_) : std::string_view(); }
  /// normal, or shutdown: ends that a supervisor does not report (OTP's
  /// rule for transient children and for crash reports).
  bool is_normal() const noexcept { return kind_ == kind::normal; }
  bool is_shutdown() const noexcept { return kind_ == kind::shutdown; }
  /// "normal", "killed", "{shutdown,drain}", "std::runtime_error: boom", ...
  std::string to_string() const;

  friend bool operator==(const exit_reason& a, const exit_reason& b) noexcept {
    return a.kind_ == b.kind_ && a.text() == b.text();
  }

 private:
  kind kind_ = kind::normal;
  std::shared_ptr<const std::string> text_;
};

/// Thrown by `otpnet::exit(reason)` to end the calling process with that
/// reason (erlang:exit/1); the runtime catches it and reports no crash.
struct exit_exception {
  exit_reason reason;
};

}  // namespace otpnet
