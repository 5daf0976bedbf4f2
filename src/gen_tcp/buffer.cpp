#include <otpnet/gen_tcp/buffer.hpp>
#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/reactor/io_uring_backend.hpp>
#include <otpnet/runtime/port.hpp>

#include "internal/syscall.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <vector>

namespace otpnet::gen_tcp {

namespace detail {

namespace {

// Chunks of exactly read_chunk_size are pooled per thread; others are not.
// A pooled chunk is a page-aligned block (its header, then the data), so
// that the whole pages it starts with (all but the last 8 bytes of data,
// which share a page with the next malloc chunk) can be given back to the
// kernel while the pool keeps the block.
//
// The pool decays, as jemalloc's arenas do: a chunk that stayed in the pool
// through a whole decay period (the fewest chunks the pool held during the
// period, beyond `steady_pooled`) was not needed; its pages are dropped
// (MADV_DONTNEED) and it waits in the cold list, where it costs address
// space only, until a burst needs more chunks than the warm list holds. So
// the chunks a burst of connections left (one per connection reading at
// once) stop counting in the server's memory a period or two after it, and
// a server under steady load keeps what it uses. The decay timer runs on
// the scheduler's loop only while the warm list holds more than
// `steady_pooled`, and drops at most `max_drops` chunks a tick; sending and
// receiving pay one comparison each. A thread that is not a scheduler's
// (no loop to decay on) keeps `steady_pooled` chunks and frees the rest.
// Cold chunks stay (address space only, at most `max_pooled` with the warm
// ones): freeing one would have malloc write its header into it again.
//
// The size is io_uring's provided receive buffer's, so that a receive's
// bytes fit one pooled chunk (port::absorb).
static_assert(read_chunk_size == reactor::io_uring_options{}.recv_buffer_size,
              "a full io_uring receive must fit one pooled chunk");
constexpr std::size_t page_bytes = 4096;
constexpr std::size_t read_chunk_bytes = sizeof(chunk) + read_chunk_size;
constexpr std::size_t droppable_bytes = read_chunk_bytes / page_bytes * page_bytes;
constexpr std::size_t max_pooled = 256;  // warm and cold together
constexpr std::size_t steady_pooled = pool_steady_chunks;
constexpr std::chrono::milliseconds decay_period{250};
constexpr std::size_t max_drops = 32;  // chunks given back per decay tick

void free_chunk(chunk* c) noexcept {
  bool pooled_kind = c->capacity == read_chunk_size;
  c->~chunk();
  if (pooled_kind) {
    ::operator delete (c, std::align_val_t{page_bytes});
  } else {
    ::operator delete(c);
  }
}

chunk* make_chunk(void* mem, std::size_t capacity) noexcept {
  auto* c = ::new (mem) chunk;
  c->capacity = static_cast<std::uint32_t>(capacity);
  return c;
}

chunk*& next_of(chunk* c) noexcept { return *reinterpret_cast<chunk**>(c->data()); }

struct chunk_pool final : reactor::timer_handler {
  chunk* head = nullptr;  // warm chunks, linked through the first bytes of the data
  std::size_t warm = 0;
  std::size_t low = 0;                  // the fewest warm chunks since the last decay tick
  std::vector<chunk*> cold;             // pages dropped; the link would touch them again
  reactor::event_loop* loop = nullptr;  // where the decay timer is armed, or null
  reactor::timer_handle timer{};

  chunk* pop() noexcept {
    chunk* c = head;
    head = next_of(c);
    low = std::min(low, --warm);
    return c;
  }
  void push(chunk* c) noexcept {
    next_of(c) = head;
    head = c;
    ++warm;
  }
  /// False on a thread with no scheduler's loop (the caller then keeps no
  /// more than steady_pooled chunks).
  bool arm_decay() noexcept;
  void on_timer(std::uint64_t token) noexcept override;
  ~chunk_pool();
};

thread_local bool pool_gone = false;
thread_local chunk_pool pool;

bool chunk_pool::arm_decay() noexcept {
  reactor::event_loop* l = otpnet::detail::current_loop();
  if (l == nullptr) {
    return false;  // not a scheduler thread: no loop to decay on
  }
  try {
    timer = l->start_timer(decay_period, *this, 0);
    loop = l;
    low = warm;
  } catch (...) {
    // No memory for the timer: the pool stays as it is until the next try.
  }
  return true;
}

void chunk_pool::on_timer(std::uint64_t /*token*/) noexcept {
  loop = nullptr;
  // At most max_drops per tick (each madvise flushes the TLBs of the CPUs
  // running the process): the rest go at the next ticks, if still unused.
  std::size_t idle = std::min({low, warm > steady_pooled ? warm - steady_pooled : 0, max_drops});
  if (idle != 0 && cold.capacity() == 0) {
    try {
      cold.reserve(max_pooled);  // once: pushing below never allocates
    } catch (...) {
      idle = 0;
    }
  }
  for (std::size_t i = 0; i < idle; ++i) {
    chunk* c = pop();
    if (internal::sys([c] { return ::madvise(c, droppable_bytes, MADV_DONTNEED); })) {
      cold.push_back(c);
    } else {
      free_chunk(c);
    }
  }
  if (warm > steady_pooled) {
    arm_decay();
  }
}

chunk_pool::~chunk_pool() {
  if (loop != nullptr) {
    (void)loop->disarm_timer(timer);
  }
  while (head != nullptr) {
    chunk* n = next_of(head);
    free_chunk(head);
    head = n;
  }
  for (chunk* c : cold) {
    // Its header was dropped with its pages (reads as zeros): it is a
    // pooled block by being here.
    ::operator delete (c, std::align_val_t{page_bytes});
  }
  pool_gone = true;
}

}  // namespace

chunk_pool_counts pool_counts() noexcept {
  return pool_gone ? chunk_pool_counts{} : chunk_pool_counts{pool.warm, pool.cold.size()};
}

chunk* chunk_alloc(std::size_t capacity, std::uint32_t refs) {
  bool read_sized = capacity <= read_chunk_size;
  bool pooled = read_sized && !pool_gone;
  chunk* c = nullptr;
  if (pooled && pool.head != nullptr) {
    c = pool.pop();
  } else if (pooled && !pool.cold.empty()) {
    c = make_chunk(pool.cold.back(), read_chunk_size);  // its header page was dropped too
    pool.cold.pop_back();
  } else if (read_sized) {
    c = make_chunk(::operator new (read_chunk_bytes, std::align_val_t{page_bytes}), read_chunk_size);
  } else {
    c = make_chunk(::operator new(sizeof(chunk) + capacity), capacity);
  }
  c->refs.store(refs, std::memory_order_relaxed);  // (no other thread sees it yet)
  return c;
}

void chunk_release(chunk* c, std::uint32_t n) noexcept {
  if (c->refs.fetch_sub(n, std::memory_order_acq_rel) != n) {
    return;
  }
  if (c->capacity == read_chunk_size && !pool_gone && pool.warm + pool.cold.size() < max_pooled) {
    if (pool.warm >= steady_pooled && pool.loop == nullptr && !pool.arm_decay()) {
      free_chunk(c);  // not a scheduler thread: nothing would give it back later
      return;
    }
    pool.push(c);
    return;
  }
  free_chunk(c);
}

}  // namespace detail

buffer buffer::copy_of(std::span<const std::byte> bytes) {
  detail::chunk* c = detail::chunk_alloc(bytes.size());
  if (!bytes.empty()) {
    std::memcpy(c->data(), bytes.data(), bytes.size());
  }
  buffer b(c, 0, static_cast<std::uint32_t>(bytes.size()));
  detail::chunk_release(c);  // the buffer holds the only reference now
  return b;
}

}  // namespace otpnet::gen_tcp
