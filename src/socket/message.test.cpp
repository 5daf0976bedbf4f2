#include "otpnet/socket/message.hpp"

#include <otpnet/socket/io.hpp>
#include <otpnet/socket/registry.hpp>

#include "support/alloc_hooks.hpp"
#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::socket {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::text;

using const_iov = std::span<const std::byte>;

// -- fixtures ----------------------------------------------------------------

/// A connected AF_UNIX pair adopted as otpnet sockets.
std::pair<socket, socket> unix_pair(int type) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  open_options adopt;
  adopt.dup = false;
  auto a = open(sv[0], adopt);
  auto b = open(sv[1], adopt);
  EXPECT_TRUE(a && b);
  return {a.value_or(socket{}), b.value_or(socket{})};
}

/// A UDP socket bound to the loopback of `d` on a port the kernel chose.
struct udp_end {
  socket sock;
  address addr;
};

udp_end udp_loopback(domain d) {
  udp_end e;
  auto s = open(d, type::dgram, protocol::udp);
  EXPECT_TRUE(s) << format_error(s.error());
  e.sock = s.value_or(socket{});
  address any = d == domain::inet6 ? address::inet6_loopback(0) : address::inet_loopback(0);
  auto port = bind(e.sock, any);
  EXPECT_TRUE(port) << format_error(port.error());
  e.addr = any.with_port(port.value_or(0));
  return e;
}

bool ipv6_loopback_available() {
  auto s = open(domain::inet6, type::dgram, protocol::udp);
  if (!s) {
    return false;
  }
  bool ok = bind(*s, address::inet6_loopback(0)).has_value();
  static_cast<void>(close(*s));
  return ok;
}

void set_int(const socket& s, int level, int name, int v) {
  ASSERT_EQ(::setsockopt(s.native_handle(), level, name, &v, sizeof v), 0) << level << "/" << name;
}

std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s.data(), s.size())); }

bool is_open_fd(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

bool same_file(int a, int b) {
  struct ::stat sa {};
  struct ::stat sb {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/// Receives one message with `ctrl` bytes of control buffer into one buffer.
result<msg_recv> recv_one(const socket& s, std::string& buf, std::size_t ctrl, int flags = 0) {
  std::array<std::span<std::byte>, 1> iov{writable(buf)};
  return recvmsg(s, iov, ctrl, flags, 5000ms);
}

// -- descriptor passing ------------------------------------------------------

TEST(message, passes_a_pipe_and_a_memfd_over_a_local_socketpair) {
  const int before = test::open_fds();
  {
    auto [a, b] = unix_pair(SOCK_STREAM);
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    unique_fd pipe_r(p[0]);
    unique_fd pipe_w(p[1]);
    unique_fd mem(::memfd_create("otpnet-msg", MFD_CLOEXEC));
    ASSERT_TRUE(mem);

    std::array<const_iov, 1> iov{bytes("x")};
    msg_send m;
    m.iov = iov;
    m.ctrl.emplace_back(socket_rights_ref{{pipe_w.get(), mem.get()}});
    auto sent = sendmsg(a, m, 5000ms);
    ASSERT_TRUE(sent) << format_error(sent.error());
    EXPECT_EQ(*sent, 1u);

    std::string buf(8, '\0');
    auto r = recv_one(b, buf, cmsg_space_for_fds(2));
    ASSERT_TRUE(r) << format_error(r.error());
    EXPECT_EQ(r->size, 1u);
    EXPECT_FALSE(r->ctrl_truncated());
    auto* rights = r->find<socket_rights>();
    ASSERT_NE(rights, nullptr);
    ASSERT_EQ(rights->fds.size(), 2u);
    for (const unique_fd& fd : rights->fds) {
      EXPECT_EQ(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);  // MSG_CMSG_CLOEXEC
    }

    // Write through the received pipe end, read on the original read end.
    ASSERT_EQ(::write(rights->fds[0].get(), "through", 7), 7);
    char got[16] = {};
    ASSERT_EQ(::read(pipe_r.get(), got, sizeof got), 7);
    EXPECT_EQ(std::string(got, 7), "through");

    // The received memfd is the same file: what it writes, the original reads.
    ASSERT_EQ(::pwrite(rights->fds[1].get(), "memfd!", 6, 0), 6);
    char mgot[8] = {};
    ASSERT_EQ(::pread(mem.get(), mgot, 6, 0), 6);
    EXPECT_EQ(std::string(mgot, 6), "memfd!");
    ASSERT_TRUE(close(a));
    ASSERT_TRUE(close(b));
  }
  EXPECT_EQ(test::open_fds(), before);  // received descriptors were closed
}

TEST(message, passes_many_descriptors_in_one_message) {
  const int before = test::open_fds();
  {
    auto [a, b] = unix_pair(SOCK_DGRAM);
    std::vector<unique_fd> originals;
    std::vector<int> raw;
    for (int i = 0; i < 4; ++i) {
      int p[2];
      ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
      originals.emplace_back(p[0]);
      originals.emplace_back(p[1]);
      raw.push_back(p[0]);
      raw.push_back(p[1]);
    }
    std::array<const_iov, 1> iov{bytes("fds")};
    msg_send m;
    m.iov = iov;
    m.ctrl.emplace_back(socket_rights_ref{raw});
    ASSERT_TRUE(sendmsg(a, m, 5000ms));

    std::string buf(8, '\0');
    auto r = recv_one(b, buf, cmsg_space_for_fds(raw.size()));
    ASSERT_TRUE(r) << format_error(r.error());
    auto* rights = r->find<socket_rights>();
    ASSERT_NE(rights, nullptr);
    ASSERT_EQ(rights->fds.size(), raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      EXPECT_NE(rights->fds[i].get(), raw[i]);
      EXPECT_TRUE(same_file(rights->fds[i].get(), raw[i])) << i;
    }
    // A received socket_rights can be forwarded as it is (it is borrowed).
    msg_send fwd;
    fwd.iov = iov;
    fwd.ctrl.emplace_back(std::move(*rights));
    ASSERT_TRUE(sendmsg(b, fwd, 5000ms));
    auto back = recv_one(a, buf, cmsg_space_for_fds(raw.size()));
    ASSERT_TRUE(back);
    ASSERT_NE(back->find<socket_rights>(), nullptr);
    EXPECT_EQ(back->find<socket_rights>()->fds.size(), raw.size());
  }
  EXPECT_EQ(test::open_fds(), before);
}

TEST(message, too_small_control_buffer_sets_ctrunc_and_leaks_nothing) {
  const int before = test::open_fds();
  {
    auto [a, b] = unix_pair(SOCK_DGRAM);
    std::vector<unique_fd> keep;
    std::vector<int> raw;
    for (int i = 0; i < 2; ++i) {
      int p[2];
      ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
      keep.emplace_back(p[0]);
      keep.emplace_back(p[1]);
      raw.insert(raw.end(), {p[0], p[1]});
    }
    std::array<const_iov, 1> iov{bytes("x")};
    msg_send m;
    m.iov = iov;
    m.ctrl.emplace_back(socket_rights_ref{raw});
    ASSERT_TRUE(sendmsg(a, m, 5000ms));
    ASSERT_TRUE(sendmsg(a, m, 5000ms));

    // Room for fewer than four: the kernel passes what fits, closes the rest.
    std::string buf(4, '\0');
    auto some = recv_one(b, buf, cmsg_space_for_fds(1));
    ASSERT_TRUE(some);
    EXPECT_TRUE(some->ctrl_truncated());
    EXPECT_TRUE(some->flags & msg::ctrunc);
    auto* rights = some->find<socket_rights>();
    ASSERT_NE(rights, nullptr);
    EXPECT_GE(rights->fds.size(), 1u);
    EXPECT_LT(rights->fds.size(), raw.size());

    auto none = recv_one(b, buf, 0);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->ctrl_truncated());
    EXPECT_TRUE(none->ctrl.empty());
  }
  EXPECT_EQ(test::open_fds(), before);
}

TEST(message, credentials_on_a_local_socket) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  set_int(b, SOL_SOCKET, SO_PASSCRED, 1);
  std::array<const_iov, 1> iov{bytes("who")};
  msg_send m;
  m.iov = iov;
  m.ctrl.emplace_back(socket_credentials{::getpid(), ::getuid(), ::getgid()});
  ASSERT_TRUE(sendmsg(a, m, 5000ms));
  std::string buf(8, '\0');
  auto r = recv_one(b, buf, 64);
  ASSERT_TRUE(r) << format_error(r.error());
  auto* cred = r->find<socket_credentials>();
  ASSERT_NE(cred, nullptr);
  EXPECT_EQ(cred->pid, ::getpid());
  EXPECT_EQ(cred->uid, ::getuid());
  EXPECT_EQ(cred->gid, ::getgid());
}

// -- scatter and gather ------------------------------------------------------

TEST(message, gathers_three_buffers_and_scatters_into_two) {
  auto [a, b] = unix_pair(SOCK_SEQPACKET);
  std::array<const_iov, 3> out{bytes("abc"), bytes("defgh"), bytes("ij")};
  msg_send m;
  m.iov = out;
  auto sent = sendmsg(a, m, 5000ms);
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 10u);

  std::string first(4, '\0');
  std::string second(6, '\0');
  std::array<std::span<std::byte>, 2> in{writable(first), writable(second)};
  auto r = recvmsg(b, in, 0, 0, 5000ms);
  ASSERT_TRUE(r) << format_error(r.error());
  EXPECT_EQ(r->size, 10u);
  EXPECT_FALSE(r->truncated());
  EXPECT_EQ(first, "abcd");
  EXPECT_EQ(second, "efghij");
}

// More buffers than the 16 held inline, and a control buffer past the
// inline 256 bytes, take memory: without it each call answers enomem (it
// threw std::bad_alloc, where nothing in the layer throws), sends nothing
// and reads nothing, and the same calls succeed once memory is back.
TEST(message, without_memory_for_many_buffers_or_a_large_control_buffer_the_answer_is_enomem) {
  auto [a, b] = unix_pair(SOCK_SEQPACKET);
  std::string text(20, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) {
    text[i] = static_cast<char>('a' + i);
  }
  std::vector<const_iov> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    out.push_back(std::as_bytes(std::span(text.data() + i, 1)));
  }
  // A first exchange, so that both sockets have their counters (the first
  // call's memory): what is refused below is the buffers' own.
  std::array<const_iov, 1> one{bytes("!")};
  msg_send first;
  first.iov = one;
  ASSERT_TRUE(sendmsg(a, first, 5000ms));
  std::string bang(1, '\0');
  ASSERT_TRUE(recv_one(b, bang, 0));
  msg_send m;
  m.iov = out;
  result<std::size_t> refused_send = fail(errc::ok);
  {
    test::failing_allocations no_memory;
    refused_send = sendmsg(a, m, 5000ms);
  }
  ASSERT_FALSE(refused_send);
  EXPECT_EQ(refused_send.error(), errc::enomem);
  char peek = 0;
  EXPECT_EQ(::recv(b.native_handle(), &peek, 1, MSG_DONTWAIT | MSG_PEEK), -1) << "something was sent";
  std::string probe(1, '\0');

  auto sent = sendmsg(a, m, 5000ms);
  ASSERT_TRUE(sent) << format_error(sent.error());
  EXPECT_EQ(*sent, 20u);

  std::string got(20, '\0');
  std::vector<std::span<std::byte>> in;
  for (std::size_t i = 0; i < got.size(); ++i) {
    in.push_back(std::as_writable_bytes(std::span(got.data() + i, 1)));
  }
  result<msg_recv> refused_many = fail(errc::ok);
  result<msg_recv> refused_ctrl = fail(errc::ok);
  {
    test::failing_allocations no_memory;
    refused_many = recvmsg(b, in, 0, 0, 5000ms);
    refused_ctrl = recv_one(b, probe, 1024);
  }
  ASSERT_FALSE(refused_many);
  EXPECT_EQ(refused_many.error(), errc::enomem);
  ASSERT_FALSE(refused_ctrl);
  EXPECT_EQ(refused_ctrl.error(), errc::enomem);
  auto r = recvmsg(b, in, 0, 0, 5000ms);
  ASSERT_TRUE(r) << format_error(r.error());
  EXPECT_EQ(r->size, 20u) << "the message was read by a refused call";
  EXPECT_EQ(got, text);

  // A call that must wait takes memory for its place in the socket's queue
  // of waiters: refused, enomem at once (it ended the program: the queue
  // grew inside a noexcept function), and nothing waits.
  result<msg_recv> refused_wait = fail(errc::ok);
  {
    test::failing_allocations no_memory;
    refused_wait = recv_one(b, probe, 0);  // nothing to read
  }
  ASSERT_FALSE(refused_wait);
  EXPECT_EQ(refused_wait.error(), errc::enomem);
  ASSERT_TRUE(sendmsg(a, first, 5000ms));
  EXPECT_TRUE(recv_one(b, bang, 0)) << "a refused wait left something behind";

  // A socket's first call takes memory for its counters: refused, the same.
  auto [c, d] = unix_pair(SOCK_SEQPACKET);
  result<std::size_t> refused_first = fail(errc::ok);
  {
    test::failing_allocations no_memory;
    refused_first = sendmsg(c, first, 5000ms);
  }
  ASSERT_FALSE(refused_first);
  EXPECT_EQ(refused_first.error(), errc::enomem);
  EXPECT_EQ(::recv(d.native_handle(), &peek, 1, MSG_DONTWAIT | MSG_PEEK), -1) << "something was sent";
}

// A stream sendmsg over many buffers that the kernel takes in parts goes on
// from where each part ended (within a buffer too).
TEST(message, a_stream_sendmsg_over_many_buffers_resumes_inside_a_buffer) {
  auto [a, b] = unix_pair(SOCK_STREAM);
  int small = 4096;
  ASSERT_EQ(::setsockopt(a.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string text(200000, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) {
    text[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  }
  std::vector<const_iov> out;
  for (std::size_t at = 0; at < text.size(); at += 9973) {
    out.push_back(std::as_bytes(std::span(text.data() + at, std::min<std::size_t>(9973, text.size() - at))));
  }
  ASSERT_GT(out.size(), 16u);
  std::string got;
  std::thread reader([&, b = b] {
    std::string chunk(3000, '\0');
    while (got.size() < text.size()) {
      auto r = recv_one(b, chunk, 0);
      if (!r || r->size == 0) {
        break;
      }
      got.append(chunk, 0, r->size);
    }
  });
  msg_send m;
  m.iov = out;
  auto sent = sendmsg(a, m, 10000ms);
  reader.join();
  ASSERT_TRUE(sent) << format_error(sent.error());
  EXPECT_EQ(*sent, text.size());
  EXPECT_TRUE(got == text) << "the stream differs";
}

TEST(message, gather_over_tcp_and_counters) {
  auto [c, a] = test::connected_pair();
  std::array<const_iov, 3> out{bytes("one,"), bytes("two,"), bytes("three")};
  msg_send m;
  m.iov = out;
  ASSERT_EQ(sendmsg(c, m, 5000ms).value_or(0), 13u);
  std::string got;
  while (got.size() < 13) {
    std::string buf(16, '\0');
    auto r = recv_one(a, buf, 0);
    ASSERT_TRUE(r) << format_error(r.error());
    EXPECT_FALSE(r->addr.has_value() && r->addr->family() != domain::unspec);
    got += buf.substr(0, r->size);
  }
  EXPECT_EQ(got, "one,two,three");
  auto ci = info(c);
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->counters.write_byte, 13u);
  EXPECT_EQ(ci->counters.write_pkg, 1u);
  auto ai = info(a);
  EXPECT_EQ(ai->counters.read_byte, 13u);
}

TEST(message, a_peeked_datagram_is_counted_once_when_read) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  std::array<const_iov, 1> iov{bytes("0123456789")};
  msg_send m;
  m.iov = iov;
  ASSERT_TRUE(sendmsg(a, m, 5000ms));
  std::string buf(16, '\0');
  auto peeked = recv_one(b, buf, 0, MSG_PEEK);
  ASSERT_TRUE(peeked);
  EXPECT_EQ(peeked->size, 10u);
  EXPECT_EQ(info(b)->counters.read_byte, 0u);
  EXPECT_EQ(info(b)->counters.read_pkg, 0u);
  auto r = recv_one(b, buf, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(buf.substr(0, r->size), "0123456789");
  EXPECT_EQ(info(b)->counters.read_byte, 10u);
  EXPECT_EQ(info(b)->counters.read_pkg, 1u);
  EXPECT_GE(info(b)->counters.read_tries, 2u);
}

TEST(message, datagram_too_long_sets_trunc) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  std::array<const_iov, 1> iov{bytes("0123456789")};
  msg_send m;
  m.iov = iov;
  ASSERT_TRUE(sendmsg(a, m, 5000ms));
  std::string small(4, '\0');
  auto r = recv_one(b, small, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size, 4u);
  EXPECT_TRUE(r->truncated());
  EXPECT_TRUE(r->flags & msg::trunc);
  EXPECT_EQ(small, "0123");
}

TEST(message, udp_sendmsg_to_an_address_and_recvmsg_reports_the_sender) {
  auto rx = udp_loopback(domain::inet);
  auto tx = udp_loopback(domain::inet);
  std::array<const_iov, 2> iov{bytes("hello "), bytes("udp")};
  msg_send m;
  m.addr = rx.addr;
  m.iov = iov;
  ASSERT_EQ(sendmsg(tx.sock, m, 5000ms).value_or(0), 9u);
  std::string buf(32, '\0');
  auto r = recv_one(rx.sock, buf, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(buf.substr(0, r->size), "hello udp");
  ASSERT_TRUE(r->addr);
  EXPECT_EQ(*r->addr, tx.addr);
}

// -- IP and IPv6 control messages -------------------------------------------

TEST(message, ip_tos_and_ttl_sent_and_received_as_cmsg) {
  auto rx = udp_loopback(domain::inet);
  auto tx = udp_loopback(domain::inet);
  set_int(rx.sock, IPPROTO_IP, IP_RECVTOS, 1);
  set_int(rx.sock, IPPROTO_IP, IP_RECVTTL, 1);
  std::array<const_iov, 1> iov{bytes("tos")};
  msg_send m;
  m.addr = rx.addr;
  m.iov = iov;
  m.ctrl.emplace_back(ip_tos{0x10});
  m.ctrl.emplace_back(ip_ttl{42});
  ASSERT_TRUE(sendmsg(tx.sock, m, 5000ms));
  std::string buf(8, '\0');
  auto r = recv_one(rx.sock, buf, 128);
  ASSERT_TRUE(r) << format_error(r.error());
  EXPECT_FALSE(r->ctrl_truncated());
  ASSERT_NE(r->find<ip_tos>(), nullptr);
  EXPECT_EQ(r->find<ip_tos>()->value, 0x10);
  ASSERT_NE(r->find<ip_ttl>(), nullptr);
  EXPECT_EQ(r->find<ip_ttl>()->value, 42);
}

TEST(message, ip_tos_and_ttl_from_socket_options) {
  auto rx = udp_loopback(domain::inet);
  auto tx = udp_loopback(domain::inet);
  set_int(rx.sock, IPPROTO_IP, IP_RECVTOS, 1);
  set_int(rx.sock, IPPROTO_IP, IP_RECVTTL, 1);
  set_int(tx.sock, IPPROTO_IP, IP_TOS, 0x08);
  set_int(tx.sock, IPPROTO_IP, IP_TTL, 9);
  ASSERT_TRUE(sendto(tx.sock, bytes("opt"), rx.addr, 0, 5000ms));
  std::string buf(8, '\0');
  auto r = recv_one(rx.sock, buf, 128);
  ASSERT_TRUE(r);
  ASSERT_NE(r->find<ip_tos>(), nullptr);
  EXPECT_EQ(r->find<ip_tos>()->value, 0x08);
  ASSERT_NE(r->find<ip_ttl>(), nullptr);
  EXPECT_EQ(r->find<ip_ttl>()->value, 9);
}

TEST(message, ip_pktinfo_names_the_loopback_interface) {
  auto rx = udp_loopback(domain::inet);
  auto tx = udp_loopback(domain::inet);
  set_int(rx.sock, IPPROTO_IP, IP_PKTINFO, 1);
  std::array<const_iov, 1> iov{bytes("pkt")};
  msg_send m;
  m.addr = rx.addr;
  m.iov = iov;
  m.ctrl.emplace_back(ip_pktinfo{0, {127, 0, 0, 1}, {}});
  ASSERT_TRUE(sendmsg(tx.sock, m, 5000ms));
  std::string buf(8, '\0');
  auto r = recv_one(rx.sock, buf, 128);
  ASSERT_TRUE(r);
  auto* pi = r->find<ip_pktinfo>();
  ASSERT_NE(pi, nullptr);
  EXPECT_EQ(pi->ifindex, ::if_nametoindex("lo"));
  EXPECT_EQ(pi->addr, (std::array<std::uint8_t, 4>{127, 0, 0, 1}));
  EXPECT_EQ(pi->spec_dst, (std::array<std::uint8_t, 4>{127, 0, 0, 1}));
}

TEST(message, ipv6_hoplimit_tclass_and_pktinfo) {
  if (!ipv6_loopback_available()) {
    GTEST_SKIP() << "no IPv6 loopback (::1 cannot be bound) on this machine";
  }
  auto rx = udp_loopback(domain::inet6);
  auto tx = udp_loopback(domain::inet6);
  set_int(rx.sock, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
  set_int(rx.sock, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
  set_int(rx.sock, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
  std::array<const_iov, 1> iov{bytes("six")};
  msg_send m;
  m.addr = rx.addr;
  m.iov = iov;
  m.ctrl.emplace_back(ipv6_hoplimit{7});
  m.ctrl.emplace_back(ipv6_tclass{0x20});
  ASSERT_TRUE(sendmsg(tx.sock, m, 5000ms));
  std::string buf(8, '\0');
  auto r = recv_one(rx.sock, buf, 256);
  ASSERT_TRUE(r) << format_error(r.error());
  ASSERT_NE(r->find<ipv6_hoplimit>(), nullptr);
  EXPECT_EQ(r->find<ipv6_hoplimit>()->value, 7);
  ASSERT_NE(r->find<ipv6_tclass>(), nullptr);
  EXPECT_EQ(r->find<ipv6_tclass>()->value, 0x20);
  auto* pi = r->find<ipv6_pktinfo>();
  ASSERT_NE(pi, nullptr);
  std::array<std::uint8_t, 16> loop{};
  loop[15] = 1;
  EXPECT_EQ(pi->addr, loop);
  EXPECT_EQ(pi->ifindex, ::if_nametoindex("lo"));
}

TEST(message, socket_timestamp_is_recent) {
  auto rx = udp_loopback(domain::inet);
  auto tx = udp_loopback(domain::inet);
  set_int(rx.sock, SOL_SOCKET, SO_TIMESTAMP, 1);
  const auto before = std::chrono::system_clock::now();
  ASSERT_TRUE(sendto(tx.sock, bytes("ts"), rx.addr, 0, 5000ms));
  std::string buf(8, '\0');
  auto r = recv_one(rx.sock, buf, 64);
  ASSERT_TRUE(r);
  auto* ts = r->find<socket_timestamp>();
  ASSERT_NE(ts, nullptr);
  EXPECT_GE(ts->time, std::chrono::time_point_cast<std::chrono::nanoseconds>(before) - 1s);
  EXPECT_LE(ts->time, std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now()) + 1s);
}

TEST(message, ip_recverr_from_the_error_queue) {
  auto rx = udp_loopback(domain::inet);
  const address dead = rx.addr;  // nothing listens there once it is closed
  ASSERT_TRUE(close(rx.sock));
  auto tx = udp_loopback(domain::inet);
  set_int(tx.sock, IPPROTO_IP, IP_RECVERR, 1);
  ASSERT_TRUE(sendto(tx.sock, bytes("anyone?"), dead, 0, 5000ms));
  std::string buf(16, '\0');
  auto r = recv_one(tx.sock, buf, 256, msg::errqueue);
  ASSERT_TRUE(r) << format_error(r.error());
  EXPECT_TRUE(r->flags & msg::errqueue);
  EXPECT_EQ(buf.substr(0, r->size), "anyone?");
  auto* e = r->find<ip_recverr>();
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->ipv6);
  EXPECT_EQ(e->error, errc::econnrefused);
  EXPECT_EQ(e->origin, SO_EE_ORIGIN_ICMP);
  EXPECT_EQ(e->type, 3);  // destination unreachable
  EXPECT_EQ(e->code, 3);  // port unreachable
  ASSERT_TRUE(e->offender);
  EXPECT_EQ(e->offender->to_string(), "127.0.0.1:0");
}

// -- timeout forms -----------------------------------------------------------

TEST(message, recvmsg_nowait_selects_then_receives) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  std::string buf(8, '\0');
  std::array<std::span<std::byte>, 1> iov{writable(buf)};
  auto r = recvmsg(b, iov, 0, 0, nowait);
  ASSERT_TRUE(r.is_select());
  EXPECT_EQ(r.select_info()->tag, select_tag::recvmsg);
  const select_handle h = r.select_info()->handle;

  ASSERT_TRUE(send(a, bytes("ready"), 0, 5000ms));
  auto ev = wait_select(5000ms);
  ASSERT_TRUE(ev) << format_error(ev.error());
  EXPECT_EQ(ev->handle, h);
  EXPECT_EQ(ev->tag, select_tag::recvmsg);
  auto again = recvmsg(b, iov, 0, 0, h);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(buf.substr(0, again.value().size), "ready");
}

TEST(message, recvmsg_times_out_and_cancel_withdraws) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  std::string buf(8, '\0');
  std::array<std::span<std::byte>, 1> iov{writable(buf)};
  auto r = recvmsg(b, iov, 0, 0, 20ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::timeout);
  auto n = recvmsg(b, iov, 0, 0, nowait);
  ASSERT_TRUE(n.is_select());
  ASSERT_TRUE(cancel(b, *n.select_info()));
  ASSERT_TRUE(send(a, bytes("late"), 0, 5000ms));
  EXPECT_EQ(wait_select(20ms).error(), errc::timeout);  // nothing for the cancelled select
}

TEST(message, stream_sendmsg_nowait_carries_progress_until_done) {
  auto [c, a] = test::connected_pair();
  set_int(c, SOL_SOCKET, SO_SNDBUF, 16 * 1024);
  set_int(a, SOL_SOCKET, SO_RCVBUF, 16 * 1024);
  std::vector<std::string> parts;
  for (char ch : {'a', 'b', 'c'}) {
    parts.emplace_back(1 << 20, ch);
  }
  std::array<const_iov, 3> iov{bytes(parts[0]), bytes(parts[1]), bytes(parts[2])};
  const std::size_t total = 3u << 20;

  msg_send m;
  m.iov = iov;
  auto r = sendmsg(c, m, nowait);
  ASSERT_TRUE(r.is_select());  // nobody reads yet: the buffers fill up
  EXPECT_EQ(r.select_info()->tag, select_tag::sendmsg);
  std::size_t done = r.select_info()->progress;
  EXPECT_GT(done, 0u);
  EXPECT_LT(done, total);

  std::string got;
  std::thread reader([&, a = a] {
    std::string buf(64 * 1024, '\0');
    while (got.size() < total) {
      auto n = recv(a, writable(buf), 0, 5000ms);
      if (!n) {
        break;
      }
      got.append(buf, 0, *n);
    }
  });
  int selects = 1;
  while (done < total) {
    auto ev = wait_select(5000ms);
    ASSERT_TRUE(ev) << format_error(ev.error());
    auto rest = iov_after(iov, done);
    msg_send more;
    more.iov = rest;
    auto again = sendmsg(c, more, ev->handle);
    if (again.is_ok()) {
      done += again.value();
    } else {
      ASSERT_TRUE(again.is_select()) << format_error(again.error());
      done += again.select_info()->progress;
      ++selects;
    }
  }
  reader.join();
  EXPECT_EQ(done, total);
  EXPECT_GE(selects, 1);
  ASSERT_EQ(got.size(), total);
  EXPECT_EQ(got, parts[0] + parts[1] + parts[2]);
}

TEST(message, stream_sendmsg_blocking_sends_everything) {
  auto [c, a] = test::connected_pair();
  set_int(c, SOL_SOCKET, SO_SNDBUF, 16 * 1024);
  std::string big(2 << 20, 'z');
  big[12345] = 'y';
  std::array<const_iov, 3> iov{bytes("head"), bytes(big), bytes("tail")};
  std::string got;
  const std::size_t total = big.size() + 8;
  std::thread reader([&, a = a] {
    std::string buf(64 * 1024, '\0');
    while (got.size() < total) {
      auto n = recv(a, writable(buf), 0, 5000ms);
      if (!n) {
        break;
      }
      got.append(buf, 0, *n);
    }
  });
  msg_send m;
  m.iov = iov;
  auto sent = sendmsg(c, m, 10000ms);
  reader.join();
  ASSERT_TRUE(sent) << format_error(sent.error());
  EXPECT_EQ(*sent, total);
  EXPECT_EQ(got, "head" + big + "tail");
}

// -- errors ------------------------------------------------------------------

TEST(message, closed_socket_gives_closed) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  ASSERT_TRUE(close(a));
  std::array<const_iov, 1> out{bytes("x")};
  msg_send m;
  m.iov = out;
  EXPECT_EQ(sendmsg(a, m).error(), errc::closed);
  EXPECT_EQ(sendmsg(a, m, nowait).error(), errc::closed);
  std::string buf(4, '\0');
  std::array<std::span<std::byte>, 1> in{writable(buf)};
  EXPECT_EQ(recvmsg(a, in).error(), errc::closed);
  EXPECT_EQ(recvmsg(a, in, 0, 0, nowait).error(), errc::closed);
  EXPECT_EQ(recvmsg(socket{}, in, 0, 0, 10ms).error(), errc::closed);
}

TEST(message, stream_eof_gives_closed) {
  auto [a, b] = unix_pair(SOCK_STREAM);
  ASSERT_TRUE(shutdown(a, shutdown_how::write));
  std::string buf(4, '\0');
  auto r = recv_one(b, buf, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::closed);
}

TEST(message, unsendable_control_message_is_invalid) {
  auto [a, b] = unix_pair(SOCK_DGRAM);
  std::array<const_iov, 1> out{bytes("x")};
  msg_send m;
  m.iov = out;
  m.ctrl.emplace_back(socket_timestamp{});
  EXPECT_EQ(sendmsg(a, m, 100ms).error(), errc::invalid);
  msg_send empty_rights;
  empty_rights.iov = out;
  empty_rights.ctrl.emplace_back(socket_rights_ref{});
  EXPECT_EQ(sendmsg(a, empty_rights, nowait).error(), errc::invalid);
  msg_send bad_fd;
  bad_fd.iov = out;
  bad_fd.ctrl.emplace_back(socket_rights_ref{{-1}});
  EXPECT_EQ(sendmsg(a, bad_fd, 100ms).error(), errc::ebadf);
}

// -- out of memory -----------------------------------------------------------

/// Whether `fd` is an open descriptor.
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Descriptors received while memory is short: recvmsg closes every one it
// could not hold (none stays open with no owner), sets ctrunc as the kernel
// does for what it cannot fit, and still reports the byte it read: on a
// stream socket the byte would otherwise be lost.
TEST(message, received_descriptors_without_memory_to_hold_them_are_closed_and_the_bytes_come_with_ctrunc) {
  auto [a, b] = unix_pair(SOCK_STREAM);
  // A first message makes the sockets' counters (allocated at first use).
  std::string first(1, '\0');
  ASSERT_TRUE(send(a, bytes("w"), 0, 5000ms));
  ASSERT_TRUE(recv_one(b, first, 0));
  const int before = test::open_fds();
  {
    std::vector<unique_fd> passed;
    std::vector<int> raw;
    for (int k = 0; k < 3; ++k) {
      passed.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      ASSERT_TRUE(passed.back());
      raw.push_back(passed.back().get());
    }
    std::array<const_iov, 1> iov{bytes("x")};
    msg_send m;
    m.iov = iov;
    m.ctrl.emplace_back(socket_rights_ref{raw});
    ASSERT_TRUE(sendmsg(a, m, 5000ms));
  }
  ASSERT_TRUE(send(a, bytes("yz"), 0, 5000ms));
  ASSERT_EQ(test::open_fds(), before) << "the kernel holds the passed descriptors in flight";
  std::array<std::byte, 8> buf{};
  std::array<std::span<std::byte>, 1> into{std::span<std::byte>(buf)};
  std::optional<result<msg_recv>> r;
  {
    test::failing_allocations no_memory;
    r.emplace(recvmsg(b, into, cmsg_space_for_fds(3), 0, 5000ms));
  }
  ASSERT_TRUE(*r) << format_error(r->error());
  const msg_recv& got = **r;
  ASSERT_EQ(got.size, 1U) << "the kernel ends a read at the message that carried descriptors";
  EXPECT_EQ(static_cast<char>(buf[0]), 'x');
  EXPECT_TRUE(got.ctrl_truncated());
  EXPECT_TRUE(got.ctrl.empty());
  EXPECT_EQ(test::open_fds(), before) << "a received descriptor was left open with no owner";
  // The stream goes on where it was.
  std::string rest(2, '\0');
  auto more = recv_one(b, rest, 0);
  ASSERT_TRUE(more) << format_error(more.error());
  EXPECT_EQ(rest, "yz");
}

/// Four open descriptors (of /dev/null) and a control buffer carrying
/// them as two SCM_RIGHTS messages with an ip_ttl between: [0, 1], ttl 64,
/// [2, 3]. Empty fds on failure (the test fails).
std::pair<std::vector<int>, std::vector<std::byte>> two_rights_buffer() {
  std::vector<int> fds;
  for (int k = 0; k < 4; ++k) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    if (fd < 0) {
      return {};
    }
    fds.push_back(fd);
  }
  std::vector<cmsg> in;
  in.emplace_back(socket_rights_ref{{fds[0], fds[1]}});
  in.emplace_back(ip_ttl{64});
  in.emplace_back(socket_rights_ref{{fds[2], fds[3]}});
  auto space = cmsg_space(in);
  EXPECT_TRUE(space);
  std::vector<std::byte> buf(space.value_or(0));
  EXPECT_TRUE(encode_cmsgs(in, buf));
  return {fds, buf};
}

// The decoder alone, over a buffer with two SCM_RIGHTS messages: when it
// cannot allocate it throws, and every descriptor of both is closed.
TEST(cmsg, a_decode_that_runs_out_of_memory_closes_every_descriptor_of_the_buffer) {
  auto [fds, buf] = two_rights_buffer();
  ASSERT_EQ(fds.size(), 4U);
  bool threw = false;
  {
    test::failing_allocations no_memory;
    try {
      (void)decode_cmsgs(buf);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
  }
  EXPECT_TRUE(threw);
  for (int fd : fds) {
    EXPECT_FALSE(is_open(fd)) << "descriptor " << fd << " left open";
  }
}

// The decoder that keeps what it could hold: given fewer and fewer
// allocations, it returns a prefix of the messages, each descriptor either
// owned by that prefix (and open) or closed, never both and never neither.
TEST(cmsg, a_partial_decode_keeps_a_prefix_and_closes_every_descriptor_it_does_not_hold) {
  bool saw_partial = false;
  bool saw_whole = false;
  for (std::size_t allowed = 0; allowed < 16 && !saw_whole; ++allowed) {
    auto [fds, buf] = two_rights_buffer();
    ASSERT_EQ(fds.size(), 4U);
    std::vector<cmsg> out;
    bool whole = false;
    {
      test::failing_allocations short_of_memory(allowed);
      whole = decode_cmsgs_into(buf, out);
    }
    ASSERT_LE(out.size(), 3U);
    if (whole) {
      ASSERT_EQ(out.size(), 3U) << "allowed " << allowed;
      saw_whole = true;
    } else if (!out.empty()) {
      saw_partial = true;
    }
    // The prefix is the input's, in order.
    std::vector<int> held;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (i == 1) {
        auto* ttl = std::get_if<ip_ttl>(&out[i]);
        ASSERT_NE(ttl, nullptr) << "allowed " << allowed;
        EXPECT_EQ(ttl->value, 64);
        continue;
      }
      auto* rights = std::get_if<socket_rights>(&out[i]);
      ASSERT_NE(rights, nullptr) << "allowed " << allowed;
      for (const unique_fd& fd : rights->fds) {
        held.push_back(fd.get());
      }
    }
    // (Descriptor numbers are reused as the loop goes: each is checked
    // before `out` is dropped.)
    for (std::size_t k = 0; k < fds.size(); ++k) {
      bool owned = k < 2 ? out.size() >= 1 : out.size() == 3;
      EXPECT_EQ(is_open(fds[k]), owned) << "allowed " << allowed << ", descriptor " << k;
      if (owned) {
        EXPECT_NE(std::find(held.begin(), held.end(), fds[k]), held.end());
      }
    }
  }
  EXPECT_TRUE(saw_whole) << "16 allocations should decode three messages";
  EXPECT_TRUE(saw_partial) << "no allowance stopped the decode after the first message";
}

// -- cmsg encoding -----------------------------------------------------------

/// Encodes `ctrl` and decodes the result.
std::vector<cmsg> round_trip(std::span<const cmsg> ctrl) {
  auto space = cmsg_space(ctrl);
  EXPECT_TRUE(space);
  std::vector<std::byte> buf(space.value_or(0));
  auto n = encode_cmsgs(ctrl, buf);
  EXPECT_TRUE(n);
  EXPECT_EQ(n.value_or(0), buf.size());
  return decode_cmsgs(buf);
}

TEST(cmsg, typed_values_round_trip) {
  std::vector<cmsg> in;
  in.emplace_back(ip_tos{0xb8});
  in.emplace_back(ip_ttl{64});
  in.emplace_back(ip_pktinfo{3, {10, 0, 0, 1}, {10, 0, 0, 2}});
  in.emplace_back(ipv6_hoplimit{255});
  in.emplace_back(ipv6_tclass{0x2e});
  in.emplace_back(ipv6_pktinfo{{0xfe, 0x80, 15, 1}, 4});
  in.emplace_back(socket_credentials{1, 2, 3});
  in.emplace_back(cmsg_raw{1234, 5, {std::byte{1}, std::byte{2}, std::byte{3}}});
  auto out = round_trip(in);
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(std::get<ip_tos>(out[0]).value, 0xb8);  // an int on send decodes as the byte
  EXPECT_EQ(std::get<ip_ttl>(out[1]).value, 64);
  const auto& pi = std::get<ip_pktinfo>(out[2]);
  EXPECT_EQ(pi.ifindex, 3u);
  EXPECT_EQ(pi.spec_dst, (std::array<std::uint8_t, 4>{10, 0, 0, 1}));
  EXPECT_EQ(pi.addr, (std::array<std::uint8_t, 4>{10, 0, 0, 2}));
  EXPECT_EQ(std::get<ipv6_hoplimit>(out[3]).value, 255);
  EXPECT_EQ(std::get<ipv6_tclass>(out[4]).value, 0x2e);
  EXPECT_EQ(std::get<ipv6_pktinfo>(out[5]).addr[3], 1);
  EXPECT_EQ(std::get<ipv6_pktinfo>(out[5]).ifindex, 4u);
  EXPECT_EQ(std::get<socket_credentials>(out[6]).gid, 3u);
  EXPECT_EQ(std::get<cmsg_raw>(out[7]), std::get<cmsg_raw>(in[7]));
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(level_of(out[i]), level_of(in[i])) << i;
    EXPECT_EQ(type_of(out[i]), type_of(in[i])) << i;
  }
}

TEST(cmsg, decoded_rights_own_their_descriptors) {
  int d1 = ::dup(STDERR_FILENO);
  int d2 = ::dup(STDERR_FILENO);
  ASSERT_GE(d1, 0);
  ASSERT_GE(d2, 0);
  {
    std::vector<cmsg> in;
    in.emplace_back(socket_rights_ref{{d1, d2}});
    auto out = round_trip(in);
    ASSERT_EQ(out.size(), 1u);
    const auto& r = std::get<socket_rights>(out[0]);
    ASSERT_EQ(r.fds.size(), 2u);
    EXPECT_EQ(r.fds[0].get(), d1);
    EXPECT_EQ(r.fds[1].get(), d2);
    EXPECT_EQ(level_of(out[0]), SOL_SOCKET);
    EXPECT_EQ(type_of(out[0]), SCM_RIGHTS);
  }
  EXPECT_FALSE(is_open_fd(d1));
  EXPECT_FALSE(is_open_fd(d2));
}

TEST(cmsg, space_and_encoding_errors) {
  std::vector<cmsg> ts;
  ts.emplace_back(socket_timestamp{});
  EXPECT_EQ(cmsg_space(ts).error(), errc::invalid);
  std::vector<cmsg> err;
  err.emplace_back(ip_recverr{});
  EXPECT_EQ(cmsg_space(err).error(), errc::invalid);
  std::vector<cmsg> too_many;
  too_many.emplace_back(socket_rights_ref{std::vector<int>(254, 0)});
  EXPECT_EQ(cmsg_space(too_many).error(), errc::invalid);
  EXPECT_EQ(cmsg_space({}).value_or(1), 0u);

  std::vector<cmsg> ttl;
  ttl.emplace_back(ip_ttl{1});
  EXPECT_EQ(cmsg_space(ttl).value_or(0), CMSG_SPACE(sizeof(int)));
  alignas(::cmsghdr) std::array<std::byte, 64> buf{};
  EXPECT_EQ(encode_cmsgs(ttl, std::span(buf).first(4)).error(), errc::invalid);        // too small
  EXPECT_EQ(encode_cmsgs(ttl, std::span(buf).subspan(1, 32)).error(), errc::invalid);  // misaligned
  EXPECT_EQ(cmsg_space_for_fds(3), CMSG_SPACE(3 * sizeof(int)));
}

TEST(cmsg, decode_keeps_unknown_and_odd_sized_messages_raw) {
  std::vector<cmsg> in;
  in.emplace_back(cmsg_raw{IPPROTO_IP, IP_TTL, {std::byte{7}}});  // a TTL must be an int
  in.emplace_back(cmsg_raw{SOL_SOCKET, 999, {}});
  auto out = round_trip(in);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<cmsg_raw>(out[0]), std::get<cmsg_raw>(in[0]));
  EXPECT_EQ(std::get<cmsg_raw>(out[1]), std::get<cmsg_raw>(in[1]));
}

TEST(cmsg, decode_stops_at_a_truncated_header) {
  std::vector<cmsg> in;
  in.emplace_back(ip_ttl{5});
  in.emplace_back(ip_ttl{6});
  auto space = cmsg_space(in);
  std::vector<std::byte> buf(space.value_or(0));
  ASSERT_TRUE(encode_cmsgs(in, buf));
  auto out = decode_cmsgs(std::span(buf).first(buf.size() - 8));  // the second header, not its data
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<ip_ttl>(out[0]).value, 5);
  EXPECT_TRUE(decode_cmsgs({}).empty());
}

TEST(cmsg, unique_fd_moves_releases_and_resets) {
  int d = ::dup(STDERR_FILENO);
  ASSERT_GE(d, 0);
  unique_fd a(d);
  unique_fd b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), d);
  unique_fd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), d);
  int raw = c.release();
  EXPECT_FALSE(c);
  EXPECT_TRUE(is_open_fd(raw));
  c.reset(raw);
  c.reset();
  EXPECT_FALSE(is_open_fd(d));
}

TEST(message, iov_after_skips_whole_and_partial_buffers) {
  std::array<const_iov, 3> iov{bytes("abc"), bytes(""), bytes("defg")};
  auto rest = iov_after(iov, 4);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(text(rest[0]), "efg");
  auto all = iov_after(iov, 0);
  EXPECT_EQ(all.size(), 2u);  // the empty buffer is dropped
  EXPECT_TRUE(iov_after(iov, 7).empty());
}

}  // namespace
}  // namespace otpnet::socket
