// File: tests/interop/echo_peer.cpp
//
// The otpnet side of the interop tests; the Python scripts beside it start
// it and talk to it with nothing but Python's socket and struct modules.
//
//   otpnet_interop_echo_peer server <packet>
//       Listens on 127.0.0.1:0 with {packet, P} and {active, once}, prints
//       the port on stdout, and echoes every frame of every connection (one
//       process per connection) until stdin closes.
//   otpnet_interop_echo_peer client <packet> <port> <size>[,<size>...]
//       Connects to 127.0.0.1:<port> with {packet, P}, passive, and sends
//       one frame per size: frame i of n bytes is interop_pattern(i, n). The
//       peer must answer each with the same bytes reversed. Prints "ok N" and
//       exits 0, or prints what differed and exits 1.
//
// <packet> is 1, 2, 4 or line (a line frame is the pattern and '\n').
#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace gt = otpnet::gen_tcp;
namespace so = otpnet::socket;

/// Frame i of n bytes (python: framing.pattern).
std::string interop_pattern(std::size_t i, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t j = 0; j < n; ++j) {
    s[j] = static_cast<char>('a' + (i * 7 + j) % 26);
  }
  return s;
}

int usage() {
  std::fprintf(stderr,
               "usage: otpnet_interop_echo_peer server <1|2|4|line>\n"
               "       otpnet_interop_echo_peer client <1|2|4|line> <port> <size>[,<size>...]\n");
  return 2;
}

/// Serves one connection: echoes each frame, {active, once} re-armed after each.
otpnet::proc echo(gt::socket s) {
  for (;;) {
    otpnet::message m = co_await otpnet::receive_any();
    if (auto* d = m.get_if<gt::tcp>()) {
      if (auto q = s.send(d->data); q && q->busy) {
        (void)co_await s.drained();
      }
      (void)s.setopts({.active = gt::once});
    } else if (auto* e = m.get_if<gt::tcp_error>()) {
      std::fprintf(stderr, "echo_peer: connection error: %s\n", otpnet::format_error(e->reason).c_str());
    } else if (m.is<gt::tcp_closed>()) {
      co_return;
    }
  }
}

/// Accepts connections, each handed to a process of its own.
otpnet::proc acceptor(gt::listen_socket ls) {
  for (;;) {
    auto s = co_await gt::accept(ls);
    if (!s) {
      if (s.error() == otpnet::errc::closed) {
        co_return;
      }
      continue;
    }
    otpnet::pid handler = otpnet::spawn([s = *s]() -> otpnet::proc { return echo(s); });
    if (!co_await s->controlling_process(handler)) {
      (void)s->close();
    }
  }
}

int run_server(gt::packet_type packet) {
  auto ls = gt::listen(so::address::inet_loopback(0), {.active = gt::once, .packet = packet});
  if (!ls) {
    std::fprintf(stderr, "echo_peer: listen: %s\n", otpnet::format_error(ls.error()).c_str());
    return 1;
  }
  otpnet::spawn([ls = *ls]() -> otpnet::proc { return acceptor(ls); });
  std::printf("%u\n", static_cast<unsigned>(ls->port));
  std::fflush(stdout);
  // Until stdin closes.
  while (std::cin.get() != std::char_traits<char>::eof()) {
  }
  return 0;
}

otpnet::proc client(gt::packet_type packet, std::uint16_t port, std::vector<std::size_t> sizes, otpnet::pid to) {
  auto s = co_await gt::connect(so::address::inet_loopback(port), {.active = gt::passive, .packet = packet}, 10000ms);
  if (!s) {
    otpnet::send(to, "connect: " + otpnet::format_error(s.error()));
    co_return;
  }
  const bool line = packet == gt::packet_type::line;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    std::string body = interop_pattern(i, sizes[i]);
    if (auto q = s->send(line ? body + "\n" : body); !q) {
      otpnet::send(to, "send: " + otpnet::format_error(q.error()));
      co_return;
    }
    auto r = co_await s->recv(0, 10000ms);
    if (!r) {
      otpnet::send(to, "frame " + std::to_string(i) + ": " + otpnet::format_error(r.error()));
      co_return;
    }
    std::string want(body.rbegin(), body.rend());
    if (line) {
      want += '\n';
    }
    if (r->view() != want) {
      otpnet::send(to, "frame " + std::to_string(i) + " of " + std::to_string(sizes[i]) + " bytes: got " +
                           std::to_string(r->size()) + " bytes, not the reversed frame");
      co_return;
    }
  }
  (void)s->close();
  otpnet::send(to, "ok " + std::to_string(sizes.size()));
}

int run_client(gt::packet_type packet, std::uint16_t port, std::vector<std::size_t> sizes) {
  std::string outcome = "no answer";
  {
    otpnet::mailbox mb;
    otpnet::spawn([packet, port, sizes, me = mb.self()]() -> otpnet::proc { return client(packet, port, sizes, me); });
    if (auto r = mb.receive<std::string>(30000ms)) {
      outcome = *r;
    }
  }
  std::printf("%s\n", outcome.c_str());
  return outcome.rfind("ok ", 0) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    return usage();
  }
  std::string mode = argv[1];
  gt::packet_type packet{};
  if (!gt::parse_packet_type(argv[2], packet) || packet == gt::packet_type::raw) {
    return usage();
  }
  if (!otpnet::runtime::start({.schedulers = 2})) {
    std::fprintf(stderr, "echo_peer: the runtime did not start\n");
    return 1;
  }
  int rc = 2;
  if (mode == "server" && argc == 3) {
    rc = run_server(packet);
  } else if (mode == "client" && argc == 5) {
    std::vector<std::size_t> sizes;
    std::stringstream list(argv[4]);
    for (std::string item; std::getline(list, item, ',');) {
      sizes.push_back(std::strtoull(item.c_str(), nullptr, 10));
    }
    rc = run_client(packet, static_cast<std::uint16_t>(std::atoi(argv[3])), std::move(sizes));
  } else {
    rc = usage();
  }
  otpnet::runtime::stop();
  return rc;
}
