// File: otpnet/behaviours/gen_statem_start.hpp
//
// Starting a gen_statem synchronously (STYLE rule 8): statem::start_link
// and statem::start return only after the new process's init has finished,
// with ok(pid), ignore or error(reason), exactly as gen_server's do (the
// same start_options, start_result and init acknowledgement), so a
// supervisor starts either the same way. From a process: co_await; from a
// plain thread: sync_wait(statem::start_link<Fsm>(...)).
#pragma once

#include <otpnet/behaviours/gen_statem_engine.hpp>
#include <otpnet/behaviours/start_options.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/runtime/process.hpp>

#include <tuple>
#include <type_traits>
#include <utility>

namespace otpnet {

namespace detail {

/// Whether a start's first argument is its options (not one of Fsm's).
template <class... A>
struct first_is_start_options : std::false_type {};
template <class A0, class... A>
struct first_is_start_options<A0, A...> : std::is_same<std::decay_t<A0>, start_options> {};

}  // namespace detail

namespace statem {

/// Starts Fsm(args...) in a new process linked to the caller (the calling
/// process, or the plain thread's mailbox if it has one), and returns when
/// init has finished: ok(pid); ignore; error(reason) -- init's stop reason
/// or exception ("std::runtime_error: boom"), "bad_return_from_init",
/// `timeout` (init took longer than o.timeout; the process was killed),
/// "already_started" (o.name is taken; the holder in id()). On ignore and
/// error the process has ended, and no exit signal of it reaches the
/// caller. The caller is the parent: if the machine traps exits
/// (o.trap_exit, or trap_exit(true) in init), the parent's exit stops it
/// through terminate. Throws std::system_error only if the runtime is not
/// running.
template <class Fsm, class... A>
task<start_result> start_link(start_options o, A&&... args) {
  return detail::statem_start<Fsm>(std::move(o), true, self(),
                                   std::tuple<std::decay_t<A>...>(std::forward<A>(args)...));
}
template <class Fsm, class... A>
requires(!detail::first_is_start_options<A...>::value) task<start_result> start_link(A&&... args) {
  return start_link<Fsm>(start_options{}, std::forward<A>(args)...);
}

/// As start_link, without a link and without a parent.
template <class Fsm, class... A>
task<start_result> start(start_options o, A&&... args) {
  return detail::statem_start<Fsm>(std::move(o), false, pid{},
                                   std::tuple<std::decay_t<A>...>(std::forward<A>(args)...));
}
template <class Fsm, class... A>
requires(!detail::first_is_start_options<A...>::value) task<start_result> start(A&&... args) {
  return start<Fsm>(start_options{}, std::forward<A>(args)...);
}

}  // namespace statem
}  // namespace otpnet
