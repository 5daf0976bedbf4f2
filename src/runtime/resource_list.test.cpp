#include "runtime/resource_list.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace otpnet::internal {
namespace {

struct fake_port final : port_resource {
  explicit fake_port(pid o) : owner(o) {}
  void owner_exited(pid who) noexcept override { exited.push_back(who); }
  bool owned_by(pid p) const noexcept override { return owner == p; }
  pid owner;
  std::vector<pid> exited;
};

std::vector<port_resource*> listed(resource_list& l) {
  std::vector<port_resource*> out;
  l.release_each([&](port_resource& r) { out.push_back(&r); });
  return out;
}

TEST(resource_list, keeps_what_the_process_owns) {
  const pid me(1, 1);
  resource_list l;
  auto a = std::make_shared<fake_port>(me);
  auto b = std::make_shared<fake_port>(me);
  l.add(me, a);
  l.add(me, b);
  EXPECT_EQ(listed(l), (std::vector<port_resource*>{a.get(), b.get()}));
  EXPECT_TRUE(listed(l).empty());  // released: forgotten
}

TEST(resource_list, drops_what_was_handed_over_or_is_gone) {
  // An acceptor makes a port for every connection and hands it over: its
  // list must not keep one per live connection.
  const pid acceptor(1, 1);
  const pid handler(2, 1);
  resource_list l;
  std::vector<std::shared_ptr<fake_port>> live;
  for (int i = 0; i < 100; ++i) {
    auto p = std::make_shared<fake_port>(acceptor);
    l.add(acceptor, p);
    p->owner = handler;  // hand_over
    live.push_back(p);
  }
  auto mine = std::make_shared<fake_port>(acceptor);
  l.add(acceptor, mine);
  {
    auto gone = std::make_shared<fake_port>(acceptor);
    l.add(acceptor, gone);
  }
  auto last = std::make_shared<fake_port>(acceptor);
  l.add(acceptor, last);
  EXPECT_EQ(listed(l), (std::vector<port_resource*>{mine.get(), last.get()}));
}

}  // namespace
}  // namespace otpnet::internal
