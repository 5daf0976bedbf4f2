// File: tools/netinfo/selfcheck.cpp
//
// The live half of otpnet-netinfo: one TCP connection over 127.0.0.1 made
// with otpnet's socket layer alone, the way OTP's socket module is used.
//   1. open a listener, bind 127.0.0.1:0 (the kernel picks the port), listen;
//   2. connect a client with `nowait`: ok at once, or select, the event, and
//      connect(s) to finish;
//   3. accept (5 s timeout);
//   4. the server asks for data with a nowait recv (select), the client sends
//      a line, the event arrives and the repeated recv gets it; the server
//      echoes the line and the client reads it back;
//   5. info() of the three sockets, then close them (a second close must be
//      `closed`) and check that the registry is empty again.
// Every wait is bounded by `step_timeout`; a failing step names itself.

#include <otpnet/socket/io.hpp>
#include <otpnet/socket/registry.hpp>
#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

#include "netinfo.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace otpnet::tools::netinfo {

namespace {

namespace so = otpnet::socket;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr std::chrono::milliseconds step_timeout = 5000ms;
constexpr std::size_t max_line = 4096;

/// The sockets of the check; any still open when it ends are closed.
struct sockets {
  so::socket listener, client, server;
  so::address listen_addr;
  sockets() = default;
  sockets(const sockets&) = delete;
  sockets& operator=(const sockets&) = delete;
  ~sockets() {
    for (const so::socket* s : {&server, &client, &listener}) {
      if (s->is_open()) {
        (void)so::close(*s);
      }
    }
  }
};

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// Waits for the event a `select` result promised, on this thread's own sink.
failure await_select(const std::string& step, const so::socket& s, const so::select_info& sel) {
  auto ev = so::wait_select(step_timeout);
  if (!ev) {
    return {step + " (waiting for its select event)", ev.error()};
  }
  if (ev->sock != s || ev->handle != sel.handle || ev->tag != sel.tag) {
    return {step + " (a select event for another call arrived)", errc::invalid};
  }
  if (ev->reason != errc::ok) {
    return {step + " (select aborted)", ev->reason};
  }
  return {};
}

/// Reads from `s` until `have` holds a newline; returns the line without it.
result<std::string> read_line(const so::socket& s, std::string have) {
  std::array<std::byte, 512> buf{};
  while (have.find('\n') == std::string::npos) {
    if (have.size() > max_line) {
      return fail(errc::emsgsize);
    }
    auto n = so::recv(s, buf, 0, step_timeout);
    if (!n) {
      return fail(n.error());
    }
    have.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  have.resize(have.find('\n'));
  return have;
}

failure open_listener(sockets& k, selfcheck_report& rep) {
  auto l = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
  if (!l) {
    return {"open (listener)", l.error()};
  }
  k.listener = *l;
  auto port = so::bind(k.listener, so::address::inet_loopback(0));
  if (!port) {
    return {"bind 127.0.0.1:0", port.error()};
  }
  if (auto r = so::listen(k.listener, 16); !r) {
    return {"listen", r.error()};
  }
  k.listen_addr = so::address::inet_loopback(*port);
  rep.listen = k.listen_addr.to_string();
  return {};
}

failure connect_nowait(sockets& k, selfcheck_report& rep) {
  auto c = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
  if (!c) {
    return {"open (client)", c.error()};
  }
  k.client = *c;
  auto t0 = clock_type::now();
  auto r = so::connect(k.client, k.listen_addr, so::nowait);
  if (r.is_error()) {
    return {"connect", r.error()};
  }
  if (r.is_completion()) {
    return {"connect (completion results are not handled)", errc::unsupported};
  }
  rep.connect.outcome = r.is_ok() ? "ok" : "select";
  if (const so::select_info* sel = r.select_info()) {
    rep.connect.tag = std::string(so::to_string(sel->tag));
    if (failure f = await_select("connect", k.client, *sel); f.failed()) {
      return f;
    }
    if (auto done = so::connect(k.client); !done) {
      return {"connect (finishing after the event)", done.error()};
    }
  }
  rep.connect.wait_ms = ms_since(t0);
  return {};
}

failure exchange_line(sockets& k, selfcheck_report& rep) {
  auto a = so::accept(k.listener, step_timeout);
  if (!a) {
    return {"accept", a.error()};
  }
  k.server = *a;
  std::array<std::byte, 512> buf{};
  auto t0 = clock_type::now();
  auto first = so::recv(k.server, buf, 0, so::nowait);  // nothing sent yet: expect select
  if (first.is_error()) {
    return {"recv (nowait)", first.error()};
  }
  rep.line = "hello from otpnet-netinfo";
  const std::string out = rep.line + "\n";
  auto sent = so::send(k.client, bytes_of(out), 0, step_timeout);
  if (!sent) {
    return {"send (client)", sent.error()};
  }
  rep.sent = *sent;
  std::string have;
  rep.recv.outcome = first.is_ok() ? "ok" : "select";
  if (const so::select_info* sel = first.select_info()) {
    rep.recv.tag = std::string(so::to_string(sel->tag));
    if (failure f = await_select("recv", k.server, *sel); f.failed()) {
      return f;
    }
    auto again = so::recv(k.server, buf, 0, so::nowait);
    if (!again.is_ok()) {
      return {"recv (repeated after the event)", again.is_error() ? again.error() : errc::invalid};
    }
    have.assign(reinterpret_cast<const char*>(buf.data()), again.value());
  } else {
    have.assign(reinterpret_cast<const char*>(buf.data()), first.value());
  }
  rep.recv.wait_ms = ms_since(t0);
  auto line = read_line(k.server, have);
  if (!line) {
    return {"recv (server)", line.error()};
  }
  const std::string echo = *line + "\n";
  if (auto r = so::send(k.server, bytes_of(echo), 0, step_timeout); !r) {
    return {"send (server)", r.error()};
  }
  auto back = read_line(k.client, {});
  if (!back) {
    return {"recv (client)", back.error()};
  }
  if (*back != rep.line) {
    return {"echo (the line came back changed)", errc::invalid};
  }
  rep.echoed = back->size() + 1;
  return {};
}

socket_report describe(const std::string& role, const so::socket& s) {
  socket_report r;
  r.role = role;
  if (auto a = so::sockname(s)) {
    r.local = a->to_string();
  }
  if (auto a = so::peername(s)) {
    r.peer = a->to_string();
  }
  if (auto i = so::info(s)) {
    for (std::string_view n : so::state_names(*i)) {
      r.state.emplace_back(n);
    }
    r.counters = i->counters;
  }
  return r;
}

failure close_all(sockets& k, selfcheck_report& rep) {
  rep.sockets = {describe("listener", k.listener), describe("client", k.client), describe("server", k.server)};
  rep.registered_during = so::number_of();
  for (const so::socket* s : {&k.server, &k.client, &k.listener}) {
    if (auto r = so::close(*s); !r) {
      return {"close", r.error()};
    }
  }
  if (auto twice = so::close(k.client); twice || twice.error() != errc::closed) {
    return {"close (a second close must be `closed`)", errc::invalid};
  }
  rep.registered_after = so::number_of();
  return {};
}

}  // namespace

selfcheck_report run_selfcheck() {
  selfcheck_report rep;
  sockets k;
  for (auto step : {open_listener, connect_nowait, exchange_line, close_all}) {
    rep.error = step(k, rep);
    if (rep.error.failed()) {
      break;
    }
  }
  return rep;
}

}  // namespace otpnet::tools::netinfo
