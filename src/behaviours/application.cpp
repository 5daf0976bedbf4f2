// Applications: a registry of what is loaded and running, and one
// application master process per running application, which starts the top
// supervisor, watches it, and stops it.
#include <otpnet/behaviours/application.hpp>
#include <otpnet/behaviours/call.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/runtime/exception_reason.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace otpnet::application {

namespace {

namespace gd = ::otpnet::gen::detail;
namespace rt = ::otpnet::detail;

enum class app_state : unsigned char { loaded, starting, running };

struct app_entry {
  bool loaded = false;
  std::string description;
  std::function<task<start_result>()> start;
  std::map<std::string, std::string> defaults;
  app_state state = app_state::loaded;
  pid master;
  pid supervisor;
};

struct registry {
  std::mutex mu;
  std::map<std::string, app_entry, std::less<>> apps;
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> overrides;
  std::shared_ptr<const std::function<void(const termination&)>> on_termination;
};

registry& reg() {
  static registry r;
  return r;
}

exit_reason named(const char* what) { return exit_reason::other(what); }

/// Leaves the running state and reports `event`; given a `master`, only
/// while `name` is still run by it (checked and cleared under one lock),
/// else nothing is done and the answer is false.
bool mark_stopped(const std::string& name, application_event event, const exit_reason& why, pid master = {}) {
  {
    std::lock_guard lk(reg().mu);
    auto it = reg().apps.find(name);
    if (master && (it == reg().apps.end() || it->second.master != master)) {
      return false;
    }
    if (it != reg().apps.end()) {
      it->second.state = app_state::loaded;
      it->second.master = pid{};
      it->second.supervisor = pid{};
    }
  }
  emit(application_report{name, event, why});
  return true;
}

/// Whether `name` is still run by `master`.
bool runs(const std::string& name, pid master) {
  std::lock_guard lk(reg().mu);
  auto it = reg().apps.find(name);
  return it != reg().apps.end() && it->second.master == master;
}

const char* type_name(start_type t) noexcept {
  switch (t) {
    case start_type::permanent:
      return "permanent";
    case start_type::transient:
      return "transient";
    case start_type::temporary:
      break;
  }
  return "temporary";
}

/// A permanent application ended, or a transient one abnormally: OTP stops
/// the node; here the program's handler runs, or the program ends.
void escalate(const std::string& name, start_type type, const exit_reason& why) noexcept {
  if (type == start_type::temporary || (type == start_type::transient && why.is_normal()) || runtime::stopping()) {
    return;
  }
  std::shared_ptr<const std::function<void(const termination&)>> handler;
  {
    std::lock_guard lk(reg().mu);
    handler = reg().on_termination;
  }
  try {
    if (handler) {
      (*handler)(termination{name, why});
      return;
    }
  } catch (...) {
    // A handler that throws has not taken the news: the default below.
  }
  try {
    spdlog::critical("application {} ({}) ended: {}; the program stops ({})", name, type_name(type), why.to_string(),
                     handler ? "its termination handler failed" : "no termination handler is set");
    spdlog::default_logger()->flush();
  } catch (...) {
    // (A line that cannot be written: the end all the same.)
  }
  std::fflush(nullptr);
  std::_Exit(1);
}

struct down_of {
  ref monitor;
  bool operator()(rt::envelope* e) const noexcept {
    auto* d = rt::payload_if<down_msg>(e);
    return d != nullptr && d->monitor == monitor;
  }
};

struct exit_from {
  pid who;
  bool operator()(rt::envelope* e) const noexcept {
    auto* x = rt::payload_if<exit_msg>(e);
    return x != nullptr && x->from == who;
  }
};

/// What OTP's application_controller does for a master that dies without
/// ending its application (killed): the application has exited with the
/// master's reason once its tree is gone (the top supervisor, linked to
/// the master, stops its children first), and its start type decides what
/// follows. Linked to the master from its start, trapping exits, so that no
/// end of the master is missed. A master that ends the usual ways (its
/// supervisor's end, stop()) clears its entry first: then nothing is done;
/// nor while runtime::stop ends every process.
proc watch_master(std::string name, start_type type, pid master, pid sup) {
  std::optional<message> m = co_await gd::receive_for(exit_from{master}, infinity);
  exit_reason why = m && m->is<exit_msg>() ? m->get<exit_msg>().reason : exit_reason::noproc();
  if (runtime::stopping() || !runs(name, master)) {
    co_return;
  }
  ref mon = monitor(sup);
  (void)co_await gd::receive_for(down_of{mon}, infinity);
  if (runtime::stopping()) {
    co_return;
  }
  if (mark_stopped(name, application_event::exited, why, master)) {
    escalate(name, type, why);
  }
}

/// OTP's application_master: starts the top supervisor, stops the
/// application when it dies, and stops it (shutdown infinity) on request.
class app_master : public gen_server::behaviour<app_master> {
 public:
  static constexpr const char* behaviour_name = "application_master";

  app_master(std::string name, std::function<task<start_result>()> start, start_type type)
      : name_(std::move(name)), start_(std::move(start)), type_(type) {}

  task<init_return> init() {
    trap_exit(true);
    start_result r;
    try {
      r = co_await start_();
    } catch (...) {
      r = start_result::error(reason_of(std::current_exception()));
    }
    if (!r.is_ok()) {
      co_return stop(r.is_ignore() ? named("bad_return: ignore") : r.reason());
    }
    sup_ = r.id();
    {
      std::lock_guard lk(reg().mu);
      app_entry& e = reg().apps[name_];
      e.state = app_state::running;
      e.master = self();
      e.supervisor = sup_;
    }
    emit(application_report{name_, application_event::started, exit_reason::normal()});
    (void)spawn_opt({.link = true, .trap_exit = true},
                    [name = name_, type = type_, master = self(), sup = sup_]() -> proc {
                      return watch_master(name, type, master, sup);
                    });
    co_return ok();
  }

  cast_return handle_info(const exit_msg& m) {
    if (m.from != sup_) {
      return noreply();
    }
    sup_ = pid{};
    done_ = true;
    (void)mark_stopped(name_, application_event::exited, m.reason);
    escalate(name_, type_, m.reason);
    return stop();
  }

  task<void> terminate(const exit_reason&) {
    if (sup_) {
      // The top supervisor stops its whole tree: no time limit, as OTP's.
      ref mon = monitor(sup_);
      ::otpnet::exit(sup_, exit_reason::shutdown());
      (void)co_await gd::receive_for(down_of{mon}, infinity);
      unlink(sup_);
      (void)co_await gd::receive_for(exit_from{sup_}, std::chrono::milliseconds(0));
      sup_ = pid{};
    }
    if (!done_) {
      (void)mark_stopped(name_, application_event::stopped, exit_reason::normal());
    }
  }

 private:
  std::string name_;
  std::function<task<start_result>()> start_;
  start_type type_;
  pid sup_;
  bool done_ = false;
};

outcome<> load_locked(spec& s) {
  app_entry& e = reg().apps[s.name];
  for (auto& kv : s.env) {
    e.defaults[kv.first] = kv.second;
  }
  if (e.loaded) {
    return fail(named("already_loaded"));
  }
  e.loaded = true;
  e.description = std::move(s.description);
  e.start = std::move(s.start);
  return {};
}

}  // namespace

outcome<> load(spec s) {
  if (s.name.empty() || !s.start) {
    return fail(named("invalid_spec"));
  }
  std::lock_guard lk(reg().mu);
  return load_locked(s);
}

outcome<> unload(std::string_view name) {
  std::lock_guard lk(reg().mu);
  auto it = reg().apps.find(name);
  if (it == reg().apps.end() || !it->second.loaded) {
    return fail(named("not_loaded"));
  }
  if (it->second.state != app_state::loaded) {
    return fail(named("running"));
  }
  reg().apps.erase(it);
  return {};
}

void set_termination_handler(std::function<void(const termination&)> handler) {
  std::shared_ptr<const std::function<void(const termination&)>> h;
  if (handler) {
    h = std::make_shared<const std::function<void(const termination&)>>(std::move(handler));
  }
  std::lock_guard lk(reg().mu);
  reg().on_termination = std::move(h);
}

task<outcome<>> start(spec s, start_type type) {
  if (s.name.empty() || !s.start) {
    co_return fail(named("invalid_spec"));
  }
  std::string name = s.name;
  {
    std::lock_guard lk(reg().mu);
    (void)load_locked(s);
  }
  co_return co_await start(std::move(name), type);
}

task<outcome<>> start(std::string name, start_type type) {
  std::function<task<start_result>()> fn;
  {
    std::lock_guard lk(reg().mu);
    auto it = reg().apps.find(name);
    if (it == reg().apps.end() || !it->second.loaded) {
      co_return fail(named("not_loaded"));
    }
    if (it->second.state != app_state::loaded) {
      co_return fail(named("already_started"));
    }
    it->second.state = app_state::starting;
    fn = it->second.start;
  }
  start_result r = co_await gen_server::start<app_master>(name, std::move(fn), type);
  if (r.is_ok()) {
    co_return outcome<>();
  }
  exit_reason why = r.is_ignore() ? named("bad_return: ignore") : r.reason();
  (void)mark_stopped(name, application_event::start_failed, why);
  co_return fail(std::move(why));
}

task<outcome<>> stop(std::string name) {
  pid master;
  {
    std::lock_guard lk(reg().mu);
    auto it = reg().apps.find(name);
    if (it == reg().apps.end() || it->second.state != app_state::running) {
      co_return fail(named("not_started"));
    }
    master = it->second.master;
  }
  outcome<> r = co_await gen_server::stop(master, exit_reason::shutdown(), infinity);
  if (!r && r.error() == exit_reason::noproc()) {
    co_return fail(named("not_started"));  // it exited meanwhile
  }
  co_return r;
}

std::vector<running_application> which_applications() {
  std::vector<running_application> out;
  std::lock_guard lk(reg().mu);
  for (const auto& [name, e] : reg().apps) {
    if (e.state == app_state::running && is_alive(e.master)) {
      out.push_back({name, e.description, e.supervisor});
    }
  }
  return out;
}

pid get_supervisor(std::string_view app) {
  std::lock_guard lk(reg().mu);
  auto it = reg().apps.find(app);
  return it != reg().apps.end() && it->second.state == app_state::running ? it->second.supervisor : pid{};
}

std::optional<std::string> get_env(std::string_view app, std::string_view key) {
  std::lock_guard lk(reg().mu);
  if (auto o = reg().overrides.find(app); o != reg().overrides.end()) {
    if (auto v = o->second.find(key); v != o->second.end()) {
      return v->second;
    }
  }
  if (auto a = reg().apps.find(app); a != reg().apps.end()) {
    if (auto v = a->second.defaults.find(std::string(key)); v != a->second.defaults.end()) {
      return v->second;
    }
  }
  return std::nullopt;
}

std::string get_env(std::string_view app, std::string_view key, std::string_view fallback) {
  std::optional<std::string> v = get_env(app, key);
  return v ? std::move(*v) : std::string(fallback);
}

void set_env(std::string_view app, std::string_view key, std::string value) {
  std::lock_guard lk(reg().mu);
  auto& env = reg().overrides[std::string(app)];
  env.insert_or_assign(std::string(key), std::move(value));
}

}  // namespace otpnet::application
