// File: otpnet/behaviours/gen_statem_engine.hpp
//
// The typed half of the gen_statem loop (OTP's gen_statem:loop): the
// process body that constructs the machine, runs init, acknowledges the
// start, then takes one event at a time from statem_core, calls the state's
// callback, and carries out the transition (state change, state enter
// calls, actions), until a stop. Private to gen_statem.hpp: nothing here is
// API. The start protocol (init_ack, the stop request) is the one gen_server
// uses, so supervisors and stop work the same on both.
//
// The fast path (a plain-function callback, no state change) allocates
// nothing: the event stays in its envelope, the transition and its first
// two actions live on the stack of statem_engine::run, and a timeout is a
// stored deadline.
#pragma once

#include <otpnet/behaviours/gen_server_loop.hpp>
#include <otpnet/behaviours/gen_statem_core.hpp>
#include <otpnet/behaviours/gen_statem_event.hpp>
#include <otpnet/behaviours/gen_statem_state.hpp>
#include <otpnet/behaviours/gen_statem_transition.hpp>
#include <otpnet/behaviours/start_options.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/runtime/exception_reason.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace otpnet::detail {

/// The engine's access to the state kept in the gen_statem base.
struct statem_access {
  template <class Fsm>
  static auto& state(Fsm& f) noexcept {
    return f.state_;
  }
  template <class Fsm>
  static auto& previous(Fsm& f) noexcept {
    return f.previous_;
  }
};

/// Waits for any mailbox message, up to the core's wait_ms() (< 0: no
/// limit); the core's timeouts are settled if the process has to wait.
struct statem_mailbox_wait {
  statem_core* core;
  envelope* got = nullptr;
  bool await_ready() noexcept;
  void await_suspend(std::coroutine_handle<> h) noexcept;
  envelope* await_resume() noexcept;
};

/// set_process_label("gen_statem", name).
void statem_set_label(std::string_view state_name);
/// set_process_label_static("gen_statem", name): `name` has static storage.
void statem_set_label_static(const char* state_name) noexcept;

/// Callbacks, the current state, and the rules of a transition.
template <class Fsm>
class statem_engine {
 public:
  using state_type = typename Fsm::state_type;
  using transition = typename Fsm::transition;
  using verb = typename transition::verb;
  /// quit: the process ends at once, without terminate (init only).
  enum class step : unsigned char { go_on, enter, stop, quit };

  statem_engine(Fsm& f, statem_core& core) noexcept : f_(f), core_(core) {}

  static constexpr bool has_state_enter() {
    if constexpr (requires { Fsm::state_enter; }) {
      return Fsm::state_enter;
    } else {
      return false;
    }
  }

  /// Calls the callback for `e` into `out` (ready, or a task to await).
  void invoke(event& e, statem_outcome<transition>& out) {
    auto& s = *statem_access::state(f_);
    if constexpr (Fsm::state_functions) {
      s.def()->run(f_, e, &out);
    } else {
      out.emplace_from([&] { return f_.handle_event(e, s); });
    }
  }

  /// Calls the callback for `e` and carries out the transition it returns,
  /// or, for a coroutine callback, leaves its task in `m` (statem_machine,
  /// to await) and returns nothing. The transition lives
  /// on the stack of this call, not in the machine's frame.
  template <class Machine>
  std::optional<step> run(event& e, Machine& m) {
    statem_outcome<transition> out;
    invoke(e, out);
    if (out.is_pending()) {
      m.set_pending(std::move(out.pending()));
      return std::nullopt;
    }
    return apply(out.ready(), e.is(event_kind::enter));
  }

  /// Adopts the state init chose (its previous state is itself) and
  /// carries out init's actions.
  step start(transition& t) {
    statem_access::previous(f_) = *t.state();
    statem_access::state(f_) = std::move(*t.state());
    label();
    if (const char* err = core_.apply(t.actions(), false, false)) {
      core_.set_reason(exit_reason::other(err));
      return step::stop;
    }
    hibernate_if_asked(t.actions());
    return has_state_enter() ? step::enter : step::go_on;
  }

  /// Carries out `t`, the answer to the current event or (in_enter) to a
  /// state enter call. Sets why() when it returns step::stop.
  step apply(transition& t, bool in_enter) {
    if (t.what() == verb::stop) {
      core_.send_replies(t.actions());
      core_.set_reason(t.reason());
      return step::stop;
    }
    if (t.what() == verb::ignore) {
      core_.set_reason(exit_reason::other("bad_return_from_state_function"));
      return step::stop;
    }
    auto& cur = statem_access::state(f_);
    bool changed = t.what() == verb::next_state && !(*t.state() == *cur);
    if (changed && in_enter) {
      core_.set_reason(exit_reason::other("bad_state_enter_return"));
      return step::stop;
    }
    bool repeat = t.what() == verb::repeat_state;
    if (changed || repeat) {
      statem_access::previous(f_) = *cur;
    }
    if (changed) {
      cur = std::move(*t.state());
      label();
    }
    if (const char* err = core_.apply(t.actions(), changed, in_enter)) {
      core_.set_reason(exit_reason::other(err));
      return step::stop;
    }
    hibernate_if_asked(t.actions());
    return has_state_enter() && (changed || repeat) ? step::enter : step::go_on;
  }

  /// Why the machine stops: held by the core (in its rare parts unless
  /// normal), which sets it itself for a stop request or the parent's exit.
  const exit_reason& why() const noexcept { return core_.reason(); }

 private:
  /// A hibernate action: done once the transition is carried out (before
  /// any inserted or postponed event, where OTP waits for those).
  void hibernate_if_asked(action_list& actions) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
      if (actions[i].what() == action::verb::hibernate) {
        gen_server::detail::hibernate_now(f_);
        return;
      }
    }
  }

  void label() {
    const state_type& s = *statem_access::state(f_);
    if constexpr (Fsm::state_functions) {
      statem_set_label_static(s.c_name());  // a constexpr name: kept by pointer
    } else if constexpr (requires { f_.state_name(s); }) {
      statem_set_label(std::string_view(f_.state_name(s)));
    } else if constexpr (std::is_convertible_v<const state_type&, std::string_view>) {
      statem_set_label(std::string_view(s));
    } else if constexpr (std::is_enum_v<state_type>) {
      statem_set_label(std::to_string(static_cast<long long>(s)));
    } else if constexpr (std::is_arithmetic_v<state_type>) {
      statem_set_label(std::to_string(s));
    } else {
      statem_set_label_static("?");
    }
  }

  Fsm& f_;
  statem_core& core_;
};

/// What a new gen_statem process starts from: its start context and the
/// arguments of Fsm's constructor. The init phase owns it and drops it.
template <class Args>
struct statem_start_pack {
  statem_start_pack(gen_server::detail::start_ctx c, Args a) : ctx(std::move(c)), args(std::move(a)) {}
  gen_server::detail::start_ctx ctx;
  Args args;
};

/// The machine and what the loop keeps beside it, and the loop's one
/// awaiter. GCC gives every co_await a place of its own in the frame, and
/// keeps there every local that lives across one, for the process's whole
/// life: so the loop has a single co_await, of this object, and what lies
/// between two waits is done here, by plain calls (carry_on), whose locals
/// live on the stack. `wait` says what the loop waits for: init's task,
/// the mailbox (with the core's timeouts, as statem_mailbox_wait; a
/// message is taken by the core as soon as it is there, its pick kept in
/// `held`), a yield, or a coroutine callback's task, whose transition
/// await_resume carries out (a local there), leaving the engine's step in
/// `next`. The event being handled is kept here: a coroutine callback
/// holds it by reference until its task ends. The flags fill the core's
/// padding: 144 bytes for otpnet-echo's machine.
template <class Fsm>
struct statem_machine {
  using engine_t = statem_engine<Fsm>;
  using step = typename engine_t::step;
  using transition = typename Fsm::transition;
  using pick = statem_core::pick;
  enum class what : std::uint8_t { init, mailbox, yield, pending };

  explicit statem_machine(pid parent) noexcept : core(parent) {}
  statem_machine(const statem_machine&) = delete;
  statem_machine& operator=(const statem_machine&) = delete;
  ~statem_machine() {
    reset_task();
    if (has_fsm) {
      fsm().~Fsm();
    }
  }

  bool await_ready() {
    if (wait != what::mailbox) {
      return false;
    }
    statem_mailbox_wait mw{&core};
    bool ready = mw.await_ready();
    arrived = mw.got != nullptr;
    if (arrived) {
      set_held(core.accept(mw.got));
    }
    return ready;
  }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
    switch (wait) {
      case what::init:
        return init_task().await_suspend(h);
      case what::mailbox:
        statem_mailbox_wait{&core}.await_suspend(h);
        return std::noop_coroutine();
      case what::yield:
        detail::yield_suspend(h);
        return std::noop_coroutine();
      case what::pending:
        break;
    }
    return pending().await_suspend(h);
  }
  void await_resume() {
    switch (wait) {
      case what::init: {
        task<step> t = take_init();  // freed here, whatever init's end
        next = t.await_resume();     // init's stop or exception is thrown on
        return;
      }
      case what::mailbox:
        if (!arrived) {
          if (envelope* e = statem_mailbox_wait{&core}.await_resume()) {
            set_held(core.accept(e));
            arrived = true;
          }
        }
        return;
      case what::yield:
        return;
      case what::pending:
        break;
    }
    transition t = pending().await_resume();
    next = engine_t(fsm(), core).apply(t, in_enter);
  }

  // -- between two waits: plain calls, their locals on the stack -------------------------
  /// Carries on from the wait that just ended to the next one: true to
  /// wait again (for `wait`), false when the loop ends (a stop, a stop
  /// request, the parent's exit: why() holds the reason; or init's quit,
  /// with `next` quit).
  bool carry_on() {
    switch (wait) {
      case what::init:
        wait = what::mailbox;  // init is over (the loop's handler reads it)
        if (next == step::quit) {
          return false;
        }
        return loop();
      case what::mailbox:
        if (!arrived) {
          return loop();  // a timeout is due: select finds it
        }
        return handle(held());
      case what::yield:
        // (A yield between repeated enter calls holds no event.)
        return next == step::enter ? loop() : handle(held());
      case what::pending:
        reset_task();
        return loop();
    }
    return false;
  }

  /// The loop, one event per turn, from the step in `next`.
  bool loop() {
    while (next != step::stop) {
      if (next == step::enter) {
        if (++streak >= 64) {
          // An enter call that keeps repeating its state (repeat_state)
          // yields like a run of events does.
          streak = 0;
          core.settle();
          wait = what::yield;
          return true;
        }
        ev = event(event_kind::enter, nullptr);
        if (!dispatch()) {
          return true;
        }
        continue;
      }
      pick p = core.select();
      if (p == pick::wait) {
        streak = 0;
        wait = what::mailbox;
        return true;
      }
      if (++streak >= 64) {
        // Bounded work per turn, for inserted events and timeouts too.
        streak = 0;
        core.settle();
        set_held(p);
        wait = what::yield;
        return true;
      }
      if (!handle_now(p)) {
        return p == pick::event;
      }
    }
    return false;
  }

  /// Handles what a wait brought (`p`), then goes on with the loop.
  bool handle(pick p) {
    if (!handle_now(p)) {
      return p == pick::event;  // a task to await, or the end
    }
    return loop();
  }

  /// Calls the callback for the event `p` names and carries out its
  /// transition: true when done (`next` holds the step), false when the
  /// loop must stop (p is not an event) or await a coroutine callback's
  /// task (wait is pending).
  bool handle_now(pick p) {
    if (p != pick::event) {
      return false;  // a stop request or the parent's exit: why() holds its reason
    }
    ev = core.current();
    return dispatch();
  }

  /// Calls the callback for `ev`: true when its transition is carried out,
  /// false when it left a task to await (wait is pending).
  bool dispatch() {
    // An engine is two references, made per event: none is kept in the frame.
    if (auto n = engine_t(fsm(), core).run(ev, *this)) {
      next = *n;
      return true;
    }
    core.settle();  // a callback that waits: the timeouts run meanwhile
    wait = what::pending;
    in_enter = ev.is(event_kind::enter);
    return false;
  }

  // -- the machine, and init's or a coroutine callback's task -----------------------------
  // Made in place, their flags beside the awaiter's: optionals' flags and
  // padding took 16 bytes of the frame. The two tasks share one place:
  // init's ends before the first callback runs.
  Fsm& fsm() noexcept { return *std::launder(reinterpret_cast<Fsm*>(fsm_bytes)); }
  template <class... A>
  void make_fsm(A&&... a) {
    ::new (static_cast<void*>(fsm_bytes)) Fsm(std::forward<A>(a)...);
    has_fsm = true;
  }
  void set_init(task<step>&& t) noexcept {
    ::new (static_cast<void*>(task_bytes)) task<step>(std::move(t));
    task_kind = static_cast<std::uint8_t>(held_task::init);
  }
  task<transition>& pending() noexcept { return *std::launder(reinterpret_cast<task<transition>*>(task_bytes)); }
  void set_pending(task<transition>&& t) noexcept {
    ::new (static_cast<void*>(task_bytes)) task<transition>(std::move(t));
    task_kind = static_cast<std::uint8_t>(held_task::pending);
  }
  void reset_task() noexcept {
    if (task_kind == static_cast<std::uint8_t>(held_task::init)) {
      (void)take_init();
    } else if (task_kind == static_cast<std::uint8_t>(held_task::pending)) {
      task_kind = static_cast<std::uint8_t>(held_task::none);
      pending().~task<transition>();
    }
  }

  /// What select found before a yield, or what a mailbox wait brought.
  pick held() const noexcept { return static_cast<pick>(held_pick); }
  void set_held(pick p) noexcept { held_pick = static_cast<std::uint8_t>(p); }

  // The core's padding (it is potentially overlapping) holds the four
  // bytes of flags after it.
  [[no_unique_address]] statem_core core;
  what wait = what::init;
  step next = step::go_on;
  std::uint8_t streak = 0;                            // events taken without reading the mailbox
  bool in_enter : 1 = false;                          // the pending callback is a state enter call's
  bool has_fsm : 1 = false;                           // the machine is made
  bool arrived : 1 = false;                           // the mailbox wait brought a message (its pick held)
  std::uint8_t held_pick : 2 = 0;                     // a pick (held())
  std::uint8_t task_kind : 2 = 0;                     // a held_task
  alignas(Fsm) unsigned char fsm_bytes[sizeof(Fsm)];  // NOLINT(modernize-avoid-c-arrays): storage
  static_assert(sizeof(task<step>) == sizeof(task<transition>) && alignof(task<step>) == alignof(task<transition>));
  alignas(task<transition>) unsigned char task_bytes[sizeof(task<transition>)];  // NOLINT(modernize-avoid-c-arrays)
  event ev{event_kind::enter, nullptr};

 private:
  enum class held_task : std::uint8_t { none, init, pending };

  task<step>& init_task() noexcept { return *std::launder(reinterpret_cast<task<step>*>(task_bytes)); }
  task<step> take_init() noexcept {
    task<step> t(std::move(init_task()));
    init_task().~task<step>();
    task_kind = static_cast<std::uint8_t>(held_task::none);
    return t;
  }
};

/// The init phase of a gen_statem process: construct the machine into
/// `fsm`, run init, adopt the first state and carry out init's actions,
/// acknowledge the start. Returns the first step, or quit if the process
/// ends here without a word (init's ignore, a name taken); init's stop or
/// exception is thrown on, after the starter has been told. A coroutine
/// of its own, so that its locals (the start context, init's transition)
/// are freed when it ends instead of living as long as the process.
template <class Fsm, class Args>
task<typename statem_engine<Fsm>::step> statem_init(std::unique_ptr<statem_start_pack<Args>> pack,
                                                    statem_machine<Fsm>& m) {
  namespace gs = gen_server::detail;
  using transition = typename Fsm::transition;
  using step = typename statem_engine<Fsm>::step;
  const gs::start_ctx& ctx = pack->ctx;
  statem_set_label_static("");
  if (ctx.link_to) {
    ::otpnet::link(ctx.link_to);
  }
  if (!gs::register_or_fail(ctx)) {
    co_return step::quit;
  }
  std::optional<transition> t;
  std::exception_ptr crash;
  try {
    std::apply([&](auto&&... a) { m.make_fsm(std::move(a)...); }, std::move(pack->args));
    if constexpr (std::is_same_v<decltype(m.fsm().init()), transition>) {
      t.emplace(m.fsm().init());
    } else {
      t.emplace(co_await m.fsm().init());
    }
  } catch (...) {
    crash = std::current_exception();
  }
  if (crash) {
    gs::init_failed(ctx, start_result::error(reason_of(crash)));
    std::rethrow_exception(crash);
  }
  switch (t->what()) {
    case transition::verb::next_state:
      break;
    case transition::verb::ignore:
      gs::init_failed(ctx, start_result::ignore());
      co_return step::quit;
    case transition::verb::stop:
      gs::init_failed(ctx, start_result::error(t->reason()));
      ::otpnet::exit(t->reason());
    default:
      gs::init_failed(ctx, start_result::error(exit_reason::other("bad_return_from_init")));
      ::otpnet::exit(exit_reason::other("bad_return_from_init"));
  }
  step s = statem_engine<Fsm>(m.fsm(), m.core).start(*t);
  gs::init_done(ctx);
  co_return s;
}

/// The process body of a gen_statem: init (statem_init), loop, terminate.
/// Its frame lives as long as the machine, so it holds only the machine
/// (which holds the event being handled) and its start pack's pointer: one
/// co_await, no transition, no engine, one exit reason (the core's), and
/// no exception kept (a crash's becomes the core's reason at once), no
/// exit reason (the core keeps one other than normal in its rare parts,
/// with a state timeout's content). For otpnet-echo's machine that is 200
/// bytes, a pool class (a 208-byte malloc chunk).
template <class Fsm, class Args>
proc statem_main(std::unique_ptr<statem_start_pack<Args>> pack) {
  using what = typename statem_machine<Fsm>::what;
  statem_machine<Fsm> m(pack->ctx.parent);
  m.set_init(statem_init<Fsm, Args>(std::move(pack), m));
  // -- init, then the loop: the one co_await -------------------------------------------------
  for (;;) {
    try {
      co_await m;
      if (!m.carry_on()) {
        break;
      }
    } catch (...) {
      if (m.wait == what::init) {
        throw;  // init's stop or exception: the starter was told; no terminate
      }
      m.core.set_reason(reason_of(std::current_exception()));
      break;
    }
  }
  if (m.next == statem_engine<Fsm>::step::quit) {
    co_return;  // init's ignore, a name taken: the process ends without a word
  }
  m.reset_task();
  // -- terminate: for a stop, a crash, the parent's exit; never for a kill -------------------
  // A crash's exception has become why(): exit with it (reason_of of the
  // exit_exception thrown here gives the same reason as the exception did).
  if constexpr (requires { m.fsm().terminate(m.core.reason()); }) {
    if constexpr (std::is_void_v<decltype(m.fsm().terminate(m.core.reason()))>) {
      m.fsm().terminate(m.core.reason());
    } else {
      co_await m.fsm().terminate(m.core.reason());
    }
  }
  if (!m.core.reason().is_normal()) {
    ::otpnet::exit(m.core.reason());
  }
}

/// Starts a gen_statem process running Fsm and waits for its init (the
/// same protocol as gen_server's start).
template <class Fsm, class Tuple>
task<start_result> statem_start(start_options o, bool link, pid parent, Tuple args) {
  namespace gs = gen_server::detail;
  pid me = self();
  bool link_here = link && parent == me;
  gs::start_ctx ctx{me, make_ref(), link ? parent : pid{}, (link && !link_here) ? parent : pid{}, o.name};
  ref tag = ctx.tag;
  auto pack = std::make_unique<statem_start_pack<Tuple>>(std::move(ctx), std::move(args));
  // The body is created last: spawn reads the size of the last frame made.
  proc body = statem_main<Fsm, Tuple>(std::move(pack));
  spawned child = spawn_body({.link = link_here, .monitor = true, .trap_exit = o.trap_exit, .scheduler = o.scheduler},
                             std::move(body));
  co_return co_await gs::await_ack(child.id, child.monitor, tag, link_here, o.timeout);
}

}  // namespace otpnet::detail
