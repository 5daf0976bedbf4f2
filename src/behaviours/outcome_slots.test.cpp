// The uninitialised-until-filled holders of the behaviour loops: gen_server's
// lazy_slot and maybe_task, gen_statem's statem_outcome. Each is a union
// with a flag, so each test counts constructions and destructions of what
// it holds: every value made is destroyed exactly once, and a value whose
// construction throws is never destroyed.
#include <otpnet/behaviours/gen_server_return.hpp>
#include <otpnet/behaviours/gen_statem_state.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <utility>

namespace otpnet {
namespace {

struct counts {
  int made = 0;
  int gone = 0;
};

struct boom {};

/// Counts itself into `c`; a moved-from one still counts its destruction
/// (it was made), so made == gone holds once all are gone. Made with
/// `boom`, its constructor throws.
class counted {
 public:
  explicit counted(counts& c, int v = 0) : c_(&c), v_(v) { ++c_->made; }
  counted(counts& c, boom) : c_(&c), v_(0) { throw std::runtime_error("boom"); }
  counted(counted&& o) noexcept : c_(o.c_), v_(std::exchange(o.v_, -1)) { ++c_->made; }
  counted(const counted&) = delete;
  counted& operator=(const counted&) = delete;
  counted& operator=(counted&&) = delete;
  ~counted() { ++c_->gone; }
  int value() const noexcept { return v_; }

 private:
  counts* c_;
  int v_;
};

counted throwing_make(counts&) { throw std::runtime_error("no"); }

task<counted> counted_task(counts& c) { co_return counted(c, 7); }

// -- lazy_slot -------------------------------------------------------------------

TEST(lazy_slot, starts_empty_and_destroys_what_it_holds_once) {
  counts c;
  {
    gen_server::detail::lazy_slot<counted> s;
    EXPECT_FALSE(s);
    s.emplace(c, 3);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->value(), 3);
    EXPECT_EQ((*s).value(), 3);
    EXPECT_EQ(c.made, 1);
    EXPECT_EQ(c.gone, 0);
  }
  EXPECT_EQ(c.gone, 1);
}

TEST(lazy_slot, a_second_emplace_and_a_reset_destroy_the_value_before) {
  counts c;
  gen_server::detail::lazy_slot<counted> s;
  s.emplace(c, 1);
  s.emplace(c, 2);
  EXPECT_EQ(c.gone, 1);
  EXPECT_EQ(s->value(), 2);
  s.reset();
  EXPECT_FALSE(s);
  EXPECT_EQ(c.gone, 2);
  s.reset();  // empty: nothing to destroy
  EXPECT_EQ(c.gone, 2);
  EXPECT_EQ(c.made, 2);
}

TEST(lazy_slot, an_emplace_that_throws_leaves_it_empty) {
  counts c;
  {
    gen_server::detail::lazy_slot<counted> s;
    s.emplace(c, 1);
    EXPECT_THROW(s.emplace(c, boom{}), std::runtime_error);
    EXPECT_FALSE(s);  // the old value went first; the new one was never made
    EXPECT_EQ(c.made, 1);
    EXPECT_EQ(c.gone, 1);
  }
  EXPECT_EQ(c.gone, 1);
}

TEST(lazy_slot, moves_its_value_or_its_emptiness) {
  counts c;
  {
    gen_server::detail::lazy_slot<counted> a;
    a.emplace(c, 5);
    gen_server::detail::lazy_slot<counted> b(std::move(a));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->value(), 5);
    gen_server::detail::lazy_slot<counted> empty;
    gen_server::detail::lazy_slot<counted> d(std::move(empty));
    EXPECT_FALSE(d);
  }
  EXPECT_EQ(c.made, 2);  // the value and its move; `a` kept the moved-from one
  EXPECT_EQ(c.gone, 2);
}

// -- maybe_task ------------------------------------------------------------------

TEST(maybe_task, a_ready_value_is_taken_and_destroyed_once) {
  counts c;
  {
    gen_server::detail::maybe_task<counted> m(counted(c, 4));
    ASSERT_TRUE(m.ready());
    counted v = m.take_value();
    EXPECT_EQ(v.value(), 4);
    gen_server::detail::maybe_task<counted> moved(std::move(m));
    EXPECT_TRUE(moved.ready());
  }
  EXPECT_EQ(c.made, c.gone);
}

TEST(maybe_task, a_task_is_held_and_its_coroutine_freed_unrun) {
  counts c;
  {
    gen_server::detail::maybe_task<counted> m(counted_task(c));
    EXPECT_FALSE(m.ready());
    gen_server::detail::maybe_task<counted> moved(std::move(m));
    EXPECT_FALSE(moved.ready());
  }
  EXPECT_EQ(c.made, 0);  // never resumed: the body never ran
  EXPECT_EQ(c.gone, 0);
}

// -- statem_outcome --------------------------------------------------------------

TEST(statem_outcome, a_ready_transition_is_built_in_place_and_destroyed_once) {
  counts c;
  {
    detail::statem_outcome<counted> o;
    o.emplace_ready([&] { return counted(c, 9); });
    EXPECT_FALSE(o.is_pending());
    EXPECT_EQ(o.ready().value(), 9);
    EXPECT_EQ(c.made, 1);  // no move from the callback's return
  }
  EXPECT_EQ(c.gone, 1);
}

TEST(statem_outcome, a_callback_that_throws_leaves_nothing_to_destroy) {
  counts c;
  {
    detail::statem_outcome<counted> o;
    EXPECT_THROW(o.emplace_ready([&] { return throwing_make(c); }), std::runtime_error);
    EXPECT_FALSE(o.is_pending());
  }
  EXPECT_EQ(c.made, 0);
  EXPECT_EQ(c.gone, 0);
}

TEST(statem_outcome, a_pending_task_is_moved_out_and_freed) {
  counts c;
  {
    detail::statem_outcome<counted> o;
    o.emplace_pending([&] { return counted_task(c); });
    ASSERT_TRUE(o.is_pending());
    task<counted> t = std::move(o.pending());
    (void)t;
  }
  EXPECT_EQ(c.made, 0);
  EXPECT_EQ(c.gone, 0);
}

TEST(statem_outcome, an_empty_outcome_destroys_nothing) {
  counts c;
  { detail::statem_outcome<counted> o; }
  EXPECT_EQ(c.gone, 0);
}

}  // namespace
}  // namespace otpnet
