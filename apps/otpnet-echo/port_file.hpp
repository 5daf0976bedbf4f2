// File: apps/otpnet-echo/port_file.hpp
//
// --port-file: the bound port, written so that a reader never sees a
// partial file (a temporary file beside it, then rename).
#pragma once

#include <tl/expected.hpp>

#include <cstdint>
#include <string>

namespace otpnet::echo {

/// Writes "PORT\n" to `path` atomically. Errors: one line naming the file
/// and the reason.
tl::expected<void, std::string> write_port_file(const std::string& path, std::uint16_t port);

}  // namespace otpnet::echo
