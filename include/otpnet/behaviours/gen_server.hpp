// File: otpnet/behaviours/gen_server.hpp
//
// gen_server: a server process whose loop the library owns (OTP's
// gen_server). The user writes a class deriving from
// gen_server::behaviour<Self> with the callbacks below; each returns a
// typed "what next" value. Any callback may be a coroutine returning
// task<...> when it must wait (a call to another server); a plain function
// is the fast path. A callback that waits only sometimes may return
// maybe_task<...>: a plain value when it is done at once (no coroutine is
// made), or the task of a coroutine it calls when it must wait. That task
// runs after the callback returned: it may hold members, the caller
// (from&) and an argument taken by reference (kept until it ends), but
// must copy what it needs of by-value parameters.
//
//   callback                               returns (built with)
//   --------------------------------------  ---------------------------------------------------
//   Self(args...)       constructor          (runs in the new process, before init)
//   init()                                  ok() | ok(500ms) | ok(continue_with(x)) | ok(hibernate)
//                                           | stop(r) | ignore()
//   handle_call(Req&&, from&)  (from opt.)  reply(v) | reply(v, 500ms) | reply(v, continue_with(x))
//                                           | reply(v, hibernate) | noreply() | noreply(500ms)
//                                           | noreply(continue_with(x)) | noreply(hibernate)
//                                           | stop(r) | stop(r, v)        -> call_return<V>
//   handle_cast(Msg&&)                      noreply(...) | stop(r)        -> cast_return
//   handle_info(T&&)                        noreply(...) | stop(r)        -> cast_return
//   handle_info(timeout)                    the idle timeout of ok/reply/noreply(500ms) passed
//   handle_continue(T&&)                    noreply(...) | stop(r)        -> cast_return
//   terminate(const exit_reason&)           void (or task<void>)
//   handle_hibernate()         (optional)   void: give back caches before a hibernated wait
//
// Which types reach which callback: `using calls = type_list<A, B>;`,
// `using casts = ...;`, `using infos = ...;` in the class (exit_msg and
// down_msg need no listing). Catch-alls, plain functions only:
// handle_call(request&, from&), handle_cast(request&), handle_info(message&).
// A call nobody handles stops the server with "unknown_call: Type"; a cast,
// with "unknown_cast: Type"; a plain message is logged and dropped.
//
// init returns ok (the server runs), stop(r) (start gives error(r)) or
// ignore. A stop return, an exception escaping a callback, the parent's
// exit signal (when trapping exits) and gen_server::stop all run terminate
// first; stop(r, v) replies v after terminate. A kill does not.
//
//   struct counter : gen_server::behaviour<counter> {
//     using calls = type_list<get>;
//     using casts = type_list<add>;
//     int n = 0;
//     call_return<int> handle_call(get) { return reply(n); }
//     cast_return handle_cast(add a) { n += a.k; return noreply(); }
//   };
//   auto s = co_await gen_server::start_link<counter>();      // start_result
//   auto v = co_await gen_server::call<int>(s.id(), get{});    // outcome<int>
#pragma once

#include <otpnet/behaviours/call.hpp>
#include <otpnet/behaviours/from.hpp>
#include <otpnet/behaviours/gen_server_loop.hpp>
#include <otpnet/behaviours/gen_server_return.hpp>
#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/server_ref.hpp>
#include <otpnet/behaviours/start_options.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/behaviours/type_list.hpp>
#include <otpnet/behaviours/wait_time.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/proc.hpp>

#include <chrono>
#include <tuple>
#include <type_traits>
#include <utility>

namespace otpnet::gen_server {

using gen::call;
using gen::cast;
using gen::from;
using gen::reply;
using gen::request;

/// The base of a gen_server: the helpers that build callback returns.
/// Stateless; the derived class is the server's state. A derived member
/// named like a helper (stop, reply, ...) hides it.
template <class Self>
class behaviour {
 public:
  using from = gen::from;
  using request = gen::request;
  using timeout = gen_server::timeout;
  using init_return = gen_server::init_return;
  using cast_return = gen_server::cast_return;
  template <class R>
  using call_return = gen_server::call_return<R>;
  using continuation = detail::continuation;
  using hibernate_t = gen_server::hibernate_t;
  /// `noreply(hibernate)`, `reply(v, hibernate)`, `ok(hibernate)`.
  static constexpr hibernate_t hibernate{};
  /// A return that is ready or still to be awaited (see the file comment).
  template <class T>
  using maybe_task = gen_server::maybe_task<T>;

  // -- init --------------------------------------------------------------------
  /// init succeeded; wait for messages (at most `t`, then handle_info(timeout)).
  static ok_t ok() { return {}; }
  static ok_t ok(std::chrono::milliseconds t) { return {detail::step{t, {}}}; }
  /// init succeeded; run handle_continue(x) before any message.
  static ok_t ok(continuation c) { return {detail::step{std::nullopt, std::move(c)}}; }
  /// init succeeded; hibernate before the first message (see hibernate_t).
  static ok_t ok(hibernate_t) { return {detail::step{std::nullopt, {}, true}}; }
  /// init chose not to start: the start returns ignore.
  static ignore_t ignore() { return {}; }

  // -- handlers -------------------------------------------------------------------
  /// Reply `v` to the caller of handle_call and go on.
  template <class R>
  static call_return<std::remove_cvref_t<R>> reply(R&& v) {
    return {std::forward<R>(v), detail::step{}};
  }
  template <class R>
  static call_return<std::remove_cvref_t<R>> reply(R&& v, std::chrono::milliseconds t) {
    return {std::forward<R>(v), detail::step{t, {}}};
  }
  template <class R>
  static call_return<std::remove_cvref_t<R>> reply(R&& v, continuation c) {
    return {std::forward<R>(v), detail::step{std::nullopt, std::move(c)}};
  }
  template <class R>
  static call_return<std::remove_cvref_t<R>> reply(R&& v, hibernate_t) {
    return {std::forward<R>(v), detail::step{std::nullopt, {}, true}};
  }
  /// Reply to a deferred caller (gen_server:reply/2). @threadsafe
  template <class V>
  static bool reply(from& f, V&& v) {
    return f.reply(std::forward<V>(v));
  }
  /// Go on without replying now (handle_call keeps its `from` to reply later).
  static noreply_t noreply() { return {}; }
  static noreply_t noreply(std::chrono::milliseconds t) { return {detail::step{t, {}}}; }
  static noreply_t noreply(continuation c) { return {detail::step{std::nullopt, std::move(c)}}; }
  static noreply_t noreply(hibernate_t) { return {detail::step{std::nullopt, {}, true}}; }
  /// Stop with `why`: terminate(why) runs, then the process exits with it.
  static stop_t stop(exit_reason why = exit_reason::normal()) { return {std::move(why)}; }
  /// Stop, replying `v` to the caller after terminate.
  template <class R>
  static call_return<std::remove_cvref_t<R>> stop(exit_reason why, R&& v) {
    return {std::move(why), std::remove_cvref_t<R>(std::forward<R>(v))};
  }
  /// Run handle_continue(arg) next, before any message (OTP's {continue, Arg}).
  template <class T>
  static continuation continue_with(T&& arg) {
    using t = std::remove_cvref_t<T>;
    return continuation(::otpnet::detail::make_envelope<t>(std::forward<T>(arg)),
                        &detail::continue_runner<Self, t>::run);
  }
};

/// Starts a server running Self(args...) linked to the caller (the
/// calling process, or the plain thread's mailbox if it has one), and
/// returns when init has finished: ok(pid), ignore, or error(reason) --
/// init's stop reason or exception, `timeout` (init took longer than
/// o.timeout; the process was killed), "already_started" (o.name is taken;
/// the holder's pid in id()). On ignore and error the process has ended
/// before this returns, and no exit signal of it reaches the caller.
/// The caller is the parent: its exit signal stops a server that traps
/// exits, through terminate. From a process: co_await; from a plain
/// thread: sync_wait(start_link<S>(...)).
template <class Self, class... A>
task<start_result> start_link(start_options o, A&&... args) {
  return detail::do_start<Self>(std::move(o), true, self(), std::tuple<std::decay_t<A>...>(std::forward<A>(args)...));
}
template <class Self, class... A>
task<start_result> start_link(A&&... args) {
  return start_link<Self>(start_options{}, std::forward<A>(args)...);
}

/// As start_link, without a link and without a parent.
template <class Self, class... A>
task<start_result> start(start_options o, A&&... args) {
  return detail::do_start<Self>(std::move(o), false, pid{}, std::tuple<std::decay_t<A>...>(std::forward<A>(args)...));
}
template <class Self, class... A>
task<start_result> start(A&&... args) {
  return start<Self>(start_options{}, std::forward<A>(args)...);
}

/// Stops `server` with `why` (running its terminate) and waits up to
/// `timeout` for it to end (OTP's gen_server:stop/3). Errors: noproc,
/// timeout (the server goes on), or the reason it ended with if that is not
/// `why` (its terminate failed). From a process; sync_wait from a thread.
task<outcome<>> stop(server_ref server, exit_reason why = exit_reason::normal(), wait_time timeout = infinity);

}  // namespace otpnet::gen_server
