// File: behaviours/supervisor_server.hpp (private)
//
// The supervisor's gen_server: its requests, its children, its restart
// window, and the callbacks. The public API (supervisor.hpp) is calls to
// it; the shutdown of children lives in supervisor_shutdown.cpp.
#pragma once

#include <otpnet/behaviours/child_spec.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/type_list.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>

#include "internal/id_tables.hpp"

#include <any>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace otpnet::internal {

// -- requests (calls to the supervisor) ---------------------------------------------

struct which_children_req {};
struct count_children_req {};
struct start_child_req {
  child_spec spec;
};
struct start_dynamic_req {
  std::any extra;
};
struct terminate_child_req {
  std::string id;
  pid child;  ///< by pid when set
};
struct restart_child_req {
  std::string id;
};
struct delete_child_req {
  std::string id;
};
/// A restart that failed, tried again later (OTP's try_again_restart).
struct try_again_restart {
  std::string id;  ///< a static child
  bool dynamic = false;
  std::any extra;  ///< a simple_one_for_one child's argument
};

/// A static child (or simple_one_for_one's template).
struct child {
  child_spec spec;
  shutdown_spec shutdown;  ///< the default resolved
  pid id;
  bool restarting = false;
};

/// A child to stop: what the shutdown procedure needs to know. Not an
/// aggregate, so that it may be built inside a co_await expression (GCC 12
/// mishandles aggregate temporaries there).
struct stopping {
  stopping(pid p, offender o) : id(p), who(std::move(o)) {}
  pid id;
  offender who;
};

class supervisor_server : public gen_server::behaviour<supervisor_server> {
 public:
  static constexpr const char* behaviour_name = "supervisor";
  using calls = type_list<which_children_req, count_children_req, start_child_req, start_dynamic_req,
                          terminate_child_req, restart_child_req, delete_child_req>;
  using infos = type_list<try_again_restart>;

  supervisor_server(supervisor::flags f, std::vector<child_spec> specs, std::string name);

  task<init_return> init();
  /// A child's exit. A simple_one_for_one child that is not restarted
  /// (temporary, or transient ending normally) is settled at once, with no
  /// coroutine: the common end of a connection's handler.
  maybe_task<cast_return> handle_info(exit_msg m);
  task<cast_return> handle_info(try_again_restart m);
  call_return<std::vector<supervisor::child_info>> handle_call(which_children_req);
  call_return<supervisor::child_counts> handle_call(count_children_req);
  task<call_return<start_result>> handle_call(start_child_req r);
  task<call_return<start_result>> handle_call(start_dynamic_req r);
  task<call_return<outcome<>>> handle_call(terminate_child_req r);
  task<call_return<start_result>> handle_call(restart_child_req r);
  call_return<outcome<>> handle_call(const delete_child_req& r);
  task<void> terminate(const exit_reason& why);

 private:
  bool simple() const noexcept { return flags_.strategy == supervisor::restart_strategy::simple_one_for_one; }
  std::optional<std::size_t> find(const std::string& id) const;
  std::optional<std::size_t> find(pid p) const;
  offender offender_of(const child& c, pid p) const;
  void report(supervisor_context ctx, const exit_reason& why, offender who) const;
  /// As report(ctx, why, offender_of(c, p)), building nothing when the
  /// report would be dropped.
  void report(supervisor_context ctx, const exit_reason& why, const child& c, pid p) const;
  static call_return<outcome<>> failed(const char* why);
  static call_return<start_result> start_failed(const char* why);

  /// Runs `c`'s start function (a progress report on ok); never throws.
  task<start_result> start_one(const child& c, std::any extra);
  /// Adds a restart to the window; false if that exceeds the intensity.
  bool add_restart();
  /// After the exit of child `i` (its pid cleared; it was `dead`): report,
  /// then restart or remove by its restart type.
  task<cast_return> child_exited(std::size_t i, pid dead, exit_reason why);
  maybe_task<cast_return> dynamic_exited(pid dead, const exit_reason& why, std::any extra);
  /// A restart by the strategy; stop(shutdown) past the intensity.
  task<cast_return> restart(std::size_t i);
  task<cast_return> restart_dynamic(std::any extra);
  /// Starts the children in [from, to) that are not running, in order;
  /// false on a failure (reported, and retried later as a new restart).
  task<bool> start_range(std::size_t from, std::size_t to);

  // supervisor_shutdown.cpp
  /// Stops one child by its shutdown; reports a shutdown_error.
  task<void> shutdown_child(stopping s);
  /// Stops many children at once (simple_one_for_one), each within the
  /// template's shutdown.
  task<void> shutdown_all(std::vector<stopping> all);
  /// Stops the static children in [from, end) in reverse order, except
  /// `skip`, then removes the temporary ones among them; gives the index
  /// `skip` has after that.
  task<std::optional<std::size_t>> terminate_from(std::size_t from, std::optional<std::size_t> skip = std::nullopt);

  supervisor::flags flags_;
  std::vector<child_spec> initial_;
  std::string name_;
  std::vector<child> children_;  ///< start order; simple_one_for_one: the template only
  /// simple_one_for_one's children: a flat set, an 8-byte slot and a
  /// control byte per child (the listener's handlers, one per connection),
  /// where a node of an unordered_map took a 32-byte malloc chunk and a
  /// bucket. The arguments of those started with some are kept beside it.
  id_set<pid> dynamic_;
  /// simple_one_for_one children whose restart failed and waits for its
  /// retry (OTP's dynamic_restarts): which_children lists them as
  /// restarting, count_children counts them but not as active.
  std::size_t dynamic_restarting_ = 0;
  std::unordered_map<pid, std::any> dynamic_args_;
  /// Records a dynamic child (std::bad_alloc if it cannot).
  void add_dynamic(pid child, std::any extra);
  /// Forgets a dynamic child: its arguments, or no value if it was not one.
  std::optional<std::any> take_dynamic(pid child) noexcept;
  std::deque<std::chrono::steady_clock::time_point> restarts_;
};

}  // namespace otpnet::internal
