// File: otpnet/behaviours/outcome.hpp
//
// `outcome<T>`: what the behaviour APIs return: a T, or the exit reason why
// there is none. The reasons a caller sees are OTP's: `noproc` (no such
// process or name), `timeout`, the reason the other process ended with
// (`killed`, `shutdown`, "std::runtime_error: boom"), or a named failure
// as an `other` reason ("not_found", "running", "already_started").
#pragma once

#include <otpnet/runtime/exit_reason.hpp>

#include <tl/expected.hpp>

#include <utility>

namespace otpnet {

/// A T (nothing for void), or the reason it could not be had.
template <class T = void>
using outcome = tl::expected<T, exit_reason>;

/// The failure side of an outcome: `return fail(exit_reason::noproc());`.
[[nodiscard]] inline tl::unexpected<exit_reason> fail(exit_reason why) {
  return tl::unexpected<exit_reason>(std::move(why));
}

}  // namespace otpnet
