#include <otpnet/gen_tcp/buffer.hpp>

#include <cstring>
#include <new>

namespace otpnet::gen_tcp {

namespace detail {

namespace {

// Chunks of exactly read_chunk_size are pooled per thread; others are not.
constexpr std::size_t max_pooled = 256;

struct chunk_pool {
  chunk* head = nullptr;  // linked through the first bytes of the data
  std::size_t count = 0;
  ~chunk_pool();
};

thread_local bool pool_gone = false;
thread_local chunk_pool pool;

chunk*& next_of(chunk* c) noexcept { return *reinterpret_cast<chunk**>(c->data()); }

chunk_pool::~chunk_pool() {
  while (head != nullptr) {
    chunk* n = next_of(head);
    ::operator delete(head);
    head = n;
  }
  pool_gone = true;
}

}  // namespace

chunk* chunk_alloc(std::size_t capacity) {
  if (capacity <= read_chunk_size && !pool_gone && pool.head != nullptr) {
    chunk* c = pool.head;
    pool.head = next_of(c);
    --pool.count;
    c->refs.store(1, std::memory_order_relaxed);
    return c;
  }
  std::size_t cap = capacity <= read_chunk_size ? read_chunk_size : capacity;
  void* mem = ::operator new(sizeof(chunk) + cap);
  auto* c = ::new (mem) chunk;
  c->capacity = static_cast<std::uint32_t>(cap);
  return c;
}

void chunk_release(chunk* c) noexcept {
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  if (c->capacity == read_chunk_size && !pool_gone && pool.count < max_pooled) {
    next_of(c) = pool.head;
    pool.head = c;
    ++pool.count;
    return;
  }
  c->~chunk();
  ::operator delete(c);
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
