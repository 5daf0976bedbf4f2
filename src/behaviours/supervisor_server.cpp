// The supervisor's gen_server: init (start the children in order), the
// restart logic (OTP's do_restart/restart per strategy), the restart window,
// and the requests of supervisor.hpp.
#include "behaviours/supervisor_server.hpp"

#include <otpnet/runtime/exception_reason.hpp>
#include <otpnet/runtime/process.hpp>

#include <algorithm>

namespace otpnet::internal {

namespace {

/// The ends a transient child is not restarted after, and that a
/// non-permanent child's exit is not reported for.
bool normal_end(const exit_reason& r) { return r.is_normal() || r.is_shutdown(); }

}  // namespace

supervisor_server::supervisor_server(supervisor::flags f, std::vector<child_spec> specs, std::string name)
    : flags_(f), initial_(std::move(specs)), name_(std::move(name)) {}

// -- helpers ---------------------------------------------------------------------------

std::optional<std::size_t> supervisor_server::find(const std::string& id) const {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (children_[i].spec.id == id) {
      return i;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> supervisor_server::find(pid p) const {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (children_[i].id == p) {
      return i;
    }
  }
  return std::nullopt;
}

offender supervisor_server::offender_of(const child& c, pid p) const {
  return offender{p, c.spec.id, c.spec.start.name(), c.spec.restart, c.shutdown, c.spec.type};
}

void supervisor_server::report(supervisor_context ctx, const exit_reason& why, offender who) const {
  if (report_wanted(report_severity::error)) {
    emit(supervisor_report{self(), name_, ctx, why, std::move(who)});
  }
}

void supervisor_server::report(supervisor_context ctx, const exit_reason& why, const child& c, pid p) const {
  if (report_wanted(report_severity::error)) {
    emit(supervisor_report{self(), name_, ctx, why, offender_of(c, p)});
  }
}

supervisor_server::call_return<outcome<>> supervisor_server::failed(const char* why) {
  return reply(outcome<>(fail(exit_reason::other(why))));
}

supervisor_server::call_return<start_result> supervisor_server::start_failed(const char* why) {
  return reply(start_result::error(exit_reason::other(why)));
}

task<start_result> supervisor_server::start_one(const child& c, std::any extra) {
  start_fn::running fn = c.spec.start.run();  // the closure stays where it is while it runs
  start_result r;
  try {
    r = co_await fn(extra);
  } catch (...) {
    r = start_result::error(reason_of(std::current_exception()));
  }
  if (r.is_ok() && progress_reports() && report_wanted(report_severity::info)) {
    emit(progress_report{self(), name_, offender_of(c, r.id())});
  }
  co_return r;
}

bool supervisor_server::add_restart() {
  auto now = std::chrono::steady_clock::now();
  restarts_.push_back(now);
  while (!restarts_.empty() && restarts_.front() < now - flags_.period) {
    restarts_.pop_front();
  }
  return restarts_.size() <= static_cast<std::size_t>(flags_.intensity);
}

// -- init -------------------------------------------------------------------------------

task<supervisor_server::init_return> supervisor_server::init() {
  trap_exit(true);
  if (auto f = supervisor::check_flags(flags_); !f) {
    co_return stop(exit_reason::other("start_spec: " + std::string(to_string(f.error()))));
  }
  if (auto c = check_child_specs(initial_); !c) {
    co_return stop(exit_reason::other("start_spec: " + std::string(to_string(c.error().first)) + " (child \"" +
                                      initial_[c.error().second].id + "\")"));
  }
  if (simple() && initial_.size() != 1) {
    co_return stop(exit_reason::other("start_spec: invalid_simple_one_for_one"));
  }
  for (child_spec& s : initial_) {
    child c;
    c.shutdown = effective_shutdown(s);
    c.spec = std::move(s);
    children_.push_back(std::move(c));
  }
  initial_.clear();
  if (simple()) {
    co_return ok();
  }
  for (std::size_t i = 0; i < children_.size();) {
    start_result r = co_await start_one(children_[i], std::any());
    if (r.is_error()) {
      report(supervisor_context::start_error, r.reason(), children_[i], pid{});
      std::string id = children_[i].spec.id;
      (void)co_await terminate_from(0);
      co_return stop(
          exit_reason(exit_reason::kind::shutdown, "failed_to_start_child " + id + ": " + r.reason().to_string()));
    }
    if (r.is_ignore() && children_[i].spec.restart == restart_type::temporary) {
      // As OTP: an ignored temporary child is not kept.
      children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    children_[i].id = r.id();
    ++i;
  }
  co_return ok();
}

// -- restarts ---------------------------------------------------------------------------

void supervisor_server::add_dynamic(pid child, std::any extra) {
  if (extra.has_value()) {
    dynamic_args_.emplace(child, std::move(extra));
  }
  try {
    dynamic_.insert(child);
  } catch (...) {
    dynamic_args_.erase(child);
    throw;
  }
}

std::optional<std::any> supervisor_server::take_dynamic(pid child) noexcept {
  if (dynamic_.erase(child) == 0) {
    return std::nullopt;
  }
  shrink_if_sparse(dynamic_);
  auto it = dynamic_args_.find(child);
  if (it == dynamic_args_.end()) {
    return std::any();
  }
  std::optional<std::any> extra(std::move(it->second));
  dynamic_args_.erase(it);
  return extra;
}

supervisor_server::maybe_task<supervisor_server::cast_return> supervisor_server::handle_info(exit_msg m) {
  if (simple()) {
    std::optional<std::any> extra = take_dynamic(m.from);
    if (!extra) {
      return noreply();
    }
    return dynamic_exited(m.from, m.reason, std::move(*extra));
  }
  std::optional<std::size_t> i = find(m.from);
  if (!i) {
    return noreply();  // not a child (any more)
  }
  children_[*i].id = pid{};
  return child_exited(*i, m.from, std::move(m.reason));
}

task<supervisor_server::cast_return> supervisor_server::handle_info(try_again_restart m) {
  if (m.dynamic) {
    if (dynamic_restarting_ > 0) {
      --dynamic_restarting_;  // (counted again if this retry fails too)
    }
    co_return co_await restart_dynamic(std::move(m.extra));
  }
  std::optional<std::size_t> i = find(m.id);
  if (!i || children_[*i].id || !children_[*i].restarting) {
    co_return noreply();  // restarted or removed meanwhile
  }
  co_return co_await restart(*i);
}

task<supervisor_server::cast_return> supervisor_server::child_exited(std::size_t i, pid dead, exit_reason why) {
  const child& c = children_[i];
  bool abnormal = !normal_end(why);
  if (c.spec.restart == restart_type::permanent || abnormal) {
    report(supervisor_context::child_terminated, why, c, dead);
  }
  bool again = c.spec.restart == restart_type::permanent || (c.spec.restart == restart_type::transient && abnormal);
  if (!again) {
    if (c.spec.restart == restart_type::temporary) {
      children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    co_return noreply();
  }
  co_return co_await restart(i);
}

task<supervisor_server::cast_return> supervisor_server::restart(std::size_t i) {
  if (!add_restart()) {
    report(supervisor_context::shutdown, exit_reason::other("reached_max_restart_intensity"), children_[i], pid{});
    co_return stop(exit_reason::shutdown());
  }
  switch (flags_.strategy) {
    case supervisor::restart_strategy::one_for_all:
      (void)co_await terminate_from(0, i);
      (void)co_await start_range(0, children_.size());
      break;
    case supervisor::restart_strategy::rest_for_one:
      (void)co_await terminate_from(i + 1);
      (void)co_await start_range(i, children_.size());
      break;
    default:
      (void)co_await start_range(i, i + 1);
      break;
  }
  co_return noreply();
}

task<bool> supervisor_server::start_range(std::size_t from, std::size_t to) {
  for (std::size_t j = from; j < to && j < children_.size(); ++j) {
    if (children_[j].id) {
      continue;
    }
    start_result r = co_await start_one(children_[j], std::any());
    if (r.is_error()) {
      // OTP's try_again_restart: retried as a new restart, which counts
      // against the intensity, so a child that never starts ends it all.
      report(supervisor_context::start_error, r.reason(), children_[j], pid{});
      children_[j].restarting = true;
      (void)send(self(), try_again_restart{children_[j].spec.id, false, {}});
      co_return false;
    }
    children_[j].id = r.id();
    children_[j].restarting = false;
  }
  co_return true;
}

supervisor_server::maybe_task<supervisor_server::cast_return> supervisor_server::dynamic_exited(pid dead,
                                                                                                const exit_reason& why,
                                                                                                std::any extra) {
  const child& t = children_.front();
  bool abnormal = !normal_end(why);
  if (t.spec.restart == restart_type::permanent || abnormal) {
    report(supervisor_context::child_terminated, why, t, dead);
  }
  if (t.spec.restart == restart_type::permanent || (t.spec.restart == restart_type::transient && abnormal)) {
    return restart_dynamic(std::move(extra));
  }
  return noreply();
}

task<supervisor_server::cast_return> supervisor_server::restart_dynamic(std::any extra) {
  if (!add_restart()) {
    report(supervisor_context::shutdown, exit_reason::other("reached_max_restart_intensity"), children_.front(), pid{});
    co_return stop(exit_reason::shutdown());
  }
  start_result r = co_await start_one(children_.front(), extra);
  if (r.is_ok()) {
    add_dynamic(r.id(), std::move(extra));
  } else if (r.is_error()) {
    report(supervisor_context::start_error, r.reason(), children_.front(), pid{});
    ++dynamic_restarting_;
    (void)send(self(), try_again_restart{{}, true, std::move(extra)});
  }
  co_return noreply();
}

// -- requests ---------------------------------------------------------------------------

supervisor_server::call_return<std::vector<supervisor::child_info>> supervisor_server::handle_call(which_children_req) {
  std::vector<supervisor::child_info> out;
  if (simple()) {
    const child& t = children_.front();
    out.reserve(dynamic_.size() + dynamic_restarting_);
    for (pid d : dynamic_) {
      out.push_back({t.spec.id, d, false, t.spec.type, t.spec.restart});
    }
    for (std::size_t k = 0; k < dynamic_restarting_; ++k) {
      out.push_back({t.spec.id, pid{}, true, t.spec.type, t.spec.restart});  // (OTP: {undefined, restarting, ...})
    }
  } else {
    out.reserve(children_.size());
    for (const child& c : children_) {
      out.push_back({c.spec.id, c.id, c.restarting, c.spec.type, c.spec.restart});
    }
  }
  return reply(std::move(out));
}

supervisor_server::call_return<supervisor::child_counts> supervisor_server::handle_call(count_children_req) {
  supervisor::child_counts n;
  if (simple()) {
    n.specs = 1;
    n.active = dynamic_.size();
    (children_.front().spec.type == child_type::supervisor ? n.supervisors : n.workers) =
        dynamic_.size() + dynamic_restarting_;
    return reply(n);
  }
  n.specs = children_.size();
  for (const child& c : children_) {
    n.active += c.id ? 1 : 0;
    ++(c.spec.type == child_type::supervisor ? n.supervisors : n.workers);
  }
  return reply(n);
}

task<supervisor_server::call_return<start_result>> supervisor_server::handle_call(start_child_req r) {
  if (simple()) {
    co_return start_failed("simple_one_for_one");
  }
  if (auto checked = check_child_spec(r.spec); !checked) {
    co_return reply(start_result::error(exit_reason::other(std::string(to_string(checked.error())))));
  }
  if (std::optional<std::size_t> i = find(r.spec.id)) {
    const child& c = children_[*i];
    co_return reply(c.id ? start_result::error(exit_reason::other("already_started"), c.id)
                         : start_result::error(exit_reason::other("already_present")));
  }
  child c;
  c.shutdown = effective_shutdown(r.spec);
  c.spec = std::move(r.spec);
  start_result res = co_await start_one(c, std::any());
  // Kept when started, or ignored unless temporary (as OTP: an ignored
  // temporary child is forgotten).
  if (res.is_ok() || (res.is_ignore() && c.spec.restart != restart_type::temporary)) {
    c.id = res.id();
    children_.push_back(std::move(c));
  }
  co_return reply(std::move(res));
}

task<supervisor_server::call_return<start_result>> supervisor_server::handle_call(start_dynamic_req r) {
  if (!simple()) {
    co_return start_failed("not_simple_one_for_one");
  }
  start_result res = co_await start_one(children_.front(), r.extra);
  if (res.is_ok()) {
    add_dynamic(res.id(), std::move(r.extra));
  }
  co_return reply(std::move(res));
}

task<supervisor_server::call_return<outcome<>>> supervisor_server::handle_call(terminate_child_req r) {
  std::optional<std::size_t> i;
  if (r.child && simple()) {
    if (!take_dynamic(r.child)) {
      co_return failed("not_found");
    }
    co_await shutdown_child(stopping(r.child, offender_of(children_.front(), r.child)));
    co_return reply(outcome<>());
  }
  if (!r.child && simple()) {
    co_return failed("simple_one_for_one");
  }
  i = r.child ? find(r.child) : find(r.id);
  if (!i) {
    co_return failed("not_found");
  }
  if (pid running = children_[*i].id) {
    children_[*i].id = pid{};
    co_await shutdown_child(stopping(running, offender_of(children_[*i], running)));
  }
  children_[*i].restarting = false;
  if (children_[*i].spec.restart == restart_type::temporary) {
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(*i));
  }
  co_return reply(outcome<>());
}

task<supervisor_server::call_return<start_result>> supervisor_server::handle_call(restart_child_req r) {
  if (simple()) {
    co_return start_failed("simple_one_for_one");
  }
  std::optional<std::size_t> i = find(r.id);
  if (!i) {
    co_return start_failed("not_found");
  }
  if (children_[*i].id) {
    co_return start_failed("running");
  }
  if (children_[*i].restarting) {
    co_return start_failed("restarting");
  }
  start_result res = co_await start_one(children_[*i], std::any());
  if (res.is_ok()) {
    // (An error's id is another process's: already_started names whoever
    // holds the child's registered name.)
    children_[*i].id = res.id();
  }
  co_return reply(std::move(res));
}

supervisor_server::call_return<outcome<>> supervisor_server::handle_call(const delete_child_req& r) {
  if (simple()) {
    return failed("simple_one_for_one");
  }
  std::optional<std::size_t> i = find(r.id);
  if (!i) {
    return failed("not_found");
  }
  if (children_[*i].id) {
    return failed("running");
  }
  if (children_[*i].restarting) {
    return failed("restarting");
  }
  children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(*i));
  return reply(outcome<>());
}

// -- terminate ----------------------------------------------------------------------------

task<void> supervisor_server::terminate(const exit_reason&) {
  if (simple()) {
    std::vector<stopping> all;
    all.reserve(dynamic_.size());
    for (pid d : dynamic_) {
      all.emplace_back(d, offender_of(children_.front(), d));
    }
    dynamic_.clear();
    dynamic_args_.clear();
    co_await shutdown_all(std::move(all));
    co_return;
  }
  (void)co_await terminate_from(0);
}

}  // namespace otpnet::internal
