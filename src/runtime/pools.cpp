// Allocation of envelopes and coroutine frames: per-thread free lists in a
// few size classes. A block freed on another thread than the one that
// allocated it joins the freeing thread's list; each list is capped, so
// memory that drifts from producers to consumers returns to the heap.
//
// The lists decay, as the receive chunk pool does (gen_tcp/buffer.cpp):
// past `steady_cached_bytes` a class keeps its blocks only while the
// thread takes them again. Every decay period, the blocks a class held
// through the whole period (the fewest it held since the last tick) go
// back to the heap, as long as the steady size remains. So a burst of messages is still served from
// the pool, up to `max_cached_bytes` a class, while the blocks that drift
// to a thread that frees more of a class than it allocates (a supervisor's
// thread answering start calls from another scheduler, envelopes sent
// across) do not stay there: they used to keep about 1 MiB per class on
// such a thread. The decay timer runs on the scheduler's loop only while a
// class is over its steady size; a thread without a loop keeps the steady
// size only (1 MiB a class is for scheduler threads).
#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/port.hpp>
#include <otpnet/runtime/proc.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace otpnet::detail {

namespace {

// Steps of 64 above 256: a process's frame lives as long as the process,
// so rounding it up to the next class is paid per process. Blocks come
// from malloc, whose chunks are its 8-byte header and the block rounded up
// to 16: a block of 200 bytes takes a 208-byte chunk, one of 216 a
// 224-byte one, one of 232 a 240-byte one, one of 248 a 256-byte one, one
// of 264 a 272-byte one, one of 296 a 304-byte chunk, one of 312 a
// 320-byte one, and one of 320 a 336-byte chunk, as one of 328 does. So
// between 192 and 384 the classes are 200 (otpnet-echo's gen_statem
// frame), 216, 232, 248, 264, 296, 312 and 328, each holding as much as
// its chunk allows.
constexpr std::array<std::size_t, 16> class_size{32,  64,  96,  128, 192, 200, 216, 232,
                                                 248, 264, 296, 312, 328, 384, 448, 512};
// Cached per class: up to 1 MiB of blocks, so that a burst of messages
// (a producer far ahead of its consumer) is served from the pool; past
// 64 KiB only while the thread takes them again (the decay above).
constexpr std::size_t max_cached_bytes = std::size_t{1} << 20;
constexpr std::size_t steady_cached_bytes = std::size_t{64} << 10;
constexpr std::chrono::milliseconds decay_period{100};

struct free_block {
  free_block* next;
};

// The most blocks a class caches, and what it keeps through quiet periods,
// by class (no division per free).
constexpr auto blocks_of = [](std::size_t bytes) {
  std::array<std::size_t, class_size.size()> t{};
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i] = bytes / class_size[i];
  }
  return t;
};
constexpr auto max_blocks = blocks_of(max_cached_bytes);
constexpr auto steady_blocks = blocks_of(steady_cached_bytes);
// Blocks a decay tick gives back per class at most (a tick is one phase of
// the loop: bounded work); the rest go at the next ticks.
constexpr std::size_t max_frees_per_tick = 4096;

struct pool final : reactor::timer_handler {
  // One record per class: take and give touch one cache line of it.
  struct size_class {
    free_block* head = nullptr;
    std::size_t count = 0;
    std::size_t low = 0;  // the fewest blocks since the last decay tick
  };
  std::array<size_class, class_size.size()> classes{};
  reactor::event_loop* loop = nullptr;  // where the decay timer is armed, or null
  reactor::timer_handle timer{};

  /// False on a thread with no scheduler's loop (the caller then keeps no
  /// more than the steady size).
  bool arm_decay() noexcept;
  void on_timer(std::uint64_t token) noexcept override;
  ~pool();
};

thread_local bool pool_gone = false;  // trivially destructible: valid to the end
thread_local pool tl_pool;
thread_local std::size_t tl_last_frame = 0;

bool pool::arm_decay() noexcept {
  reactor::event_loop* l = otpnet::detail::current_loop();
  if (l == nullptr) {
    return false;
  }
  try {
    timer = l->start_timer(decay_period, *this, 0);
    loop = l;
    for (size_class& c : classes) {
      c.low = c.count;
    }
  } catch (...) {
    // No memory for the timer: the lists stay as they are until the next try.
  }
  return true;
}

// Every block a class did not take once through the period goes, as long
// as the steady size remains (at most max_frees_per_tick a class).
void pool::on_timer(std::uint64_t /*token*/) noexcept {
  loop = nullptr;
  bool over = false;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    size_class& c = classes[i];
    std::size_t steady = steady_blocks[i];
    std::size_t idle = std::min({c.low, c.count > steady ? c.count - steady : 0, max_frees_per_tick});
    for (std::size_t k = 0; k < idle; ++k) {
      free_block* b = c.head;
      c.head = b->next;
      ::operator delete(b);
    }
    c.count -= idle;
    over = over || c.count > steady;
  }
  if (over) {
    arm_decay();
  }
}

pool::~pool() {
  if (loop != nullptr) {
    (void)loop->disarm_timer(timer);
  }
  for (size_class& c : classes) {
    while (c.head != nullptr) {
      free_block* next = c.head->next;
      ::operator delete(c.head);
      c.head = next;
    }
  }
  pool_gone = true;
}

// The class of every size, by 8-byte step (the classes are multiples of
// 8): one load per allocation instead of a search (about 35 instructions
// for a frame, 14 frames and 9 envelopes per connection of the echo
// server).
constexpr std::size_t step = 8;
static_assert(std::all_of(class_size.begin(), class_size.end(), [](std::size_t c) { return c % step == 0; }),
              "a size class that is not a multiple of the step");
constexpr auto class_by_step = [] {
  std::array<std::int8_t, class_size.back() / step + 1> t{};
  for (std::size_t k = 0; k < t.size(); ++k) {
    std::size_t i = 0;
    while (class_size[i] < k * step) {
      ++i;
    }
    t[k] = static_cast<std::int8_t>(i);
  }
  return t;
}();

int class_of(std::size_t n) noexcept {
  if (n > class_size.back()) {
    return -1;
  }
  return class_by_step[(n + step - 1) / step];
}

void* take(std::size_t n) {
  int c = class_of(n);
  if (c < 0 || pool_gone) {
    return ::operator new(n);
  }
  auto i = static_cast<std::size_t>(c);
  pool::size_class& k = tl_pool.classes[i];
  if (free_block* b = k.head) {
    k.head = b->next;
    k.low = std::min(k.low, --k.count);
    return b;
  }
  return ::operator new(class_size[i]);
}

void give(void* p, std::size_t n) noexcept {
  int c = class_of(n);
  if (c < 0 || pool_gone) {
    ::operator delete(p);
    return;
  }
  auto i = static_cast<std::size_t>(c);
  pool::size_class& k = tl_pool.classes[i];
  // Full; or past the steady size on a thread with no loop to decay on
  // (nothing would give the block back later).
  if (k.count >= max_blocks[i] || (k.count >= steady_blocks[i] && tl_pool.loop == nullptr && !tl_pool.arm_decay())) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<free_block*>(p);
  b->next = k.head;
  k.head = b;
  ++k.count;
}

}  // namespace

void message_out_of_memory(std::size_t bytes) noexcept {
  std::fprintf(stderr,
               "otpnet: out of memory: a message the runtime must deliver (%zu bytes) could not be made; ending\n",
               bytes);
  std::abort();
}

void* envelope_alloc(std::size_t size) { return take(size); }
void envelope_free(void* p, std::size_t size) noexcept { give(p, size); }

void* frame_alloc(std::size_t size) {
  tl_last_frame = size;
  return take(size);
}
void frame_free(void* p, std::size_t size) noexcept { give(p, size); }
std::size_t last_frame_size() noexcept { return tl_last_frame; }

std::size_t pooled_bytes() noexcept {
  std::size_t n = 0;
  if (!pool_gone) {
    for (std::size_t i = 0; i < class_size.size(); ++i) {
      n += tl_pool.classes[i].count * class_size[i];
    }
  }
  return n;
}

}  // namespace otpnet::detail
