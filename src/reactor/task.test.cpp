#include "otpnet/reactor/task.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>

namespace otpnet::reactor {
namespace {

TEST(task, default_is_empty) {
  task t;
  EXPECT_FALSE(t);
}

TEST(task, runs_a_small_lambda_stored_inline) {
  int n = 0;
  task t([&n] { ++n; });
  ASSERT_TRUE(t);
  t();
  t();
  EXPECT_EQ(n, 2);
}

TEST(task, takes_move_only_callables) {
  auto p = std::make_unique<int>(41);
  int seen = 0;
  task t([p = std::move(p), &seen] { seen = *p + 1; });
  task moved(std::move(t));
  EXPECT_FALSE(t);  // NOLINT(bugprone-use-after-move): moved-from is empty
  moved();
  EXPECT_EQ(seen, 42);
}

TEST(task, large_callables_go_to_the_heap_and_are_destroyed_once) {
  auto alive = std::make_shared<int>(0);
  std::array<char, task::inline_size * 2> big{};
  big[0] = 'x';
  char seen = 0;
  {
    task t([alive, big, &seen] { seen = big[0]; });
    EXPECT_EQ(alive.use_count(), 2);
    task other = std::move(t);
    EXPECT_EQ(alive.use_count(), 2);
    other();
  }
  EXPECT_EQ(seen, 'x');
  EXPECT_EQ(alive.use_count(), 1);
}

TEST(task, assignment_and_reset_destroy_the_old_callable) {
  auto a = std::make_shared<int>(0);
  auto b = std::make_shared<int>(0);
  task t([a] {});
  task u([b] {});
  t = std::move(u);
  EXPECT_EQ(a.use_count(), 1);
  EXPECT_EQ(b.use_count(), 2);
  t.reset();
  EXPECT_FALSE(t);
  EXPECT_EQ(b.use_count(), 1);
}

}  // namespace
}  // namespace otpnet::reactor
