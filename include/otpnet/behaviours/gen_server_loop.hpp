// File: otpnet/behaviours/gen_server_loop.hpp
//
// The generic half of gen_server (OTP's gen_server:loop/decode_msg): the
// process body that constructs the server, runs init, acknowledges the
// start, and then takes one message at a time, sorts it (the parent's exit
// and stop requests first, then calls, casts and plain messages), passes it
// to the typed callback, and does what the callback's return says. Private
// to gen_server.hpp; nothing here is API.
//
// Dispatch matches an envelope's type tag against the types the server
// lists (`calls`, `casts`, `infos`), so a message costs a few pointer
// compares and one direct call. A callback that is a coroutine (returns
// task<...>) is awaited; a plain function is called inline, allocating
// nothing.
#pragma once

#include <otpnet/behaviours/call.hpp>
#include <otpnet/behaviours/gen_server_return.hpp>
#include <otpnet/behaviours/start_options.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/behaviours/type_list.hpp>
#include <otpnet/behaviours/wait_time.hpp>
#include <otpnet/runtime/exception_reason.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/runtime/process.hpp>

#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace otpnet::gen_server::detail {

namespace rt = ::otpnet::detail;
namespace gd = ::otpnet::gen::detail;

// -- start protocol ------------------------------------------------------------

/// What a new server process needs to know about its start.
struct start_ctx {
  pid starter;  ///< waits for the init_ack
  ref tag;      ///< names this start
  pid parent;   ///< start_link's caller: its exit stops the server
  pid link_to;  ///< a parent the server links to itself (a plain thread)
  std::string name;
};

/// The acknowledgement of init (OTP's proc_lib:init_ack).
struct init_ack {
  ref tag;
  start_result result;
};

/// A stop request (the system message of OTP's gen_server:stop/3).
struct stop_request {
  exit_reason reason;
};

/// Tells the starter that init failed (or chose ignore, or the name is
/// taken), after unlinking from the parent so that the failure reaches it
/// as the start's result and not as an exit signal.
void init_failed(const start_ctx& ctx, start_result r);
/// Tells the starter that init succeeded.
void init_done(const start_ctx& ctx);
/// Registers ctx.name; false (the starter told) if it is taken.
bool register_or_fail(const start_ctx& ctx);
/// Waits for the init_ack of `child` (or its end, or the timeout).
task<start_result> await_ack(pid child, ref mon, ref tag, bool linked, wait_time timeout);
/// Logs a plain message no handle_info accepts, and drops it.
void unexpected_info(const char* behaviour, const rt::envelope* e);
exit_reason unknown_request(const char* what, const char* mangled_type);

// -- traits ---------------------------------------------------------------------

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};
template <class T>
struct is_maybe_task : std::false_type {};
template <class T>
struct is_maybe_task<maybe_task<T>> : std::true_type {};

template <class T>
struct call_reply_of;
template <class R>
struct call_reply_of<call_return<R>> {
  using type = R;
};
template <class R>
struct call_reply_of<task<call_return<R>>> {
  using type = R;
};
template <class R>
struct call_reply_of<maybe_task<call_return<R>>> {
  using type = R;
};

template <class D>
auto calls_of() {
  if constexpr (requires { typename D::calls; }) {
    return typename D::calls{};
  } else {
    return type_list<>{};
  }
}
template <class D>
auto casts_of() {
  if constexpr (requires { typename D::casts; }) {
    return typename D::casts{};
  } else {
    return type_list<>{};
  }
}
/// The listed info types, then exit_msg and down_msg when the server has a
/// handle_info for them (no need to list those).
template <class D>
auto infos_of() {
  if constexpr (requires { typename D::infos; }) {
    return type_list_concat_t<typename D::infos, type_list<exit_msg, down_msg>>{};
  } else {
    return type_list<exit_msg, down_msg>{};
  }
}

template <class D>
constexpr const char* behaviour_name() {
  if constexpr (requires { D::behaviour_name; }) {
    return D::behaviour_name;
  } else {
    return "gen_server";
  }
}

// -- callback results -------------------------------------------------------------

inline next to_next(cast_return r) {
  next n;
  n.what = r.what() == cast_return::kind::stop ? next::kind::stop : next::kind::go_on;
  n.then = std::move(r.then());
  n.reason = r.reason();
  return n;
}

template <class R>
next to_next(call_return<R> r, gen::from& f) {
  next n;
  switch (r.what()) {
    case call_return<R>::kind::reply:
      (void)f.reply(std::move(*r.value()));
      n.then = std::move(r.then());
      break;
    case call_return<R>::kind::noreply:
      n.then = std::move(r.then());
      break;
    case call_return<R>::kind::stop:
      n.what = next::kind::stop;
      n.reason = r.reason();
      if (r.value()) {
        (void)f.stage(std::move(*r.value()));
        n.pending_reply = std::move(f);
      }
      break;
  }
  return n;
}

/// A coroutine callback's result, once awaited.
template <class Awaited>
task<next> await_cast(Awaited t) {
  co_return to_next(co_await std::move(t));
}

/// The same, keeping the message its argument came from until it is done
/// (a callback that takes its argument by reference may read it on).
template <class R>
task<next> await_cast_owning([[maybe_unused]] message owner, task<R> t) {
  co_return to_next(co_await std::move(t));
}

/// A callback's maybe_task: its value now, or its task awaited (holding
/// `owner`, when there is one).
template <class R>
maybe_task<next> settle_cast(maybe_task<R> r, message* owner = nullptr) {
  if (r.ready()) {
    return to_next(r.take_value());
  }
  if (owner != nullptr) {
    return await_cast_owning(std::move(*owner), r.take_task());
  }
  return await_cast(r.take_task());
}

// -- invoking callbacks ------------------------------------------------------------

/// A hibernated wait begins: the server's handle_hibernate (if it has one),
/// then the runtime gives back the process record's spare memory.
template <class D>
void hibernate_now(D& d) {
  if constexpr (requires { d.handle_hibernate(); }) {
    static_assert(std::is_void_v<decltype(d.handle_hibernate())>,
                  "handle_hibernate is a plain function returning void (a task would never run)");
    d.handle_hibernate();
  }
  ::otpnet::detail::compact_self();
}

/// Calls handle_call(Req&&, from&), or handle_call(Req&&) when the server
/// does not take the caller; the request moves in.
template <class D, class Req>
auto call_handler(D& d, Req& req, gen::from& f) {
  if constexpr (requires { d.handle_call(std::move(req), f); }) {
    return d.handle_call(std::move(req), f);
  } else {
    return d.handle_call(std::move(req));
  }
}

/// A coroutine handle_call: it owns the request's envelope and the caller
/// for as long as it runs.
template <class D, class Req>
task<next> call_coroutine(D& d, [[maybe_unused]] message owner, Req* req, gen::from f) {
  auto r = co_await call_handler(d, *req, f);
  co_return to_next(std::move(r), f);
}

/// A call handler's task, awaited while the request's envelope (and so the
/// caller, left in it for the handler's `from&`) lives.
template <class R>
task<next> await_call([[maybe_unused]] message owner, task<call_return<R>> t, gen::from* f) {
  auto r = co_await std::move(t);
  co_return to_next(std::move(r), *f);
}

template <class D, class Req>
maybe_task<next> invoke_call(D& d, message& owner, gd::call_envelope<Req>* env) {
  using ret = decltype(call_handler(d, env->value, env->reply_to));
  if constexpr (is_task<ret>::value) {
    gen::from f = std::move(env->reply_to);
    return call_coroutine<D, Req>(d, std::move(owner), &env->value, std::move(f));
  } else if constexpr (is_maybe_task<ret>::value) {
    // The caller stays in the envelope: a task the handler returns may hold
    // its from& (and the request) until it ends, and `owner` keeps both.
    gen::from& f = env->reply_to;
    ret r = call_handler(d, env->value, f);
    if (r.ready()) {
      return to_next(r.take_value(), f);
    }
    return await_call(std::move(owner), r.take_task(), &f);
  } else {
    gen::from f = std::move(env->reply_to);
    return to_next(call_handler(d, env->value, f), f);
  }
}

template <class D, class Req>
task<next> cast_coroutine(D& d, [[maybe_unused]] message owner, Req* m) {
  co_return to_next(co_await d.handle_cast(std::move(*m)));
}

template <class D, class Msg>
maybe_task<next> invoke_cast(D& d, message& owner, gd::cast_envelope<Msg>* env) {
  using ret = decltype(d.handle_cast(std::move(env->value)));
  if constexpr (is_task<ret>::value) {
    return cast_coroutine<D, Msg>(d, std::move(owner), &env->value);
  } else if constexpr (is_maybe_task<ret>::value) {
    return settle_cast(d.handle_cast(std::move(env->value)), &owner);
  } else {
    return to_next(d.handle_cast(std::move(env->value)));
  }
}

template <class D, class T>
task<next> info_coroutine(D& d, message owner) {
  co_return to_next(co_await d.handle_info(std::move(owner.get<T>())));
}

template <class D, class T>
maybe_task<next> invoke_info(D& d, message& owner) {
  using ret = decltype(d.handle_info(std::move(owner.get<T>())));
  if constexpr (is_task<ret>::value) {
    return info_coroutine<D, T>(d, std::move(owner));
  } else if constexpr (is_maybe_task<ret>::value) {
    return settle_cast(d.handle_info(std::move(owner.get<T>())), &owner);
  } else {
    return to_next(d.handle_info(std::move(owner.get<T>())));
  }
}

template <class D, class T>
task<next> continue_coroutine(D& d, message owner) {
  co_return to_next(co_await d.handle_continue(std::move(owner.get<T>())));
}

/// Runs handle_continue(T) for a continuation made by continue_with.
template <class D, class T>
struct continue_runner {
  static maybe_task<next> run(void* server, rt::envelope* arg) {
    D& d = *static_cast<D*>(server);
    message owner(arg);
    using ret = decltype(d.handle_continue(std::move(owner.get<T>())));
    if constexpr (is_task<ret>::value) {
      return continue_coroutine<D, T>(d, std::move(owner));
    } else if constexpr (is_maybe_task<ret>::value) {
      return settle_cast(d.handle_continue(std::move(owner.get<T>())), &owner);
    } else {
      return to_next(d.handle_continue(std::move(owner.get<T>())));
    }
  }
};

template <class D>
maybe_task<init_return> invoke_init(D& d) {
  if constexpr (requires { d.init(); }) {
    return d.init();
  } else {
    return init_return(ok_t{});
  }
}

inline next stop_with(exit_reason why) {
  next n;
  n.what = next::kind::stop;
  n.reason = std::move(why);
  return n;
}

// -- dispatch -----------------------------------------------------------------------

/// A call whose request type the server does not list: the catch-all
/// handle_call, or a stop with unknown_call.
template <class D>
maybe_task<next> unlisted_call(D& d, gd::call_header* h) {
  gen::from f = std::move(h->reply_to);
  if constexpr (requires(gen::request & r) { d.handle_call(r, f); }) {
    gen::request r(h);
    using ret = decltype(d.handle_call(r, f));
    static_assert(!is_task<ret>::value && !is_maybe_task<ret>::value,
                  "the catch-all handle_call(request&, from&) must be a plain function");
    return to_next(d.handle_call(r, f), f);
  } else {
    return stop_with(unknown_request("unknown_call", h->req_name));
  }
}

/// Compares the request's type with the listed ones in turn; the result is
/// built in place (no optional to fill and move out of).
template <class D, class T, class... Rest>
maybe_task<next> dispatch_call_as(D& d, message& owner, gd::call_header* h) {
  if (h->req_type == rt::tag_of<T>()) {
    return invoke_call<D, T>(d, owner, static_cast<gd::call_envelope<T>*>(h));
  }
  if constexpr (sizeof...(Rest) > 0) {
    return dispatch_call_as<D, Rest...>(d, owner, h);
  } else {
    return unlisted_call(d, h);
  }
}

template <class D, class... Ts>
maybe_task<next> dispatch_call(D& d, message owner, gd::call_header* h, type_list<Ts...>) {
  if constexpr (sizeof...(Ts) > 0) {
    return dispatch_call_as<D, Ts...>(d, owner, h);
  } else {
    return unlisted_call(d, h);
  }
}

template <class D, class... Ts>
maybe_task<next> dispatch_cast(D& d, message owner, gd::request_header* h, type_list<Ts...>) {
  lazy_slot<maybe_task<next>> out;
  (void)((h->req_type == rt::tag_of<Ts>()
              ? (out.emplace(invoke_cast<D, Ts>(d, owner, static_cast<gd::cast_envelope<Ts>*>(h))), true)
              : false) ||
         ...);
  if (out) {
    return std::move(*out);
  }
  if constexpr (requires(gen::request & r) { d.handle_cast(r); }) {
    gen::request r(h);
    static_assert(!is_task<decltype(d.handle_cast(r))>::value && !is_maybe_task<decltype(d.handle_cast(r))>::value,
                  "the catch-all handle_cast(request&) must be a plain function");
    return to_next(d.handle_cast(r));
  } else {
    return stop_with(unknown_request("unknown_cast", h->req_name));
  }
}

template <class D, class T>
constexpr bool handles_info() {
  return requires(D & d, T && v) { d.handle_info(std::move(v)); };
}

template <class D, class... Ts>
maybe_task<next> dispatch_info(D& d, message owner, rt::envelope* e, type_list<Ts...>) {
  lazy_slot<maybe_task<next>> out;
  auto try_one = [&]<class T>(std::type_identity<T>) {
    if constexpr (handles_info<D, T>()) {
      if (e->type == rt::tag_of<T>()) {
        out.emplace(invoke_info<D, T>(d, owner));
        return true;
      }
    } else {
      static_assert(std::is_same_v<T, exit_msg> || std::is_same_v<T, down_msg>,
                    "a type listed in `infos` needs a handle_info for it");
    }
    return false;
  };
  (void)(try_one(std::type_identity<Ts>{}) || ...);
  if (out) {
    return std::move(*out);
  }
  if constexpr (requires(message & m) { d.handle_info(m); }) {
    static_assert(
        !is_task<decltype(d.handle_info(owner))>::value && !is_maybe_task<decltype(d.handle_info(owner))>::value,
        "the catch-all handle_info(message&) must be a plain function");
    return to_next(d.handle_info(owner));
  } else {
    unexpected_info(behaviour_name<D>(), e);
    return next{};
  }
}

/// The timeout handle_info gets: an object that outlives any task the
/// callback returns (a handle_info(timeout&&) coroutine holds a reference).
inline constinit timeout the_timeout{};

template <class D>
maybe_task<next> dispatch_timeout(D& d) {
  if constexpr (handles_info<D, timeout>()) {
    using ret = decltype(d.handle_info(static_cast<timeout&&>(the_timeout)));
    if constexpr (is_task<ret>::value) {
      return await_cast(d.handle_info(static_cast<timeout&&>(the_timeout)));
    } else if constexpr (is_maybe_task<ret>::value) {
      return settle_cast(d.handle_info(static_cast<timeout&&>(the_timeout)));
    } else {
      return to_next(d.handle_info(static_cast<timeout&&>(the_timeout)));
    }
  } else {
    return next{};  // a timeout nobody handles: wait on
  }
}

/// Offers `e` to d.behaviour_info(T&&) for the types a behaviour layered on
/// gen_server lists in `behaviour_infos`; nothing if none matches.
template <class D, class... Ts>
lazy_slot<maybe_task<next>> dispatch_behaviour_info(D& d, message& owner, rt::envelope* e, type_list<Ts...>) {
  lazy_slot<maybe_task<next>> out;
  auto try_one = [&]<class T>(std::type_identity<T>) {
    if (e->type == rt::tag_of<T>()) {
      using ret = decltype(d.behaviour_info(std::move(owner.get<T>())));
      if constexpr (is_task<ret>::value) {
        // (The task may hold its argument by reference: the message lives
        // until it ends.)
        ret t = d.behaviour_info(std::move(owner.get<T>()));
        out.emplace(await_cast_owning(std::move(owner), std::move(t)));
      } else if constexpr (is_maybe_task<ret>::value) {
        out.emplace(settle_cast(d.behaviour_info(std::move(owner.get<T>())), &owner));
      } else {
        out.emplace(to_next(d.behaviour_info(std::move(owner.get<T>()))));
      }
      return true;
    }
    return false;
  };
  (void)(try_one(std::type_identity<Ts>{}) || ...);
  return out;
}

/// Sorts one message: system messages first, then the callbacks.
template <class D>
maybe_task<next> dispatch(D& d, const start_ctx& ctx, message m) {
  rt::envelope* e = m.release();
  message owner(e);
  if (e->type == rt::tag_of<gd::call_tag>()) {
    return dispatch_call(d, std::move(owner), static_cast<gd::call_header*>(e), calls_of<D>());
  }
  if (e->type == rt::tag_of<gd::cast_tag>()) {
    return dispatch_cast(d, std::move(owner), static_cast<gd::request_header*>(e), casts_of<D>());
  }
  if (auto* x = owner.get_if<exit_msg>(); x != nullptr && ctx.parent && x->from == ctx.parent) {
    return stop_with(x->reason);  // the parent's exit: terminate, then the same exit
  }
  if (auto* s = owner.get_if<stop_request>()) {
    return stop_with(s->reason);
  }
  if constexpr (requires { typename D::behaviour_infos; }) {
    // Messages a behaviour built on gen_server handles itself (gen_nb_server's
    // socket events), before the user's handle_info sees anything.
    if (auto r = dispatch_behaviour_info(d, owner, e, typename D::behaviour_infos{})) {
      return std::move(*r);
    }
  }
  return dispatch_info(d, std::move(owner), e, infos_of<D>());
}

// -- the process body ------------------------------------------------------------------

struct any_message {
  bool operator()(rt::envelope*) const noexcept { return true; }
};

/// The server process: start, init, loop, terminate.
template <class D, class Args>
proc run(start_ctx ctx, Args args) {
  set_process_label(behaviour_name<D>(), "");
  if (ctx.link_to) {
    ::otpnet::link(ctx.link_to);
  }
  if (!register_or_fail(ctx)) {
    co_return;
  }
  std::optional<D> d;
  std::optional<init_return> ir;
  std::exception_ptr crash;
  try {
    std::apply([&](auto&&... a) { d.emplace(std::move(a)...); }, std::move(args));
    maybe_task<init_return> mt = invoke_init(*d);
    if (mt.ready()) {
      ir.emplace(mt.take_value());
    } else {
      ir.emplace(co_await mt.take_task());
    }
  } catch (...) {
    crash = std::current_exception();
  }
  if (crash) {
    init_failed(ctx, start_result::error(reason_of(crash)));
    std::rethrow_exception(crash);
  }
  if (ir->what() == init_return::kind::ignore) {
    init_failed(ctx, start_result::ignore());
    co_return;
  }
  if (ir->what() == init_return::kind::stop) {
    init_failed(ctx, start_result::error(ir->reason()));
    ::otpnet::exit(ir->reason());
  }
  init_done(ctx);
  step then = std::move(ir->then());
  ir.reset();

  exit_reason why;
  gen::from pending;
  for (;;) {
    lazy_slot<next> n;
    try {
      lazy_slot<maybe_task<next>> mt;
      if (then.hibernate) {
        hibernate_now(*d);
      }
      if (then.cont) {
        mt.emplace(then.cont.run(&*d));
      } else {
        std::optional<message> m = co_await gd::receive_for(any_message{}, then.timeout);
        mt.emplace(m ? dispatch(*d, ctx, std::move(*m)) : dispatch_timeout(*d));
      }
      if (mt->ready()) {
        n.emplace(mt->take_value());
      } else {
        n.emplace(co_await mt->take_task());
      }
    } catch (...) {
      crash = std::current_exception();
    }
    if (crash) {
      why = reason_of(crash);
      break;
    }
    if (n->what == next::kind::stop) {
      why = std::move(n->reason);
      pending = std::move(n->pending_reply);
      break;
    }
    then = std::move(n->then);
  }
  // terminate runs for a stop, a crash of a callback, and the parent's
  // exit; not for a kill, which ends the process where it stands. A stop's
  // reply goes after it even if it throws (OTP sends it in terminate's
  // `after`); the server then ends with terminate's exception.
  if constexpr (requires { d->terminate(why); }) {
    try {
      if constexpr (is_task<decltype(d->terminate(why))>::value) {
        co_await d->terminate(why);
      } else {
        d->terminate(why);
      }
    } catch (...) {
      crash = std::current_exception();
    }
  }
  (void)pending.commit();
  if (crash) {
    std::rethrow_exception(crash);
  }
  ::otpnet::exit(why);
}

/// Starts a server process running D and waits for its init.
template <class D, class Tuple>
task<start_result> do_start(start_options o, bool link, pid parent, Tuple args) {
  pid me = self();
  bool link_here = link && parent == me;
  start_ctx ctx{me, make_ref(), link ? parent : pid{}, (link && !link_here) ? parent : pid{}, o.name};
  ref tag = ctx.tag;
  auto [child, mon] =
      spawn_opt({.link = link_here, .monitor = true, .trap_exit = o.trap_exit, .scheduler = o.scheduler},
                [ctx = std::move(ctx), args = std::move(args)]() mutable -> proc {
                  return run<D, Tuple>(std::move(ctx), std::move(args));
                });
  co_return co_await await_ack(child, mon, tag, link_here, o.timeout);
}

}  // namespace otpnet::gen_server::detail
