#include "otpnet/tls/context.hpp"

#include <otpnet/tls/error.hpp>

#include "tls/harness.test.hpp"

#include <fstream>

namespace otpnet::tls::test {
namespace {

// -- building contexts (no runtime needed) -----------------------------------------------------

class context_files : public ::testing::Test {
 protected:
  pki certs;

  static void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
};

TEST_F(context_files, server_and_client_contexts_load_generated_files) {
  auto s = context::server({.cert = certs.issue("server", "server")});
  ASSERT_TRUE(s) << last_error();
  EXPECT_TRUE(s->is_server());
  EXPECT_EQ(s->generation(), 1u);
  auto c = context::client({.cert = certs.issue("client", "client"), .ca_file = certs.ca_file()});
  ASSERT_TRUE(c) << last_error();
  EXPECT_FALSE(c->is_server());
  EXPECT_FALSE(context{});
}

TEST_F(context_files, a_missing_file_is_einval_naming_it) {
  identity id = certs.issue("server", "server");
  id.key_file = certs.path("nowhere.key");
  auto s = context::server({.cert = id});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), errc::einval);
  EXPECT_NE(last_error().find("nowhere.key"), std::string::npos) << last_error();
  auto none = context::server({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), errc::einval);
  EXPECT_NE(last_error().find("no certificate file"), std::string::npos) << last_error();
}

TEST_F(context_files, a_file_without_pem_is_einval) {
  identity id = certs.issue("server", "server");
  write_file(certs.path("junk.pem"), "not a certificate\n");
  auto a = context::server({.cert = {certs.path("junk.pem"), id.key_file, {}}});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), errc::einval);
  EXPECT_NE(last_error().find("holds no PEM certificate"), std::string::npos) << last_error();
  auto b = context::server({.cert = {id.cert_file, certs.path("junk.pem"), {}}});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), errc::einval);
  auto c = context::client({.ca_file = certs.path("junk.pem")});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), errc::einval);
}

TEST_F(context_files, a_key_of_another_certificate_is_a_tls_error) {
  identity a = certs.issue("a", "a");
  identity b = certs.issue("b", "b");
  auto s = context::server({.cert = {a.cert_file, b.key_file, {}}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), errc::tls_error);
  EXPECT_NE(last_error().find("does not match"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("error:"), std::string::npos) << "OpenSSL's reason: " << last_error();
}

TEST_F(context_files, bad_options_are_einval) {
  identity id = certs.issue("server", "server");
  EXPECT_EQ(context::server({.cert = id, .alpn = {""}}).error(), errc::einval);
  EXPECT_EQ(context::server({.cert = id, .alpn = {std::string(256, 'a')}}).error(), errc::einval);
  EXPECT_EQ(context::server({.cert = id, .sni = {{"", id}}}).error(), errc::einval);
  EXPECT_EQ(context::server({.cert = id, .min_version = version::tls1_3, .max_version = version::tls1_2}).error(),
            errc::einval);
}

TEST_F(context_files, a_failed_reload_keeps_the_loaded_files) {
  identity id = certs.issue("server", "server");
  auto s = context::server({.cert = id});
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->reload());
  EXPECT_EQ(s->generation(), 2u);
  std::filesystem::remove(id.key_file);
  auto r = s->reload();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::einval);
  EXPECT_EQ(s->generation(), 2u);
  EXPECT_EQ(context{}.reload().error(), errc::invalid);
}

// -- reload with connections -------------------------------------------------------------------------

using reload_test = tls_test;

TEST_F(reload_test, new_handshakes_see_the_new_certificate_and_live_connections_keep_theirs) {
  identity files = certs().issue("server", "server-v1");
  context ctx = server_ctx({.cert = files});
  std::uint16_t port = start_server({.ctx = ctx});
  auto [s1, before] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(info_of(before).peer_common_name, "server-v1");

  // New files in the same place (a renewed certificate), then reload.
  identity renewed = certs().issue("renewed", "server-v2");
  std::filesystem::rename(renewed.cert_file, files.cert_file);
  std::filesystem::rename(renewed.key_file, files.key_file);
  ASSERT_TRUE(ctx.reload()) << last_error();
  EXPECT_EQ(ctx.generation(), 2u);

  auto [s2, after] = connect_pair(port, {.ctx = client_ctx()});
  EXPECT_EQ(info_of(after).peer_common_name, "server-v2");
  // The connection made before the reload goes on with its certificate.
  EXPECT_EQ(info_of(before).peer_common_name, "server-v1");
  EXPECT_EQ(echo(before, "still here"), "still here");
  EXPECT_EQ(echo(after, "new one"), "new one");
  (void)s1;
  (void)s2;
}

TEST_F(reload_test, a_client_context_reload_picks_up_a_new_trust_anchor) {
  // The server's certificate comes from a CA the client does not trust yet.
  pki other;
  std::uint16_t port = start_server({.ctx = server_ctx({.cert = other.issue("server", "other-ca-server")})});
  std::string ca = certs().path("trust.pem");
  std::filesystem::copy_file(certs().ca_file(), ca);
  context cctx = client_ctx({.ca_file = ca});
  pid refused = start_client(port, {.ctx = cctx});
  ev e = next_from(refused);
  EXPECT_EQ(e.kind, "client_failed");
  EXPECT_EQ(e.reason, errc::tls_error);
  EXPECT_EQ(next({"server_failed"}).reason, errc::tls_error);
  std::filesystem::copy_file(other.ca_file(), ca, std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(cctx.reload()) << last_error();
  auto [server, client] = connect_pair(port, {.ctx = cctx});
  EXPECT_EQ(info_of(client).peer_common_name, "other-ca-server");
  (void)server;
}

}  // namespace
}  // namespace otpnet::tls::test
