// Tests of the dynamic ({"level", "name"} + option_value) and native
// (integer level and name) halves of option.hpp; the typed API is tested in
// option.test.cpp.
#include <otpnet/socket/option.hpp>

#include <support/loopback.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>

namespace otpnet::socket {
namespace {

using otpnet::test::open_ok;
using otpnet::test::socket_for;

errc error_of(const result<void>& r) { return r ? errc::ok : r.error(); }
template <class T>
errc error_of(const result<T>& r) {
  return r ? errc::ok : r.error();
}

// -- the table -------------------------------------------------------------------

TEST(option_dynamic, every_known_option_is_found_under_its_names) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const option_desc& d : known_options()) {
    EXPECT_TRUE(seen.emplace(to_string(d.level), d.name).second) << "twice: " << d.name;
    auto found = lookup_option(to_string(d.level), d.name);
    ASSERT_TRUE(found) << to_string(d.level) << "/" << d.name;
    EXPECT_EQ(found->native_level, d.native_level);
    EXPECT_EQ(found->native_name, d.native_name);
    EXPECT_EQ(found->kind, d.kind);
    EXPECT_EQ(found->access, d.access);
  }
  EXPECT_GE(seen.size(), 70u);
}

TEST(option_dynamic, lookup_maps_names_to_native_constants) {
  auto d = lookup_option("tcp", "nodelay");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->native_level, IPPROTO_TCP);
  EXPECT_EQ(d->native_name, TCP_NODELAY);
  EXPECT_EQ(d->kind, value_kind::boolean);
  auto g = lookup_option(option_name{"ipv6", "join_group"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->name, "add_membership");
  EXPECT_EQ(error_of(lookup_option("tcp", "nosuchoption")), errc::invalid);
  EXPECT_EQ(error_of(lookup_option("sctp", "nodelay")), errc::invalid);
  EXPECT_EQ(error_of(lookup_option("", "")), errc::invalid);
}

TEST(option_dynamic, names_of_levels_kinds_and_states) {
  EXPECT_EQ(to_string(option_level::ipv6), "ipv6");
  EXPECT_EQ(to_string(value_kind::linger), "linger");
  EXPECT_EQ(kind_of(option_value(std::uint64_t{1})), value_kind::uint64);
  EXPECT_EQ(kind_for<tcp_info>, value_kind::tcp_info);
  EXPECT_EQ(to_string(tcp_state::time_wait), "time_wait");
  EXPECT_EQ(to_string(static_cast<tcp_state>(0)), "unknown");
}

// -- get and set by name ---------------------------------------------------------

TEST(option_dynamic, get_and_set_by_name) {
  auto t = open_ok(domain::inet, type::stream);
  ASSERT_TRUE(setopt(t, {"tcp", "nodelay"}, true));
  auto v = getopt(t, {"tcp", "nodelay"});
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, option_value(true));
  ASSERT_TRUE(setopt(t, {"socket", "linger"}, linger{true, 3}));
  EXPECT_EQ(getopt(t, {"socket", "linger"}), option_value(linger{true, 3}));
  ASSERT_TRUE(setopt(t, {"tcp", "congestion"}, "reno"));  // a literal is a std::string
  EXPECT_EQ(getopt(t, {"tcp", "congestion"}), option_value(std::string("reno")));
  EXPECT_EQ(getopt(t, {"socket", "type"}), option_value(type::stream));
  EXPECT_EQ(getopt(t, {"otp", "fd"}), option_value(t.native_handle()));
}

TEST(option_dynamic, wrong_value_type_is_invalid) {
  auto t = open_ok(domain::inet, type::stream);
  EXPECT_EQ(error_of(setopt(t, {"tcp", "nodelay"}, 1)), errc::invalid);
  EXPECT_EQ(error_of(setopt(t, {"socket", "rcvbuf"}, true)), errc::invalid);
  EXPECT_EQ(error_of(setopt(t, {"socket", "bindtodevice"}, 7)), errc::invalid);
  EXPECT_EQ(error_of(setopt(t, {"otp", "owner"}, 7)), errc::invalid);  // owner is uint64
  EXPECT_EQ(error_of(setopt(t, {"socket", "rcvbuf"}, -5)), errc::invalid);
}

TEST(option_dynamic, unknown_names_and_wrong_direction_are_invalid) {
  auto t = open_ok(domain::inet, type::stream);
  EXPECT_EQ(error_of(getopt(t, {"tcp", "nosuchoption"})), errc::invalid);
  EXPECT_EQ(error_of(setopt(t, {"nosuchlevel", "nodelay"}, true)), errc::invalid);
  EXPECT_EQ(error_of(setopt(t, {"socket", "acceptconn"}, true)), errc::invalid);
  EXPECT_EQ(error_of(setopt(t, {"otp", "fd"}, 3)), errc::invalid);
  EXPECT_EQ(error_of(getopt(t, {"ip", "add_membership"})), errc::invalid);
}

TEST(option_dynamic, a_missing_constant_is_unsupported) {
  auto t = open_ok(domain::inet, type::stream);
  option_desc missing{option_level::socket, "missing", SOL_SOCKET, -1, value_kind::integer};
  EXPECT_EQ(error_of(setopt(t, missing, 1)), errc::unsupported);
  EXPECT_EQ(error_of(getopt(t, missing)), errc::unsupported);
  option_desc unknown_otp{option_level::otp, "nosuch", -1, 99, value_kind::integer};
  EXPECT_EQ(error_of(getopt(t, unknown_otp)), errc::invalid);
}

TEST(option_dynamic, every_readable_option_reads_as_its_kind) {
  for (const option_desc& d : known_options()) {
    if (!d.readable()) {
      continue;
    }
    auto s = socket_for(d);
    if (!s) {
      continue;  // no IPv6 here
    }
    auto v = getopt(s, d);
    if (v) {
      EXPECT_EQ(kind_of(*v), d.kind) << d.name;
    } else {
      // Only the MTUs need a connected socket; nothing else may fail.
      EXPECT_EQ(v.error(), errc::enotconn) << to_string(d.level) << "/" << d.name << ": " << err_name(v.error());
    }
  }
}

TEST(option_dynamic, every_value_read_is_accepted_back) {
  // Whatever getopt returns, setopt's own checks must accept: write each
  // read-write option back with the value just read.
  for (const option_desc& d : known_options()) {
    if (d.access != option_access::read_write) {
      continue;
    }
    auto s = socket_for(d);
    if (!s) {
      continue;
    }
    auto v = getopt(s, d);
    ASSERT_TRUE(v) << d.name;
    auto r = setopt(s, d, *v);
    if (!r) {
      // Privileged settings (mark) and ones the kernel refuses on this
      // socket type may fail, but never by our own validation.
      EXPECT_NE(r.error(), errc::invalid) << to_string(d.level) << "/" << d.name;
    }
  }
}

TEST(option_dynamic, closed_socket_gives_closed) {
  auto t = open_ok(domain::inet, type::stream);
  ASSERT_TRUE(close(t));
  EXPECT_EQ(error_of(getopt(t, {"tcp", "nodelay"})), errc::closed);
  EXPECT_EQ(error_of(setopt(t, {"tcp", "nodelay"}, true)), errc::closed);
}

// -- native ----------------------------------------------------------------------

TEST(option_native, keepalive_as_integer_and_boolean) {
  auto t = open_ok(domain::inet, type::stream);
  ASSERT_TRUE(setopt_native(t, SOL_SOCKET, SO_KEEPALIVE, 1));
  EXPECT_EQ(getopt_native(t, SOL_SOCKET, SO_KEEPALIVE, native_type::integer()), native_value(1));
  EXPECT_EQ(getopt_native(t, SOL_SOCKET, SO_KEEPALIVE, native_type::boolean()), native_value(true));
  EXPECT_EQ(getopt(t, opt::socket::keepalive), true);
  ASSERT_TRUE(setopt_native(t, SOL_SOCKET, SO_KEEPALIVE, false));
  EXPECT_EQ(getopt_native(t, SOL_SOCKET, SO_KEEPALIVE, native_type::integer()), native_value(0));
}

TEST(option_native, nodelay_set_typed_read_native) {
  auto t = open_ok(domain::inet, type::stream);
  ASSERT_TRUE(setopt(t, opt::tcp::nodelay, true));
  EXPECT_EQ(getopt_native(t, IPPROTO_TCP, TCP_NODELAY, native_type::boolean()), native_value(true));
}

TEST(option_native, linger_as_bytes) {
  auto t = open_ok(domain::inet, type::stream);
  ASSERT_TRUE(setopt(t, opt::socket::linger, linger{true, 7}));
  auto v = getopt_native(t, SOL_SOCKET, SO_LINGER, native_type::binary(sizeof(::linger)));
  ASSERT_TRUE(v);
  const auto& bytes = std::get<std::vector<std::byte>>(*v);
  ASSERT_EQ(bytes.size(), sizeof(::linger));
  ::linger l{};
  std::memcpy(&l, bytes.data(), sizeof l);
  EXPECT_EQ(l.l_onoff, 1);
  EXPECT_EQ(l.l_linger, 7);
  l.l_linger = 9;
  std::vector<std::byte> out(sizeof l);
  std::memcpy(out.data(), &l, sizeof l);
  ASSERT_TRUE(setopt_native(t, SOL_SOCKET, SO_LINGER, out));
  EXPECT_EQ(getopt(t, opt::socket::linger), (linger{true, 9}));
  // A larger buffer comes back cut to what the kernel wrote.
  auto big = getopt_native(t, SOL_SOCKET, SO_LINGER, native_type::binary(64));
  ASSERT_TRUE(big);
  EXPECT_EQ(std::get<std::vector<std::byte>>(*big).size(), sizeof(::linger));
}

TEST(option_native, bad_input_gives_named_errors) {
  auto t = open_ok(domain::inet, type::stream);
  EXPECT_EQ(error_of(getopt_native(t, SOL_SOCKET, SO_LINGER, native_type::binary(max_native_size + 1))), errc::invalid);
  EXPECT_EQ(error_of(getopt_native(t, SOL_SOCKET, 9999, native_type::integer())), errc::enoprotoopt);
  EXPECT_EQ(error_of(setopt_native(t, SOL_SOCKET, 9999, 1)), errc::enoprotoopt);
  EXPECT_EQ(error_of(setopt_native(t, SOL_SOCKET, SO_LINGER, std::vector<std::byte>(1))), errc::einval);
  EXPECT_EQ(error_of(setopt_native(t, -12345, 1, 1)), errc::enoprotoopt);
  ASSERT_TRUE(close(t));
  EXPECT_EQ(error_of(setopt_native(t, SOL_SOCKET, SO_KEEPALIVE, 1)), errc::closed);
  EXPECT_EQ(error_of(getopt_native(t, SOL_SOCKET, SO_KEEPALIVE, native_type::integer())), errc::closed);
}

}  // namespace
}  // namespace otpnet::socket
