#include "runtime/process_record.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace otpnet::internal {
namespace {

struct fake_port final : port_resource {
  explicit fake_port(pid o) : owner(o) {}
  void owner_exited(pid /*who*/) noexcept override {}
  bool owned_by(pid p) const noexcept override { return owner == p; }
  pid owner;
};

std::vector<port_resource*> released(process& p) {
  std::vector<port_resource*> out;
  p.release_resources([&](port_resource& r) { out.push_back(&r); });
  return out;
}

TEST(process_record, keeps_the_ports_it_owns_the_first_in_place) {
  process p;
  p.id = pid(1, 1);
  auto a = std::make_shared<fake_port>(p.id);
  p.add_resource(a);
  EXPECT_EQ(p.extras, nullptr);  // one port: no extras block
  auto b = std::make_shared<fake_port>(p.id);
  p.add_resource(b);
  EXPECT_EQ(released(p), (std::vector<port_resource*>{a.get(), b.get()}));
  EXPECT_TRUE(released(p).empty());  // released: forgotten
}

TEST(process_record, drops_the_ports_handed_over_or_gone) {
  // An acceptor makes a port for every connection and hands it over: its
  // list must not keep one per live connection.
  process p;
  p.id = pid(1, 1);
  const pid handler(2, 1);
  std::vector<std::shared_ptr<fake_port>> live;
  for (int i = 0; i < 100; ++i) {
    auto port = std::make_shared<fake_port>(p.id);
    p.add_resource(port);
    port->owner = handler;  // hand_over
    live.push_back(port);
  }
  auto mine = std::make_shared<fake_port>(p.id);
  p.add_resource(mine);
  {
    auto gone = std::make_shared<fake_port>(p.id);
    p.add_resource(gone);
  }
  auto last = std::make_shared<fake_port>(p.id);
  p.add_resource(last);
  EXPECT_EQ(released(p), (std::vector<port_resource*>{mine.get(), last.get()}));
}

TEST(process_record, fits_a_240_byte_malloc_chunk) {
  // What a process costs per connection: 232 bytes and malloc's 8 fit 240.
  static_assert(sizeof(void*) != 8 || sizeof(process) <= 232);
}

}  // namespace
}  // namespace otpnet::internal
