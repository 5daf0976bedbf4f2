// File: otpnet/base/result.hpp
//
// `otpnet::result<T>`: the return type of every call in the layers below the
// runtime (net, socket, reactor). It is an `expected<T, errc>`, today
// tl::expected, so that moving to C++23's std::expected is a typedef. Those
// layers throw no exceptions: a failure is a value naming its reason.
#pragma once

#include <otpnet/base/errc.hpp>

#include <tl/expected.hpp>

namespace otpnet {

/// A value of T, or the errc reason it could not be produced.
template <class T>
using result = tl::expected<T, errc>;

/// The error side of a result: `return fail(errc::invalid);`.
[[nodiscard]] inline tl::unexpected<errc> fail(errc e) noexcept { return tl::unexpected<errc>(e); }

/// A successful result<void>.
[[nodiscard]] inline result<void> ok() noexcept { return {}; }

}  // namespace otpnet
