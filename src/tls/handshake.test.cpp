#include "otpnet/tls/handshake.hpp"

#include <otpnet/runtime/port.hpp>

#include "tls/harness.test.hpp"

namespace otpnet::tls::test {
namespace {

using handshake_test = tls_test;

TEST_F(handshake_test, server_and_client_exchange_packet_2_frames_with_active_once) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(echo(client, "one"), "one");
  std::string big(40000, 'x');
  EXPECT_TRUE(echo(client, big) == big);  // several records each way
  EXPECT_EQ(echo(client, "three"), "three");
  // The server handler saw the same frames, as ssl messages.
  for (const char* want : {"one", "", "three"}) {
    ev e = next_from(server);
    EXPECT_EQ(e.kind, "ssl");
    if (*want != '\0') {
      EXPECT_EQ(e.data, want);
    }
  }
  connection_info ci = info_of(client);
  EXPECT_EQ(ci.protocol, "TLSv1.3");
  EXPECT_EQ(ci.peer_common_name, "server");
  EXPECT_TRUE(ci.peer_verified);
  EXPECT_FALSE(ci.session_reused);
  EXPECT_EQ(call(client, [](const gen_tcp::socket& s) { return s.is_tls() ? "tls" : "tcp"; }), "tls");
  // The client closes: close_notify, and the server sees ssl_closed.
  send(client, stop_cmd{});
  EXPECT_EQ(next_from(server).kind, "closed");
  EXPECT_EQ(handshakes_in_progress(), 0u);
}

TEST_F(handshake_test, tls_1_2_negotiates_a_forward_secret_aead_suite) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx({.max_version = version::tls1_2})});
  connection_info ci = info_of(client);
  EXPECT_EQ(ci.protocol, "TLSv1.2");
  EXPECT_EQ(ci.cipher.rfind("ECDHE-", 0), 0u) << ci.cipher;
  EXPECT_NE(ci.cipher.find("GCM"), std::string::npos) << ci.cipher;
  EXPECT_EQ(echo(client, "over 1.2"), "over 1.2");
  (void)server;
}

TEST_F(handshake_test, line_frames_and_active_true_survive_the_upgrade) {
  server_setup s{.ctx = server_ctx()};
  std::uint16_t port = start_server(s, {.active = gen_tcp::always, .packet = gen_tcp::packet_type::line});
  client_setup c{.ctx = client_ctx(), .opts = {.active = gen_tcp::always, .packet = gen_tcp::packet_type::line}};
  auto [server, client] = connect_pair(port, c);
  EXPECT_EQ(call(client, [](const gen_tcp::socket& s) { return outcome(s.send("a\nb\nc\n")); }), "ok");
  std::string got;
  for (int i = 0; i < 3; ++i) {
    got += next_from(client).data;
  }
  EXPECT_EQ(got, "a\nb\nc\n");
  (void)server;
}

TEST_F(handshake_test, passive_recv_works_on_a_tls_socket) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  client_setup c{.ctx = client_ctx(), .opts = {.active = gen_tcp::passive, .packet = gen_tcp::packet_type::u2}};
  auto [server, client] = connect_pair(port, c);
  send(client, acmd{[](gen_tcp::socket s) -> task<std::string> {
         (void)s.send("ping");
         auto r = co_await s.recv(0, must);
         co_return r ? r->str() : "error:" + std::string(err_name(r.error()));
       }});
  auto r = mb().receive<ev>(must, [](const ev& e) { return e.kind == "reply"; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, "ping");
  (void)server;
}

TEST_F(handshake_test, a_tls_socket_moves_to_a_process_on_the_other_scheduler) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});
  int here = otpnet::detail::scheduler_of(client);
  ASSERT_GE(here, 0);
  pid heir = spawn_opt({.scheduler = 1 - here}, [to = me()]() -> proc {
               take t = co_await receive<take>();
               co_await serve(t.sock, to, false, true, 0);
             }).first;
  send(client, acmd{[heir](gen_tcp::socket s) -> task<std::string> {
         auto r = co_await s.controlling_process(heir);
         if (r) {
           send(heir, take{s});
         }
         co_return outcome(r);
       }});
  auto r = mb().receive<ev>(must, [](const ev& e) { return e.kind == "reply"; });
  ASSERT_TRUE(r);
  ASSERT_EQ(r->data, "ok");
  EXPECT_EQ(echo(heir, "from the other scheduler"), "from the other scheduler");
  EXPECT_EQ(info_of(heir).peer_common_name, "server");
  (void)server;
}

/// An active socket may deliver the client's first bytes as a tcp message
/// before its owner starts the handshake: they are taken back.
TEST_F(handshake_test, bytes_already_delivered_as_tcp_messages_are_taken_back) {
  context sctx = server_ctx();
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::always});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, sctx, to = me()]() -> proc {
    auto s = co_await gen_tcp::accept(ls, must);
    if (!s) {
      co_return;
    }
    // Wait for the first bytes to arrive as a tcp message, then put it back.
    auto first = co_await receive<gen_tcp::tcp>(after(must));
    if (!first) {
      co_return;
    }
    send(self(), std::move(*first));
    auto r = co_await handshake(*s, sctx, must);
    send(to, ev{r ? "server_ok" : "server_failed", self(), {}, r ? errc::ok : r.error(), last_error()});
    if (r) {
      co_await serve(*s, to, true, false, 0);
    }
  });
  auto [server, client] = connect_pair(ls->port, {.ctx = client_ctx()});
  EXPECT_EQ(echo(client, "after the upgrade"), "after the upgrade");
  (void)server;
}

/// A STARTTLS-style upgrade: bytes sent just before the client's handshake
/// reach the server before the handshake's first bytes (on io_uring a send
/// may still wait for the loop's next system call when the handshake
/// starts; the upgrade writes it out first).
TEST_F(handshake_test, bytes_sent_just_before_the_upgrade_go_out_before_the_handshake) {
  context sctx = server_ctx();
  context cctx = client_ctx();
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::passive});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, sctx, to = me()]() -> proc {
    auto s = co_await gen_tcp::accept(ls, must);
    if (!s) {
      co_return;
    }
    auto plain = co_await s->recv(8, must);
    send(to, ev{"reply", self(), plain ? plain->str() : "error:" + std::string(err_name(plain.error()))});
    auto r = co_await handshake(*s, sctx, must);
    send(to, ev{r ? "server_ok" : "server_failed", self(), {}, r ? errc::ok : r.error(), last_error()});
  });
  spawn([port = ls->port, cctx, to = me()]() -> proc {
    auto s = co_await gen_tcp::connect(so::address::inet_loopback(port), {.active = gen_tcp::passive}, must);
    if (!s) {
      co_return;
    }
    (void)s->send("STARTTLS");
    auto r = co_await connect_handshake(*s, cctx, must, {});
    send(to, ev{r ? "client_ok" : "client_failed", self(), {}, r ? errc::ok : r.error(), last_error()});
  });
  auto plain = mb().receive<ev>(must, [](const ev& e) { return e.kind == "reply"; });
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->data, "STARTTLS");
  auto server = mb().receive<ev>(must, [](const ev& e) { return e.kind.rfind("server_", 0) == 0; });
  ASSERT_TRUE(server);
  EXPECT_EQ(server->kind, "server_ok") << server->detail;
  auto client = mb().receive<ev>(must, [](const ev& e) { return e.kind.rfind("client_", 0) == 0; });
  ASSERT_TRUE(client);
  EXPECT_EQ(client->kind, "client_ok") << client->detail;
}

/// Tells the server of the next test that the client has queued its
/// plaintext and is starting its handshake.
struct upgrade_begins {};

/// More plaintext than the kernel takes at once, queued just before the
/// client's handshake, to a server that reads it only after that: the
/// handshake waits until it has all left, so the server reads it whole and
/// in order, then the handshake. (The handshake wrote its hello past the
/// queue, into the plaintext, as soon as the server read some.)
TEST_F(handshake_test, plaintext_queued_beyond_the_socket_buffer_leaves_before_the_handshake) {
  constexpr std::size_t total = std::size_t{4} << 20;
  auto byte_at = [](std::size_t i) { return static_cast<char>('a' + i % 23); };
  context sctx = server_ctx();
  context cctx = client_ctx();
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::passive});
  ASSERT_TRUE(ls);
  pid server = spawn([ls = *ls, sctx, byte_at, to = me()]() -> proc {
    auto s = co_await gen_tcp::accept(ls, must);
    if (!s) {
      co_return;
    }
    (void)co_await receive<upgrade_begins>(after(must));
    std::size_t got = 0;
    std::string first_wrong;
    while (got < total) {
      auto b = co_await s->recv(std::min<std::size_t>(1024, total - got), must);
      if (!b) {
        first_wrong = "recv: " + std::string(err_name(b.error()));
        break;
      }
      std::string_view v = b->view();
      for (std::size_t i = 0; i < v.size() && first_wrong.empty(); ++i) {
        if (v[i] != byte_at(got + i)) {
          first_wrong = "byte " + std::to_string(got + i) + " (" +
                        std::to_string(static_cast<int>(static_cast<unsigned char>(v[i]))) + ")";
        }
      }
      got += v.size();
      if (!first_wrong.empty()) {
        break;
      }
    }
    send(to, ev{"reply", self(), first_wrong.empty() ? "plaintext whole" : first_wrong});
    auto r = co_await handshake(*s, sctx, must);
    send(to, ev{r ? "server_ok" : "server_failed", self(), {}, r ? errc::ok : r.error(), last_error()});
  });
  spawn([port = ls->port, cctx, server, byte_at, to = me()]() -> proc {
    auto s =
        co_await gen_tcp::connect(so::address::inet_loopback(port), {.active = gen_tcp::passive, .sndbuf = 4096}, must);
    if (!s) {
      co_return;
    }
    std::string plain(total, ' ');
    for (std::size_t i = 0; i < total; ++i) {
      plain[i] = byte_at(i);
    }
    auto q = s->send(plain);
    send(to, ev{"queued", self(), q ? std::to_string(q->bytes) : "error:" + std::string(err_name(q.error()))});
    send(server, upgrade_begins{});
    auto r = co_await connect_handshake(*s, cctx, must, {});
    send(to, ev{r ? "client_ok" : "client_failed", self(), {}, r ? errc::ok : r.error(), last_error()});
  });
  ev queued = next({"queued"});
  ASSERT_NE(queued.data.rfind("error", 0), 0u) << queued.data;
  EXPECT_GT(std::stoull(queued.data), 0u) << "the kernel took it all: nothing was queued at the handshake";
  EXPECT_EQ(next({"reply"}).data, "plaintext whole");
  ev srv = next({"server_ok", "server_failed"});
  EXPECT_EQ(srv.kind, "server_ok") << srv.detail;
  ev cl = next({"client_ok", "client_failed"});
  EXPECT_EQ(cl.kind, "client_ok") << cl.detail;
}

/// A peer that never read resets while the handshake waits for the
/// plaintext queued before it to leave: the handshake fails with the
/// error, closes the socket and writes its report line, and the owner gets
/// no tcp_error or tcp_closed besides (the failure is the handshake's to
/// tell; the port delivered both before).
TEST_F(handshake_test, a_reset_while_plaintext_waits_to_leave_fails_the_handshake_and_nothing_else) {
  context sctx = server_ctx();
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::passive});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, sctx, to = me()]() -> proc {
    auto s = co_await gen_tcp::accept(ls, must);
    if (!s) {
      co_return;
    }
    auto q = s->send(std::string(std::size_t{16} << 20, 'p'));  // far more than the kernel takes
    send(to, ev{"queued", self(), q && s->getstat().value().send_pend > 0 ? "waiting" : "all written"});
    // (In the same run: the port's loop cannot fail the send before the
    // handshake has begun.)
    auto r = co_await handshake(*s, sctx, must);
    std::string stray;
    while (auto m = co_await receive_any(after(std::chrono::milliseconds(0)))) {
      if (m->is<gen_tcp::tcp_closed>()) {
        stray += " tcp_closed";
      } else if (auto* e = m->get_if<gen_tcp::tcp_error>()) {
        stray += " tcp_error:" + std::string(err_name(e->reason));
      }
    }
    send(to, ev{r ? "server_ok" : "server_failed", self(), stray, r ? errc::ok : r.error(), last_error()});
  });
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(c);
  ASSERT_TRUE(so::connect(*c, so::address::inet_loopback(ls->port), must));
  ASSERT_EQ(next({"queued"}).data, "waiting");
  ASSERT_TRUE(so::setopt(*c, so::opt::socket::linger, so::linger{true, 0}));
  ASSERT_TRUE(so::close(*c));  // a reset: its receive buffer holds unread bytes anyway
  ev srv = next({"server_ok", "server_failed"});
  EXPECT_EQ(srv.kind, "server_failed");
  EXPECT_TRUE(srv.reason == errc::econnreset || srv.reason == errc::epipe)
      << err_name(srv.reason) << ": " << srv.detail;
  EXPECT_EQ(srv.data, "") << "delivered to the owner besides the handshake's error";
}

TEST_F(handshake_test, wrong_context_or_caller_is_invalid_and_leaves_the_socket_open) {
  auto l = otpnet::test::listen_loopback();
  context cctx = client_ctx();
  context sctx = server_ctx();
  spawn([fd = l.sock, cctx, sctx, to = me()]() -> proc {
    auto raw = co_await so::co::accept(fd, must);
    if (!raw) {
      co_return;
    }
    auto s = gen_tcp::adopt(*raw, {});
    auto a = co_await handshake(*s, cctx, must);  // a client context
    auto b = co_await connect_handshake(*s, sctx, must);
    auto c = co_await handshake(gen_tcp::socket{}, sctx, must);
    send(to,
         ev{"reply", self(), outcome(a) + " " + outcome(b) + " " + outcome(c) + " " + outcome(s->send("still open"))});
  });
  raw_peer p = raw_peer::connect(l.port);
  auto r = mb().receive<ev>(must, [](const ev& e) { return e.kind == "reply"; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, "invalid invalid closed ok");
}

// A socket whose send timed out and stayed open (send_timeout_close
// false) lost what was queued: the peer has not had all that was sent
// before, so an upgrade is refused with the send's error and the socket
// left as it is (open, its owner told by its tcp_error).
TEST_F(handshake_test, a_socket_whose_send_timed_out_is_not_upgraded) {
  auto ls = gen_tcp::listen(
      so::address::inet_loopback(0),
      {.active = gen_tcp::passive, .send_timeout = std::chrono::milliseconds(200), .send_timeout_close = false});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, sctx = server_ctx(), to = me()]() -> proc {
    auto s = co_await gen_tcp::accept(ls, must);
    if (!s) {
      co_return;
    }
    (void)s->send(std::string(std::size_t{16} << 20, 'p'));  // far more than the kernel takes
    auto e = co_await receive<gen_tcp::tcp_error>(after(must));
    std::string told = e ? std::string(err_name(e->reason)) : std::string("no tcp_error");
    auto r = co_await handshake(*s, sctx, must);
    send(to, ev{"reply", self(), told + " " + outcome(r) + " " + (s->getstat() ? "open" : "closed")});
  });
  raw_peer p = raw_peer::connect(ls->port);  // never reads
  auto r = mb().receive<ev>(must, [](const ev& e) { return e.kind == "reply"; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, "timeout timeout open");
}

TEST_F(handshake_test, verification_without_a_server_name_is_refused_before_any_byte) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  client_options o{.ca_file = certs().ca_file()};
  auto ctx = context::client(o);
  ASSERT_TRUE(ctx);
  pid c = start_client(port, {.ctx = *ctx});
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::invalid);
  EXPECT_NE(e.detail.find("no server name"), std::string::npos) << e.detail;
}

TEST_F(handshake_test, the_client_checks_the_host_name) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  pid c = start_client(port, {.ctx = client_ctx(), .server_name = "elsewhere.example"});
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("hostname mismatch"), std::string::npos) << e.detail;
  EXPECT_EQ(next({"server_failed"}).reason, errc::tls_error);
  // An IP literal is checked against the certificate's IP addresses.
  auto [server, ok] = connect_pair(port, {.ctx = client_ctx(), .server_name = "127.0.0.1"});
  EXPECT_EQ(echo(ok, "by address"), "by address");
  (void)server;
}

// -- ALPN and SNI ----------------------------------------------------------------------------------

TEST_F(handshake_test, alpn_picks_the_servers_preference_among_the_clients_offer) {
  std::uint16_t port = start_server({.ctx = server_ctx({.alpn = {"h2", "http/1.1"}})});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx({.alpn = {"http/1.1", "h2"}})});
  EXPECT_EQ(info_of(client).alpn, "h2");
  EXPECT_EQ(info_of(server).alpn, "h2");
  // No protocol in common: the no_application_protocol alert.
  pid c = start_client(port, {.ctx = client_ctx({.alpn = {"spdy/3"}})});
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_NE(e.detail.find("no application protocol"), std::string::npos) << e.detail;
  EXPECT_EQ(next({"server_failed"}).reason, errc::tls_error);
  // A client that offers nothing gets no ALPN.
  auto [s2, c2] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(info_of(c2).alpn, "");
  (void)s2;
}

TEST_F(handshake_test, sni_chooses_the_certificate_of_the_server_name) {
  server_options o{
      .cert = certs().issue("default", cert_spec{.common_name = "default", .dns = {"localhost"}}),
      .sni = {
          {"api.example.test", certs().issue("api", cert_spec{.common_name = "api", .dns = {"api.example.test"}})},
          {"*.example.test", certs().issue("wild", cert_spec{.common_name = "wildcard", .dns = {"*.example.test"}})}}};
  std::uint16_t port = start_server({.ctx = server_ctx(o)});
  struct want {
    std::string name, cn;
  };
  for (const want& w :
       {want{"api.example.test", "api"}, want{"WWW.Example.Test", "wildcard"}, want{"localhost", "default"}}) {
    auto [server, client] = connect_pair(port, {.ctx = client_ctx(), .server_name = w.name});
    connection_info ci = info_of(client);
    EXPECT_EQ(ci.peer_common_name, w.cn) << w.name;
    EXPECT_TRUE(ci.peer_verified);
    EXPECT_EQ(info_of(server).server_name, w.name);
    send(client, stop_cmd{});
  }
}

// -- client certificates --------------------------------------------------------------------------

TEST_F(handshake_test, a_required_client_certificate_is_verified_and_seen_by_the_server) {
  std::uint16_t port =
      start_server({.ctx = server_ctx({.verify = verify_mode::required, .ca_file = certs().ca_file()})});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx({.cert = certs().issue("alice", "alice")})});
  connection_info ci = info_of(server);
  EXPECT_EQ(ci.peer_common_name, "alice");
  EXPECT_TRUE(ci.peer_verified);
  EXPECT_EQ(echo(client, "authenticated"), "authenticated");
}

TEST_F(handshake_test, a_missing_client_certificate_fails_the_handshake_on_both_sides) {
  std::uint16_t port =
      start_server({.ctx = server_ctx({.verify = verify_mode::required, .ca_file = certs().ca_file()})});
  // TLS 1.2: the server refuses during the client's handshake.
  pid c = start_client(port, {.ctx = client_ctx({.max_version = version::tls1_2})});
  ev s = next({"server_ok", "server_failed"});
  EXPECT_EQ(s.kind, "server_failed");
  EXPECT_EQ(s.reason, errc::tls_error);
  EXPECT_NE(s.detail.find("peer did not return a certificate"), std::string::npos) << s.detail;
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("handshake failure"), std::string::npos) << e.detail;
  // TLS 1.3: the client's side of the handshake ends before the server's
  // verdict, which then arrives as the connection's first message.
  pid c13 = start_client(port, {.ctx = client_ctx()});
  EXPECT_EQ(next({"server_ok", "server_failed"}).kind, "server_failed");
  ev e13 = next_from(c13);
  if (e13.kind == "client_ok") {
    ev after = next_from(c13);
    EXPECT_EQ(after.kind, "error");
    EXPECT_EQ(after.reason, errc::tls_error);
  } else {
    EXPECT_EQ(e13.kind, "client_failed");
  }
  EXPECT_GE(reports().count({"server handshake failed", "tls_error"}), 2u) << reports().all();
}

TEST_F(handshake_test, an_optional_client_certificate_may_be_absent) {
  std::uint16_t port =
      start_server({.ctx = server_ctx({.verify = verify_mode::optional, .ca_file = certs().ca_file()})});
  auto [server, client] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(info_of(server).peer_subject, "");
  auto [server2, client2] = connect_pair(port, {.ctx = client_ctx({.cert = certs().issue("bob", "bob")})});
  EXPECT_EQ(info_of(server2).peer_common_name, "bob");
  (void)client;
  (void)client2;
}

// -- the two-step handshake -------------------------------------------------------------------------

/// Continues a handshake stopped at its hello (with `ctx`, or the first
/// context), reports server_ok or server_failed, and serves the socket.
task<void> continue_and_serve(client_hello h, gen_tcp::socket s, std::optional<context> ctx, pid to) {
  auto r = co_await handshake_continue(std::move(h), must, std::move(ctx));
  if (!r) {
    send(to, ev{"server_failed", self(), {}, r.error(), last_error()});
    co_return;
  }
  auto i = info(s);
  send(to, ev{"server_ok", self(), {}, errc::ok, {}, i ? *i : connection_info{}, s});
  co_await serve(s, to, true, true, 0);
}

/// Accepts one connection of `ls` and runs its handshake up to the
/// client's hello; a failure goes to `to` as server_failed (nullopt then).
task<std::optional<std::pair<gen_tcp::socket, client_hello>>> accept_to_hello(gen_tcp::listen_socket ls, context ctx,
                                                                              pid to) {
  auto s = co_await gen_tcp::accept(ls, must);
  if (!s) {
    co_return std::nullopt;
  }
  auto h = co_await handshake_hello(*s, std::move(ctx), must);
  if (!h) {
    send(to, ev{"server_failed", self(), {}, h.error(), last_error()});
    co_return std::nullopt;
  }
  co_return std::pair{*s, std::move(*h)};
}

/// A handler that stops at the hello, reports it, and continues (with
/// `other` for the name "other.test") or cancels (for "refused.test").
proc hello_handler(gen_tcp::listen_socket ls, context ctx, context other, pid to) {
  auto a = co_await accept_to_hello(ls, ctx, to);
  if (!a) {
    co_return;
  }
  auto& [s, h] = *a;
  std::string offers;
  for (const auto& alpn : h.alpn) {
    offers += alpn + ",";
  }
  send(to, ev{"hello", self(), h.server_name + "|" + offers});
  if (h.server_name == "refused.test") {
    std::string first = outcome(handshake_cancel(h));
    std::string again = outcome(handshake_cancel(h));
    send(to, ev{"cancelled", self(), first + " " + again});
    co_return;
  }
  std::optional<context> choice;
  if (h.server_name == "other.test") {
    choice = other;
  }
  co_await continue_and_serve(std::move(h), s, choice, to);
}

TEST_F(handshake_test, hello_then_continue_shows_sni_and_alpn_before_the_certificate_is_chosen) {
  context main = server_ctx({.alpn = {"h2"}});
  context other = server_ctx(
      {.cert = certs().issue("other", cert_spec{.common_name = "other", .dns = {"other.test"}}), .alpn = {"h2"}});
  auto ls =
      gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2});
  ASSERT_TRUE(ls);
  for (const char* name : {"localhost", "other.test"}) {
    spawn([ls = *ls, main, other, to = me()]() -> proc { return hello_handler(ls, main, other, to); });
    pid c = start_client(ls->port, {.ctx = client_ctx({.alpn = {"x-test", "h2"}}), .server_name = name});
    ev hello = next({"hello"});
    EXPECT_EQ(hello.data, std::string(name) + "|x-test,h2,");
    EXPECT_EQ(next({"server_ok", "server_failed"}).kind, "server_ok");
    EXPECT_EQ(next_from(c).kind, "client_ok");
    connection_info ci = info_of(c);
    EXPECT_EQ(ci.peer_common_name, std::string(name) == "other.test" ? "other" : "server");
    EXPECT_EQ(ci.alpn, "h2");
    EXPECT_EQ(echo(c, name), name);
  }
  EXPECT_EQ(handshakes_in_progress(), 0u);
}

TEST_F(handshake_test, hello_then_cancel_refuses_the_client) {
  context main = server_ctx();
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::passive});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, main, to = me()]() -> proc { return hello_handler(ls, main, main, to); });
  pid c = start_client(ls->port, {.ctx = client_ctx(), .server_name = "refused.test"});
  EXPECT_EQ(next({"hello"}).data, "refused.test|");
  EXPECT_EQ(next({"cancelled"}).data, "ok invalid");
  ev e = next_from(c);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_NE(e.detail.find("user cancelled"), std::string::npos) << e.detail;
  EXPECT_EQ(handshakes_in_progress(), 0u);
}

// -- sends during the handshake -------------------------------------------------------------------

/// Lets the next tests' server go on from its hello: it sends `first`
/// itself (its send, made on the port's thread, is queued before it goes
/// on), then continues and serves, or cancels.
struct go_on {
  std::string first;
  bool cancel = false;
};

/// Stops at the hello, reports it, and on go_on sends, then continues or
/// cancels.
proc hello_then_wait(gen_tcp::listen_socket ls, context ctx, pid to) {
  auto a = co_await accept_to_hello(ls, ctx, to);
  if (!a) {
    co_return;
  }
  auto& [s, h] = *a;
  send(to, ev{"hello", self()});
  go_on g = co_await receive<go_on>();
  std::string sent = outcome(s.send(g.first));
  if (g.cancel) {
    send(to, ev{"cancelled", self(), sent + " " + outcome(handshake_cancel(h))});
    co_return;
  }
  co_await continue_and_serve(std::move(h), s, std::nullopt, to);
}

// A send made while the handshake is under way (here by the owner, between
// the hello and the continue; another process's goes the same way) waits
// for it and goes out through TLS once it is done: written at once, in the
// clear, it landed among the handshake's records and the client's
// handshake failed.
TEST_F(handshake_test, a_send_during_the_handshake_goes_out_through_tls_after_it) {
  auto ls =
      gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, ctx = server_ctx(), to = me()]() -> proc { return hello_then_wait(ls, ctx, to); });
  pid c = start_client(ls->port, {.ctx = client_ctx()});
  ev hello = next({"hello"});
  ASSERT_EQ(hello.kind, "hello");
  send(hello.from, go_on{"sent during the handshake"});
  EXPECT_EQ(next({"server_ok", "server_failed"}).kind, "server_ok");
  ev cl = next_from(c);
  ASSERT_EQ(cl.kind, "client_ok") << cl.detail;
  ev got = next_from(c);
  EXPECT_EQ(got.kind, "ssl");
  EXPECT_EQ(got.data, "sent during the handshake");
}

// A handshake that does not finish (here cancelled at the hello) drops
// what was sent during it, with a report line: none of it reaches the peer
// in the clear.
TEST_F(handshake_test, a_send_during_a_handshake_that_fails_is_dropped_with_a_report_line) {
  auto ls = gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::passive});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, ctx = server_ctx(), to = me()]() -> proc { return hello_then_wait(ls, ctx, to); });
  pid c = start_client(ls->port, {.ctx = client_ctx()});
  ev hello = next({"hello"});
  ASSERT_EQ(hello.kind, "hello");
  send(hello.from, go_on{"never in the clear", true});
  EXPECT_EQ(next({"cancelled"}).data, "ok ok");
  ev cl = next_from(c);
  EXPECT_EQ(cl.kind, "client_failed");
  EXPECT_EQ(cl.reason, errc::tls_error) << cl.detail;
  // The cancel's alert is the first thing it read (plaintext first: a
  // record it cannot parse).
  EXPECT_NE(cl.detail.find("user cancelled"), std::string::npos) << cl.detail;
  EXPECT_EQ(reports().count({"the TLS handshake did not finish", "dropped"}), 1u) << reports().all();
}

// -- continuing with another context ---------------------------------------------------------------

/// Accepts one connection, stops at its hello with `first` and continues
/// with `then`, reporting server_ok (with the info) or server_failed.
proc continue_with(gen_tcp::listen_socket ls, context first, context then, pid to) {
  auto a = co_await accept_to_hello(ls, first, to);
  if (!a) {
    co_return;
  }
  co_await continue_and_serve(std::move(a->second), a->first, then, to);
}

// A session made under a context that asks for no client certificate does
// not resume under one that requires it: each context has its own session
// id context, so a handshake continued with the other one makes the client
// show a certificate (and this one, having none, is refused). With one
// shared by every context, the ticket resumed the session and the client
// was in without a certificate.
TEST_F(handshake_test, a_session_of_one_context_does_not_resume_under_another_that_requires_a_certificate) {
  context open = server_ctx();
  context strict = server_ctx({.verify = verify_mode::required, .ca_file = certs().ca_file()});
  for (version v : {version::tls1_3, version::tls1_2}) {
    context cctx = client_ctx({.max_version = v});
    std::uint16_t port = start_server({.ctx = open});
    auto [s1, first] = connect_pair(port, {.ctx = cctx});
    EXPECT_EQ(echo(first, "hello"), "hello");  // (TLS 1.3: the ticket comes after the handshake)
    auto saved = std::make_shared<session>();
    ASSERT_EQ(call(first,
                   [saved](const gen_tcp::socket& s) {
                     auto got = get_session(s);
                     if (got) {
                       *saved = *got;
                     }
                     return outcome(got);
                   }),
              "ok");
    ASSERT_TRUE(*saved);
    // The same session resumes under its own context...
    auto [s2, again] = connect_pair(port, {.ctx = cctx, .resume = *saved});
    EXPECT_TRUE(info_of(again).session_reused);
    // ...but not once the handshake moves to the strict one.
    auto ls =
        gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2});
    ASSERT_TRUE(ls);
    spawn([ls = *ls, open, strict, to = me()]() -> proc { return continue_with(ls, open, strict, to); });
    pid c = start_client(ls->port, {.ctx = cctx, .resume = *saved});
    ev srv = next({"server_ok", "server_failed"});
    EXPECT_EQ(srv.kind, "server_failed") << "TLS " << (v == version::tls1_3 ? "1.3" : "1.2")
                                         << ": resumed without a client certificate: " << srv.info.session_reused;
    EXPECT_EQ(srv.reason, errc::tls_error);
    ev cl = next_from(c);
    if (cl.kind == "client_ok") {
      cl = next_from(c);  // TLS 1.3: the server's verdict comes after the client's side ended
    }
    EXPECT_TRUE(cl.kind == "client_failed" || cl.kind == "error") << cl.kind;
    (void)s1;
    (void)s2;
  }
}

// The context a handshake continues with brings its protocol versions: a
// client limited to TLS 1.2 is refused by one that takes only TLS 1.3,
// though the first context took TLS 1.2.
TEST_F(handshake_test, continuing_with_another_context_takes_its_protocol_versions) {
  context both = server_ctx();
  context only13 = server_ctx({.min_version = version::tls1_3});
  auto ls =
      gen_tcp::listen(so::address::inet_loopback(0), {.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, both, only13, to = me()]() -> proc { return continue_with(ls, both, only13, to); });
  pid c = start_client(ls->port, {.ctx = client_ctx({.max_version = version::tls1_2})});
  ev srv = next({"server_ok", "server_failed"});
  EXPECT_EQ(srv.kind, "server_failed") << "TLS 1.2 taken by a TLS 1.3-only context";
  EXPECT_EQ(next_from(c).kind, "client_failed");
}

}  // namespace
}  // namespace otpnet::tls::test
