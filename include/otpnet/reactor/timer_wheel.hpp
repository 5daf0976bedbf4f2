// File: otpnet/reactor/timer_wheel.hpp
//
// A hierarchical timer wheel with millisecond resolution, one per event
// loop. Timers carry a 64-bit token and a `timer_handler` to call when they
// fire (the runtime turns the token into a timeout message). Insert and
// cancel are O(1); firing is in deadline order, against absolute deadlines
// on the steady clock, so a loop that falls behind fires late timers all at
// once and in order rather than drifting. Timer records come from a pool
// with a free list: no allocation per timer once the pool has grown to the
// peak number of live timers. Design notes: docs/reactor.md.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace otpnet::reactor {

/// Receives fired timers. Called on the thread that calls
/// `timer_wheel::advance`; it may insert and cancel timers of the same wheel.
class timer_handler {
 public:
  /// `token` is the one given to `insert`. The timer's handle is already
  /// stale when this is called: cancelling it reports "not found".
  virtual void on_timer(std::uint64_t token) noexcept = 0;

 protected:
  ~timer_handler() = default;
};

/// Names one timer. A handle goes stale when its timer fires or is
/// cancelled, and a stale handle never matches a later timer, even one that
/// reuses the same record (the generation differs). The default handle is
/// never valid.
struct timer_handle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;

  friend bool operator==(timer_handle, timer_handle) = default;
};

/// The wheel. Not thread-safe: it belongs to one loop. Memory exhaustion
/// while the pool grows is not reported (std::bad_alloc, as in the standard
/// containers).
class timer_wheel {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Bits per level, levels, and slots per level: 6 levels of 64 slots cover
  /// 2^36 ms (about 2.2 years); later deadlines wait in an overflow list.
  static constexpr unsigned level_bits = 6;
  static constexpr unsigned levels = 6;
  static constexpr unsigned slots = 1u << level_bits;

  /// A wheel whose current time is `start`.
  explicit timer_wheel(time_point start) noexcept;

  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  /// Arms a timer that fires at the first `advance` whose time is at or past
  /// `deadline` (rounded up to the next millisecond). A deadline already
  /// past fires at the next `advance`. O(1).
  timer_handle insert(time_point deadline, timer_handler& handler, std::uint64_t token);

  /// Disarms a timer. Returns the time it had left at `now` (zero if it was
  /// due but not yet fired), or no value if `h` is stale: the timer already
  /// fired, was cancelled, or never existed. O(1).
  std::optional<std::chrono::milliseconds> cancel(timer_handle h, time_point now) noexcept;

  /// Disarms a timer, as `cancel` does, without computing its time left:
  /// whether it was armed. O(1).
  bool disarm(timer_handle h) noexcept;

  /// The time `h` has left at `now`, or no value if it is stale. O(1).
  std::optional<std::chrono::milliseconds> remaining(timer_handle h, time_point now) const noexcept;

  /// Moves the wheel's time to `now` and fires, in deadline order, the
  /// timers due by then: at most `budget` of them, the rest staying due for
  /// the next call. Timers inserted by handlers with a past deadline fire at
  /// the next call, so a handler that re-arms itself cannot loop here.
  /// Returns how many fired. A `now` earlier than the wheel's time only
  /// fires what is already due.
  std::size_t advance(time_point now, std::size_t budget = SIZE_MAX);

  /// How long from `now` until the wheel next needs an `advance`: zero when
  /// timers are due, no value when no timer is armed. It may be earlier than
  /// the next deadline (a far timer needs a step to move to a finer level)
  /// but never later.
  std::optional<std::chrono::milliseconds> next_timeout(time_point now) const noexcept;

  /// Armed timers (due ones included).
  std::size_t size() const noexcept { return size_; }

  /// Timer records allocated, live or free: the pool's high-water mark.
  std::size_t pool_size() const noexcept { return nodes_.size(); }

  /// Grows the pool to `n` records now, so that arming up to `n` timers
  /// does not allocate.
  void reserve(std::size_t n);

 private:
  static constexpr std::uint32_t nil = UINT32_MAX;
  static constexpr std::uint16_t far_list = levels * slots;
  static constexpr std::uint16_t due_list = far_list + 1;
  static constexpr std::uint16_t no_list = far_list + 2;

  struct node {
    std::uint64_t deadline = 0;  // ms since the clock's epoch
    std::uint64_t token = 0;
    timer_handler* handler = nullptr;
    std::uint32_t prev = nil;
    std::uint32_t next = nil;  // the free list's link too
    std::uint32_t generation = 1;
    std::uint16_t list = no_list;
  };

  const node* find(timer_handle h) const noexcept;
  void place(std::uint32_t i) noexcept;
  void push_back(std::uint16_t list, std::uint32_t i) noexcept;
  void unlink(std::uint32_t i) noexcept;
  std::uint32_t detach(std::uint16_t list) noexcept;
  void release(std::uint32_t i) noexcept;
  std::optional<std::uint64_t> next_step() const noexcept;
  void collect(std::uint64_t target) noexcept;

  std::vector<node> nodes_;
  std::uint32_t free_ = nil;
  std::uint64_t now_;  // ms; every timer due by now_ is in the due list
  std::size_t size_ = 0;
  std::size_t due_size_ = 0;
  std::array<std::uint64_t, levels> occupied_{};  // bit s: slot s non-empty
  std::array<std::uint32_t, levels * slots + 2> heads_;
};

}  // namespace otpnet::reactor
