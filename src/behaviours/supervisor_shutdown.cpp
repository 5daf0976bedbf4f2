// Stopping children (OTP's supervisor:shutdown/1): exit(child, shutdown),
// wait for its down up to its shutdown time, then kill; brutal_kill kills
// at once; infinity waits. A simple_one_for_one supervisor stops all its
// children at once, within one shutdown time. The link is removed after
// the down, and an exit message the child sent before is taken, so no
// stopped child is later mistaken for one to restart.
#include <otpnet/behaviours/call.hpp>
#include <otpnet/runtime/process.hpp>

#include "behaviours/supervisor_server.hpp"

#include <unordered_map>

namespace otpnet::internal {

namespace {

namespace gd = ::otpnet::gen::detail;
namespace rt = ::otpnet::detail;

/// How long a linked child's exit signal is waited for once its pid is dead
/// (it comes within microseconds: its scheduler sends it right after
/// retiring the pid; the bound keeps a supervisor from waiting for ever on a
/// link whose other side is already gone).
constexpr std::chrono::milliseconds exit_signal_wait{5000};

struct down_of {
  ref monitor;
  bool operator()(rt::envelope* e) const noexcept {
    auto* d = rt::payload_if<down_msg>(e);
    return d != nullptr && d->monitor == monitor;
  }
};

struct down_in {
  const std::unordered_map<ref, std::size_t>* waiting;
  bool operator()(rt::envelope* e) const noexcept {
    auto* d = rt::payload_if<down_msg>(e);
    return d != nullptr && waiting->count(d->monitor) != 0;
  }
};

struct exit_from {
  pid who;
  bool operator()(rt::envelope* e) const noexcept {
    auto* x = rt::payload_if<exit_msg>(e);
    return x != nullptr && x->from == who;
  }
};

/// The reason a stopped child ended with, as OTP's unlink_flush finds it:
/// its exit message if one is here (the down says noproc when the child
/// had ended before it was monitored). A noproc down while the link still
/// stands means the child has ended and its exit signal is on its way (its
/// scheduler retires the pid before it signals its links), so it is waited
/// for; with no link and no exit message the child was never linked to the
/// supervisor, or unlinked itself: naughty_child, as OTP says.
task<exit_reason> unlink_flush(pid p, exit_reason down_reason) {
  const bool noproc = down_reason == exit_reason::noproc();
  std::optional<message> m = co_await gd::receive_for(exit_from{p}, std::chrono::milliseconds(0));
  if (!m && noproc && is_linked(p)) {
    m = co_await gd::receive_for(exit_from{p}, exit_signal_wait);
  }
  unlink(p);
  if (m) {
    co_return m->get<exit_msg>().reason;
  }
  co_return noproc ? exit_reason::other("naughty_child") : down_reason;
}

/// Whether a child ended as its shutdown asked (OTP's rules: killed for
/// brutal_kill, shutdown otherwise; normal or shutdown is fine for a child
/// that is not permanent).
bool stopped_as_asked(const exit_reason& r, const offender& who) {
  if (who.shutdown.what() == shutdown_spec::kind::brutal_kill ? r == exit_reason::killed() : r.is_shutdown()) {
    return true;
  }
  return who.restart != restart_type::permanent && (r.is_normal() || r.is_shutdown());
}

wait_time time_of(const shutdown_spec& s) {
  return s.what() == shutdown_spec::kind::timeout ? wait_time(s.time()) : wait_time(infinity);
}

}  // namespace

task<void> supervisor_server::shutdown_child(stopping s) {
  bool brutal = s.who.shutdown.what() == shutdown_spec::kind::brutal_kill;
  ref mon = monitor(s.id);
  ::otpnet::exit(s.id, brutal ? exit_reason::kill() : exit_reason::shutdown());
  std::optional<message> d = co_await gd::receive_for(down_of{mon}, brutal ? infinity : time_of(s.who.shutdown));
  if (!d) {
    ::otpnet::exit(s.id, exit_reason::kill());
    d = co_await gd::receive_for(down_of{mon}, infinity);
  }
  exit_reason why = co_await unlink_flush(s.id, d->get<down_msg>().reason);
  if (!stopped_as_asked(why, s.who)) {
    report(supervisor_context::shutdown_error, why, std::move(s.who));
  }
}

task<void> supervisor_server::shutdown_all(std::vector<stopping> all) {
  if (all.empty()) {
    co_return;
  }
  const shutdown_spec sd = children_.front().shutdown;
  bool killed_all = sd.what() == shutdown_spec::kind::brutal_kill;
  std::unordered_map<ref, std::size_t> waiting;
  for (std::size_t i = 0; i < all.size(); ++i) {
    waiting.emplace(monitor(all[i].id), i);
    ::otpnet::exit(all[i].id, killed_all ? exit_reason::kill() : exit_reason::shutdown());
  }
  std::vector<exit_reason> reasons(all.size());
  auto deadline = std::chrono::steady_clock::now() +
                  (sd.what() == shutdown_spec::kind::timeout ? sd.time() : std::chrono::milliseconds(0));
  while (!waiting.empty()) {
    wait_time t = infinity;
    if (!killed_all && sd.what() == shutdown_spec::kind::timeout) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      t = std::max(left, std::chrono::milliseconds(0));
    }
    std::optional<message> d = co_await gd::receive_for(down_in{&waiting}, t);
    if (!d) {
      for (const auto& w : waiting) {
        ::otpnet::exit(all[w.second].id, exit_reason::kill());
      }
      killed_all = true;
      continue;
    }
    const down_msg& dm = d->get<down_msg>();
    auto it = waiting.find(dm.monitor);
    reasons[it->second] = dm.reason;
    waiting.erase(it);
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    exit_reason why = co_await unlink_flush(all[i].id, reasons[i]);
    if (!stopped_as_asked(why, all[i].who)) {
      report(supervisor_context::shutdown_error, why, std::move(all[i].who));
    }
  }
}

task<std::optional<std::size_t>> supervisor_server::terminate_from(std::size_t from, std::optional<std::size_t> skip) {
  for (std::size_t j = children_.size(); j-- > from;) {
    if (skip && j == *skip) {
      continue;
    }
    pid running = children_[j].id;
    if (!running) {
      continue;
    }
    children_[j].id = pid{};
    co_await shutdown_child(stopping(running, offender_of(children_[j], running)));
  }
  // Temporary children stopped for a group restart are not restarted.
  std::optional<std::size_t> at = skip;
  for (std::size_t j = children_.size(); j-- > from;) {
    if ((skip && j == *skip) || children_[j].spec.restart != restart_type::temporary) {
      continue;
    }
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(j));
    if (at && j < *at) {
      --*at;
    }
  }
  co_return at;
}

}  // namespace otpnet::internal
