#include "runtime/process_record.hpp"

#include "runtime/process_table.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace otpnet::internal {

/// Reaches a slot's word, to put its generation where a test wants it.
struct process_table_probe {
  static void set_generation(process_table& t, std::uint32_t slot, std::uint64_t gen) {
    t.find(slot)->word.store(gen << 32);
  }
  /// Frees a table's slots (the runtime's own table lives as long as the
  /// program and never does).
  static void free_chunks(process_table& t) {
    for (auto& c : t.chunks_) {
      delete[] c.exchange(nullptr);
    }
  }
};

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

// A slot's generation stays below 2^31, so that no pid has its top bit set
// (the schedulers tag receive timer tokens with it: a pid with it set lost
// its receive timeouts); the one after 2^31 - 1 is 1.
TEST(process_table, generations_wrap_below_the_top_bit_of_a_pid) {
  auto t = std::make_unique<process_table>();
  int owner = 0;
  auto* fake = reinterpret_cast<process*>(&owner);  // (never dereferenced by the table)
  pid first = t->add(fake, &owner);
  process_table_probe::set_generation(*t, first.slot(), (std::uint64_t{1} << 31) - 2);
  t->retire(first);
  pid a = t->add(fake, &owner);
  ASSERT_EQ(a.slot(), first.slot());
  EXPECT_EQ(a.generation(), (1u << 31) - 1);
  t->retire(a);
  pid b = t->add(fake, &owner);
  ASSERT_EQ(b.slot(), first.slot());
  EXPECT_EQ(b.generation(), 1u) << "wrapped";
  EXPECT_EQ(b.value() >> 63, 0u);
  EXPECT_EQ(t->pin(a), nullptr) << "the old pid is dead";
  t->retire(b);
  process_table_probe::free_chunks(*t);
}

}  // namespace
}  // namespace otpnet::internal
