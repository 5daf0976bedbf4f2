// File: otpnet/socket/select.hpp
//
// Timeouts and the nowait protocol of OTP's socket module. A call that can
// wait takes no timeout (infinity), a `std::chrono::milliseconds` (fails
// with `timeout`, nothing consumed), `nowait`, or a caller-chosen
// `select_handle`. The last two return an `async_result`, a four-way sum:
// ok(T), select(select_info), completion(completion_info) or error(errc).
// Would-block is never an error: a `select` result promises one
// `select_event` to the caller's `select_sink`, after which the caller
// repeats the call, or withdraws it with `cancel`.
// A caller (a sink) has at most one pending select per socket and
// direction (input: accept/recv*; output: connect/send*): repeating a
// nowait call before its event replaces the pending select's handle. A
// notified caller holds the socket's turn for that direction until it
// repeats the call or cancels; later waiters are served after it.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

namespace otpnet::socket {

namespace detail {
class socket_state;
}  // namespace detail

/// Ask for a select result instead of waiting.
struct nowait_t {
  explicit constexpr nowait_t() = default;
};
inline constexpr nowait_t nowait{};

/// Identifies one pending select, as OTP's select_handle() reference.
struct select_handle {
  std::uint64_t value = 0;
  friend bool operator==(select_handle, select_handle) = default;
};

/// A fresh, process-wide unique handle (OTP's make_ref()). @threadsafe
select_handle make_select_handle() noexcept;

/// The operation a select belongs to (OTP's select_tag()).
enum class select_tag : std::uint8_t { accept, connect, recv, recvfrom, recvmsg, send, sendto, sendmsg, sendfile };

std::string_view to_string(select_tag t) noexcept;

/// What a nowait call that would block returns. `progress` counts what a
/// send-type call already transferred before it would have blocked (OTP's
/// RestData, as a count): repeat the call with the rest.
struct select_info {
  select_tag tag;
  select_handle handle;
  std::size_t progress = 0;
};

/// The completion-based counterpart of select_info (an io_uring backend
/// completes the operation itself and announces the result).
struct completion_info {
  select_tag tag;
  select_handle handle;
};

/// The four outcomes of a nowait call.
template <class T>
class [[nodiscard]] async_result {
 public:
  async_result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  async_result(::otpnet::socket::select_info s) : v_(std::in_place_index<1>, s) {}
  async_result(::otpnet::socket::completion_info c) : v_(std::in_place_index<2>, c) {}
  async_result(tl::unexpected<errc> e) : v_(std::in_place_index<3>, e.value()) {}
  /// Adopts a plain result: its value or its error.
  async_result(result<T>&& r) : async_result(r ? async_result(std::move(*r)) : async_result(fail(r.error()))) {}

  bool is_ok() const noexcept { return v_.index() == 0; }
  bool is_select() const noexcept { return v_.index() == 1; }
  bool is_completion() const noexcept { return v_.index() == 2; }
  bool is_error() const noexcept { return v_.index() == 3; }

  /// The value; throws std::bad_variant_access if the outcome is not ok.
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  /// The value, unchecked (as expected's operator*): only after is_ok().
  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  /// The pending select, or nullptr.
  const ::otpnet::socket::select_info* select_info() const noexcept { return std::get_if<1>(&v_); }
  const ::otpnet::socket::completion_info* completion_info() const noexcept { return std::get_if<2>(&v_); }
  /// The reason of an error outcome, errc::ok otherwise.
  errc error() const noexcept { return is_error() ? *std::get_if<3>(&v_) : errc::ok; }

 private:
  std::variant<T, ::otpnet::socket::select_info, ::otpnet::socket::completion_info, errc> v_;
};

/// async_result<void> has an empty ok.
struct done_t {
  friend bool operator==(done_t, done_t) = default;
};
template <>
class async_result<void> : public async_result<done_t> {
 public:
  using async_result<done_t>::async_result;
  async_result(result<void>&& r)
      : async_result<done_t>(r ? async_result<done_t>(done_t{}) : async_result<done_t>(fail(r.error()))) {}
};

/// The message a select promises (OTP's {'$socket', S, select, Handle}), or,
/// with `reason == errc::closed`, that the socket was closed under the
/// waiter (OTP's {'$socket', S, abort, {Handle, closed}}).
struct select_event {
  socket sock;
  select_tag tag;
  select_handle handle;
  errc reason = errc::ok;
};

/// Receives select events. The runtime gives each process one that posts to
/// its mailbox; a plain thread has one of its own (see `wait_select`).
/// `notify` is called with the socket's waiter lock held: it must be quick
/// and must not call back into the socket layer.
class select_sink {
 public:
  virtual ~select_sink() = default;
  virtual void notify(select_event ev) noexcept = 0;
  /// Called on the calling thread when a wait of this sink is queued on
  /// `s` (with the socket's waiter lock held): a sink whose owner can end
  /// before the socket does records `s`, to withdraw its waits then.
  virtual void on_wait(detail::socket_state& s) noexcept { (void)s; }
};

/// The sink that nowait calls made on this thread report to: the thread's
/// own unless a `sink_scope` is active (the runtime sets one while a process
/// runs).
select_sink& current_sink() noexcept;

/// Makes `s` the current sink of this thread for the scope's lifetime.
class sink_scope {
 public:
  explicit sink_scope(select_sink& s) noexcept;
  ~sink_scope();
  sink_scope(const sink_scope&) = delete;
  sink_scope& operator=(const sink_scope&) = delete;

 private:
  select_sink* prev_;
};

/// Waits for the next select event delivered to this thread's own sink, as
/// a plain thread's `receive {'$socket', ...}`. Fails with `timeout`.
result<select_event> wait_select(std::chrono::milliseconds timeout);

}  // namespace otpnet::socket
