#include "otpnet/tls/limits.hpp"

#include "tls/harness.test.hpp"

#include <thread>

namespace otpnet::tls::test {
namespace {

using limits_test = tls_test;

/// Polls until `pred` holds or `bound` passes (the count of handshakes in
/// progress is not announced by any message).
template <class Pred>
bool eventually(Pred pred, milliseconds bound = must) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST_F(limits_test, the_limit_is_settable_and_starts_at_its_default) {
  EXPECT_EQ(handshake_limit(), default_handshake_limit);
  set_handshake_limit(7);
  EXPECT_EQ(handshake_limit(), 7u);
  EXPECT_EQ(handshakes_in_progress(), 0u);
}

TEST_F(limits_test, above_the_cap_a_handshake_fails_at_once_with_busy) {
  set_handshake_limit(2);
  std::uint16_t port = start_server({.ctx = server_ctx(), .timeout = 1500ms});
  // Two silent peers hold the two slots.
  raw_peer a = raw_peer::connect(port);
  raw_peer b = raw_peer::connect(port);
  ASSERT_TRUE(eventually([] { return handshakes_in_progress() == 2; }));
  raw_peer c = raw_peer::connect(port);
  ev e = next({"server_failed"});
  EXPECT_EQ(e.reason, errc::busy) << "refused by the limit, not after a timeout";
  EXPECT_EQ(c.read_to_end().second, errc::closed);
  EXPECT_EQ(reports().count({"server handshake failed", "busy", "(the limit)"}), 1u) << reports().all();
  // The silent ones time out and give their slots back.
  EXPECT_EQ(next({"server_failed"}).reason, errc::timeout);
  EXPECT_EQ(next({"server_failed"}).reason, errc::timeout);
  EXPECT_TRUE(eventually([] { return handshakes_in_progress() == 0; }));
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(echo(client, "room again"), "room again");
  (void)server;
  (void)a;
  (void)b;
}

// handshake_statistics counts each handshake's end once, by how it ended,
// and the time of the successful ones.
TEST_F(limits_test, handshakes_are_counted_by_how_they_ended) {
  set_handshake_limit(1);
  const handshake_counts before = handshake_statistics();
  std::uint16_t port = start_server({.ctx = server_ctx(), .timeout = 1500ms});
  raw_peer silent = raw_peer::connect(port);
  ASSERT_TRUE(eventually([] { return handshakes_in_progress() == 1; }));
  raw_peer refused = raw_peer::connect(port);
  EXPECT_EQ(next({"server_failed"}).reason, errc::busy);
  EXPECT_EQ(next({"server_failed"}).reason, errc::timeout);
  ASSERT_TRUE(eventually([] { return handshakes_in_progress() == 0; }));
  set_handshake_limit(2);
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});  // a server and a client handshake
  EXPECT_EQ(echo(client, "counted"), "counted");
  raw_peer garbage = raw_peer::connect(port);
  ASSERT_TRUE(garbage.write("this is not a ClientHello at all\r\n\r\n"));
  errc bad = next({"server_failed"}).reason;
  EXPECT_NE(bad, errc::timeout);
  EXPECT_NE(bad, errc::busy);
  const handshake_counts after = handshake_statistics();
  EXPECT_EQ(after.refused - before.refused, 1U);
  EXPECT_EQ(after.timed_out - before.timed_out, 1U);
  EXPECT_EQ(after.succeeded - before.succeeded, 2U);
  EXPECT_EQ(after.failed - before.failed, 1U) << "the garbage: " << err_name(bad);
  EXPECT_EQ(after.cancelled - before.cancelled, 0U);
  EXPECT_EQ(after.duration.count - before.duration.count, 2U) << "only the successful ones are timed";
  EXPECT_GT(after.duration.sum_ns, before.duration.sum_ns);
  (void)server;
}

TEST_F(limits_test, a_flood_of_silent_peers_leaves_established_connections_alone) {
  constexpr int flood = 40;
  constexpr std::size_t cap = 16;
  set_handshake_limit(cap);
  // The timeout outlasts the flood's arrival even on a loaded machine, so
  // the first `cap` hold their slots while the rest are refused.
  std::uint16_t port = start_server({.ctx = server_ctx(), .timeout = 3000ms});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});
  std::vector<raw_peer> silent;
  for (int i = 0; i < flood; ++i) {
    silent.push_back(raw_peer::connect(port));
  }
  // While the flood holds every slot, the established connection echoes.
  for (int i = 0; i < 20; ++i) {
    std::string body = "echo " + std::to_string(i);
    EXPECT_EQ(echo(client, body), body);
    EXPECT_LE(handshakes_in_progress(), cap);
  }
  int busy = 0;
  int timeouts = 0;
  for (int i = 0; i < flood; ++i) {
    ev e = next({"server_failed"});
    busy += e.reason == errc::busy ? 1 : 0;
    timeouts += e.reason == errc::timeout ? 1 : 0;
  }
  EXPECT_EQ(busy + timeouts, flood);
  EXPECT_GE(busy, flood - static_cast<int>(cap));
  EXPECT_TRUE(eventually([] { return handshakes_in_progress() == 0; }));
  EXPECT_EQ(echo(client, "after the flood"), "after the flood");
  for (auto& p : silent) {
    p.close();
  }
  (void)server;
}

TEST_F(limits_test, a_limit_of_zero_refuses_every_handshake) {
  set_handshake_limit(0);
  std::uint16_t port = start_server({.ctx = server_ctx()});
  pid c = start_client(port, {.ctx = client_ctx()});
  // Both sides are refused; one of them may see the other's close first.
  errc client = next_from(c).reason;
  errc server = next({"server_failed"}).reason;
  EXPECT_TRUE(client == errc::busy || client == errc::closed) << err_name(client);
  EXPECT_TRUE(server == errc::busy || server == errc::closed) << err_name(server);
  EXPECT_TRUE(client == errc::busy || server == errc::busy);
  EXPECT_EQ(handshakes_in_progress(), 0u);
}

}  // namespace
}  // namespace otpnet::tls::test
