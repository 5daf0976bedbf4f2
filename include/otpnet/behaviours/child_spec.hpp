// File: otpnet/behaviours/child_spec.hpp
//
// `child_spec`: how a supervisor starts, restarts and stops one child, as
// validated data (OTP's child_spec() map): an id, a start function, a
// restart type, a shutdown and a child type. `check_child_spec` names what
// is wrong with a bad one (invalid_restart_type, invalid_shutdown, ...); the
// `*_from_string` parsers give the same names for specs read from text.
//
//   child_spec{.id = "listener",
//              .start = {"tcp_listener:start_link", [] { return gen_server::start_link<listener>(2222); }},
//              .restart = restart_type::permanent,
//              .shutdown = 2000ms,
//              .type = child_type::worker}
#pragma once

#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/runtime/proc.hpp>

#include <tl/expected.hpp>

#include <any>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace otpnet {

/// When a child that ended is restarted: permanent always, transient only
/// after an abnormal exit (not normal or shutdown), temporary never.
enum class restart_type : unsigned char { permanent, transient, temporary };

/// worker, or supervisor (whose default shutdown is infinity).
enum class child_type : unsigned char { worker, supervisor };

/// How a child is stopped: brutal_kill (exit kill at once), a time (exit
/// shutdown, then kill if it has not ended after it), or infinity (exit
/// shutdown and wait). A bare duration converts: `.shutdown = 2000ms`.
class shutdown_spec {
 public:
  enum class kind : unsigned char { default_, brutal_kill, timeout, infinity };

  /// The default: 5000 ms for a worker, infinity for a supervisor.
  constexpr shutdown_spec() noexcept = default;
  constexpr shutdown_spec(std::chrono::milliseconds t) noexcept  // NOLINT(google-explicit-constructor)
      : kind_(kind::timeout), time_(t) {}
  static constexpr shutdown_spec brutal_kill() noexcept { return shutdown_spec(kind::brutal_kill); }
  static constexpr shutdown_spec infinity() noexcept { return shutdown_spec(kind::infinity); }

  constexpr kind what() const noexcept { return kind_; }
  /// The time of a timeout shutdown.
  constexpr std::chrono::milliseconds time() const noexcept { return time_; }
  /// "brutal_kill", "infinity", "2000", "default".
  std::string to_string() const;
  friend constexpr bool operator==(const shutdown_spec&, const shutdown_spec&) noexcept = default;

 private:
  constexpr explicit shutdown_spec(kind k) noexcept : kind_(k) {}
  kind kind_ = kind::default_;
  std::chrono::milliseconds time_{0};
};

/// How a child is started: a function called in the supervisor process that
/// starts the child linked to it and returns when it runs (start_link-like):
/// ok(pid), ignore or error(reason). It may take the extra argument of
/// simple_one_for_one's start_child (a std::any, empty otherwise), and may
/// return task<start_result> (it waits for the child's init, as start_link
/// does) or start_result. `name` stands for OTP's {M, F, A} in reports.
/// The supervisor calls the spec's own function, with no copy per start;
/// a mutable closure (one not callable as const) runs on a fresh copy each
/// time, so that a start that moves a capture out spoils no later start.
class start_fn {
 public:
  using function = std::function<task<start_result>(const std::any& extra)>;

  start_fn() = default;
  template <class F>
  requires std::is_invocable_v<F&> || std::is_invocable_v<F&, const std::any&> start_fn(F f)
      : p_(std::make_shared<held>(held{wrap(std::move(f)), {}})) {}  // NOLINT(google-explicit-constructor)
  template <class F>
  requires std::is_invocable_v<F&> || std::is_invocable_v<F&, const std::any&> start_fn(std::string name, F f)
      : p_(std::make_shared<held>(held{wrap(std::move(f)), std::move(name)})) {}
  /// A copy is a copy of the function (its closure too): specs copied to
  /// other supervisors share nothing.
  start_fn(const start_fn& o) : p_(o.p_ ? std::make_shared<held>(*o.p_) : nullptr) {}
  start_fn& operator=(const start_fn& o) {
    if (this != &o) {
      p_ = o.p_ ? std::make_shared<held>(*o.p_) : nullptr;
    }
    return *this;
  }
  start_fn(start_fn&&) noexcept = default;
  start_fn& operator=(start_fn&&) noexcept = default;
  ~start_fn() = default;

  explicit operator bool() const noexcept { return p_ && p_->fn; }
  /// Starts the child. Call from the supervisor process only. The task
  /// keeps the function and a copy of `extra` alive until it ends, whatever
  /// becomes of this start_fn and of `extra` meanwhile.
  /// Errors: std::bad_function_call (no function).
  task<start_result> operator()(const std::any& extra) const {
    if (!p_) {
      throw std::bad_function_call();
    }
    return run_kept(run(), extra);
  }
  const std::string& name() const noexcept { return p_ ? p_->name : no_name(); }

  /// The function, kept alive where it is while a start it made runs,
  /// whatever becomes of this start_fn meanwhile (a reference, not a copy).
  /// For the supervisor, which takes one per start and keeps it, and the
  /// `extra` it passes, until the start's task ends (no coroutine frame of
  /// its own, as operator() has).
  class running {
   public:
    /// Errors: std::bad_function_call (no function).
    task<start_result> operator()(const std::any& extra) const {
      if (!fn_) {
        throw std::bad_function_call();
      }
      return (*fn_)(extra);
    }

   private:
    friend class start_fn;
    explicit running(std::shared_ptr<const function> fn) noexcept : fn_(std::move(fn)) {}
    std::shared_ptr<const function> fn_;
  };
  running run() const { return running(p_ ? std::shared_ptr<const function>(p_, &p_->fn) : nullptr); }

 private:
  struct held {
    function fn;
    std::string name;
  };
  static const std::string& no_name() noexcept {
    static const std::string empty;
    return empty;
  }
  static task<start_result> ready(start_result r) { co_return r; }
  static task<start_result> run_kept(running fn, std::any extra) { co_return co_await fn(extra); }
  /// Calls f with or without the extra argument; a plain result as a task.
  template <class F>
  static task<start_result> call(F& f, const std::any& extra) {
    if constexpr (std::is_invocable_v<F&, const std::any&>) {
      if constexpr (std::is_same_v<std::invoke_result_t<F&, const std::any&>, start_result>) {
        return ready(f(extra));
      } else {
        return f(extra);
      }
    } else {
      (void)extra;
      if constexpr (std::is_same_v<std::invoke_result_t<F&>, start_result>) {
        return ready(f());
      } else {
        return f();
      }
    }
  }
  /// A mutable closure's start: on a fresh copy, kept while the start runs.
  template <class F>
  static task<start_result> call_copy(F f, std::any extra) {
    co_return co_await call(f, extra);
  }
  template <class F>
  static function wrap(F f) {
    if constexpr (std::is_invocable_v<const F&> || std::is_invocable_v<const F&, const std::any&>) {
      return [f = std::move(f)](const std::any& extra) -> task<start_result> { return call(f, extra); };
    } else {
      // Each start runs a copy of the spec's closure, as before: what one
      // start does to its captures (moving one out) no later start sees.
      return [f = std::move(f)](const std::any& extra) -> task<start_result> { return call_copy(f, extra); };
    }
  }

  std::shared_ptr<held> p_;
};

/// One child of a supervisor.
struct child_spec {
  /// Names the child in the supervisor (unique there); for a
  /// simple_one_for_one template, names them all in reports.
  std::string id;
  start_fn start;
  restart_type restart = restart_type::permanent;
  shutdown_spec shutdown = {};
  child_type type = child_type::worker;
};

/// Why a child spec (or supervisor flags) is rejected, named as OTP names it.
enum class spec_error : unsigned char {
  invalid_child_spec,
  invalid_id,
  invalid_start,
  invalid_restart_type,
  invalid_shutdown,
  invalid_child_type,
  duplicate_child_name,
  invalid_strategy,
  invalid_intensity,
  invalid_period,
  invalid_simple_one_for_one,  ///< simple_one_for_one needs exactly one spec
};

/// "invalid_shutdown", ...
std::string_view to_string(spec_error e) noexcept;
std::string_view to_string(restart_type r) noexcept;
std::string_view to_string(child_type t) noexcept;

/// Checks one spec: a start function (invalid_start), a restart, shutdown
/// and type in range (a negative shutdown time is invalid_shutdown). An
/// empty id is allowed (simple_one_for_one templates often have none).
tl::expected<void, spec_error> check_child_spec(const child_spec& s);
/// Checks each spec, and that no two share an id (duplicate_child_name).
/// On error, the index of the offending spec comes with it.
tl::expected<void, std::pair<spec_error, std::size_t>> check_child_specs(const std::vector<child_spec>& specs);

/// The shutdown with its default resolved for the spec's type.
shutdown_spec effective_shutdown(const child_spec& s) noexcept;

/// Parsers for specs written as text: "permanent", "worker", "brutal_kill",
/// "infinity" or a number of milliseconds. Errors: the matching invalid_*.
tl::expected<restart_type, spec_error> restart_type_from_string(std::string_view s);
tl::expected<child_type, spec_error> child_type_from_string(std::string_view s);
tl::expected<shutdown_spec, spec_error> shutdown_from_string(std::string_view s);

}  // namespace otpnet
