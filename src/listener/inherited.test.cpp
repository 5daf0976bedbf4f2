// Socket activation: the environment systemd sets, read with the
// descriptors put at numbers of the test's choosing (systemd's start at 3,
// which a test process cannot spare), and a listener accepting on a socket
// that listens already.
#include <otpnet/listener/inherited.hpp>

#include "listener/harness.test.hpp"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>

namespace otpnet::listener::test {
namespace {

/// Descriptors moved to `first`, `first` + 1, ... (as systemd passes them),
/// closed at the end unless a test took them.
class passed_fds {
 public:
  explicit passed_fds(int first) : first_(first) {}
  passed_fds(const passed_fds&) = delete;
  passed_fds& operator=(const passed_fds&) = delete;
  ~passed_fds() {
    for (int fd : fds_) {
      ::close(fd);
    }
  }
  /// Moves `fd` to the next number; false if it could not (or the number
  /// is taken: dup2 would close what uses it).
  bool add(int fd) {
    int at = first_ + static_cast<int>(fds_.size());
    if (fd < 0 || ::fcntl(at, F_GETFD) != -1 || ::dup2(fd, at) != at) {
      return false;
    }
    ::close(fd);
    fds_.push_back(at);
    return true;
  }
  /// The sockets now own them: not closed here.
  void taken() { fds_.clear(); }
  std::string count() const { return std::to_string(fds_.size()); }
  int at(std::size_t i) const { return fds_[i]; }

 private:
  int first_;
  std::vector<int> fds_;
};

int listening_tcp(std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

constexpr int first = 700;  // far above what the test process has open
std::string my_pid() { return std::to_string(::getpid()); }

/// Listener tests on a socket that listens already, as systemd passes one.
class passed_socket_test : public listener_test {
 protected:
  /// A socket listening on 127.0.0.1 (`held`, kept by the test as systemd
  /// keeps its own; its port in `port`), and raw-echo listener options that
  /// accept on it alone.
  static listener_options on_passed_socket(so::socket& held, std::uint16_t& port, std::size_t max_connections = 0) {
    int fd = listening_tcp(&port);
    auto s = so::open(fd, {.dup = false});
    EXPECT_TRUE(fd >= 0 && s) << "no listening socket";
    held = s ? *s : so::socket();
    listener_options o = raw_options(max_connections);
    o.addresses.clear();
    o.sockets = {held};
    return o;
  }
};

TEST(inherited_sockets, none_when_the_variables_are_not_for_this_process) {
  auto none = detail::inherited_sockets_of(nullptr, nullptr, nullptr, first);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  std::string another = std::to_string(::getpid() + 1);  // not ours, whoever it is
  auto other = detail::inherited_sockets_of(another.c_str(), "2", nullptr, first);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());
  // Another process's variables are not ours to judge, malformed or not
  // (sd_listen_fds checks the pid first).
  auto malformed = detail::inherited_sockets_of(another.c_str(), "x", "a:b:c", first);
  ASSERT_TRUE(malformed);
  EXPECT_TRUE(malformed->empty());
}

TEST(inherited_sockets, a_listening_and_a_datagram_socket_with_their_names) {
  passed_fds fds(first);
  std::uint16_t port = 0;
  ASSERT_TRUE(fds.add(listening_tcp(&port)));
  ASSERT_TRUE(fds.add(::socket(AF_INET, SOCK_DGRAM, 0)));  // not close-on-exec, as passed
  auto got = detail::inherited_sockets_of(my_pid().c_str(), fds.count().c_str(), "web:stats", first);
  ASSERT_TRUE(got) << format_error(got.error());
  fds.taken();
  ASSERT_EQ(got->size(), 2U);
  EXPECT_EQ((*got)[0].name, "web");
  EXPECT_TRUE((*got)[0].listening);
  EXPECT_EQ((*got)[0].address, so::address::inet_loopback(port));
  EXPECT_EQ((*got)[0].sock.native_handle(), first);
  EXPECT_EQ((*got)[1].name, "stats");
  EXPECT_FALSE((*got)[1].listening);
  for (const auto& s : *got) {
    EXPECT_EQ(::fcntl(s.sock.native_handle(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "a child would inherit it";
  }
}

TEST(inherited_sockets, malformed_variables_are_invalid_and_take_nothing) {
  passed_fds fds(first);
  std::uint16_t port = 0;
  ASSERT_TRUE(fds.add(listening_tcp(&port)));
  for (auto [pid, count, names] : std::vector<std::tuple<std::string, std::string, const char*>>{
           {my_pid(), "x", nullptr},     // not a number
           {my_pid(), "-1", nullptr},    // negative
           {my_pid(), "1025", nullptr},  // more than systemd passes
           {"12ab", "1", nullptr},       // a pid that is not a number
           {my_pid(), "1", "a:b"},       // two names for one descriptor
       }) {
    auto r = detail::inherited_sockets_of(pid.c_str(), count.c_str(), names, first);
    ASSERT_FALSE(r) << pid << " " << count;
    EXPECT_EQ(r.error(), errc::invalid);
  }
  EXPECT_NE(::fcntl(fds.at(0), F_GETFD), -1) << "a refused call closed a descriptor";
}

TEST(inherited_sockets, a_descriptor_that_is_closed_or_not_a_socket_takes_none) {
  passed_fds fds(first);
  std::uint16_t port = 0;
  ASSERT_TRUE(fds.add(listening_tcp(&port)));
  auto gap = detail::inherited_sockets_of(my_pid().c_str(), "2", nullptr, first);  // first + 1 is not open
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error(), errc::ebadf);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[1]);
  ASSERT_TRUE(fds.add(p[0]));  // systemd's ListenFIFO= passes such
  auto fifo = detail::inherited_sockets_of(my_pid().c_str(), "2", nullptr, first);
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error(), errc::enotsock);
  EXPECT_NE(::fcntl(fds.at(0), F_GETFD), -1) << "the socket before them was taken and closed";
}

// A listener accepting on a socket that listened already: its port is the
// socket's, and a drain closes only the listener's descriptor, so a client
// that comes after it waits in the backlog of the socket the "manager"
// still holds, for the next listener.
TEST_F(listener_test, a_listener_accepts_on_a_socket_that_listens_already) {
  std::uint16_t port = 0;
  int fd = listening_tcp(&port);
  ASSERT_GE(fd, 0);
  auto manager = so::open(fd, {.dup = false});  // what systemd keeps
  ASSERT_TRUE(manager);
  auto passed = so::open(::dup(fd), {.dup = false});
  ASSERT_TRUE(passed);
  listener_options o = raw_options();
  o.addresses.clear();
  o.sockets = {*passed};
  ASSERT_TRUE(start_tree(o));
  EXPECT_EQ(first_port(), port);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c);
  EXPECT_EQ(c.echo("inherited"), "inherited");
  c.close();
  auto d = sync_wait(listener::drain("lst", must));
  ASSERT_TRUE(d);
  peer later = peer::connect_port(port, must);
  EXPECT_TRUE(later) << "the drain refused a client: the socket was shut, not just closed here";
  EXPECT_EQ(later.end_state(quiet), "open") << "nobody accepts until the next listener";
}

// The listener keeps a descriptor of its own: when it ends, and its
// supervisor starts it again with the same options, the socket is there.
TEST_F(passed_socket_test, a_listener_restarted_on_a_socket_that_listens_already_accepts_again) {
  std::uint16_t port = 0;
  so::socket held;
  ASSERT_TRUE(start_tree(on_passed_socket(held, port)));
  peer before = peer::connect_port(port);
  ASSERT_TRUE(before);
  EXPECT_EQ(before.echo("before"), "before");
  auto stopped = sync_wait(supervisor::terminate_child("top", "listener"));
  ASSERT_TRUE(stopped) << stopped.error().to_string();
  auto again = sync_wait(supervisor::restart_child("top", "listener"));
  ASSERT_TRUE(again.is_ok()) << again.reason().to_string();
  peer after = peer::connect_port(port);
  ASSERT_TRUE(after);
  EXPECT_EQ(after.echo("after"), "after");
  EXPECT_EQ(before.echo("still"), "still") << "the listener's end cost a live connection";
}

// A passed socket shut down under the listener (its manager's copy, the
// same open socket) no longer listens: accept answers einval. The listener
// ends with the reason, for its supervisor to start it again, where it
// went on living and accepting nothing (the log said it stopped
// accepting). Here the supervisor (intensity 0) gives up, as otpnet-echo's
// does after its restarts fail on the same socket.
TEST_F(passed_socket_test, a_passed_socket_shut_down_under_the_listener_ends_the_listener) {
  std::uint16_t port = 0;
  so::socket held;
  ASSERT_TRUE(start_tree(on_passed_socket(held, port)));
  peer before = peer::connect_port(port);
  ASSERT_TRUE(before);
  EXPECT_EQ(before.echo("before"), "before");
  pid lst = whereis("lst");
  ASSERT_TRUE(lst);
  ref m = monitor(lst);
  ASSERT_EQ(::shutdown(held.native_handle(), SHUT_RD), 0);
  auto down = mb().receive<down_msg>(must, [m](const down_msg& d) { return d.monitor == m; });
  ASSERT_TRUE(down) << "the listener lives on, accepting nothing";
  std::string why = down->reason.to_string();
  EXPECT_NE(why.find("accept_failed"), std::string::npos) << why;
  EXPECT_NE(why.find("einval"), std::string::npos) << why;
  EXPECT_TRUE(lines().saw({"no longer listens"}));
}

// Two acceptors on one passed socket: both take from its one queue, each
// up to its share of the limit (2 + 1), so exactly three are served, and
// lifting the limit serves the rest. (On io_uring the kernel's multishot
// accept of the first would take every queued connection into its own
// queue and park there: the second's share would go unused.)
TEST_F(passed_socket_test, two_acceptors_share_a_socket_that_listens_already_within_the_limit) {
  std::uint16_t port = 0;
  so::socket held;
  listener_options o = on_passed_socket(held, port, 3);
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o));
  std::vector<peer> clients;
  for (int k = 0; k < 6; ++k) {
    clients.push_back(peer::connect_port(port));
    ASSERT_TRUE(clients.back().write("s" + std::to_string(k)));
  }
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 3; }));
  listener_info i = info();
  ASSERT_EQ(i.accepted_by_acceptor.size(), 2U);
  EXPECT_EQ(i.accepted_by_acceptor[0], 2U) << "acceptor 0 did not fill its share from the passed socket";
  EXPECT_EQ(i.accepted_by_acceptor[1], 1U) << "acceptor 1 did not fill its share from the passed socket";
  ASSERT_TRUE(sync_wait(listener::set_max_connections("lst", 0)));
  for (int k = 0; k < 6; ++k) {
    std::string want = "s" + std::to_string(k);
    EXPECT_EQ(clients[static_cast<std::size_t>(k)].read_exact(want.size()), want) << "client " << k;
  }
}

// Clients that come while the listener is busy (here: waiting for a
// handler's start) wait in the socket's queue, not in one of the
// listener's: when it drains and the next listener takes the socket, every
// one it had not served is answered. (On io_uring the kernel's multishot
// accept would take them into the acceptor's queue meanwhile, and the
// drain would close them: reset instead of served by the next instance.)
TEST_F(passed_socket_test, clients_waiting_on_a_passed_socket_through_a_drain_are_answered_by_the_next_listener) {
  std::uint16_t port = 0;
  so::socket held;
  ASSERT_TRUE(start_tree(on_passed_socket(held, port, 2)));
  knobs.hold_starts = 1;
  std::vector<peer> clients;
  clients.push_back(peer::connect_port(port));
  ASSERT_TRUE(clients.back());
  ASSERT_TRUE(wait_until([] { return knobs.holding != 0; }));  // the listener waits for the start
  for (int k = 1; k < 8; ++k) {
    clients.push_back(peer::connect_port(port));
    ASSERT_TRUE(clients.back());
  }
  EXPECT_TRUE(send(pid::from_value(knobs.holding), release_start{}));
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 2; }));
  std::vector<pollfd> fds;
  for (std::size_t k = 0; k < clients.size(); ++k) {
    ASSERT_TRUE(clients[k].write("w" + std::to_string(k)));
    fds.push_back({clients[k].fd(), POLLIN, 0});
  }
  // The two the first listener serves answer; the others wait.
  ASSERT_TRUE(wait_until([&] { return ::poll(fds.data(), fds.size(), 0) == 2; }));
  std::vector<std::size_t> served;
  for (std::size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents != 0) {
      served.push_back(k);
      EXPECT_EQ(clients[k].read_exact(2), "w" + std::to_string(k));
    }
  }
  auto d = sync_wait(listener::drain("lst", must));
  ASSERT_TRUE(d);
  auto stopped = sync_wait(supervisor::terminate_child("top", "listener"));
  ASSERT_TRUE(stopped) << stopped.error().to_string();
  auto again = sync_wait(supervisor::restart_child("top", "listener"));  // the next listener
  ASSERT_TRUE(again.is_ok()) << again.reason().to_string();
  ASSERT_TRUE(sync_wait(listener::set_max_connections("lst", 0)));
  for (std::size_t k = 0; k < clients.size(); ++k) {
    if (std::find(served.begin(), served.end(), k) != served.end()) {
      EXPECT_TRUE(clients[k].closed_by_server()) << "the drain did not end a connection it served";
      continue;
    }
    std::string want = "w" + std::to_string(k);
    EXPECT_EQ(clients[k].read_exact(want.size()), want)
        << "client " << k << " waited through the drain and was " << clients[k].end_state(quiet);
  }
}

TEST_F(listener_test, a_socket_that_does_not_listen_is_refused_as_invalid) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto s = so::open(fd, {.dup = false});
  ASSERT_TRUE(s);
  auto ls = gen_tcp::listen_on(*s);
  ASSERT_FALSE(ls);
  EXPECT_EQ(ls.error(), errc::invalid);
  listener_options o = raw_options();
  o.addresses.clear();
  o.sockets = {*s};
  auto r = start_tree(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.reason().to_string().find("invalid"), std::string::npos) << r.reason().to_string();
}

}  // namespace
}  // namespace otpnet::listener::test
