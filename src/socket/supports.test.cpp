#include <otpnet/socket/option.hpp>
#include <otpnet/socket/socket.hpp>
#include <otpnet/socket/supports.hpp>

#include <support/loopback.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::socket {
namespace {

using otpnet::test::socket_for;

bool opens(domain d, type t, protocol p = protocol::default_) {
  auto s = open(d, t, p);
  return s && close(*s);
}

bool listed(const std::vector<feature>& list, std::string_view name) {
  return std::any_of(list.begin(), list.end(), [&](const feature& f) { return f.name == name; });
}

/// Some value of kind `k`, for set attempts whose outcome is all we look at.
option_value some_value(value_kind k) {
  switch (k) {
    case value_kind::boolean:
      return false;
    case value_kind::integer:
      return 0;
    case value_kind::string:
      return std::string();
    case value_kind::ip_mreq:
      return ip_mreq{};
    case value_kind::ipv6_mreq:
      return ipv6_mreq{};
    default:
      return 0;
  }
}

TEST(supports, features_agree_with_what_opens) {
  auto f = supports();
  for (auto name : {"sctp", "ipv6", "local", "netns", "sendfile", "sendmsg", "recvmsg"}) {
    EXPECT_TRUE(listed(f, name)) << name;
  }
  EXPECT_EQ(is_supported("ipv6"), opens(domain::inet6, type::dgram));
  EXPECT_EQ(is_supported("local"), opens(domain::local, type::stream));
  EXPECT_EQ(is_supported("sctp"), opens(domain::inet, type::stream, protocol::sctp));
  EXPECT_FALSE(is_supported("netns"));
  EXPECT_FALSE(is_supported("nosuchfeature"));
}

TEST(supports, msg_flags_are_listed) {
  auto f = supports(msg_flags);
  for (auto name : {"cmsg_cloexec", "confirm", "ctrunc", "dontroute", "eor", "errqueue", "more", "oob", "peek", "trunc",
                    "waitall"}) {
    EXPECT_TRUE(listed(f, name)) << name;
    EXPECT_TRUE(is_supported(msg_flags, name)) << name;  // Linux has them all
  }
  EXPECT_FALSE(is_supported(msg_flags, "nosuchflag"));
}

TEST(supports, protocols_agree_with_what_opens) {
  EXPECT_TRUE(is_supported(protocols, "tcp"));
  EXPECT_TRUE(is_supported(protocols, "udp"));
  EXPECT_TRUE(is_supported(protocols, "ip"));
  EXPECT_EQ(is_supported(protocols, "ipv6"), opens(domain::inet6, type::dgram));
  EXPECT_EQ(is_supported(protocols, "sctp"), opens(domain::inet, type::stream, protocol::sctp));
  EXPECT_TRUE(listed(supports(protocols), "raw"));
  EXPECT_FALSE(is_supported(protocols, "nosuchprotocol"));
}

TEST(supports, options_list_every_known_option) {
  auto list = supports(options);
  auto known = known_options();
  ASSERT_EQ(list.size(), known.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].option, (option_name{to_string(known[i].level), known[i].name}));
    EXPECT_EQ(list[i].supported, is_supported(options, list[i].option));
    EXPECT_EQ(list[i].supported, is_supported(known[i]));
    if (known[i].level == option_level::otp) {
      EXPECT_TRUE(list[i].supported) << known[i].name;
    }
  }
  EXPECT_EQ(is_supported(opt::udp::segment), is_supported(options, {"udp", "segment"}));
  EXPECT_FALSE(is_supported(options, {"tcp", "nosuchoption"}));
}

TEST(supports, options_said_supported_work_and_the_others_fail) {
  for (const option_desc& d : known_options()) {
    auto s = socket_for(d, false);  // may be empty: that is what the test checks
    bool yes = is_supported(d);
    if (!s) {
      EXPECT_FALSE(yes) << d.name << ": supported, yet no socket of its level opens";
      continue;
    }
    std::string what = std::string(to_string(d.level)) + "/" + std::string(d.name);
    if (yes && d.readable()) {
      auto v = getopt(s, d);
      if (!v) {
        EXPECT_NE(v.error(), errc::enoprotoopt) << what;
        EXPECT_NE(v.error(), errc::eopnotsupp) << what;
        EXPECT_NE(v.error(), errc::unsupported) << what;
      }
    } else if (yes) {
      auto r = setopt(s, d, some_value(d.kind));
      if (!r) {
        EXPECT_NE(r.error(), errc::enoprotoopt) << what;
        EXPECT_NE(r.error(), errc::unsupported) << what;
      }
    } else if (d.writable()) {
      EXPECT_FALSE(setopt(s, d, some_value(d.kind))) << what << ": unsupported, yet it can be set";
    } else {
      EXPECT_FALSE(getopt(s, d)) << what << ": unsupported, yet it can be read";
    }
  }
}

TEST(supports, an_option_the_kernel_lacks_is_unsupported_and_cannot_be_set) {
  option_desc bogus{option_level::socket, "bogus", SOL_SOCKET, 9999, value_kind::integer};
  EXPECT_FALSE(is_supported(bogus));
  auto s = open(domain::inet, type::stream);
  ASSERT_TRUE(s);
  auto r = setopt(*s, bogus, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::enoprotoopt);
  option_desc missing{option_level::tcp, "missing", IPPROTO_TCP, -1, value_kind::integer};
  EXPECT_FALSE(is_supported(missing));
  EXPECT_EQ(setopt(*s, missing, 1).error(), errc::unsupported);
}

TEST(supports, first_use_from_many_threads_agrees) {
  // The probes run once, on whichever thread comes first; all must see the
  // same answers (and TSan must see no race).
  std::vector<std::vector<option_support>> seen(8);
  std::vector<std::thread> threads;
  for (auto& out : seen) {
    threads.emplace_back([&out] { out = supports(options); });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& s : seen) {
    EXPECT_EQ(s, seen.front());
  }
}

}  // namespace
}  // namespace otpnet::socket
