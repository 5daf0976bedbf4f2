// File: otpnet/reactor/backend_selector.hpp
//
// Chooses and creates a reactor backend by name at start: "epoll" (the
// default) or "io_uring". The choice is made, lowest precedence first, by
// the built-in default, the OTPNET_BACKEND environment variable (or its
// older name OTPNET_REACTOR), and an explicit name (a program's --backend
// option).
//
// io_uring is available when the kernel lets this process set up a ring
// with the features the backend needs; that is probed once, when io_uring
// is first asked for or listed (never for a program that uses epoll).
// OTPNET_URING_RECV_BUFFERS sets the number of its provided receive
// buffers (16 KiB each; 0: readiness only, no completed receives).
// Where it is not (an old kernel, seccomp, kernel.io_uring_disabled),
// asking for it fails with `errc::unsupported` and `known()` says why.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/reactor/backend.hpp>

#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace otpnet::reactor {

/// What the selector knows of one backend.
struct backend_status {
  std::string_view name;
  bool available = false;
  /// Why it is unavailable, or a short description when it is.
  std::string_view note;
};

/// Backend names, availability, and creation. Stateless; every member is
/// @threadsafe.
class backend_selector {
 public:
  /// The environment variable that overrides the default backend.
  static constexpr std::string_view env_var = "OTPNET_BACKEND";
  /// Its older name, read when OTPNET_BACKEND is unset or empty.
  static constexpr std::string_view env_alias = "OTPNET_REACTOR";
  /// The environment variable giving io_uring's receive buffer count.
  static constexpr std::string_view recv_buffers_env_var = "OTPNET_URING_RECV_BUFFERS";
  /// The environment variable giving io_uring's count of buffers for
  /// multishot receives (streams).
  static constexpr std::string_view stream_buffers_env_var = "OTPNET_URING_STREAM_BUFFERS";

  /// Every backend the selector knows, available or not, best first.
  static std::span<const backend_status> known() noexcept;

  /// Names of the backends usable in this build on this kernel, best first
  /// ({"epoll", "io_uring"} where io_uring works).
  static std::vector<std::string_view> available();

  /// The backend chosen when nothing is asked for: the best available.
  static std::string_view default_backend() noexcept;

  /// The name the environment asks for: OTPNET_BACKEND if set and not
  /// empty, else OTPNET_REACTOR, else empty.
  static std::string_view from_environment() noexcept;

  /// The backend to use: `requested` if not empty, else the environment's
  /// (`from_environment`) if not empty, else the default. Errors: `invalid`
  /// (an unknown name), `unsupported` (a known backend unavailable here,
  /// such as "io_uring" on a kernel without it).
  static result<std::string_view> resolve(std::string_view requested = {}) noexcept;

  /// Creates the backend `resolve(requested)` names. Errors: those of
  /// `resolve`, and those of the backend's creation (`emfile`, `enfile`,
  /// `enomem`).
  static result<std::unique_ptr<backend>> create(std::string_view requested = {},
                                                 const backend_options& opts = {}) noexcept;
};

}  // namespace otpnet::reactor
