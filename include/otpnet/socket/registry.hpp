// File: otpnet/socket/registry.hpp
//
// Introspection of sockets (OTP socket's info/1, which_sockets/0,1,
// number_of/0 and use_registry/1). Every socket opened with the registry on
// (the default) is listed until it is closed; info() works on any socket.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/socket.hpp>
#include <otpnet/socket/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace otpnet::socket {

/// Counters of one socket since it was opened (OTP's info counters). A
/// try is a call that reached the kernel; a wait is one that had to wait
/// (select); a fail is one that returned an error other than would-block.
struct socket_counters_info {
  std::uint64_t read_byte = 0, read_pkg = 0, read_tries = 0, read_fails = 0, read_waits = 0;
  std::uint64_t write_byte = 0, write_pkg = 0, write_tries = 0, write_fails = 0, write_waits = 0;
  std::uint64_t acc_success = 0, acc_tries = 0, acc_fails = 0, acc_waits = 0;
};

/// Calls `f(name, value)` for each counter of `c`, in OTP's names and
/// order (read_byte, read_pkg, ..., acc_waits): for a report or an export.
template <class F>
void each_counter(const socket_counters_info& c, F&& f) {
  f("read_byte", c.read_byte);
  f("read_pkg", c.read_pkg);
  f("read_tries", c.read_tries);
  f("read_fails", c.read_fails);
  f("read_waits", c.read_waits);
  f("write_byte", c.write_byte);
  f("write_pkg", c.write_pkg);
  f("write_tries", c.write_tries);
  f("write_fails", c.write_fails);
  f("write_waits", c.write_waits);
  f("acc_success", c.acc_success);
  f("acc_tries", c.acc_tries);
  f("acc_fails", c.acc_fails);
  f("acc_waits", c.acc_waits);
}

/// A snapshot of one socket (OTP's info/1 map).
struct socket_info {
  domain dom = domain::unspec;
  type typ = type::stream;
  protocol proto = protocol::default_;
  int fd = -1;
  std::uint64_t owner = 0;
  bool use_registry = false;
  /// State flags; `closed` excludes the others.
  bool bound = false, listening = false, connecting = false, connected = false, closed = false;
  /// Callers currently queued waiting to read/accept and to write/connect.
  std::size_t read_waiters = 0, write_waiters = 0;
  socket_counters_info counters;
};

/// A snapshot of `s`. Errors: `closed` for a socket that refers to none.
/// A closed socket still answers, with `closed` set.
[[nodiscard]] result<socket_info> info(const socket& s);

/// The state flags as OTP names them, e.g. {"bound", "listening"}.
std::vector<std::string_view> state_names(const socket_info& i);

/// Filter by owner (the runtime's pid value).
struct owned_by {
  std::uint64_t owner;
};

/// The registered sockets, optionally filtered. @threadsafe
std::vector<socket> which_sockets();
std::vector<socket> which_sockets(domain d);
std::vector<socket> which_sockets(type t);
std::vector<socket> which_sockets(protocol p);
std::vector<socket> which_sockets(owned_by o);
std::vector<socket> which_sockets(const std::function<bool(const socket_info&)>& pred);

/// How many sockets are registered. @threadsafe
std::size_t number_of() noexcept;

/// Sets the default of open_options::registry for sockets opened from now
/// on (true at start). @threadsafe
void use_registry(bool on) noexcept;
/// The current default.
bool use_registry() noexcept;

/// Sets the owner recorded for `s` (the runtime does this on hand-over).
[[nodiscard]] result<void> set_owner(const socket& s, std::uint64_t owner);

}  // namespace otpnet::socket
