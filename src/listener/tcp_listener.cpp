#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/listener/gen_nb_server.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/timer.hpp>
#include <otpnet/socket/registry.hpp>

#include <algorithm>
#include <map>

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

  explicit server(listener_options o) : o_(std::move(o)) {}

  gen_tcp::options sock_opts() const { return o_.socket_options; }

  gen_server::init_return init() {
    set_listener_name(o_.name);
    acceptor_.set_max_connections(o_.max_connections);
    for (const auto& a : o_.addresses) {
      auto port = add_listen_port(a);
      if (!port) {
        return stop(exit_reason::other(format_error(port.error()) + " (" + a.to_string() + ")"));
      }
    }
    return ok();
  }

  task<void> new_connection(connection c) {
    if (draining_) {
      acceptor_.handoff_failed(c, "listener draining");
      co_return;
    }
    // Bounded: a handler whose start hangs costs its connection, not the
    // listener (the supervisor kills what it started past the timeout).
    auto started = co_await supervisor::start_child(o_.client_sup, std::any(), o_.handler_start_timeout);
    if (!started.is_ok()) {
      acceptor_.handoff_failed(c, "handler start: " + started.reason().to_string());
      co_return;
    }
    pid handler = started.id();
    // The handler owns the connection before a byte is read; it takes it
    // (gen_tcp::adopt in its own process) when socket_ready arrives.
    (void)otpnet::socket::set_owner(c.raw, handler.value());
    handlers_.emplace(monitor(handler), handler);
    send(handler, socket_ready{std::move(c)});
  }

  gen_server::cast_return handle_info(down_msg&& d) {
    if (handlers_.erase(d.monitor) != 0) {
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
      for (auto& [r, h] : handlers_) {
        exit(h, exit_reason::shutdown());
        ++drained_.forced;
      }
      finish_drain();
    }
    return noreply();
  }

  call_return<listener_info> handle_call(info_req) { return reply(listener_info_now()); }
  call_return<std::int32_t> handle_call(add_port_req r) {
    auto p = add_listen_port(r.addr);
    return reply(p ? static_cast<std::int32_t>(*p) : -static_cast<std::int32_t>(p.error()));
  }
  call_return<bool> handle_call(remove_port_req r) { return reply(remove_listen_port(r.port)); }
  call_return<bool> handle_call(remove_address_req r) { return reply(remove_listen_address(r.addr)); }
  call_return<bool> handle_call(remove_connection_req r) {
    for (auto it = handlers_.begin(); it != handlers_.end(); ++it) {
      if (it->second == r.handler) {
        demonitor(it->first);
        handlers_.erase(it);
        connection_ended();
        maybe_finish_drain();
        return reply(true);
      }
    }
    return reply(false);
  }
  call_return<bool> handle_call(set_max_req r) {
    set_max_connections(r.n);
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
    for (auto& [r, h] : handlers_) {
      out.push_back(h);
    }
    return reply(std::move(out));
  }
  call_return<drain_result> handle_call(drain_req r, gen_server::from& f) {
    drain_callers_.push_back(std::move(f));
    if (draining_) {
      return noreply();  // a drain under way: this caller gets its result too
    }
    suspend();
    draining_ = true;
    drained_ = {};
    ++drain_round_;
    for (auto& [m, h] : handlers_) {
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
  std::map<ref, pid> handlers_;
  bool draining_ = false;
  drain_result drained_;
  std::vector<gen_server::from> drain_callers_;
  std::optional<timer_ref> drain_timer_;
  std::uint64_t drain_round_ = 0;
};

}  // namespace

task<start_result> start_link(listener_options o) {
  start_options so;
  if (!o.registered_name.empty()) {
    so.name = o.registered_name;
  }
  return gen_server::start_link<server>(std::move(so), std::move(o));
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
  return gen_server::call(std::move(l), remove_address_req{std::move(a)});
}

task<outcome<bool>> remove_connection(server_ref l, pid handler) {
  return gen_server::call(std::move(l), remove_connection_req{handler});
}

task<outcome<>> set_max_connections(server_ref l, std::size_t n) {
  auto r = co_await gen_server::call(std::move(l), set_max_req{n});
  if (!r) {
    co_return fail(r.error());
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
