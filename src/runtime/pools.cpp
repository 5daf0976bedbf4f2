// Allocation of envelopes and coroutine frames: per-thread free lists in a
// few size classes. A block freed on another thread than the one that
// allocated it joins the freeing thread's list; each list is capped, so
// memory that drifts from producers to consumers returns to the heap.
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/proc.hpp>

#include <algorithm>
#include <array>
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
// (a producer far ahead of its consumer) is served from the pool.
constexpr std::size_t max_cached_bytes = std::size_t{1} << 20;

struct free_block {
  free_block* next;
};

struct pool {
  std::array<free_block*, class_size.size()> lists{};
  std::array<std::size_t, class_size.size()> counts{};
  ~pool();
};

thread_local bool pool_gone = false;  // trivially destructible: valid to the end
thread_local pool tl_pool;
thread_local std::size_t tl_last_frame = 0;

pool::~pool() {
  for (auto* head : lists) {
    while (head != nullptr) {
      free_block* next = head->next;
      ::operator delete(head);
      head = next;
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
  if (free_block* b = tl_pool.lists[i]) {
    tl_pool.lists[i] = b->next;
    --tl_pool.counts[i];
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
  if (tl_pool.counts[i] * class_size[i] >= max_cached_bytes) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<free_block*>(p);
  b->next = tl_pool.lists[i];
  tl_pool.lists[i] = b;
  ++tl_pool.counts[i];
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

}  // namespace otpnet::detail
