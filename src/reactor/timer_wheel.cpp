#include <otpnet/reactor/timer_wheel.hpp>

#include <algorithm>
#include <bit>

// Layout (see docs/reactor.md). Time is kept in whole milliseconds of the
// steady clock. A timer whose deadline d differs from the wheel's time now_
// first in 6-bit group l (bits 6l..6l+5) sits at level l, slot
// (d >> 6l) & 63. Invariant: every timer at level l agrees with now_ on all
// bits above group l and is strictly later in group l. So the earliest
// occupied slot is the lowest set bit of the lowest non-empty level, and a
// slot is reached by stepping now_ to its start and re-placing its timers,
// which then land one or more levels lower, or in the due list. Deadlines
// 2^36 ms or more away wait in the far list until now_ enters their block.

namespace otpnet::reactor {

namespace {

using std::chrono::milliseconds;

std::uint64_t floor_ms(timer_wheel::time_point t) noexcept {
  auto c = std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
  return c < 0 ? 0 : static_cast<std::uint64_t>(c);
}

std::uint64_t ceil_ms(timer_wheel::time_point t) noexcept {
  auto c = std::chrono::ceil<milliseconds>(t.time_since_epoch()).count();
  return c < 0 ? 0 : static_cast<std::uint64_t>(c);
}

milliseconds until(std::uint64_t deadline, std::uint64_t now) noexcept {
  return milliseconds(deadline > now ? static_cast<milliseconds::rep>(deadline - now) : 0);
}

}  // namespace

timer_wheel::timer_wheel(time_point start) noexcept : now_(floor_ms(start)) { heads_.fill(nil); }

timer_handle timer_wheel::insert(time_point deadline, timer_handler& handler, std::uint64_t token) {
  std::uint32_t i = free_;
  if (i != nil) {
    free_ = nodes_[i].next;
  } else {
    i = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  node& n = nodes_[i];
  n.deadline = ceil_ms(deadline);
  n.token = token;
  n.handler = &handler;
  place(i);
  ++size_;
  return {i, n.generation};
}

std::optional<std::chrono::milliseconds> timer_wheel::cancel(timer_handle h, time_point now) noexcept {
  const node* n = find(h);
  if (n == nullptr) {
    return std::nullopt;
  }
  auto left = until(n->deadline, floor_ms(now));
  (void)disarm(h);
  return left;
}

bool timer_wheel::disarm(timer_handle h) noexcept {
  if (find(h) == nullptr) {
    return false;
  }
  unlink(h.index);
  release(h.index);
  --size_;
  return true;
}

std::optional<std::chrono::milliseconds> timer_wheel::remaining(timer_handle h, time_point now) const noexcept {
  const node* n = find(h);
  if (n == nullptr) {
    return std::nullopt;
  }
  return until(n->deadline, floor_ms(now));
}

std::size_t timer_wheel::advance(time_point now, std::size_t budget) {
  collect(floor_ms(now));
  // Only the timers due now: those a handler arms with a past deadline are
  // appended behind them and wait for the next call.
  std::size_t n = std::min(budget, due_size_);
  std::size_t fired = 0;
  while (fired < n && heads_[due_list] != nil) {
    std::uint32_t i = heads_[due_list];
    timer_handler* handler = nodes_[i].handler;
    std::uint64_t token = nodes_[i].token;
    unlink(i);
    release(i);
    --size_;
    handler->on_timer(token);
    ++fired;
  }
  return fired;
}

std::optional<std::chrono::milliseconds> timer_wheel::next_timeout(time_point now) const noexcept {
  if (due_size_ > 0) {
    return milliseconds(0);
  }
  auto step = next_step();
  if (!step) {
    return std::nullopt;
  }
  return until(*step, floor_ms(now));
}

void timer_wheel::reserve(std::size_t n) {
  if (n <= nodes_.size()) {
    return;
  }
  std::size_t old = nodes_.size();
  nodes_.resize(n);
  for (std::size_t i = n; i-- > old;) {
    nodes_[i].next = free_;
    free_ = static_cast<std::uint32_t>(i);
  }
}

// -- internals ---------------------------------------------------------------

const timer_wheel::node* timer_wheel::find(timer_handle h) const noexcept {
  if (h.index >= nodes_.size()) {
    return nullptr;
  }
  const node& n = nodes_[h.index];
  return n.generation == h.generation && n.list != no_list ? &n : nullptr;
}

void timer_wheel::place(std::uint32_t i) noexcept {
  std::uint64_t d = nodes_[i].deadline;
  if (d <= now_) {
    push_back(due_list, i);
    return;
  }
  std::uint64_t diff = d ^ now_;
  if ((diff >> (levels * level_bits)) != 0) {
    push_back(far_list, i);
    return;
  }
  unsigned level = (63u - static_cast<unsigned>(std::countl_zero(diff))) / level_bits;
  unsigned slot = static_cast<unsigned>(d >> (level * level_bits)) & (slots - 1);
  push_back(static_cast<std::uint16_t>(level * slots + slot), i);
}

// Lists are circular and doubly linked through node indices; heads_[list]
// is the first node, its prev the last.
void timer_wheel::push_back(std::uint16_t list, std::uint32_t i) noexcept {
  node& n = nodes_[i];
  n.list = list;
  std::uint32_t head = heads_[list];
  if (head == nil) {
    heads_[list] = i;
    n.prev = i;
    n.next = i;
    if (list < far_list) {
      occupied_[list / slots] |= std::uint64_t{1} << (list % slots);
    }
  } else {
    std::uint32_t tail = nodes_[head].prev;
    n.prev = tail;
    n.next = head;
    nodes_[tail].next = i;
    nodes_[head].prev = i;
  }
  if (list == due_list) {
    ++due_size_;
  }
}

void timer_wheel::unlink(std::uint32_t i) noexcept {
  node& n = nodes_[i];
  std::uint16_t list = n.list;
  if (n.next == i) {
    heads_[list] = nil;
    if (list < far_list) {
      occupied_[list / slots] &= ~(std::uint64_t{1} << (list % slots));
    }
  } else {
    nodes_[n.prev].next = n.next;
    nodes_[n.next].prev = n.prev;
    if (heads_[list] == i) {
      heads_[list] = n.next;
    }
  }
  if (list == due_list) {
    --due_size_;
  }
  n.list = no_list;
}

std::uint32_t timer_wheel::detach(std::uint16_t list) noexcept {
  std::uint32_t head = heads_[list];
  heads_[list] = nil;
  if (list < far_list) {
    occupied_[list / slots] &= ~(std::uint64_t{1} << (list % slots));
  }
  return head;
}

void timer_wheel::release(std::uint32_t i) noexcept {
  node& n = nodes_[i];
  if (++n.generation == 0) {
    n.generation = 1;
  }
  n.list = no_list;
  n.handler = nullptr;
  n.next = free_;
  free_ = i;
}

// The next time after now_ at which a slot (or the far list) must be
// re-placed: the start of the earliest occupied slot.
std::optional<std::uint64_t> timer_wheel::next_step() const noexcept {
  for (unsigned l = 0; l < levels; ++l) {
    if (occupied_[l] != 0) {
      unsigned s = static_cast<unsigned>(std::countr_zero(occupied_[l]));
      unsigned above = (l + 1) * level_bits;
      return ((now_ >> above) << above) | (std::uint64_t{s} << (l * level_bits));
    }
  }
  if (heads_[far_list] != nil) {
    unsigned above = levels * level_bits;
    return ((now_ >> above) + 1) << above;
  }
  return std::nullopt;
}

// Steps now_ slot by slot up to `target`, moving timers down the levels and
// the due ones to the due list, in deadline order (FIFO among equal
// deadlines). No handler runs here, so the lists cannot change under it.
void timer_wheel::collect(std::uint64_t target) noexcept {
  for (auto step = next_step(); step && *step <= target; step = next_step()) {
    now_ = *step;
    std::uint16_t list = far_list;
    for (unsigned l = 0; l < levels; ++l) {
      if (occupied_[l] != 0) {
        list = static_cast<std::uint16_t>(l * slots + static_cast<unsigned>(std::countr_zero(occupied_[l])));
        break;
      }
    }
    std::uint32_t head = detach(list);
    for (std::uint32_t i = head;;) {
      std::uint32_t next = nodes_[i].next;
      place(i);
      if (next == head) {
        break;
      }
      i = next;
    }
  }
  now_ = std::max(now_, target);
}

}  // namespace otpnet::reactor
