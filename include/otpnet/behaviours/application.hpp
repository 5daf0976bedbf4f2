// File: otpnet/behaviours/application.hpp
//
// application: a named component with a top supervisor and an environment
// (OTP's application). start runs the top supervisor under an application
// master process; the supervisor's death stops the application; every
// start, failed start, exit and stop is reported (application_report).
//
//   OTP                              here
//   -------------------------------  --------------------------------------------
//   .app file {mod, env, ...}        application::spec{.name, .start, .env}
//   Mod:start/2 -> {ok, SupPid}      spec.start: a start_link-like function
//   application:start/1, stop/1      start(spec), stop(name)   (outcome<>)
//   application:start(App, Type)     start(spec, start_type::permanent)
//   (the node stops)                 set_termination_handler(fn)
//   application:which_applications   which_applications()
//   application:get_env/2,3, set_env get_env(app, key[, default]), set_env
//
// The environment is strings by key: the spec's env gives the defaults and
// set_env (from a config file, the command line, ...) overrides them.
// GCC 12 mishandles an aggregate temporary with a non-trivial member (a
// spec{...}) inside a co_await expression: name it first.
#pragma once

#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::application {

/// What an application is (OTP's .app file and its callback module).
struct spec {
  std::string name;
  std::string description;
  /// Starts the top supervisor linked to the caller (the application
  /// master) and returns once it runs, as supervisor::start_link does.
  std::function<task<start_result>()> start;
  /// Default environment.
  std::map<std::string, std::string> env;
};

struct running_application {
  std::string name;
  std::string description;
  pid supervisor;  ///< the top supervisor
};

/// What the end of an application's top supervisor, other than by stop(),
/// means for the program (OTP's start types). Every end is reported
/// (`exited`); the types differ in what follows:
///   temporary  nothing more;
///   transient  the termination handler, unless the reason is `normal`
///              (a supervisor that gave up ends with `shutdown`: it runs);
///   permanent  the termination handler.
/// OTP then stops the node. Here the handler decides (see
/// set_termination_handler); without one the program ends, exit status 1,
/// after a critical report line. Never while runtime::stop is ending every
/// process.
enum class start_type : unsigned char { temporary, transient, permanent };

/// The news the termination handler gets.
struct termination {
  std::string application;
  exit_reason reason;
};

/// Sets what runs when a permanent (or abnormally ended transient)
/// application ends: on a scheduler thread, so it must not block or wait
/// for the runtime (hand the news to a thread of the program: otpnet-echo
/// wakes its main thread, which stops the runtime and exits 1). An empty
/// function restores the default. @threadsafe
void set_termination_handler(std::function<void(const termination&)> handler);

/// Makes `s` known (its environment readable) without starting it.
/// Error: "already_loaded" (a different start is kept; env defaults merge).
outcome<> load(spec s);
/// Forgets a loaded application. Errors: "not_loaded", "running".
outcome<> unload(std::string_view name);

/// Loads `s` if needed and starts it: returns once its top supervisor
/// runs. Errors: "already_started", "invalid_spec" (no name or start),
/// or the reason the start failed (also reported as start_failed).
/// From a process; sync_wait from a plain thread.
task<outcome<>> start(spec s, start_type type = start_type::temporary);
/// Starts a loaded application. Errors as above, and "not_loaded".
task<outcome<>> start(std::string name, start_type type = start_type::temporary);
/// Stops an application: its top supervisor stops its tree (reported as
/// stopped). Error: "not_started".
task<outcome<>> stop(std::string name);

/// The running applications, by name. @threadsafe
std::vector<running_application> which_applications();
/// The top supervisor of a running application, or none. @threadsafe
pid get_supervisor(std::string_view app);

/// A value of the application's environment, if set. @threadsafe
std::optional<std::string> get_env(std::string_view app, std::string_view key);
/// A value, or `fallback`. @threadsafe
std::string get_env(std::string_view app, std::string_view key, std::string_view fallback);
/// Sets a value (overriding the spec's default), loaded or not. @threadsafe
void set_env(std::string_view app, std::string_view key, std::string value);

}  // namespace otpnet::application
