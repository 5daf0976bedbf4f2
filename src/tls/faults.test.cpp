// Peers that do not speak TLS properly, and certificates that must be
// refused: each failure stays with its own connection (a clear error, one
// report line, the socket closed) while an established TLS connection of
// the same server goes on echoing.
#include "otpnet/tls/handshake.hpp"

#include "tls/harness.test.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

namespace otpnet::tls::test {
namespace {

/// The first flight of a real TLS client (its ClientHello), made with
/// memory BIOs.
std::string client_hello_bytes() {
  SSL_CTX* c = SSL_CTX_new(TLS_client_method());
  SSL* s = SSL_new(c);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(s, in, out);
  SSL_set_connect_state(s);
  (void)SSL_do_handshake(s);  // wants to read: the hello is written
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<std::size_t>(n));
  SSL_free(s);
  SSL_CTX_free(c);
  return hello;
}

class faults_test : public tls_test {
 protected:
  // Long enough for the fixture's own handshake on a loaded machine.
  static constexpr milliseconds handshake_timeout = 2000ms;

  void SetUp() override {
    tls_test::SetUp();
    port_ = start_server({.ctx = server_ctx(), .timeout = handshake_timeout});
    auto [server, client] = connect_pair(port_, {.ctx = client_ctx()});
    bystander_ = client;
    EXPECT_EQ(echo(bystander_, "before"), "before");
  }

  /// The established connection is unaffected.
  void expect_undisturbed() {
    EXPECT_EQ(echo(bystander_, "after"), "after");
    EXPECT_EQ(info_of(bystander_).peer_common_name, "server");
  }

  /// The server handler's verdict on the next connection.
  ev server_verdict() { return next({"server_ok", "server_failed"}); }

  std::uint16_t port_ = 0;
  pid bystander_;
};

TEST_F(faults_test, plaintext_to_the_tls_port) {
  raw_peer p = raw_peer::connect(port_);
  ASSERT_TRUE(p.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ev e = server_verdict();
  EXPECT_EQ(e.kind, "server_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("http request"), std::string::npos) << e.detail;
  auto [bytes, end] = p.read_to_end();
  EXPECT_TRUE(end == errc::closed || end == errc::econnreset) << err_name(end);
  EXPECT_EQ(reports().count({"server handshake failed", "tls_error", "http request"}), 1u) << reports().all();
  expect_undisturbed();
}

TEST_F(faults_test, garbage_instead_of_a_hello) {
  raw_peer p = raw_peer::connect(port_);
  std::string junk;
  for (int i = 0; i < 64; ++i) {
    junk.push_back(static_cast<char>((i * 73 + 41) & 0xff));
  }
  ASSERT_TRUE(p.write(junk));
  ev e = server_verdict();
  EXPECT_EQ(e.kind, "server_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("error:"), std::string::npos) << e.detail;
  EXPECT_EQ(reports().count({"server handshake failed", "tls_error"}), 1u) << reports().all();
  EXPECT_NE(p.read_to_end().second, errc::timeout);
  expect_undisturbed();
}

TEST_F(faults_test, a_hello_that_is_not_one) {
  // A handshake record whose body is nonsense.
  raw_peer p = raw_peer::connect(port_);
  ASSERT_TRUE(p.write(std::string("\x16\x03\x01\x00\x08", 5) + "nonsense"));
  ev e = server_verdict();
  EXPECT_EQ(e.kind, "server_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  expect_undisturbed();
}

TEST_F(faults_test, a_silent_peer_times_out) {
  raw_peer p = raw_peer::connect(port_);
  auto t0 = std::chrono::steady_clock::now();
  ev e = server_verdict();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(e.kind, "server_failed");
  EXPECT_EQ(e.reason, errc::timeout);
  EXPECT_NE(e.detail.find("silent or too slow"), std::string::npos) << e.detail;
  // (The server's clock starts at its accept, which may come before t0
  // when this thread is descheduled after connect: a loose lower bound.)
  EXPECT_GE(waited, handshake_timeout / 2);
  EXPECT_EQ(p.read_to_end().second, errc::closed);
  EXPECT_EQ(reports().count({"server handshake failed", "timeout"}), 1u) << reports().all();
  expect_undisturbed();
}

TEST_F(faults_test, a_peer_that_stalls_in_the_middle_of_its_hello_times_out) {
  std::string hello = client_hello_bytes();
  ASSERT_GT(hello.size(), 40u);
  raw_peer p = raw_peer::connect(port_);
  ASSERT_TRUE(p.write(std::string_view(hello).substr(0, hello.size() / 2)));
  ev e = server_verdict();
  EXPECT_EQ(e.kind, "server_failed");
  EXPECT_EQ(e.reason, errc::timeout);
  expect_undisturbed();
}

TEST_F(faults_test, a_peer_that_leaves_in_the_middle_of_the_handshake) {
  // A passive listener: the socket reads nothing before the handshake does,
  // so it is the handshake that sees the end.
  std::uint16_t port = start_server({.ctx = server_ctx(), .timeout = handshake_timeout}, {.active = gen_tcp::passive});
  std::string hello = client_hello_bytes();
  {
    raw_peer p = raw_peer::connect(port);
    ASSERT_TRUE(p.write(std::string_view(hello).substr(0, 20)));
    p.close();
    ev e = server_verdict();
    EXPECT_EQ(e.kind, "server_failed");
    EXPECT_EQ(e.reason, errc::closed);
    EXPECT_NE(e.detail.find("the peer closed the connection"), std::string::npos) << e.detail;
  }
  {
    raw_peer p = raw_peer::connect(port);
    ASSERT_TRUE(p.write(std::string_view(hello).substr(0, 20)));
    ASSERT_TRUE(so::setopt(p.s, so::opt::socket::linger, so::linger{true, 0}));
    p.close();
    ev e = server_verdict();
    EXPECT_EQ(e.kind, "server_failed");
    EXPECT_EQ(e.reason, errc::econnreset);
  }
  EXPECT_EQ(reports().count({"server handshake failed"}), 2u) << reports().all();
  expect_undisturbed();
}

TEST_F(faults_test, an_expired_server_certificate_is_refused_by_the_client) {
  std::uint16_t bad = start_server({.ctx = server_ctx({.cert = certs().expired("old", "old")})});
  pid c = start_client(bad, {.ctx = client_ctx()});
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("certificate has expired"), std::string::npos) << e.detail;
  ev s = server_verdict();
  EXPECT_EQ(s.kind, "server_failed");
  EXPECT_NE(s.detail.find("certificate expired"), std::string::npos) << s.detail;
  EXPECT_EQ(reports().count({"client handshake failed", "certificate has expired"}), 1u) << reports().all();
  expect_undisturbed();
}

TEST_F(faults_test, a_self_signed_server_certificate_is_refused_by_the_client) {
  std::uint16_t bad = start_server({.ctx = server_ctx({.cert = certs().self_signed("self", "self")})});
  pid c = start_client(bad, {.ctx = client_ctx()});
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("self-signed certificate"), std::string::npos) << e.detail;
  EXPECT_EQ(server_verdict().kind, "server_failed");
  EXPECT_EQ(reports().count({"client handshake failed", "self-signed"}), 1u) << reports().all();
  expect_undisturbed();
}

TEST_F(faults_test, a_client_that_does_not_verify_accepts_anything) {
  std::uint16_t bad = start_server({.ctx = server_ctx({.cert = certs().self_signed("self", "self")})});
  auto ctx = context::client({.verify = verify_mode::none});
  ASSERT_TRUE(ctx);
  auto [server, client] = connect_pair(bad, {.ctx = *ctx});
  connection_info ci = info_of(client);
  EXPECT_EQ(ci.peer_common_name, "self");
  EXPECT_FALSE(ci.peer_verified);
  (void)server;
  expect_undisturbed();
}

TEST_F(faults_test, a_tls_client_against_a_plaintext_server) {
  // The other way round: the server speaks plain TCP (it echoes the hello).
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::once});
  ASSERT_TRUE(ls);
  spawn([ls = *ls]() -> proc {
    auto s = co_await gen_tcp::accept(ls, must);
    if (s) {
      (void)s->send("HTTP/1.1 400 Bad Request\r\n\r\n");
      co_await sleep(must);
    }
  });
  pid c = start_client(ls->port, {.ctx = client_ctx()});
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("wrong version number"), std::string::npos) << e.detail;
  expect_undisturbed();
}

}  // namespace
}  // namespace otpnet::tls::test
