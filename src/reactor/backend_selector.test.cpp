#include "otpnet/reactor/backend_selector.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

namespace otpnet::reactor {
namespace {

// Sets one environment variable for one test and restores it afterwards.
class env_guard {
 public:
  env_guard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name_)) {
      old_ = old;
    }
    if (value != nullptr) {
      ::setenv(name_, value, 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ~env_guard() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Both names of the variable, set (or unset) for one test.
struct backend_env {
  backend_env(const char* backend, const char* reactor)
      : primary("OTPNET_BACKEND", backend), alias("OTPNET_REACTOR", reactor) {}
  env_guard primary;
  env_guard alias;
};

const backend_status& status_of(std::string_view name) {
  auto known = backend_selector::known();
  auto it = std::find_if(known.begin(), known.end(), [&](const backend_status& b) { return b.name == name; });
  EXPECT_NE(it, known.end());
  return *it;
}

bool io_uring_available() { return status_of("io_uring").available; }

TEST(backend_selector, epoll_is_available_and_default) {
  auto names = backend_selector::available();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "epoll");
  EXPECT_EQ(backend_selector::default_backend(), "epoll");
}

TEST(backend_selector, env_var_names) {
  EXPECT_EQ(backend_selector::env_var, "OTPNET_BACKEND");
  EXPECT_EQ(backend_selector::env_alias, "OTPNET_REACTOR");
}

// The probe's verdict is consistent everywhere: in known(), available(),
// resolve() and create(). Where io_uring is off, the note says why.
TEST(backend_selector, io_uring_availability_is_probed_and_consistent) {
  backend_env env(nullptr, nullptr);
  const backend_status& u = status_of("io_uring");
  auto names = backend_selector::available();
  bool listed = std::find(names.begin(), names.end(), "io_uring") != names.end();
  EXPECT_EQ(listed, u.available);
  EXPECT_FALSE(u.note.empty());
  if (u.available) {
    EXPECT_EQ(backend_selector::resolve("io_uring"), "io_uring");
    auto b = backend_selector::create("io_uring");
    ASSERT_TRUE(b) << err_name(b.error());
    EXPECT_EQ((*b)->name(), "io_uring");
  } else {
    EXPECT_NE(u.note.find("not available"), std::string_view::npos) << u.note;
    EXPECT_EQ(backend_selector::resolve("io_uring").error(), errc::unsupported);
    EXPECT_EQ(backend_selector::create("io_uring").error(), errc::unsupported);
  }
}

TEST(backend_selector, resolve_names) {
  backend_env env(nullptr, nullptr);
  EXPECT_EQ(backend_selector::resolve("epoll"), "epoll");
  EXPECT_EQ(backend_selector::resolve(), backend_selector::default_backend());
  EXPECT_EQ(backend_selector::resolve("kqueue").error(), errc::invalid);
  EXPECT_EQ(backend_selector::resolve("EPOLL").error(), errc::invalid);
}

TEST(backend_selector, environment_overrides_default_and_name_overrides_environment) {
  {
    backend_env env("io_uring", nullptr);
    if (io_uring_available()) {
      EXPECT_EQ(backend_selector::resolve(), "io_uring");
    } else {
      EXPECT_EQ(backend_selector::resolve().error(), errc::unsupported);
      EXPECT_EQ(backend_selector::create().error(), errc::unsupported);
    }
    EXPECT_EQ(backend_selector::resolve("epoll"), "epoll");
  }
  {
    backend_env env("bogus", nullptr);
    EXPECT_EQ(backend_selector::resolve().error(), errc::invalid);
  }
  {
    backend_env env("epoll", nullptr);
    EXPECT_EQ(backend_selector::resolve(), "epoll");
  }
  {
    backend_env env("", nullptr);
    EXPECT_EQ(backend_selector::resolve(), backend_selector::default_backend());
  }
}

// OTPNET_REACTOR is the older name: read only when OTPNET_BACKEND is unset
// or empty.
TEST(backend_selector, older_variable_name_is_an_alias) {
  {
    backend_env env(nullptr, "bogus");
    EXPECT_EQ(backend_selector::from_environment(), "bogus");
    EXPECT_EQ(backend_selector::resolve().error(), errc::invalid);
  }
  {
    backend_env env("", "epoll");
    EXPECT_EQ(backend_selector::resolve(), "epoll");
  }
  {
    backend_env env("epoll", "bogus");
    EXPECT_EQ(backend_selector::from_environment(), "epoll");
    EXPECT_EQ(backend_selector::resolve(), "epoll");
  }
  {
    backend_env env(nullptr, nullptr);
    EXPECT_EQ(backend_selector::from_environment(), "");
  }
}

TEST(backend_selector, create_builds_the_named_backend) {
  backend_env env(nullptr, nullptr);
  for (std::string_view name : backend_selector::available()) {
    auto b = backend_selector::create(name);
    ASSERT_TRUE(b) << name << ": " << err_name(b.error());
    EXPECT_EQ((*b)->name(), name);
  }
  EXPECT_EQ(backend_selector::create("kqueue").error(), errc::invalid);
}

}  // namespace
}  // namespace otpnet::reactor
