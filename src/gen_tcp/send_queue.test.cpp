#include "gen_tcp/send_queue.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace otpnet::gen_tcp::detail {
namespace {

/// Counts live items, so that a leak or a double destruction shows.
struct item {
  explicit item(int v, int& live) : value(v), live_(&live) { ++live; }
  item(item&& o) noexcept : value(o.value), live_(o.live_) { ++*live_; }
  item& operator=(item&& o) noexcept {
    value = o.value;
    return *this;
  }
  item(const item&) = delete;
  item& operator=(const item&) = delete;
  ~item() { --*live_; }
  int value;

 private:
  int* live_;
};

std::vector<int> values(const send_queue<item>& q) {
  std::vector<int> out;
  for (const item& i : q) {
    out.push_back(i.value);
  }
  return out;
}

TEST(send_queue, one_item_stays_in_place) {
  int live = 0;
  {
    send_queue<item> q;
    q.push_back(item(1, live));
    EXPECT_EQ(q.capacity(), 1u);
    EXPECT_EQ(values(q), std::vector<int>{1});
    q.erase(q.begin(), q.begin() + 1);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(live, 0);
    q.push_back(item(2, live));
    EXPECT_EQ(q.capacity(), 1u);
  }
  EXPECT_EQ(live, 0);
}

TEST(send_queue, grows_erases_from_the_front_and_lets_go) {
  int live = 0;
  {
    send_queue<item> q;
    for (int i = 0; i < 10; ++i) {
      q.push_back(item(i, live));
    }
    EXPECT_EQ(q.size(), 10u);
    EXPECT_GE(q.capacity(), 10u);
    q.erase(q.begin(), q.begin() + 3);
    EXPECT_EQ(values(q), (std::vector<int>{3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(live, 7);
    q.clear();
    EXPECT_EQ(live, 0);
    EXPECT_GE(q.capacity(), 10u);  // kept until let go
    q.push_back(item(42, live));
    q = {};
    EXPECT_EQ(q.capacity(), 1u);
    EXPECT_EQ(live, 0);
    q.push_back(item(7, live));
    EXPECT_EQ(values(q), std::vector<int>{7});
  }
  EXPECT_EQ(live, 0);
}

TEST(send_queue, move_assignment_takes_an_item_in_place) {
  int live = 0;
  send_queue<item> a;
  send_queue<item> b;
  b.push_back(item(5, live));
  a = std::move(b);
  EXPECT_EQ(values(a), std::vector<int>{5});
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): left empty, as documented
  EXPECT_EQ(live, 1);
}

}  // namespace
}  // namespace otpnet::gen_tcp::detail
