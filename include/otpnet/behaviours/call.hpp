// File: otpnet/behaviours/call.hpp
//
// The request protocol shared by the behaviours (OTP's `gen` module):
// `gen::call<Reply>(server, request, timeout)` sends a request and waits
// for its reply, `gen::cast(server, message)` sends one without waiting.
// A call monitors the server for its duration, so a dead or unknown server
// gives `noproc` and a server that dies mid-call gives its exit reason; the
// reply comes in a box only this call can receive, and a reply that comes
// after the timeout is dropped before it reaches the mailbox (from.hpp).
// Costs per call: the request envelope and the reply box (pooled), and the
// monitor (two signals; none when the server shares the caller's scheduler,
// where it is set and removed in place). The timeout goes on the timer
// wheel only if the reply has not come by the end of the scheduler's run
// phase.
#pragma once

#include <otpnet/behaviours/from.hpp>
#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/server_ref.hpp>
#include <otpnet/behaviours/wait_time.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>

#include <chrono>
#include <new>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace otpnet::gen {

namespace detail {

/// Envelope type tags of calls and casts, whatever their request type.
struct call_tag {};
struct cast_tag {};

/// What calls and casts have in common: the request's type and a pointer
/// to the request inside the envelope.
struct request_header : rt::envelope {
  rt::type_tag req_type = nullptr;
  const char* req_name = nullptr;  // mangled, for errors
  void* payload = nullptr;
};

struct call_header : request_header {
  from reply_to;
};

template <class Req>
struct call_envelope final : call_header {
  template <class... A>
  explicit call_envelope(from f, A&&... a) : value(std::forward<A>(a)...) {
    type = rt::tag_of<call_tag>();
    destroy = &destroy_env;
    req_type = rt::tag_of<Req>();
    req_name = typeid(Req).name();
    payload = &value;
    reply_to = std::move(f);
  }
  static void destroy_env(rt::envelope* e) noexcept {
    auto* self = static_cast<call_envelope*>(e);
    self->~call_envelope();
    rt::envelope_free(self, sizeof(call_envelope));
  }
  Req value;
};

template <class Msg>
struct cast_envelope final : request_header {
  template <class... A>
  explicit cast_envelope(A&&... a) : value(std::forward<A>(a)...) {
    type = rt::tag_of<cast_tag>();
    destroy = &destroy_env;
    req_type = rt::tag_of<Msg>();
    req_name = typeid(Msg).name();
    payload = &value;
  }
  static void destroy_env(rt::envelope* e) noexcept {
    auto* self = static_cast<cast_envelope*>(e);
    self->~cast_envelope();
    rt::envelope_free(self, sizeof(cast_envelope));
  }
  Msg value;
};

/// Allocates an envelope of type E from the runtime's pools.
template <class E, class... A>
E* new_envelope(A&&... a) {
  void* mem = rt::envelope_alloc(sizeof(E));
  try {
    return ::new (mem) E(std::forward<A>(a)...);
  } catch (...) {
    rt::envelope_free(mem, sizeof(E));
    throw;
  }
}

/// A receive of the first envelope `pred` accepts, waiting up to `t`
/// (infinity: no limit); gives std::optional<message>.
template <class Pred>
auto receive_for(Pred pred, wait_time t) {
  long long ms = !t ? -1 : (t->count() < 0 ? 0 : static_cast<long long>(t->count()));
  return rt::receive_awaiter<message, Pred, true>(std::move(pred), ms);
}

/// Matches the reply box of a call, or the down message of its monitor.
struct reply_or_down {
  const rt::envelope* box;
  ref monitor;
  bool operator()(rt::envelope* e) const noexcept {
    if (e == box) {
      return true;
    }
    auto* d = rt::payload_if<down_msg>(e);
    return d != nullptr && d->monitor == monitor;
  }
};

/// The caller's share of a reply box while the call waits: if the call's
/// coroutine is destroyed (its process killed), the box is left behind.
class box_share {
 public:
  explicit box_share(reply_box_base* b) noexcept : b_(b) {}
  box_share(const box_share&) = delete;
  box_share& operator=(const box_share&) = delete;
  ~box_share() {
    if (b_ != nullptr) {
      (void)leave_box(b_, box_state::caller_gone);
    }
  }
  /// Gives up waiting; true if a reply had been sent before (it must then
  /// be received: it is in, or on its way to, the mailbox).
  bool leave() noexcept { return leave_box(std::exchange(b_, nullptr), box_state::caller_gone) == box_state::replied; }
  /// The box arrived in the mailbox: the received message owns it now.
  void arrived() noexcept { b_ = nullptr; }

 private:
  reply_box_base* b_;
};

/// When `Reply` is this, call<Reply>(...) uses Req::reply_type.
struct deduce_reply {};
template <class Reply, class Req>
struct reply_type {
  using type = Reply;
};
template <class Req>
struct reply_type<deduce_reply, Req> {
  using type = typename Req::reply_type;
};

exit_reason bad_reply_type(const char* expected, const char* offered);
exit_reason calling_self();

/// The reply carried by a received box (which it frees).
template <class R>
outcome<R> take_reply(message& m) {
  auto* b = static_cast<reply_box<R>*>(m.release());
  message owner(b);  // frees the box on return
  if (!b->has_value) {
    return fail(bad_reply_type(b->value_name, b->offered_name));
  }
  return outcome<R>(std::move(b->value));
}

template <class Reply, class Req>
task<outcome<Reply>> do_call(server_ref server, Req req, wait_time timeout) {
  static_assert(std::is_object_v<Reply> && std::is_move_constructible_v<Reply>,
                "a call's Reply must be a movable object type");
  pid to = server.resolve();
  pid me = self();
  if (!to) {
    co_return fail(exit_reason::noproc());
  }
  if (to == me) {
    co_return fail(calling_self());
  }
  ref mon = monitor(to);
  auto* box = make_reply_box<Reply>();
  box_share share(box);
  // If `to` is dead the envelope is freed here (its `from` leaves the box)
  // and the monitor delivers noproc.
  (void)rt::send_envelope(to, new_envelope<call_envelope<Req>>(from(box, me, mon), std::move(req)));
  std::optional<message> got = co_await receive_for(reply_or_down{box, mon}, timeout);
  if (got && got->is<reply_box_tag>()) {
    share.arrived();
    (void)demonitor(mon, true);
    co_return take_reply<Reply>(*got);
  }
  exit_reason why = got ? got->get<down_msg>().reason : exit_reason::timeout();
  if (!got) {
    (void)demonitor(mon, true);
  }
  if (!share.leave()) {
    co_return fail(std::move(why));
  }
  // The reply was sent before we gave up: it is ours, and it comes now.
  got = co_await receive_for(reply_or_down{box, ref{}}, infinity);
  co_return take_reply<Reply>(*got);
}

}  // namespace detail

/// Calls `server` with `req` and waits up to `timeout` for the reply
/// (OTP's gen_server:call/3). From a process only: it suspends the calling
/// process, never its scheduler (from a plain thread, run it with
/// sync_wait). `Reply` is the type the server replies with (by default
/// `Req::reply_type`); the two must agree exactly.
/// Errors: noproc (no such process or name), timeout, the server's exit
/// reason if it ends before replying, "bad_reply_type" (the server replied
/// with another type), "calling_self".
/// After an error no reply for this call can reach the caller's mailbox.
template <class Reply = detail::deduce_reply, class Req>
auto call(server_ref server, Req req, wait_time timeout = std::chrono::milliseconds(5000))
    -> task<outcome<typename detail::reply_type<Reply, std::remove_cvref_t<Req>>::type>> {
  using r = typename detail::reply_type<Reply, std::remove_cvref_t<Req>>::type;
  return detail::do_call<r, std::remove_cvref_t<Req>>(std::move(server), std::move(req), timeout);
}

/// Sends `msg` to `server` as a cast, without waiting (OTP's
/// gen_server:cast/2). False if there is no such process (the message is
/// dropped, as OTP's cast drops it). @threadsafe
template <class Msg>
bool cast(const server_ref& server, Msg&& msg) {
  pid to = server.resolve();
  if (!to) {
    return false;
  }
  using m = std::remove_cvref_t<Msg>;
  return ::otpnet::detail::send_envelope(to, detail::new_envelope<detail::cast_envelope<m>>(std::forward<Msg>(msg)));
}

/// A call's or cast's request whose type the server did not list: the
/// server's catch-all handle_call / handle_cast gets one.
class request {
 public:
  explicit request(detail::request_header* h) noexcept : h_(h) {}
  template <class T>
  bool is() const noexcept {
    return h_->req_type == ::otpnet::detail::tag_of<T>();
  }
  /// The request if it is a T, else nullptr.
  template <class T>
  T* get_if() noexcept {
    return is<T>() ? static_cast<T*>(h_->payload) : nullptr;
  }
  /// The request's C++ type, demangled ("app::get_count").
  std::string type_name() const;

 private:
  detail::request_header* h_;
};

}  // namespace otpnet::gen
