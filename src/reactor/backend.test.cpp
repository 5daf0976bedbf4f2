#include "otpnet/reactor/backend.hpp"

#include <otpnet/reactor/backend_selector.hpp>

#include "internal/syscall.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

// The conformance suite every backend passes, instantiated per available
// backend (epoll today; io_uring joins when it exists).

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

INSTANTIATE_TEST_SUITE_P(backends, backend_test, ::testing::ValuesIn(backend_selector::available()),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace otpnet::reactor
