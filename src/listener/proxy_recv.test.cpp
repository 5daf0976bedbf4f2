// recv_proxy_header over real loopback connections: a process accepts,
// takes the header off its socket and then reads what follows, so each
// test checks both what the header said and that not one byte after it
// was consumed.
#include <otpnet/listener/proxy_header.hpp>
#include <otpnet/runtime/socket_io.hpp>

#include "listener/harness.test.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

namespace otpnet::listener::test {
namespace {

struct proxy_server_fd {
  int fd;
};
struct header_outcome {
  result<proxy_header> header;
  std::string after;  // what the socket gave after the header
};

/// A listen socket on 127.0.0.1 at a port the kernel chose.
std::pair<so::socket, std::uint16_t> proxy_listen_here() {
  auto s = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
  EXPECT_TRUE(s);
  auto port = so::bind(*s, so::address::inet_loopback(0));
  EXPECT_TRUE(port);
  EXPECT_TRUE(so::listen(*s, 16));
  return {*s, port.value_or(0)};
}

/// A process that accepts one connection on `ls`, says its descriptor,
/// takes a PROXY header off it within `timeout`, then reads `after` bytes
/// (if the header came) and sends everything to `to`.
void serve_one_proxied(so::socket ls, pid to, milliseconds timeout, std::size_t after) {
  spawn([ls, to, timeout, after]() -> proc {
    auto a = co_await so::co::accept(ls, must);
    if (!a) {
      send(to, header_outcome{fail(a.error()), {}});
      co_return;
    }
    send(to, proxy_server_fd{a->native_handle()});
    auto parsed = co_await recv_proxy_header(*a, timeout);
    header_outcome o{std::move(parsed), {}};
    std::string buf(after, '\0');
    std::size_t got = 0;
    while (o.header && got < after) {
      auto n = co_await so::co::recv(*a, std::as_writable_bytes(std::span(buf)).subspan(got), 0, must);
      if (!n) {
        break;
      }
      got += *n;
    }
    buf.resize(got);
    o.after = std::move(buf);
    send(to, std::move(o));
  });
}

std::string proxy_text_of(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Bytes waiting in the socket's receive queue.
int queued_bytes(int fd) {
  int n = -1;
  return ::ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

using proxy_recv = listener_test;

TEST_F(proxy_recv, a_v2_header_and_data_in_one_segment_leave_the_data_whole) {
  auto [ls, port] = proxy_listen_here();
  serve_one_proxied(ls, mb().self(), must, 5);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c);
  proxy_header h;
  h.version = 2;
  h.local = false;
  h.transport = proxy_transport::stream;
  h.source = so::address::parse("203.0.113.9", 41000).value();
  h.destination = so::address::parse("198.51.100.1", 443).value();
  h.tlvs.push_back({proxy_tlv_type::authority, {std::byte{'a'}, std::byte{'.'}, std::byte{'b'}}});
  auto enc = encode_proxy_header(h);
  ASSERT_TRUE(enc);
  ASSERT_TRUE(c.write(proxy_text_of(*enc) + "hello"));
  auto fd = mb().receive<proxy_server_fd>(must);
  ASSERT_TRUE(fd);
  auto o = mb().receive<header_outcome>(must);
  ASSERT_TRUE(o);
  ASSERT_TRUE(o->header) << format_error(o->header.error());
  EXPECT_EQ(o->header->source, h.source);
  EXPECT_EQ(o->header->destination, h.destination);
  EXPECT_EQ(o->header->text(proxy_tlv_type::authority), "a.b");
  EXPECT_EQ(o->after, "hello");
}

// The header in two parts: the first is consumed while the rest has not
// come (the reader takes what it knows to be header), then the rest comes
// with data behind it.
TEST_F(proxy_recv, a_header_that_comes_in_parts_is_read_as_it_comes) {
  auto [ls, port] = proxy_listen_here();
  serve_one_proxied(ls, mb().self(), must, 5);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c);
  int one = 1;
  ASSERT_EQ(::setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
  auto fd = mb().receive<proxy_server_fd>(must);
  ASSERT_TRUE(fd);
  std::string line = "PROXY TCP6 2001:db8::5 2001:db8::1 5000 2222\r\n";
  ASSERT_TRUE(c.write(line.substr(0, 20)));
  // Delivered first (on loopback, acknowledged means in the server's
  // receive queue), then consumed, though the header is not complete yet.
  auto end = std::chrono::steady_clock::now() + must;
  int unacked = -1;
  while ((::ioctl(c.fd(), SIOCOUTQ, &unacked) != 0 || unacked != 0) && std::chrono::steady_clock::now() < end) {
    std::this_thread::yield();
  }
  ASSERT_EQ(unacked, 0) << "the first part never reached the server";
  while (queued_bytes(fd->fd) != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::yield();
  }
  ASSERT_EQ(queued_bytes(fd->fd), 0) << "the first part was not taken off the socket";
  ASSERT_TRUE(c.write(line.substr(20) + "world"));
  auto o = mb().receive<header_outcome>(must);
  ASSERT_TRUE(o);
  ASSERT_TRUE(o->header) << format_error(o->header.error());
  EXPECT_EQ(o->header->version, 1);
  EXPECT_EQ(o->header->source, so::address::parse("2001:db8::5", 5000).value());
  EXPECT_EQ(o->header->destination->port(), 2222);
  EXPECT_EQ(o->after, "world");
}

TEST_F(proxy_recv, a_connection_that_does_not_start_with_a_header_is_refused_and_reported) {
  auto [ls, port] = proxy_listen_here();
  serve_one_proxied(ls, mb().self(), must, 0);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto o = mb().receive<header_outcome>(must);
  ASSERT_TRUE(o);
  ASSERT_FALSE(o->header);
  EXPECT_EQ(o->header.error(), errc::bad_proxy_header);
  EXPECT_TRUE(lines().saw({"valid PROXY protocol header", "not a PROXY protocol header"})) << lines().dump();
}

TEST_F(proxy_recv, half_a_header_then_silence_times_out) {
  auto [ls, port] = proxy_listen_here();
  serve_one_proxied(ls, mb().self(), 300ms, 0);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c.write("PROXY TCP4 1.2.3.4"));
  auto o = mb().receive<header_outcome>(must);
  ASSERT_TRUE(o);
  ASSERT_FALSE(o->header);
  EXPECT_EQ(o->header.error(), errc::timeout);
}

TEST_F(proxy_recv, half_a_header_then_a_close_gives_closed) {
  auto [ls, port] = proxy_listen_here();
  serve_one_proxied(ls, mb().self(), must, 0);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c.write(proxy_text_of(encode_proxy_header({.version = 2}).value()).substr(0, 10)));
  c.close();
  auto o = mb().receive<header_outcome>(must);
  ASSERT_TRUE(o);
  ASSERT_FALSE(o->header);
  EXPECT_EQ(o->header.error(), errc::closed);
}

TEST_F(proxy_recv, a_datagram_socket_is_refused_as_invalid) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
  auto a = so::open(fds[0], {.dup = false});
  ASSERT_TRUE(a);
  ::close(fds[1]);
  pid me = mb().self();
  spawn([s = *a, me]() -> proc {
    auto r = co_await recv_proxy_header(s, must);
    send(me, header_outcome{std::move(r), {}});
  });
  auto o = mb().receive<header_outcome>(must);
  ASSERT_TRUE(o);
  ASSERT_FALSE(o->header);
  EXPECT_EQ(o->header.error(), errc::invalid);
}

}  // namespace
}  // namespace otpnet::listener::test
