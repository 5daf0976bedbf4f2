// Real peers of other TLS implementations, run as subprocesses with a
// bounded run time: `openssl s_client` and Python's `ssl` module as
// clients of an otpnet server, and a Python server for an otpnet client,
// exchanging {packet, 2} and line frames.
#include "otpnet/tls/handshake.hpp"

#include "tls/harness.test.hpp"

#include <fstream>

namespace otpnet::tls::test {
namespace {

constexpr const char* python_client = R"PY(
import socket, ssl, struct, sys

port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        def read_exact(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("closed after %d of %d bytes" % (len(buf), n))
                buf += chunk
            return buf
        if mode == "packet2":
            for body in [b"one", b"two" * 1000, bytes(range(256)) * 200]:
                s.sendall(struct.pack(">H", len(body)) + body)
                (n,) = struct.unpack(">H", read_exact(2))
                assert read_exact(n) == body, "frame of %d bytes differs" % len(body)
                print("frame", len(body), "ok")
        else:
            s.sendall(b"alpha\nbeta\n")
            s.sendall(b"gam")
            s.sendall(b"ma\n")
            got = read_exact(17)
            assert got == b"alpha\nbeta\ngamma\n", got
            print("lines ok")
        print("version", s.version())
print("done")
)PY";

constexpr const char* python_server = R"PY(
import socket, ssl, struct, sys

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
ls.settimeout(10)
print(ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
conn.settimeout(10)
# Without ragged EOFs allowed, an end without close_notify raises here.
with ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False) as s:
    def read_exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    frames = 0
    while True:
        header = read_exact(2)
        if header is None:
            break
        (n,) = struct.unpack(">H", header)
        body = b"py:" + read_exact(n)
        s.sendall(struct.pack(">H", len(body)) + body)
        frames += 1
print("served", frames, flush=True)
)PY";

class interop_test : public tls_test {
 protected:
  std::string script(const std::string& name, const char* text) {
    std::string path = certs().path(name);
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(interop_test, openssl_s_client_exchanges_a_line) {
  server_setup s{.ctx = server_ctx({.alpn = {"h2", "http/1.1"}}), .close_after = 1};
  std::uint16_t port = start_server(s, {.active = gen_tcp::once, .packet = gen_tcp::packet_type::line});
  auto [out, status] =
      run("sh -c \"printf 'hello over tls\\n' | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
          " -servername localhost -CAfile " + certs().ca_file() + " -verify_return_error -alpn http/1.1 -quiet\"");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("hello over tls"), std::string::npos) << out;
  ev ok = next({"server_ok", "server_failed"});
  ASSERT_EQ(ok.kind, "server_ok") << ok.detail;
  EXPECT_EQ(ok.info.alpn, "http/1.1");
  EXPECT_EQ(ok.info.server_name, "localhost");
  EXPECT_EQ(ok.info.protocol, "TLSv1.3");
  EXPECT_EQ(next_from(ok.from).data, "hello over tls\n");
}

TEST_F(interop_test, openssl_s_client_with_a_client_certificate_over_tls_1_2) {
  identity alice = certs().issue("alice", "alice");
  server_setup s{.ctx = server_ctx({.verify = verify_mode::required, .ca_file = certs().ca_file()}), .close_after = 1};
  std::uint16_t port = start_server(s, {.active = gen_tcp::once, .packet = gen_tcp::packet_type::line});
  auto [out, status] =
      run("sh -c \"printf 'from alice\\n' | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
          " -servername localhost -CAfile " + certs().ca_file() + " -cert " + alice.cert_file + " -key " +
          alice.key_file + " -tls1_2 -verify_return_error -quiet\"");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("from alice"), std::string::npos) << out;
  ev ok = next({"server_ok", "server_failed"});
  ASSERT_EQ(ok.kind, "server_ok") << ok.detail;
  EXPECT_EQ(ok.info.protocol, "TLSv1.2");
  EXPECT_EQ(ok.info.peer_common_name, "alice");
  EXPECT_TRUE(ok.info.peer_verified);
}

TEST_F(interop_test, python_ssl_client_exchanges_packet_2_frames) {
  std::uint16_t port = start_server({.ctx = server_ctx()});
  std::string py = script("client.py", python_client);
  auto [out, status] = run("python3 " + py + " " + std::to_string(port) + " " + certs().ca_file() + " packet2");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("frame 51200 ok"), std::string::npos) << out;
  EXPECT_NE(out.find("version TLSv1.3"), std::string::npos) << out;
  EXPECT_EQ(next({"server_ok", "server_failed"}).kind, "server_ok");
  EXPECT_EQ(next({"closed", "error"}).kind, "closed");
}

TEST_F(interop_test, python_ssl_client_exchanges_lines) {
  std::uint16_t port =
      start_server({.ctx = server_ctx()}, {.active = gen_tcp::always, .packet = gen_tcp::packet_type::line});
  std::string py = script("client.py", python_client);
  auto [out, status] = run("python3 " + py + " " + std::to_string(port) + " " + certs().ca_file() + " line");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("lines ok"), std::string::npos) << out;
}

TEST_F(interop_test, an_otpnet_client_talks_to_a_python_ssl_server) {
  identity id = certs().issue("pyserver", "python");
  std::string py = script("server.py", python_server);
  std::string line = "timeout 20 python3 " + py + " " + id.cert_file + " " + id.key_file + " 2>&1";
  std::FILE* p = ::popen(line.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char first[64] = {};
  ASSERT_NE(std::fgets(first, sizeof first, p), nullptr);
  auto port = static_cast<std::uint16_t>(std::stoi(first));
  pid c = start_client(port, {.ctx = client_ctx()});
  ev ok = next_from(c);
  ASSERT_EQ(ok.kind, "client_ok") << ok.detail;
  EXPECT_EQ(ok.info.peer_common_name, "python");
  EXPECT_TRUE(ok.info.peer_verified);
  EXPECT_EQ(echo(c, "one"), "py:one");
  std::string big(20000, 'b');
  EXPECT_TRUE(echo(c, big) == "py:" + big);
  // close sends close_notify: the server's loop ends cleanly.
  EXPECT_EQ(call(c, [](const gen_tcp::socket& s) { return outcome(s.close()); }), "ok");
  std::string rest;
  char buf[256];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) {
    rest.append(buf, n);
  }
  int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << rest;
  EXPECT_NE(rest.find("served 2"), std::string::npos) << rest;
}

TEST_F(interop_test, shutdown_write_sends_close_notify_before_the_fin) {
  // The Python server refuses ragged EOFs: a FIN without close_notify
  // would raise there. shutdown(write) must end the TLS stream cleanly.
  identity id = certs().issue("pyserver2", "python");
  std::string py = script("server2.py", python_server);
  std::string line = "timeout 20 python3 " + py + " " + id.cert_file + " " + id.key_file + " 2>&1";
  std::FILE* p = ::popen(line.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char first[64] = {};
  ASSERT_NE(std::fgets(first, sizeof first, p), nullptr);
  auto port = static_cast<std::uint16_t>(std::stoi(first));
  pid c = start_client(port, {.ctx = client_ctx()});
  ev ok = next_from(c);
  ASSERT_EQ(ok.kind, "client_ok") << ok.detail;
  EXPECT_EQ(echo(c, "half"), "py:half");
  EXPECT_EQ(call(c, [](const gen_tcp::socket& s) { return outcome(s.shutdown(otpnet::socket::shutdown_how::write)); }),
            "ok");
  std::string rest;
  char buf[256];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) {
    rest.append(buf, n);
  }
  int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << rest;
  EXPECT_NE(rest.find("served 1"), std::string::npos) << rest;
}

}  // namespace
}  // namespace otpnet::tls::test
