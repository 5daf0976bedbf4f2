// File: otpnet/gen_tcp/socket.hpp
//
// `gen_tcp::socket`: a connected TCP (or Unix stream) socket owned by a
// controlling process, as in Erlang's gen_tcp. It lives on its owner's
// scheduler, reads only as much as the active mode asks for, frames what it
// reads, and delivers it to the owner as messages:
//   tcp{sock, data}        a frame (active once, N or true)
//   tcp_closed{sock}       the peer closed (after the data before it)
//   tcp_error{sock, why}   e.g. emsgsize for an oversized frame, econnreset
//   tcp_passive{sock}      active N counted down to zero
// It stays open until closed or until its owner ends. The calls that take
// no `co_await` never block; those that wait suspend only the calling
// process. Calls other than send and close are the owner's: from another
// process they fail with `invalid` (OTP's not_owner).
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/buffer.hpp>
#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace otpnet::gen_tcp {

namespace detail {
class port;
}

/// Counters of one socket (inet:getstat/1).
struct stats {
  std::uint64_t recv_oct = 0, recv_cnt = 0, recv_max = 0;
  std::uint64_t send_oct = 0, send_cnt = 0, send_max = 0, send_pend = 0;
};

/// What a non-blocking send left in the queue.
struct queued {
  std::size_t bytes = 0;  ///< bytes waiting to be written
  bool busy = false;      ///< above the high watermark: await drained()
};

class socket {
 public:
  socket() noexcept = default;
  explicit socket(std::shared_ptr<detail::port> p) noexcept : p_(std::move(p)) {}

  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const socket& a, const socket& b) noexcept { return a.p_ == b.p_; }

  // -- sending ------------------------------------------------------------------

  /// Frames `data` per the packet option and sends it: written now when
  /// possible, else queued (a buffer is queued without copying; bytes from
  /// a span are copied). Never blocks. `busy` in the answer: the queue is
  /// above the high watermark (the data is queued all the same); reading
  /// from the peer pauses until it drains. Errors: closed, emsgsize (too
  /// large for the length header), epipe/econnreset (already failed),
  /// enomem (with send_timeout, two cases: no memory for the port's block
  /// that holds the send's timer, checked before anything is written:
  /// nothing was sent, the socket carries on, and a report line says so;
  /// or, rarely, the timer itself could not be started after bytes were
  /// written or queued: the socket is then closed, its tcp_error enomem
  /// and tcp_closed delivered, as for a failed send).
  result<queued> send(const buffer& data) const;
  /// The same, taking the caller's reference to the bytes (e.g. a received
  /// frame echoed back) instead of adding one. `data` is left empty, also
  /// when the send fails (its bytes are dropped with the error).
  result<queued> send(buffer&& data) const;
  result<queued> send(std::span<const std::byte> data) const;
  result<queued> send(std::string_view data) const { return send(std::as_bytes(std::span(data.data(), data.size()))); }

  /// Awaitable: resumes once the send queue is below the low watermark
  /// (at once if it is), giving the socket's error if it failed meanwhile.
  /// Only from a process. Errors: closed, invalid (not the owner), the
  /// send's error, enomem (no memory to register the wait: nothing
  /// changed).
  task<result<void>> drained() const;

  // -- receiving (passive mode) ---------------------------------------------------

  /// Receives one frame (or, with packet raw and `length` > 0, exactly
  /// `length` bytes) in passive mode. Errors: closed, timeout, invalid
  /// (active mode, or not the owner), emsgsize, econnreset, enomem (no
  /// memory for the port's block that holds a waiting recv: nothing was
  /// consumed).
  task<result<buffer>> recv(std::size_t length = 0,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;

  // -- options and control -----------------------------------------------------------

  /// Changes options; framing may change at any time without losing
  /// buffered bytes. Errors: invalid (bad value, not the owner), closed,
  /// enomem (the changed options need memory of their own, or send_timeout
  /// set for a queue already waiting needs the port's block for its timer:
  /// refused before any change; or, rarely, that timer could not be
  /// started after the change: the socket is then closed, its tcp_error
  /// enomem and tcp_closed delivered).
  result<void> setopts(const options& o) const;
  /// setopts({.active = a}), the per-frame re-arm of an {active, once}
  /// handler, without building an option set. Errors: invalid (a count out
  /// of range, not the owner), closed.
  result<void> set_active(active_mode a) const;
  result<effective_options> getopts() const;

  /// Hands the socket to `new_owner`, with the messages for it already in
  /// the caller's mailbox, in order. Only the owner may. Errors: invalid
  /// (not the owner), noproc, closed (also when what was queued to send
  /// fails on the way out: the socket then stays with the caller, closed,
  /// its tcp_error and tcp_closed after the messages the caller had).
  task<result<void>> controlling_process(pid new_owner) const;

  /// Closes; further messages for it are not delivered. What is queued to
  /// send goes out first, for at most send_timeout (30 s without it);
  /// without memory for that timer the socket closes at once, dropping
  /// what the kernel does not take. A queue that then fails or times out
  /// is dropped with a report line, and nothing is sent to the owner.
  /// Errors: closed.
  result<void> close() const;
  /// shutdown(write) etc. after the queue is written out.
  result<void> shutdown(otpnet::socket::shutdown_how how) const;

  result<otpnet::socket::address> peername() const;
  result<otpnet::socket::address> sockname() const;
  result<stats> getstat() const;
  pid owner() const noexcept;
  /// The socket layer's socket underneath (info(), options).
  otpnet::socket::socket raw() const;
  /// True once a TLS transport carries it (messages are ssl, ssl_closed...).
  bool is_tls() const noexcept;

  detail::port* port() const noexcept { return p_.get(); }

 private:
  std::shared_ptr<detail::port> p_;
};

// -- messages ---------------------------------------------------------------------

/// The messages of a socket, parameterised by transport so that one handler
/// can be written for TCP and TLS alike (`tcp` and `ssl` are two names for
/// the same shape).
struct tcp_tag {};
struct ssl_tag {};
template <class Tag>
struct basic_data {
  socket sock;
  buffer data;
};
template <class Tag>
struct basic_closed {
  socket sock;
};
template <class Tag>
struct basic_error {
  socket sock;
  errc reason;
};
template <class Tag>
struct basic_passive {
  socket sock;
};

using tcp = basic_data<tcp_tag>;
using tcp_closed = basic_closed<tcp_tag>;
using tcp_error = basic_error<tcp_tag>;
using tcp_passive = basic_passive<tcp_tag>;
using ssl = basic_data<ssl_tag>;
using ssl_closed = basic_closed<ssl_tag>;
using ssl_error = basic_error<ssl_tag>;
using ssl_passive = basic_passive<ssl_tag>;

}  // namespace otpnet::gen_tcp
