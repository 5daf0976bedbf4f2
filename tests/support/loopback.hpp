// File: support/loopback.hpp
//
// Helpers shared by the socket-level tests: a listening socket on
// 127.0.0.1:0 (never a fixed port), a connected pair over it, a socket an
// option applies to, byte views of strings, and (support/fds.hpp) a count
// of this process's open descriptors.
#pragma once

#include <otpnet/socket/io.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/socket/socket.hpp>

#include "support/fds.hpp"
#include "support/print.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace otpnet::test {

namespace so = otpnet::socket;

inline std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

inline std::string text(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// A TCP socket listening on 127.0.0.1 at a port the kernel chose.
struct listener {
  so::socket sock;
  std::uint16_t port = 0;
  so::address addr() const { return so::address::inet_loopback(port); }
};

inline listener listen_loopback(int backlog = 128) {
  listener l;
  auto s = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
  EXPECT_TRUE(s) << otpnet::format_error(s.error());
  l.sock = *s;
  auto p = so::bind(l.sock, so::address::inet_loopback(0));
  EXPECT_TRUE(p) << otpnet::format_error(p.error());
  l.port = p.value_or(0);
  EXPECT_TRUE(so::listen(l.sock, backlog));
  return l;
}

/// A socket of domain `d` and type `t`; failing to open one fails the test
/// (the socket is then empty).
inline so::socket open_ok(so::domain d, so::type t, so::protocol p = so::protocol::default_) {
  auto s = so::open(d, t, p);
  EXPECT_TRUE(s) << otpnet::format_error(s.error());
  return s.value_or(so::socket{});
}

/// A socket to which option `d` applies; empty where none of its level's
/// domain opens. With `required`, an IPv4 or local socket that does not
/// open fails the test (only IPv6 may be missing here).
inline so::socket socket_for(const so::option_desc& d, bool required = true) {
  auto open_as = [required](so::domain dom, so::type t) {
    return required ? open_ok(dom, t) : so::open(dom, t).value_or(so::socket{});
  };
  if (d.level == so::option_level::socket && (d.name == "passcred" || d.name == "peek_off")) {
    return open_as(so::domain::local, so::type::stream);
  }
  switch (d.level) {
    case so::option_level::ip:
    case so::option_level::udp:
      return open_as(so::domain::inet, so::type::dgram);
    case so::option_level::ipv6:
      return so::open(so::domain::inet6, so::type::dgram).value_or(so::socket{});
    default:
      return open_as(so::domain::inet, so::type::stream);
  }
}

/// A connected TCP pair over loopback: {client, server side}.
inline std::pair<so::socket, so::socket> connected_pair() {
  auto l = listen_loopback();
  auto c = so::open(so::domain::inet, so::type::stream);
  EXPECT_TRUE(c);
  EXPECT_TRUE(so::connect(*c, l.addr(), std::chrono::milliseconds(5000)));
  auto a = so::accept(l.sock, std::chrono::milliseconds(5000));
  EXPECT_TRUE(a) << otpnet::format_error(a.error());
  return {*c, a.value_or(so::socket{})};
}

}  // namespace otpnet::test
