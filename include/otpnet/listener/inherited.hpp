// File: otpnet/listener/inherited.hpp
//
// Listen sockets a service manager opened and passed at exec: systemd's
// socket activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES, descriptors from 3 on). The manager keeps its own copy
// of each socket, so a server restarted under it finds clients that came
// meanwhile waiting in the backlog instead of refused: restarts lose no
// connection. A listener accepts on them with add_listen_socket
// (gen_nb_server) or listener_options::sockets (tcp_listener).
//
//   auto inherited = listener::inherited_sockets();   // before any thread starts
//   if (!inherited) ...                                // a malformed environment: say so and exit
//   for (auto& s : *inherited) o.sockets.push_back(s.sock);
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <string>
#include <vector>

namespace otpnet::listener {

/// A socket passed at exec.
struct inherited_socket {
  otpnet::socket::socket sock;
  /// Its name in LISTEN_FDNAMES (systemd's FileDescriptorName=, by default
  /// the socket unit's name); empty when none was given.
  std::string name;
  /// Its local address (getsockname).
  otpnet::socket::address address;
  /// Whether it listens (a stream socket systemd made with Accept=no);
  /// datagram and other sockets are passed too, and are the caller's.
  bool listening = false;
};

/// The sockets passed to this process, in order: none when LISTEN_PID is
/// not this process's pid or LISTEN_FDS is not set (not started by socket
/// activation). Each is close-on-exec from now on. With `unset_environment`
/// the three variables are removed, so that a child process does not take
/// them for its own (unsetenv: call this before starting threads).
/// Errors: invalid (LISTEN_FDS or LISTEN_PID not a number, more than 1024
/// descriptors, or LISTEN_FDNAMES with another count of names), and the
/// reason a passed descriptor cannot be used (ebadf: not open; enotsock: a
/// FIFO or a file, which systemd can pass too). Every descriptor is
/// checked before any is taken, so on those errors they stay the
/// process's as they were (out of memory while wrapping them, those
/// wrapped already are closed).
[[nodiscard]] result<std::vector<inherited_socket>> inherited_sockets(bool unset_environment = true);

namespace detail {
/// inherited_sockets with the variables' values given (null: unset) and the
/// first descriptor given (systemd's is 3): the environment and unsetting
/// are the caller's. For tests.
[[nodiscard]] result<std::vector<inherited_socket>> inherited_sockets_of(const char* listen_pid, const char* listen_fds,
                                                                         const char* listen_fdnames, int first_fd);
}  // namespace detail

}  // namespace otpnet::listener
