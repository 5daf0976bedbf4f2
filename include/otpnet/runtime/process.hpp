// File: otpnet/runtime/process.hpp
//
// Processes: spawn (with link, monitor, a chosen scheduler), send, self,
// exit signals, links, monitors, trap_exit and registered names, with the
// semantics of Erlang's. A process body is a callable returning `proc` (a
// coroutine); the runtime keeps the callable alive as long as the process,
// so a lambda's captures are safe to use in its body.
//
// Exit signal rules: `kill` cannot be trapped and ends the target with
// `killed`; `normal` from exit/2 or a linked process is ignored unless the
// target traps exits; any other reason ends a non-trapping target with that
// reason; a trapping target gets an `exit_msg` instead.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/placement.hpp>
#include <otpnet/runtime/proc.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace otpnet {

/// Options of spawn_opt.
struct spawn_options {
  bool link = false;
  bool monitor = false;
  bool trap_exit = false;
  /// Scheduler index (modulo the schedulers), least_loaded_scheduler or
  /// caller_scheduler.
  int scheduler = least_loaded_scheduler;
};

namespace detail {
struct body_base {
  virtual ~body_base() = default;
};
template <class F>
struct body_holder final : body_base {
  template <class G>
  explicit body_holder(G&& g) : fn(std::forward<G>(g)) {}
  F fn;
};
struct spawned {
  pid id;
  ref monitor;
};
spawned spawn_impl(const spawn_options& o, std::unique_ptr<body_base> body,
                   std::coroutine_handle<proc::promise_type> h);
/// Starts a process running `body`, a coroutine created just before (spawn
/// reads its frame size), whose frame holds all it needs: no callable is
/// kept alive beside it.
inline spawned spawn_body(const spawn_options& o, proc body) { return spawn_impl(o, nullptr, body.release()); }
/// Gives back the spare memory of the calling process's record (its lists
/// of sockets and ports gone, their spare capacity): a hibernating server.
void compact_self() noexcept;
bool send_envelope(pid to, envelope* e) noexcept;
bool send_envelope(std::string_view name, envelope* e) noexcept;
}  // namespace detail

/// Starts a process running `f()` (which returns proc). Errors are thrown
/// (std::system_error) only if the runtime is not running or out of memory.
template <class F>
requires std::is_invocable_r_v < proc, std::decay_t<F>
& > std::pair<pid, ref> spawn_opt(const spawn_options& o, F&& f) {
  auto holder = std::make_unique<detail::body_holder<std::decay_t<F>>>(std::forward<F>(f));
  proc body = holder->fn();
  auto s = detail::spawn_impl(o, std::move(holder), body.release());
  return {s.id, s.monitor};
}

template <class F>
pid spawn(F&& f) {
  return spawn_opt({}, std::forward<F>(f)).first;
}
/// Spawns and links to the caller (a process) atomically.
template <class F>
pid spawn_link(F&& f) {
  return spawn_opt({.link = true}, std::forward<F>(f)).first;
}
/// Spawns and monitors: {pid, monitor ref}.
template <class F>
std::pair<pid, ref> spawn_monitor(F&& f) {
  return spawn_opt({.monitor = true}, std::forward<F>(f));
}

/// Sends `msg` (moved). Never blocks; a send to a dead pid (or an unknown
/// name) is dropped and returns false. Per sender-receiver pair, messages
/// arrive in the order they were sent. @threadsafe
template <class T>
bool send(pid to, T&& msg) {
  return detail::send_envelope(to, detail::make_envelope<std::decay_t<T>>(std::forward<T>(msg)));
}
template <class T>
bool send(std::string_view name, T&& msg) {
  return detail::send_envelope(name, detail::make_envelope<std::decay_t<T>>(std::forward<T>(msg)));
}

namespace detail {
/// send for a message the runtime owes a process from a path that cannot
/// fail (a port's reply to a waiting recv, an acceptor's wake-up): without
/// memory for it the program ends with a report line (message.hpp,
/// must_make_envelope). @threadsafe
template <class T>
bool must_send(pid to, T&& msg) noexcept {
  return send_envelope(to, must_make_envelope<std::decay_t<T>>(std::forward<T>(msg)));
}
}  // namespace detail

/// The calling process (or plain thread's mailbox); no pid elsewhere.
pid self() noexcept;

/// Sends an exit signal to `target` with `reason` (erlang:exit/2). A
/// target that traps exits gets an exit_msg; otherwise `kill` ends it
/// (killed), `normal` leaves it alone (except exit(self(), normal), which
/// ends the caller with normal, as OTP's), any other reason ends it.
void exit(pid target, exit_reason reason);
/// Ends the calling process with `reason` (erlang:exit/1): throws
/// exit_exception, which the runtime catches.
[[noreturn]] void exit(exit_reason reason);

/// Links the caller and `other`; a dead `other` sends the caller an exit
/// signal with reason noproc. Calling process only.
void link(pid other);
void unlink(pid other);
/// Whether the calling process holds a link to `other` (its links as
/// erlang:process_info(self(), links) lists them: a link the other side
/// removed counts until its unlink signal is handled). False from a plain
/// thread.
bool is_linked(pid other) noexcept;
/// Monitors `target`; a dead one gives a down_msg with noproc at once.
ref monitor(pid target);
/// Removes a monitor; with `flush`, also a down_msg already delivered.
/// True if the monitor was active.
bool demonitor(ref r, bool flush = false);
/// Sets trap_exit for the caller; returns the old value.
bool trap_exit(bool on);

/// Whether `p` is alive. @threadsafe
bool is_alive(pid p) noexcept;

/// Registers `name` for `p`. Errors: `invalid` (name taken, p already has
/// a name, or the name is empty), `noproc` (p is dead).
result<void> register_name(std::string name, pid p);
/// Removes a name; false if it was not registered.
bool unregister_name(std::string_view name);
/// The pid registered under `name`, or none.
pid whereis(std::string_view name);
std::vector<std::string> registered();

/// Every live process. @threadsafe
std::vector<pid> processes();

/// Sets what process_info reports as the caller's behaviour and state
/// (gen_server, gen_statem, ...). `behaviour` must be a static string;
/// `state_name` is copied.
void set_process_label(const char* behaviour, std::string_view state_name);
/// The same for a state name with static storage (a string literal, a
/// constexpr name), which is kept by pointer instead of copied: a process
/// whose names are all static keeps no string.
void set_process_label_static(const char* behaviour, const char* state_name) noexcept;

}  // namespace otpnet
