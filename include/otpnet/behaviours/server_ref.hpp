// File: otpnet/behaviours/server_ref.hpp
//
// `server_ref`: the address of a behaviour process in the API calls: a pid,
// or a registered name looked up when the call is made (OTP's
// `Pid | Name`). An unknown name behaves as a dead pid: the call gives
// `noproc`.
#pragma once

#include <otpnet/runtime/pid.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace otpnet {

class server_ref {
 public:
  server_ref(pid p) noexcept : pid_(p) {}                   // NOLINT(google-explicit-constructor)
  server_ref(std::string name) : name_(std::move(name)) {}  // NOLINT(google-explicit-constructor)
  server_ref(std::string_view name) : name_(name) {}        // NOLINT(google-explicit-constructor)
  server_ref(const char* name) : name_(name) {}             // NOLINT(google-explicit-constructor)

  /// The pid now: the pid given, or the one registered under the name
  /// (none if the name is free). @threadsafe
  pid resolve() const;
  bool is_name() const noexcept { return !name_.empty(); }
  const std::string& name() const noexcept { return name_; }
  /// "<0.12.0>" or the name.
  std::string to_string() const { return is_name() ? name_ : pid_.to_string(); }

 private:
  pid pid_;
  std::string name_;
};

}  // namespace otpnet
