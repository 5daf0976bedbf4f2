#include "otpnet/reactor/backend_selector.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

namespace otpnet::reactor {
namespace {

// Sets OTPNET_REACTOR for one test and restores it afterwards.
class env_guard {
 public:
  explicit env_guard(const char* value) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
    }
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~env_guard() {
    if (old_) {
      ::setenv(name, old_->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  static constexpr const char* name = "OTPNET_REACTOR";
  std::optional<std::string> old_;
};

TEST(backend_selector, epoll_is_available_and_default) {
  auto names = backend_selector::available();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "epoll");
  EXPECT_EQ(backend_selector::default_backend(), "epoll");
}

TEST(backend_selector, io_uring_is_known_but_unavailable) {
  auto names = backend_selector::available();
  EXPECT_EQ(std::find(names.begin(), names.end(), "io_uring"), names.end());
  auto known = backend_selector::known();
  auto it = std::find_if(known.begin(), known.end(), [](const backend_status& b) { return b.name == "io_uring"; });
  ASSERT_NE(it, known.end());
  EXPECT_FALSE(it->available);
  EXPECT_NE(it->note.find("not available"), std::string_view::npos);
}

TEST(backend_selector, resolve_names) {
  env_guard env(nullptr);
  EXPECT_EQ(backend_selector::resolve("epoll"), "epoll");
  EXPECT_EQ(backend_selector::resolve(), "epoll");
  EXPECT_EQ(backend_selector::resolve("io_uring").error(), errc::unsupported);
  EXPECT_EQ(backend_selector::resolve("kqueue").error(), errc::invalid);
}

TEST(backend_selector, environment_overrides_default_and_name_overrides_environment) {
  {
    env_guard env("io_uring");
    EXPECT_EQ(backend_selector::resolve().error(), errc::unsupported);
    EXPECT_EQ(backend_selector::create().error(), errc::unsupported);
    EXPECT_EQ(backend_selector::resolve("epoll"), "epoll");
  }
  {
    env_guard env("bogus");
    EXPECT_EQ(backend_selector::resolve().error(), errc::invalid);
  }
  {
    env_guard env("epoll");
    EXPECT_EQ(backend_selector::resolve(), "epoll");
  }
  {
    env_guard env("");
    EXPECT_EQ(backend_selector::resolve(), "epoll");
  }
}

TEST(backend_selector, create_builds_the_named_backend) {
  env_guard env(nullptr);
  auto b = backend_selector::create("epoll");
  ASSERT_TRUE(b) << err_name(b.error());
  EXPECT_EQ((*b)->name(), "epoll");
  EXPECT_EQ(backend_selector::create("io_uring").error(), errc::unsupported);
}

}  // namespace
}  // namespace otpnet::reactor
