// File: otpnet/net/hostname.hpp
//
// `gethostname()`: the name of this machine, as OTP's net:gethostname/0.
// The kernel's nodename (uname -n), not a resolved fully qualified name.
#pragma once

#include <otpnet/base/result.hpp>

#include <string>

namespace otpnet::net {

/// The host name of this machine (the kernel's nodename), e.g. "vm".
/// @threadsafe
/// Errors: the errno reason of gethostname(2) (`enametoolong` if the name
/// does not fit HOST_NAME_MAX, which Linux never allows to happen).
[[nodiscard]] result<std::string> gethostname();

}  // namespace otpnet::net
