#include <otpnet/listener/acceptor.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/runtime/timer.hpp>
#include <otpnet/socket/io.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace otpnet::listener {

namespace so = otpnet::socket;

namespace {
constexpr int batch_size = 32;  // accepts per turn before yielding to other messages
}

result<std::uint16_t> acceptor::add_port(const so::address& addr, const gen_tcp::options& opts) {
  gen_tcp::options o = opts;
  if (addr.family() == so::domain::inet6 && !o.ipv6_v6only && addr.port() != 0) {
    // An IPv4 socket on this port already: a dual-stack IPv6 socket could not
    // bind beside it, so this one takes IPv6 only (two sockets, one port).
    bool v4_there = std::any_of(ports_.begin(), ports_.end(), [&](const port_state& p) {
      return p.port == addr.port() && p.addr.family() == so::domain::inet;
    });
    if (v4_there) {
      o.ipv6_v6only = true;
    }
  }
  auto ls = gen_tcp::listen(addr, o);
  if (!ls) {
    return fail(ls.error());
  }
  // Owned by this process, watched by its scheduler.
  if (auto r = so::co::adopt(ls->sock); !r) {
    return fail(r.error());
  }
  port_state p;
  p.sock = ls->sock;
  p.opts = ls->opts;
  p.addr = addr.with_port(ls->port);
  p.port = ls->port;
  p.id = next_id_++;
  p.handle = so::make_select_handle();
  listen_id id = p.id;
  std::uint16_t port = p.port;
  ports_.push_back(std::move(p));
  // Start accepting: the first call selects (or finds connections waiting,
  // which the select event will then announce).
  send(self(), accept_more{id});
  return port;
}

bool acceptor::remove_port(std::uint16_t port) {
  auto gone = std::remove_if(ports_.begin(), ports_.end(), [port](port_state& p) {
    if (p.port != port) {
      return false;
    }
    (void)so::close(p.sock);
    return true;
  });
  bool any = gone != ports_.end();
  ports_.erase(gone, ports_.end());
  return any;
}

bool acceptor::remove_address(const so::address& addr) {
  auto it = std::find_if(ports_.begin(), ports_.end(), [&](const port_state& p) { return p.addr == addr; });
  if (it == ports_.end()) {
    return false;
  }
  (void)so::close(it->sock);
  ports_.erase(it);
  return true;
}

std::vector<listen_id> acceptor::listen_ids() const {
  std::vector<listen_id> out;
  out.reserve(ports_.size());
  for (const auto& p : ports_) {
    out.push_back(p.id);
  }
  return out;
}

void acceptor::close_all() noexcept {
  for (auto& p : ports_) {
    (void)so::close(p.sock);
  }
  ports_.clear();
}

acceptor::port_state* acceptor::find(listen_id id) noexcept {
  for (auto& p : ports_) {
    if (p.id == id) {
      return &p;
    }
  }
  return nullptr;
}

bool acceptor::owns(const socket_select& ev) const noexcept {
  return std::any_of(ports_.begin(), ports_.end(), [&](const port_state& p) { return p.sock == ev.sock; });
}

std::optional<connection> acceptor::on_select(const socket_select& ev) {
  for (auto& p : ports_) {
    if (p.sock == ev.sock) {
      p.batch = 0;
      return accept_step(p.id);
    }
  }
  return std::nullopt;
}

std::optional<connection> acceptor::on_tick(listen_id id) {
  if (port_state* p = find(id)) {
    p->backing_off = false;
    p->batch = 0;
    return accept_step(id);
  }
  return std::nullopt;
}

std::optional<connection> acceptor::on_more(listen_id id) {
  if (port_state* p = find(id)) {
    p->batch = 0;
    return accept_step(id);
  }
  return std::nullopt;
}

void acceptor::count_failure(errc e) {
  ++failures_;
  ++by_reason_[std::string(err_name(e))];
}

std::optional<connection> acceptor::accept_step(listen_id id) {
  port_state* p = find(id);
  if (p == nullptr || p->backing_off || parked()) {
    return std::nullopt;  // parked: connections wait in the kernel's backlog
  }
  const std::string where = p->addr.to_string();
  for (;;) {
    if (p->batch >= batch_size) {
      // Bounded work: let the process's other messages (calls) in first.
      send(self(), accept_more{id});
      return std::nullopt;
    }
    ++p->batch;
    auto r = so::accept(p->sock, p->handle);
    if (r.is_select()) {
      return std::nullopt;
    }
    if (r.is_ok()) {
      if (!p->delay.first()) {
        spdlog::info("listener {}: accepting again on {} after {} back-off(s)", name_, where, p->delay.attempts());
        p->delay.reset();
      }
      connection c;
      c.raw = std::move(r.value());
      c.opts = p->opts;
      c.local_port = p->port;
      c.listen_id = id;
      if (auto peer = so::peername(c.raw)) {
        c.peer = *peer;
      }
      ++active_;
      ++total_;
      return c;
    }
    errc e = r.error();
    count_failure(e);
    switch (classify_accept_error(e)) {
      case accept_action::skip:
        continue;
      case accept_action::stop:
        spdlog::warn("listener {}: {} stops accepting: {}", name_, where, format_error(e));
        return std::nullopt;
      case accept_action::backoff:
      case accept_action::report_backoff: {
        bool first = p->delay.first();
        auto d = p->delay.next();
        if (first) {
          // Once per burst: the resumption is reported when it comes.
          spdlog::warn("listener {}: accept on {}: {}; backing off (from {} ms, growing to 1 s)", name_, where,
                       format_error(e), d.count());
        }
        p->backing_off = true;
        (void)send_after(d, self(), backoff_tick{id});
        return std::nullopt;
      }
    }
  }
}

void acceptor::connection_ended() noexcept {
  if (active_ > 0) {
    --active_;
  }
}

void acceptor::handoff_failed(connection& c, const std::string& why) noexcept {
  (void)so::close(c.raw);
  connection_ended();
  try {
    spdlog::error("listener {}: handing over the connection from {} failed: {}; it is closed, accepting goes on", name_,
                  c.peer.to_string(), why);
  } catch (...) {
    // The report must not take the listener down.
  }
}

listener_info acceptor::info() const {
  listener_info i;
  i.name = name_;
  for (const auto& p : ports_) {
    i.ports.push_back({p.port, p.addr.to_string(), p.backing_off});
  }
  i.active_connections = active_;
  i.total_connections = total_;
  i.accept_failures = failures_;
  i.failures_by_reason = by_reason_;
  i.max_connections = max_ == unlimited ? 0 : max_;
  i.suspended = suspended_;
  i.at_limit = active_ >= max_;
  i.accepted_by_acceptor = {total_};
  return i;
}

}  // namespace otpnet::listener
