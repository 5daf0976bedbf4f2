#include "gen_tcp/shared_options.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

namespace otpnet::gen_tcp::detail {
namespace {

effective_options with_packet(packet_type p, active_mode a = always) {
  effective_options o;
  o.packet = p;
  o.active = a;
  return o;
}

TEST(shared_options, equal_options_share_one_block_whatever_their_active_mode) {
  shared_options a(with_packet(packet_type::u2, once));
  shared_options b(with_packet(packet_type::u2, passive));
  EXPECT_EQ(&*a, &*b);
  EXPECT_EQ(b->packet, packet_type::u2);
}

TEST(shared_options, a_change_is_copied_on_write) {
  shared_options a(with_packet(packet_type::u2));
  shared_options b(with_packet(packet_type::u2));
  ASSERT_EQ(&*a, &*b);
  ASSERT_TRUE(b.assign(with_packet(packet_type::u2, once)));  // the active mode alone: no change
  EXPECT_EQ(&*a, &*b);
  ASSERT_TRUE(b.assign(with_packet(packet_type::line)));
  EXPECT_NE(&*a, &*b);
  EXPECT_EQ(a->packet, packet_type::u2);
  EXPECT_EQ(b->packet, packet_type::line);
  // The thread's last block is b's now: the next port like b shares it.
  shared_options c(with_packet(packet_type::line));
  EXPECT_EQ(&*b, &*c);
}

TEST(shared_options, blocks_outlive_the_thread_that_made_them) {
  std::unique_ptr<shared_options> kept;
  std::thread([&] { kept = std::make_unique<shared_options>(with_packet(packet_type::u4)); }).join();
  EXPECT_EQ((*kept)->packet, packet_type::u4);
  kept.reset();
}

}  // namespace
}  // namespace otpnet::gen_tcp::detail
