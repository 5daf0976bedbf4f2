#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/listener/gen_nb_server.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/timer.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/socket/registry.hpp>

#include "internal/id_tables.hpp"

#include <algorithm>

namespace otpnet::listener {

namespace {

struct info_req {
  using reply_type = listener_info;
};
struct add_port_req {
  using reply_type = std::int32_t;  // port, or -errc
  otpnet::socket::address addr;
};
struct remove_port_req {
  using reply_type = bool;
  std::uint16_t port;
};
struct remove_address_req {
  using reply_type = bool;
  otpnet::socket::address addr;
};
struct remove_connection_req {
  using reply_type = bool;
  pid handler;
};
struct set_max_req {
  using reply_type = bool;
  std::size_t n;
  bool exact = false;  ///< n == 0 is a limit of zero (an acceptor's share), not "no limit"
};
struct suspend_req {
  using reply_type = bool;
  bool on;
};
struct connections_req {
  using reply_type = std::vector<pid>;
};
struct drain_req {
  using reply_type = drain_result;
  std::chrono::milliseconds deadline;
};
struct drain_deadline {
  std::uint64_t round;
};

class server : public gen_nb_server<server> {
 public:
  using calls = type_list<info_req, add_port_req, remove_port_req, remove_address_req, remove_connection_req,
                          set_max_req, suspend_req, connections_req, drain_req>;
  using infos = type_list<drain_deadline>;

  /// `share`: max_connections is this acceptor's share of a group's limit,
  /// where 0 means none at all (see group below).
  explicit server(listener_options o, bool share = false) : o_(std::move(o)), share_(share) {}

  gen_tcp::options sock_opts() const { return o_.socket_options; }

  gen_server::init_return init() {
    set_listener_name(o_.name);
    if (share_) {
      acceptor_.set_limit(o_.max_connections);
    } else {
      acceptor_.set_max_connections(o_.max_connections);
    }
    for (const auto& a : o_.addresses) {
      auto port = add_listen_port(a);
      if (!port) {
        return stop(exit_reason::other(format_error(port.error()) + " (" + a.to_string() + ")"));
      }
    }
    for (const auto& s : o_.sockets) {
      auto port = add_listen_socket(s);
      if (!port) {
        return stop(exit_reason::other(format_error(port.error()) + " (an inherited socket)"));
      }
    }
    return ok();
  }

  task<void> new_connection(connection c) {
    const auto accepted_at = std::chrono::steady_clock::now();
    if (draining_) {
      acceptor_.handoff_failed(c, "listener draining");
      co_return;
    }
    // Bounded: a handler whose start hangs costs its connection, not the
    // listener. The call's timeout does not stop the start: a handler that
    // comes up later never gets socket_ready, so handlers give
    // WAIT_FOR_SOCKET a timeout of their own (echo_fsm does).
    auto started = co_await supervisor::start_child(o_.client_sup, std::any(), o_.handler_start_timeout);
    if (started.is_ignore()) {
      acceptor_.handoff_declined(c);
      co_return;
    }
    if (!started.is_ok()) {
      acceptor_.handoff_failed(c, "handler start: " + started.reason().to_string());
      co_return;
    }
    pid handler = started.id();
    // The handler owns the connection before a byte is read; it takes it
    // (gen_tcp::adopt in its own process) when socket_ready arrives.
    (void)otpnet::socket::set_owner(c.raw, handler.value());
    otpnet::socket::socket raw = c.raw;
    otpnet::socket::address peer = c.peer;
    if (!send(handler, socket_ready{std::move(c)})) {
      // It started and ended at once (its own timeout, a crash): the
      // message was dropped. Closed and said here, or nobody would.
      acceptor_.handoff_failed(raw, peer, "the handler ended before its socket was handed over");
      co_return;
    }
    // Monitored once the message is in its mailbox: a handler that ends
    // from here on (before or after taking the socket) is counted by its
    // DOWN, at once if it is gone already.
    (void)monitor(handler);
    handlers_.insert(handler);
    handoff_.record(std::chrono::steady_clock::now() - accepted_at);
  }

  /// A handler's end (its monitor's DOWN). One that remove_connection
  /// dropped is no longer in the set: its DOWN changes nothing.
  gen_server::cast_return handle_info(down_msg&& d) {
    if (handlers_.erase(d.who) != 0) {
      internal::shrink_if_sparse(handlers_);
      connection_ended();
      if (draining_) {
        ++drained_.finished;
        maybe_finish_drain();
      }
    }
    return noreply();
  }

  gen_server::cast_return handle_info(drain_deadline&& t) {
    if (draining_ && t.round == drain_round_) {
      for (pid h : handlers_) {
        exit(h, exit_reason::shutdown());
        ++drained_.forced;
      }
      finish_drain();
    }
    return noreply();
  }

  call_return<listener_info> handle_call(info_req) {
    listener_info i = listener_info_now();
    i.client_sup_by_acceptor = {o_.client_sup.to_string()};
    i.handoff = handoff_.read();
    return reply(std::move(i));
  }
  call_return<std::int32_t> handle_call(add_port_req r) {
    auto p = add_listen_port(r.addr);
    return reply(p ? static_cast<std::int32_t>(*p) : -static_cast<std::int32_t>(p.error()));
  }
  call_return<bool> handle_call(remove_port_req r) { return reply(remove_listen_port(r.port)); }
  call_return<bool> handle_call(remove_address_req r) { return reply(remove_listen_address(r.addr)); }
  /// The handler's monitor stays (no ref is kept to demonitor it): its
  /// DOWN, when the handler ends, finds no entry and counts nothing.
  call_return<bool> handle_call(remove_connection_req r) {
    if (handlers_.erase(r.handler) == 0) {
      return reply(false);
    }
    internal::shrink_if_sparse(handlers_);
    connection_ended();
    maybe_finish_drain();
    return reply(true);
  }
  call_return<bool> handle_call(set_max_req r) {
    if (r.exact) {
      set_limit(r.n);
    } else {
      set_max_connections(r.n);
    }
    return reply(true);
  }
  call_return<bool> handle_call(suspend_req r) {
    if (r.on) {
      suspend();
    } else {
      resume();
    }
    return reply(true);
  }
  call_return<std::vector<pid>> handle_call(connections_req) {
    std::vector<pid> out;
    out.assign(handlers_.begin(), handlers_.end());
    return reply(std::move(out));
  }
  call_return<drain_result> handle_call(drain_req r, gen_server::from& f) {
    drain_callers_.push_back(std::move(f));
    if (draining_) {
      return noreply();  // a drain under way: this caller gets its result too
    }
    // Its listen sockets close: a client that comes now is refused at once
    // (and can go elsewhere) rather than wait in the backlog for a server
    // that is going away, as after ranch's suspend_listener.
    suspend();
    acceptor_.close_all();
    draining_ = true;
    drained_ = {};
    ++drain_round_;
    for (pid h : handlers_) {
      send(h, drain_notice{});
    }
    if (handlers_.empty()) {
      finish_drain();
    } else {
      drain_timer_ = send_after(r.deadline, self(), drain_deadline{drain_round_});
    }
    return noreply();
  }

 private:
  void maybe_finish_drain() {
    if (handlers_.empty()) {
      finish_drain();
    }
  }
  void finish_drain() {
    if (!draining_) {
      return;
    }
    draining_ = false;
    if (drain_timer_) {
      (void)cancel_timer(*drain_timer_);
      drain_timer_.reset();
    }
    for (auto& c : drain_callers_) {
      (void)c.reply(drained_);
    }
    drain_callers_.clear();
  }

  listener_options o_;
  bool share_ = false;
  // The live handlers, each monitored. A flat set of pids: an 8-byte slot
  // per connection (16 with the monitor's ref as the key; an
  // unordered_map's node took a 32-byte malloc chunk and a bucket); and
  // connections() promises no order.
  internal::id_set<pid> handlers_;
  duration_histogram handoff_;
  bool draining_ = false;
  drain_result drained_;
  std::vector<gen_server::from> drain_callers_;
  std::optional<timer_ref> drain_timer_;
  std::uint64_t drain_round_ = 0;
};

// -- several acceptors ------------------------------------------------------------------
//
// With listener_options::acceptors = N > 1, the listener is a small group:
// N acceptor processes (each the server above, on scheduler i % S, with
// listen sockets of its own bound with SO_REUSEPORT to the same addresses,
// so that the kernel spreads new connections over them) and this
// coordinator, registered under the listener's name, which answers every
// call by asking the acceptors and adding up. max_connections is divided
// among them (their shares sum to it), so the global limit is never passed.

struct drain_part {
  std::uint64_t round;
  drain_result r;
  bool ok;
};

/// One acceptor's answer to the info request of `round`; none if it did not
/// answer within info_wait.
struct info_part {
  std::uint64_t round;
  std::size_t index;
  std::optional<listener_info> info;
};
/// The end of an info round, whatever its helpers sent (one killed sends
/// nothing: its acceptor counts as unanswered).
struct info_deadline {
  std::uint64_t round;
};

// How long info waits for the acceptors (asked all at once). An acceptor
// answers no call while it waits for a handler's start (up to
// handler_start_timeout): such a one is counted as unanswered rather than
// holding up the answer, or, past the caller's timeout, failing it.
constexpr std::chrono::milliseconds info_wait{1000};

/// Splits `total` (0: no limit) into `n` shares that sum to it.
std::vector<std::size_t> shares_of(std::size_t total, std::size_t n) {
  std::vector<std::size_t> out(n, 0);
  if (total == 0) {
    return out;  // every share unlimited
  }
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = total / n + (i < total % n ? 1 : 0);
  }
  return out;
}

class group : public gen_server::behaviour<group> {
 public:
  using calls = type_list<info_req, add_port_req, remove_port_req, remove_address_req, remove_connection_req,
                          set_max_req, suspend_req, connections_req, drain_req>;
  using infos = type_list<drain_part, info_part, info_deadline>;

  explicit group(listener_options o) : o_(std::move(o)), max_(o_.max_connections) {}

  task<gen_server::init_return> init() {
    std::size_t n = o_.acceptors;
    auto shares = shares_of(o_.max_connections, n);
    unsigned scheds = runtime::schedulers();
    std::vector<otpnet::socket::address> addrs = o_.addresses;
    for (std::size_t i = 0; i < n; ++i) {
      listener_options a = o_;
      a.registered_name.clear();
      a.acceptors = 1;
      if (!o_.client_sups.empty()) {
        a.client_sup = o_.client_sups[i % o_.client_sups.size()];
        a.client_sups.clear();
      }
      a.socket_options.reuseport = true;
      a.max_connections = shares[i];
      a.addresses.clear();
      // Passed sockets (systemd's) go to every acceptor: each accepts on a
      // descriptor of its own (add_socket dups it), with calls, from the
      // one queue.
      for (const auto& addr : addrs) {
        // A local path has no SO_REUSEPORT: the first acceptor takes it.
        if (i == 0 || addr.family() != otpnet::socket::domain::local) {
          a.addresses.push_back(addr);
        }
      }
      start_options so;
      so.scheduler = scheds == 0 ? least_loaded_scheduler : static_cast<int>(i % scheds);
      auto r = co_await gen_server::start_link<server>(std::move(so), std::move(a), o_.max_connections != 0);
      if (!r.is_ok()) {
        co_return stop(r.is_error() ? r.reason() : exit_reason::other("acceptor ignored its start"));
      }
      acceptors_.push_back(r.id());
      if (i == 0) {
        // Port 0 becomes the port the first acceptor was given, so that
        // every acceptor listens on the same one.
        auto info0 = co_await gen_server::call(r.id(), info_req{});
        if (!info0) {
          co_return stop(info0.error());
        }
        for (std::size_t k = 0; k < addrs.size() && k < info0->ports.size(); ++k) {
          if (addrs[k].family() != otpnet::socket::domain::local) {
            addrs[k] = addrs[k].with_port(info0->ports[k].port);
          }
        }
      }
    }
    co_return ok();
  }

  // Every acceptor is asked at once, by a helper process each, and the
  // answer waits info_wait at most. Callers that come during a round get
  // the next one, which starts when it ends: an answer never predates the
  // call (a change made just before it shows).
  call_return<listener_info> handle_call(info_req, gen_server::from& f) {
    if (info_left_ != 0) {
      info_next_.push_back(std::move(f));
      return noreply();
    }
    info_callers_.push_back(std::move(f));
    start_info_round();
    return noreply();
  }

  gen_server::cast_return handle_info(info_part&& p) {
    if (p.round != info_round_ || info_left_ == 0 || p.index >= info_parts_.size()) {
      return noreply();
    }
    info_parts_[p.index] = std::move(p.info);
    if (--info_left_ == 0) {
      end_info_round();
    }
    return noreply();
  }

  gen_server::cast_return handle_info(info_deadline&& d) {
    if (d.round == info_round_ && info_left_ != 0) {
      info_left_ = 0;  // the parts still missing count as unanswered
      end_info_round();
    }
    return noreply();
  }

  task<call_return<std::int32_t>> handle_call(add_port_req r) {
    std::int32_t port = -static_cast<std::int32_t>(errc::invalid);
    std::vector<pid> added;
    for (pid a : acceptors_) {
      if (!added.empty() && r.addr.family() == otpnet::socket::domain::local) {
        break;  // a local path: the first acceptor only
      }
      auto addr = added.empty() ? r.addr : r.addr.with_port(static_cast<std::uint16_t>(port));
      auto got = co_await gen_server::call(a, add_port_req{addr});
      if (!got || *got < 0) {
        // All or nothing: undo what the others bound.
        for (pid b : added) {
          (void)co_await gen_server::call(b, remove_address_req{addr});
        }
        co_return reply(got ? *got : -static_cast<std::int32_t>(errc::invalid));
      }
      port = *got;
      added.push_back(a);
    }
    co_return reply(port);
  }

  task<call_return<bool>> handle_call(remove_port_req r) { co_return reply(co_await ask_all(r)); }
  task<call_return<bool>> handle_call(remove_address_req r) { co_return reply(co_await ask_all(r)); }

  task<call_return<bool>> handle_call(remove_connection_req r) {
    for (pid a : acceptors_) {
      auto got = co_await gen_server::call(a, r);
      if (got && *got) {
        co_return reply(true);
      }
    }
    co_return reply(false);
  }

  task<call_return<bool>> handle_call(set_max_req r) {
    if (r.n != 0 && r.n < acceptors_.size()) {
      // Some acceptor would get a share of 0 and accept nothing, while the
      // kernel goes on handing it clients (SO_REUSEPORT), who would wait in
      // its backlog for ever: refused, as start_link makes no more
      // acceptors than the limit.
      co_return reply(false);
    }
    max_ = r.n;
    auto shares = shares_of(r.n, acceptors_.size());
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
      (void)co_await gen_server::call(acceptors_[i], set_max_req{shares[i], r.n != 0});
    }
    co_return reply(true);
  }

  task<call_return<bool>> handle_call(suspend_req r) {
    (void)co_await ask_all(r);
    co_return reply(true);
  }

  task<call_return<std::vector<pid>>> handle_call(connections_req) {
    std::vector<pid> out;
    for (pid a : acceptors_) {
      auto got = co_await gen_server::call(a, connections_req{});
      if (got) {
        out.insert(out.end(), got->begin(), got->end());
      }
    }
    co_return reply(std::move(out));
  }

  call_return<drain_result> handle_call(drain_req r, gen_server::from& f) {
    drain_callers_.push_back(std::move(f));
    if (parts_left_ != 0) {
      return noreply();  // a drain under way: this caller gets its result too
    }
    // Every acceptor drains at once (one process each), so the whole drain
    // takes one deadline, not one per acceptor.
    ++round_;
    drained_ = {};
    parts_left_ = acceptors_.size();
    pid me = self();
    for (pid a : acceptors_) {
      spawn([a, me, round = round_, deadline = r.deadline]() -> proc {
        auto got = co_await listener::drain(a, deadline);
        send(me, drain_part{round, got ? *got : drain_result{}, got.has_value()});
      });
    }
    return noreply();
  }

  gen_server::cast_return handle_info(drain_part&& p) {
    if (p.round != round_ || parts_left_ == 0) {
      return noreply();
    }
    drained_.finished += p.r.finished;
    drained_.forced += p.r.forced;
    if (--parts_left_ == 0) {
      for (auto& c : drain_callers_) {
        (void)c.reply(drained_);
      }
      drain_callers_.clear();
    }
    return noreply();
  }

 private:
  /// Asks every acceptor `r` (a yes/no call); whether any said yes.
  template <class Req>
  task<bool> ask_all(Req r) {
    bool any = false;
    for (pid a : acceptors_) {
      auto got = co_await gen_server::call(a, r);
      any = any || (got && *got);
    }
    co_return any;
  }

  void start_info_round() {
    ++info_round_;
    info_parts_.assign(acceptors_.size(), std::nullopt);
    info_left_ = acceptors_.size();
    if (info_left_ == 0) {
      end_info_round();
      return;
    }
    pid me = self();
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
      spawn([a = acceptors_[i], me, round = info_round_, i]() -> proc {
        auto got = co_await gen_server::call(a, info_req{}, info_wait);
        send(me, info_part{round, i, got ? std::optional<listener_info>(std::move(*got)) : std::nullopt});
      });
    }
    info_deadline_ = send_after(info_wait + info_wait / 2, me, info_deadline{info_round_});
  }

  void end_info_round() {
    if (info_deadline_) {
      (void)cancel_timer(*std::exchange(info_deadline_, std::nullopt));
    }
    listener_info out = merged_info();
    for (auto& c : info_callers_) {
      (void)c.reply(out);
    }
    info_callers_.clear();
    info_parts_.clear();
    if (!info_next_.empty()) {
      info_callers_.swap(info_next_);
      start_info_round();
    }
  }

  /// The acceptors' answers added up; an unanswered one counts in
  /// unanswered_acceptors, with 0 (and no client supervisor) in its entries.
  listener_info merged_info() const {
    listener_info out;
    out.name = o_.name;
    out.suspended = true;
    for (const std::optional<listener_info>& i : info_parts_) {
      if (!i) {
        ++out.unanswered_acceptors;
        out.accepted_by_acceptor.push_back(0);
        out.active_by_acceptor.push_back(0);
        out.client_sup_by_acceptor.emplace_back();
        continue;
      }
      for (auto& p : i->ports) {
        bool seen = false;
        for (auto& q : out.ports) {
          if (q.address == p.address) {
            q.backing_off = q.backing_off || p.backing_off;
            seen = true;
          }
        }
        if (!seen) {
          out.ports.push_back(p);
        }
      }
      out.active_connections += i->active_connections;
      out.total_connections += i->total_connections;
      out.accepted_by_acceptor.push_back(i->total_connections);
      out.active_by_acceptor.push_back(i->active_connections);
      out.client_sup_by_acceptor.insert(out.client_sup_by_acceptor.end(), i->client_sup_by_acceptor.begin(),
                                        i->client_sup_by_acceptor.end());
      out.accept_failures += i->accept_failures;
      out.handoff += i->handoff;
      for (auto& [why, count] : i->failures_by_reason) {
        out.failures_by_reason[why] += count;
      }
      out.suspended = out.suspended && i->suspended;
    }
    // (Suspended only if some acceptor said so and none said otherwise.)
    out.suspended = out.suspended && out.unanswered_acceptors < info_parts_.size();
    out.max_connections = max_;
    out.at_limit = max_ != 0 && out.active_connections >= max_;
    out.acceptors = acceptors_.size();
    return out;
  }

  listener_options o_;
  std::vector<pid> acceptors_;
  std::size_t max_ = 0;
  std::vector<gen_server::from> drain_callers_;
  drain_result drained_;
  std::size_t parts_left_ = 0;
  std::uint64_t round_ = 0;
  std::vector<gen_server::from> info_callers_;
  std::vector<gen_server::from> info_next_;  // callers that came during the round
  std::vector<std::optional<listener_info>> info_parts_;
  std::size_t info_left_ = 0;
  std::uint64_t info_round_ = 0;
  std::optional<timer_ref> info_deadline_;
};

}  // namespace

task<start_result> start_link(listener_options o) {
  start_options so;
  if (!o.registered_name.empty()) {
    so.name = o.registered_name;
  }
  o.acceptors = acceptors_of(o);
  if (o.acceptors == 1) {
    if (!o.client_sups.empty()) {
      // Beside its supervisor, client_sup_specs' first, on scheduler 0.
      o.client_sup = o.client_sups.front();
      so.scheduler = 0;
    }
    return gen_server::start_link<server>(std::move(so), std::move(o));
  }
  return gen_server::start_link<group>(std::move(so), std::move(o));
}

bool port_in_use(const otpnet::socket::address& addr) {
  namespace so = otpnet::socket;
  if (addr.family() == so::domain::local || addr.port() == 0) {
    return false;
  }
  auto probe = so::open(addr.family(), so::type::stream, so::protocol::tcp);
  if (!probe) {
    return false;  // (the listener's own bind says what is wrong)
  }
  // SO_REUSEADDR, as the listen sockets have it: a previous instance's
  // connections in TIME_WAIT do not count, a listening socket does.
  (void)so::setopt(*probe, so::opt::socket::reuseaddr, true);
  if (addr.family() == so::domain::inet6) {
    (void)so::setopt(*probe, so::opt::ipv6::v6only, true);
  }
  auto bound = so::bind(*probe, addr);
  (void)so::close(*probe);
  return !bound && bound.error() == errc::eaddrinuse;
}

std::size_t acceptors_of(const listener_options& o) {
  std::size_t n = o.acceptors == 0 ? std::max(1u, runtime::schedulers()) : o.acceptors;
  if (o.max_connections != 0 && n > o.max_connections) {
    n = o.max_connections;  // no acceptor without a share of the limit
  }
  return n;
}

child_spec client_sup_spec(const std::string& name, const child_spec& handler, supervisor::flags f, int scheduler) {
  f.strategy = supervisor::restart_strategy::simple_one_for_one;
  child_spec c;
  c.id = name;
  c.start = [handler, f, name, scheduler]() -> task<start_result> {
    start_options so;
    so.name = name;
    so.scheduler = scheduler;
    return supervisor::start_link(f, {handler}, std::move(so));
  };
  c.restart = restart_type::permanent;
  c.shutdown = shutdown_spec::infinity();
  c.type = child_type::supervisor;
  return c;
}

namespace {
/// The name of supervisor i of client_sup_specs and client_sup_refs.
std::string numbered(const std::string& name, std::size_t i) { return name + "_" + std::to_string(i); }
}  // namespace

std::vector<child_spec> client_sup_specs(const std::string& name, const child_spec& handler, supervisor::flags f,
                                         std::size_t n) {
  std::vector<child_spec> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(client_sup_spec(numbered(name, i), handler, f, static_cast<int>(i)));
  }
  return out;
}

std::vector<server_ref> client_sup_refs(const std::string& name, std::size_t n) {
  std::vector<server_ref> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.emplace_back(numbered(name, i));
  }
  return out;
}

task<outcome<listener_info>> info(server_ref l) { return gen_server::call(std::move(l), info_req{}); }

task<outcome<std::uint16_t>> add_listen_port(server_ref l, otpnet::socket::address a) {
  auto r = co_await gen_server::call(std::move(l), add_port_req{a});
  if (!r) {
    co_return fail(r.error());
  }
  if (*r < 0) {
    co_return fail(exit_reason::other(format_error(static_cast<errc>(-*r))));
  }
  co_return static_cast<std::uint16_t>(*r);
}

task<outcome<bool>> remove_listen_port(server_ref l, std::uint16_t port) {
  return gen_server::call(std::move(l), remove_port_req{port});
}

task<outcome<bool>> remove_listen_address(server_ref l, otpnet::socket::address a) {
  return gen_server::call(std::move(l), remove_address_req{a});
}

task<outcome<bool>> remove_connection(server_ref l, pid handler) {
  return gen_server::call(std::move(l), remove_connection_req{handler});
}

task<outcome<>> set_max_connections(server_ref l, std::size_t n) {
  auto r = co_await gen_server::call(std::move(l), set_max_req{n});
  if (!r) {
    co_return fail(r.error());
  }
  if (!*r) {
    co_return fail(
        exit_reason::other("einval: max_connections " + std::to_string(n) + " is below the number of acceptors"));
  }
  co_return outcome<>{};
}

task<outcome<>> suspend(server_ref l) {
  auto r = co_await gen_server::call(std::move(l), suspend_req{true});
  if (!r) {
    co_return fail(r.error());
  }
  co_return outcome<>{};
}

task<outcome<>> resume(server_ref l) {
  auto r = co_await gen_server::call(std::move(l), suspend_req{false});
  if (!r) {
    co_return fail(r.error());
  }
  co_return outcome<>{};
}

task<outcome<std::vector<pid>>> connections(server_ref l) { return gen_server::call(std::move(l), connections_req{}); }

task<outcome<drain_result>> drain(server_ref l, std::chrono::milliseconds deadline) {
  return gen_server::call(std::move(l), drain_req{deadline}, deadline + std::chrono::seconds(5));
}

}  // namespace otpnet::listener
