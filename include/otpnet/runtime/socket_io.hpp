// File: otpnet/runtime/socket_io.hpp
//
// The socket module's waiting calls as made from a process: each one is a
// coroutine that suspends only the calling process (its scheduler goes on
// with the others) until the socket is ready, the timeout passes, or the
// socket closes. Underneath it is the nowait protocol: try, and on select
// wait for the socket_select message with that handle, then repeat.
//
//   auto a = co_await socket::co::accept(ls, 5s);   // result<socket>
//   auto n = co_await socket::co::recv(s, buf);     // infinity
//
// Ownership: a socket opened or accepted here is owned by the calling
// process and is closed when that process ends; `controlling_process`
// hands it to another process. A process's pending selects are withdrawn
// when it ends, whatever call made them.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/io.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>

namespace otpnet::socket::co {

/// No value: wait without limit.
using wait_time = std::optional<std::chrono::milliseconds>;

/// Opens a socket owned by the calling process. Errors as socket::open.
[[nodiscard]] result<socket> open(domain d, type t, protocol p = protocol::default_);

/// Makes the calling process the owner of `s` (closed when it ends).
/// Errors: closed.
[[nodiscard]] result<void> adopt(const socket& s);

/// Hands `s` to `new_owner`. Only the owner may: `invalid` otherwise (OTP's
/// not_owner); `noproc` if `new_owner` is dead; closed.
[[nodiscard]] result<void> controlling_process(const socket& s, pid new_owner);

/// As socket::accept; the new socket is owned by the calling process.
task<result<socket>> accept(socket ls, wait_time timeout = std::nullopt);
/// As socket::connect.
task<result<void>> connect(socket s, address dest, wait_time timeout = std::nullopt);
/// As socket::recv into `buf` (which must outlive the call).
task<result<std::size_t>> recv(socket s, std::span<std::byte> buf, int flags = 0, wait_time timeout = std::nullopt);
/// As socket::recvfrom.
task<result<recvfrom_result>> recvfrom(socket s, std::span<std::byte> buf, int flags = 0,
                                       wait_time timeout = std::nullopt);
/// As socket::send: all of `data` (which must outlive the call).
task<result<std::size_t>> send(socket s, std::span<const std::byte> data, int flags = 0,
                               wait_time timeout = std::nullopt);
/// As socket::sendto.
task<result<std::size_t>> sendto(socket s, std::span<const std::byte> data, address dest, int flags = 0,
                                 wait_time timeout = std::nullopt);

}  // namespace otpnet::socket::co
