// File: net/addresses.test.hpp
//
// Socket addresses built from literals, for the net layer's tests.
#pragma once

#include <otpnet/net/sockaddr_value.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>

namespace otpnet::net::test {

/// The IPv4 address `ip` (a dotted quad) and `port`.
inline sockaddr_value v4(const char* ip, std::uint16_t port) {
  ::sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  EXPECT_EQ(::inet_pton(AF_INET, ip, &in.sin_addr), 1);
  return *sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&in), sizeof in);
}

}  // namespace otpnet::net::test
