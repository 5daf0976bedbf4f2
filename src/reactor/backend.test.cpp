#include "otpnet/reactor/backend.hpp"

#include <otpnet/reactor/backend_selector.hpp>

#include "internal/syscall.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

// The conformance suite every backend passes, instantiated per available
// backend (epoll, and io_uring where the kernel has it).

namespace otpnet::reactor {
namespace {

using namespace std::chrono_literals;

class backend_test : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    auto b = backend_selector::create(GetParam(), backend_options{.max_events = 8});
    ASSERT_TRUE(b) << err_name(b.error());
    backend_ = std::move(*b);
  }

  void TearDown() override {
    for (int fd : fds_) {
      (void)internal::sys_once([fd] { return ::close(fd); });
    }
  }

  // A connected AF_UNIX stream pair, closed by TearDown.
  std::array<int, 2> socket_pair() {
    int sv[2] = {-1, -1};
    auto r = internal::sys([&] { return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv); });
    EXPECT_TRUE(r);
    fds_.push_back(sv[0]);
    fds_.push_back(sv[1]);
    return {sv[0], sv[1]};
  }

  static void put(int fd, std::string_view bytes) {
    auto r = internal::sys([&] { return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
    ASSERT_TRUE(r);
  }

  // Polls without waiting until the batch is empty; the events seen.
  std::vector<io_event> poll_all() {
    std::vector<io_event> all;
    std::array<io_event, 8> out;
    for (int turn = 0; turn < 16; ++turn) {
      auto n = backend_->poll(out, 0ms);
      EXPECT_TRUE(n);
      if (!n || *n == 0) {
        break;
      }
      all.insert(all.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    return all;
  }

  // Reads everything pending on `fd`, until eagain (the drain of contract
  // point 2).
  static void drain(int fd) {
    std::array<char, 4096> buf;
    for (;;) {
      auto r = internal::sys([&] { return ::recv(fd, buf.data(), buf.size(), 0); });
      if (!r || *r == 0) {
        return;
      }
    }
  }

  void close_fd(int fd) {
    (void)internal::sys_once([fd] { return ::close(fd); });
    std::erase(fds_, fd);
  }

  std::unique_ptr<backend> backend_;
  std::vector<int> fds_;
};

TEST_P(backend_test, reports_the_registered_token) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 77, interest::read));
  EXPECT_TRUE(poll_all().empty());
  put(b, "x");
  auto evs = poll_all();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token, 77u);
  EXPECT_TRUE(evs[0].ready.readable);
  EXPECT_FALSE(evs[0].ready.error);
  ASSERT_TRUE(backend_->remove(a));
}

TEST_P(backend_test, both_directions_in_one_event) {
  auto [a, b] = socket_pair();
  put(b, "x");
  ASSERT_TRUE(backend_->add(a, 1, interest::read_write));
  auto evs = poll_all();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].ready.readable);
  EXPECT_TRUE(evs[0].ready.writable);
  ASSERT_TRUE(backend_->remove(a));
}

TEST_P(backend_test, zero_timeout_does_not_wait_and_timeout_expires) {
  std::array<io_event, 4> out;
  auto n = backend_->poll(out, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  n = backend_->poll(out, 1ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

TEST_P(backend_test, batch_is_bounded_by_the_output_span_and_nothing_is_lost) {
  std::vector<int> ends;
  for (int i = 0; i < 3; ++i) {
    auto [a, b] = socket_pair();
    ASSERT_TRUE(backend_->add(a, static_cast<std::uint64_t>(i), interest::read));
    put(b, "x");
    ends.push_back(a);
  }
  std::array<io_event, 2> out;
  auto n = backend_->poll(out, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  auto rest = poll_all();
  EXPECT_EQ(rest.size(), 1u);
  for (int a : ends) {
    ASSERT_TRUE(backend_->remove(a));
  }
}

TEST_P(backend_test, modify_changes_token_and_interest) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 1, interest::read));
  EXPECT_TRUE(poll_all().empty());  // writable, but not asked for
  ASSERT_TRUE(backend_->modify(a, 2, interest::read_write));
  auto evs = poll_all();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token, 2u);
  EXPECT_TRUE(evs[0].ready.writable);
  ASSERT_TRUE(backend_->remove(a));
}

TEST_P(backend_test, removed_descriptor_reports_nothing) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 1, interest::read));
  ASSERT_TRUE(backend_->remove(a));
  put(b, "x");
  EXPECT_TRUE(poll_all().empty());
}

TEST_P(backend_test, peer_close_is_a_readable_hangup) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 1, interest::read));
  (void)internal::sys_once([b = b] { return ::close(b); });
  std::erase(fds_, b);
  auto evs = poll_all();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].ready.readable);
  EXPECT_TRUE(evs[0].ready.hangup);
  ASSERT_TRUE(backend_->remove(a));
}

TEST_P(backend_test, registration_errors_are_named) {
  auto [a, b] = socket_pair();
  EXPECT_EQ(backend_->add(-1, 0, interest::read).error(), errc::ebadf);
  ASSERT_TRUE(backend_->add(a, 0, interest::read));
  EXPECT_EQ(backend_->add(a, 0, interest::read).error(), errc::eexist);
  EXPECT_EQ(backend_->modify(b, 0, interest::read).error(), errc::enoent);
  EXPECT_EQ(backend_->remove(b).error(), errc::enoent);
  ASSERT_TRUE(backend_->remove(a));
  std::array<io_event, 1> none;
  EXPECT_EQ(backend_->poll(std::span<io_event>(none.data(), 0), 0ms).error(), errc::einval);
}

// Edge-triggered: an undrained direction is not reported again until new
// data arrives (no level-triggered repeats), and no re-arm is needed.
TEST_P(backend_test, edges_are_reported_once_and_without_re_arming) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 1, interest::read));
  put(b, "x");
  EXPECT_EQ(poll_all().size(), 1u);
  EXPECT_TRUE(poll_all().empty());  // not drained, but no new edge
  put(b, "y");
  EXPECT_EQ(poll_all().size(), 1u);
  drain(a);
  for (int i = 0; i < 3; ++i) {
    put(b, "z");
    auto evs = poll_all();
    ASSERT_EQ(evs.size(), 1u) << "round " << i;
    EXPECT_TRUE(evs[0].ready.readable);
    drain(a);
  }
  ASSERT_TRUE(backend_->remove(a));
}

// Write readiness after a full send buffer: send until eagain, then the
// peer reads and the writer gets a writable edge.
TEST_P(backend_test, writable_after_the_peer_makes_room) {
  auto [a, b] = socket_pair();
  std::string chunk(65536, 'x');
  for (;;) {
    auto r = internal::sys([&] { return ::send(a, chunk.data(), chunk.size(), MSG_NOSIGNAL); });
    if (!r) {
      ASSERT_EQ(r.error(), errc::eagain);
      break;
    }
  }
  ASSERT_TRUE(backend_->add(a, 3, interest::read_write));
  EXPECT_TRUE(poll_all().empty());
  drain(b);
  auto evs = poll_all();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs[0].token, 3u);
  EXPECT_TRUE(evs[0].ready.writable);
  ASSERT_TRUE(backend_->remove(a));
}

// A waiting poll returns when another thread makes the descriptor ready
// (here an eventfd, as the loop's wake-up is).
TEST_P(backend_test, waiting_poll_wakes_for_an_eventfd_written_elsewhere) {
  auto efd = internal::sys([] { return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); });
  ASSERT_TRUE(efd);
  fds_.push_back(*efd);
  ASSERT_TRUE(backend_->add(*efd, 9, interest::read));
  EXPECT_TRUE(poll_all().empty());
  std::thread writer([fd = *efd] {
    std::this_thread::sleep_for(20ms);
    std::uint64_t one = 1;
    (void)internal::sys([&] { return ::write(fd, &one, sizeof one); });
  });
  // Zero events is a normal outcome (an interruption: the kernel's tear-down
  // of an io_uring made by this thread interrupts its waits), so wait again.
  std::array<io_event, 4> out;
  result<std::size_t> n = std::size_t{0};
  for (int turn = 0; turn < 100 && n && *n == 0; ++turn) {
    n = backend_->poll(out, 10000ms);
  }
  writer.join();
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(out[0].token, 9u);
  EXPECT_TRUE(out[0].ready.readable);
  ASSERT_TRUE(backend_->remove(*efd));
}

// Completions in flight for a removed registration are not reported, and
// a new registration of the same descriptor reports under its own token
// only (the descriptor's pending data is seen again).
TEST_P(backend_test, remove_with_events_in_flight_and_re_add) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 1, interest::read));
  EXPECT_TRUE(poll_all().empty());  // the registration is live in the kernel
  put(b, "x");                      // an edge, not yet fetched
  ASSERT_TRUE(backend_->remove(a));
  EXPECT_TRUE(poll_all().empty());
  put(b, "y");
  ASSERT_TRUE(backend_->add(a, 2, interest::read));
  ASSERT_TRUE(backend_->remove(a));
  ASSERT_TRUE(backend_->add(a, 3, interest::read));
  auto evs = poll_all();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token, 3u);
  EXPECT_TRUE(evs[0].ready.readable);
  ASSERT_TRUE(backend_->remove(a));
}

// A modify before the old registration's edge was fetched: the edge comes
// under the new token, never the old one.
TEST_P(backend_test, modify_with_an_edge_in_flight_reports_the_new_token) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(backend_->add(a, 1, interest::read));
  EXPECT_TRUE(poll_all().empty());
  put(b, "x");
  ASSERT_TRUE(backend_->modify(a, 2, interest::read));
  auto evs = poll_all();
  ASSERT_FALSE(evs.empty());
  for (const auto& ev : evs) {
    EXPECT_EQ(ev.token, 2u);
  }
  ASSERT_TRUE(backend_->modify(a, 4, interest::write));
  evs = poll_all();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token, 4u);
  EXPECT_TRUE(evs[0].ready.writable);
  ASSERT_TRUE(backend_->remove(a));
}

// Many descriptors at once, more than the output span: every one is
// reported, none twice in one batch.
TEST_P(backend_test, many_descriptors_each_reported) {
  constexpr int count = 40;
  std::vector<int> ends;
  for (int i = 0; i < count; ++i) {
    auto [a, b] = socket_pair();
    ASSERT_TRUE(backend_->add(a, static_cast<std::uint64_t>(i), interest::read));
    ends.push_back(a);
    put(b, "x");
  }
  std::vector<int> seen(count, 0);
  for (int turn = 0; turn < 64; ++turn) {
    std::array<io_event, 8> out;
    auto n = backend_->poll(out, 0ms);
    ASSERT_TRUE(n);
    if (*n == 0) {
      break;
    }
    std::vector<std::uint64_t> batch;
    for (std::size_t i = 0; i < *n; ++i) {
      ASSERT_LT(out[i].token, static_cast<std::uint64_t>(count));
      EXPECT_EQ(std::count(batch.begin(), batch.end(), out[i].token), 0);
      batch.push_back(out[i].token);
      ++seen[out[i].token];
    }
  }
  for (int i = 0; i < count; ++i) {
    EXPECT_GE(seen[static_cast<std::size_t>(i)], 1) << i;
  }
  for (int a : ends) {
    ASSERT_TRUE(backend_->remove(a));
  }
}

TEST_P(backend_test, closed_descriptor_and_regular_files_are_refused) {
  auto [a, b] = socket_pair();
  close_fd(a);
  EXPECT_EQ(backend_->add(a, 0, interest::read).error(), errc::ebadf);
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(backend_->add(::fileno(f), 0, interest::read).error(), errc::eperm);
  std::fclose(f);
}

// A refused connect on loopback: an error, reported with both directions
// ready (contract point 4). The port is one the kernel chose and that was
// closed again, never a fixed one.
TEST_P(backend_test, socket_error_marks_both_directions) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  auto probe = internal::sys([] { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  ASSERT_TRUE(probe);
  ASSERT_TRUE(internal::sys([&] { return ::bind(*probe, reinterpret_cast<sockaddr*>(&addr), len); }));
  ASSERT_TRUE(internal::sys([&] { return ::getsockname(*probe, reinterpret_cast<sockaddr*>(&addr), &len); }));
  close_fd(*probe);

  auto s = internal::sys([] { return ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); });
  ASSERT_TRUE(s);
  fds_.push_back(*s);
  auto c = internal::sys_once([&] { return ::connect(*s, reinterpret_cast<sockaddr*>(&addr), len); });
  if (!c && c.error() != errc::einprogress) {
    EXPECT_EQ(c.error(), errc::econnrefused);  // refused at once: nothing to poll
    return;
  }
  ASSERT_TRUE(backend_->add(*s, 5, interest::read_write));
  std::array<io_event, 4> out;
  readiness seen;
  for (int turn = 0; turn < 8 && !seen.error; ++turn) {
    auto n = backend_->poll(out, 5000ms);
    ASSERT_TRUE(n);
    for (std::size_t i = 0; i < *n; ++i) {
      EXPECT_EQ(out[i].token, 5u);
      seen = out[i].ready;
    }
  }
  EXPECT_TRUE(seen.error);
  EXPECT_TRUE(seen.readable);
  EXPECT_TRUE(seen.writable);
  ASSERT_TRUE(backend_->remove(*s));
}

INSTANTIATE_TEST_SUITE_P(backends, backend_test, ::testing::ValuesIn(backend_selector::available()),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace otpnet::reactor
