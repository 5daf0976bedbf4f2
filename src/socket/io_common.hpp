// File: socket/io_common.hpp (private to the socket layer)
//
// What every data call of the socket layer shares on top of wait.hpp: the
// direction and the waits counter a select tag belongs to, and the two
// entry points an implementation file writes its timeout forms with:
//   wait_for  the waiting forms (infinity, or a deadline: then `timeout`)
//   no_wait   the nowait and select_handle forms (current_sink())
// Both fail with `closed` for a socket that refers to none. An attempt is a
// callable returning result<T> whose `eagain` means "would block".
#pragma once

#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>
#include <otpnet/socket/types.hpp>

#include "socket/socket_state.hpp"
#include "socket/wait.hpp"

#include <cstddef>
#include <new>
#include <optional>

namespace otpnet::internal {

/// No value: wait without limit.
using deadline = std::optional<clock::time_point>;

/// The queue a call with `tag` waits in: input for accept and recv*,
/// output for connect, send* and sendfile.
inline detail::direction direction_of(select_tag tag) noexcept {
  switch (tag) {
    case select_tag::accept:
    case select_tag::recv:
    case select_tag::recvfrom:
    case select_tag::recvmsg:
      return detail::direction::in;
    default:
      return detail::direction::out;
  }
}

/// The info() counter a wait of `tag` is counted in.
inline detail::socket_counters::counter& waits_of(detail::socket_state& st, select_tag tag) {
  switch (tag) {
    case select_tag::accept:
      return st.counters().acc_waits;
    case select_tag::recv:
    case select_tag::recvfrom:
    case select_tag::recvmsg:
      return st.counters().read_waits;
    default:
      return st.counters().write_waits;
  }
}

/// True when a 0-byte read means the peer shut down (stream, seqpacket).
inline bool eof_means_closed(const detail::socket_state& st) noexcept {
  return st.typ() == socket::type::stream || st.typ() == socket::type::seqpacket;
}

/// Runs `attempt` in a waiting form until it succeeds, fails or `dl` passes.
template <class T, class Attempt>
result<T> wait_for(const socket::socket& s, select_tag tag, const deadline& dl, Attempt&& attempt) {
  if (s.state() == nullptr) {
    return fail(errc::closed);
  }
  // Memory is taken before anything is read or written: the socket's
  // counters and wait queues on their first use, a waiter's place in a
  // queue, an attempt's buffers beyond the inline ones. Without it the
  // call answers enomem, as the layer throws nothing.
  try {
    return run_blocking<T>(s, direction_of(tag), tag, dl, waits_of(*s.state(), tag), attempt);
  } catch (const std::bad_alloc&) {
    return fail(errc::enomem);
  }
}

/// Runs `attempt` in the nowait form, reporting to the current sink; a
/// select carries `*progress` when given.
template <class T, class Attempt>
async_result<T> no_wait(const socket::socket& s, select_tag tag, select_handle h, Attempt&& attempt,
                        const std::size_t* progress = nullptr) {
  if (s.state() == nullptr) {
    return fail(errc::closed);
  }
  try {
    return run_nowait<T>(s, direction_of(tag), tag, h, socket::current_sink(), waits_of(*s.state(), tag), attempt,
                         progress);
  } catch (const std::bad_alloc&) {
    return fail(errc::enomem);  // (as wait_for)
  }
}

}  // namespace otpnet::internal
