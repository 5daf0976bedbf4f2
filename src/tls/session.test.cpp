#include "otpnet/tls/session.hpp"

#include "tls/harness.test.hpp"

namespace otpnet::tls::test {
namespace {

class session_test : public tls_test {
 protected:
  /// The session of `client`'s connection (after it has read something).
  session session_of(pid client) {
    auto box = std::make_shared<session>();
    std::string r = call(client, [box](const gen_tcp::socket& s) {
      auto got = get_session(s);
      if (got) {
        *box = *got;
      }
      return outcome(got);
    });
    EXPECT_EQ(r, "ok");
    return *box;
  }
};

TEST_F(session_test, a_second_connection_resumes_the_first_ones_session) {
  for (version v : {version::tls1_3, version::tls1_2}) {
    context cctx = client_ctx({.max_version = v});
    std::uint16_t port = start_server({.ctx = server_ctx()});
    auto [s1, first] = connect_pair(port, {.ctx = cctx});
    EXPECT_FALSE(info_of(first).session_reused);
    // TLS 1.3 tickets come after the handshake: read once first.
    EXPECT_EQ(echo(first, "hello"), "hello");
    session saved = session_of(first);
    ASSERT_TRUE(saved) << "no session to resume";
    auto [s2, second] = connect_pair(port, {.ctx = cctx, .resume = saved});
    EXPECT_TRUE(info_of(second).session_reused);
    EXPECT_TRUE(info_of(s2).session_reused);
    EXPECT_EQ(info_of(second).peer_common_name, "server");
    EXPECT_EQ(echo(second, "resumed"), "resumed");
    (void)s1;
  }
}

TEST_F(session_test, without_tickets_nothing_is_resumed) {
  std::uint16_t port = start_server({.ctx = server_ctx({.session_tickets = false})});
  context cctx = client_ctx();
  auto [s1, first] = connect_pair(port, {.ctx = cctx});
  EXPECT_EQ(echo(first, "hello"), "hello");
  session saved = session_of(first);
  auto [s2, second] = connect_pair(port, {.ctx = cctx, .resume = saved});
  EXPECT_FALSE(info_of(second).session_reused);
  (void)s1;
  (void)s2;
}

TEST_F(session_test, get_session_is_for_the_owner_of_a_client_socket) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(call(server, [](const gen_tcp::socket& s) { return outcome(get_session(s)); }), "invalid");
  EXPECT_EQ(outcome(get_session(gen_tcp::socket{})), "closed");
  (void)client;
}

}  // namespace
}  // namespace otpnet::tls::test
