// File: support/loopback.hpp
//
// Helpers shared by the socket-level tests: a listening socket on
// 127.0.0.1:0 (never a fixed port), a connected pair over it, byte views of
// strings, and a count of this process's open descriptors for leak checks.
#pragma once

#include <otpnet/socket/io.hpp>
#include <otpnet/socket/socket.hpp>

#include "support/print.hpp"

#include <gtest/gtest.h>

#include <dirent.h>

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

/// Open descriptors of this process (entries of /proc/self/fd).
inline int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) {
      ++n;
    }
    ::closedir(d);
  }
  return n - 3;  // ".", ".." and the directory's own descriptor
}

}  // namespace otpnet::test
