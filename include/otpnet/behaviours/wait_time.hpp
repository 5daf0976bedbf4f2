// File: otpnet/behaviours/wait_time.hpp
//
// `wait_time`: how long a behaviour call may wait (a gen_server call, a
// start, a stop, a supervisor request): a number of milliseconds, or
// `infinity` (no limit), as OTP's `timeout()`. Any std::chrono duration
// converts: `5s`, `250ms`.
#pragma once

#include <chrono>
#include <optional>

namespace otpnet {

/// Milliseconds, or no value for no limit.
using wait_time = std::optional<std::chrono::milliseconds>;

/// No limit: `call<int>(srv, req, infinity)`.
inline constexpr std::nullopt_t infinity = std::nullopt;

}  // namespace otpnet
