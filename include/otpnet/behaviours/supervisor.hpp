// File: otpnet/behaviours/supervisor.hpp
//
// supervisor: a process that starts children from child specs, watches
// them, restarts them by its strategy within a restart intensity, and stops
// them in reverse start order (OTP's supervisor). It is a gen_server; every
// request below is a call to it.
//
//   what                 OTP                         here
//   -------------------  --------------------------  -------------------------------------------
//   init/1               {ok, {Flags, ChildSpecs}}   start_link(flags, specs, options)
//   strategy             one_for_one, one_for_all,   restart_strategy::...
//                        rest_for_one, simple_one_for_one
//   intensity, period    MaxR restarts in MaxT       flags{.intensity = 5, .period = 60s}
//   which_children/1     [{Id, Child, Type, Mods}]   outcome<std::vector<child_info>>
//   count_children/1     [{specs,N},{active,N},...]  outcome<child_counts>
//   start_child/2        {ok, Pid} | ignore | {error, already_present | {already_started, Pid} | R}
//   terminate_child/2    ok | {error, not_found | simple_one_for_one}
//   restart_child/2      {ok, Pid} | {error, running | restarting | not_found | simple_one_for_one | R}
//   delete_child/2       ok | {error, running | restarting | not_found | simple_one_for_one}
//
// Restarts: permanent children always, transient ones after an abnormal
// exit, temporary ones never (they are removed). More than `intensity`
// restarts within `period` (a sliding window) and the supervisor gives up:
// it reports `shutdown` (reached_max_restart_intensity), stops its children
// and exits with reason `shutdown`, for its own supervisor to act on.
// Every call here is a coroutine for a process (co_await) and runs from a
// plain thread through sync_wait. The default timeout is infinity, as OTP's.
// GCC 12 mishandles an aggregate temporary with a non-trivial member (a
// child_spec{...}) inside a co_await expression: name it first.
#pragma once

#include <otpnet/behaviours/child_spec.hpp>
#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/server_ref.hpp>
#include <otpnet/behaviours/start_options.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/behaviours/wait_time.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>

#include <tl/expected.hpp>

#include <any>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace otpnet::supervisor {

enum class restart_strategy : unsigned char {
  one_for_one,         ///< restart the child that ended
  one_for_all,         ///< stop all the others, restart all
  rest_for_one,        ///< stop those started after it, restart it and them
  simple_one_for_one,  ///< one spec, children added by start_child(extra)
};

/// The supervisor flags (OTP's sup_flags()).
struct flags {
  restart_strategy strategy = restart_strategy::one_for_one;
  /// Restarts allowed within `period`; 0 allows none.
  int intensity = 1;
  std::chrono::milliseconds period = std::chrono::seconds(5);
};

/// A child as which_children lists it.
struct child_info {
  std::string id;
  pid child;                ///< none: not running
  bool restarting = false;  ///< a restart failed and is retried
  child_type type = child_type::worker;
  restart_type restart = restart_type::permanent;
};

struct child_counts {
  std::size_t specs = 0;
  std::size_t active = 0;  ///< children running
  std::size_t supervisors = 0;
  std::size_t workers = 0;
};

/// Checks the flags: a known strategy, intensity >= 0, period > 0.
tl::expected<void, spec_error> check_flags(const flags& f);

/// Starts a supervisor linked to the caller; returns when every child is
/// started (in order). Errors: "start_spec: <spec_error> ..." for bad flags
/// or specs, {shutdown, failed_to_start_child ...} when a child fails (the
/// ones started before are stopped again), and those of gen_server start.
task<start_result> start_link(flags f, std::vector<child_spec> children, start_options o = {});
/// As start_link, without a link.
task<start_result> start(flags f, std::vector<child_spec> children, start_options o = {});

/// The children, in start order (simple_one_for_one: in no order).
task<outcome<std::vector<child_info>>> which_children(server_ref sup, wait_time timeout = infinity);
task<outcome<child_counts>> count_children(server_ref sup, wait_time timeout = infinity);

/// Adds and starts a child (not for simple_one_for_one). Errors:
/// "already_present" (id known, not running), "already_started" (running;
/// its pid in id()), the spec's error ("invalid_shutdown", ...), the start's.
task<start_result> start_child(server_ref sup, child_spec spec, wait_time timeout = infinity);
/// Starts a child of a simple_one_for_one supervisor, its start function
/// given `extra`; the child keeps `extra` for its restarts.
task<start_result> start_child(server_ref sup, std::any extra, wait_time timeout = infinity);

/// Stops a child by id (kept as a spec, unless temporary). Errors:
/// "not_found", "simple_one_for_one" (give the pid).
task<outcome<>> terminate_child(server_ref sup, std::string id, wait_time timeout = infinity);
/// Stops a child by pid (simple_one_for_one's way; removed). Error: "not_found".
task<outcome<>> terminate_child(server_ref sup, pid child, wait_time timeout = infinity);
/// Starts a stopped child again. Errors: "running", "restarting",
/// "not_found", "simple_one_for_one", or the start's.
task<start_result> restart_child(server_ref sup, std::string id, wait_time timeout = infinity);
/// Forgets a stopped child's spec. Errors: "running", "restarting",
/// "not_found", "simple_one_for_one".
task<outcome<>> delete_child(server_ref sup, std::string id, wait_time timeout = infinity);

}  // namespace otpnet::supervisor
