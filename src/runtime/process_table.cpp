#include "runtime/process_table.hpp"

#include <stdexcept>
#include <thread>

namespace otpnet::internal {

process_table& process_table::instance() noexcept {
  static process_table t;
  return t;
}

process_table::slot* process_table::find(std::uint32_t index) const noexcept {
  slot* c = chunks_[index >> chunk_bits].load(std::memory_order_acquire);
  return c == nullptr ? nullptr : &c[index & (chunk_size - 1)];
}

pid process_table::add(process* p, const void* owner) {
  std::uint32_t idx;
  {
    std::lock_guard lk(mu_);
    if (!free_.empty()) {
      idx = free_.back();
      free_.pop_back();
    } else {
      if (next_ >= chunk_size * max_chunks) {
        throw std::length_error("otpnet: process table full");
      }
      idx = next_++;
      auto& chunk = chunks_[idx >> chunk_bits];
      if (chunk.load(std::memory_order_relaxed) == nullptr) {
        chunk.store(new slot[chunk_size], std::memory_order_release);
      }
    }
  }
  slot* s = find(idx);
  s->owner.store(owner, std::memory_order_relaxed);
  s->proc.store(p, std::memory_order_release);
  auto gen = static_cast<std::uint32_t>(s->word.load(std::memory_order_acquire) >> 32);
  live_.fetch_add(1, std::memory_order_relaxed);
  return pid(idx, gen);
}

std::uint32_t process_table::retire(pid id) noexcept {
  slot* s = find(id.slot());
  // The new generation makes every pin attempt with the old pid fail.
  // Generations stay below 2^31, so that a pid's value keeps its top bit
  // clear (the scheduler tags its receive timers' tokens with it): the one
  // after 2^31 - 1 is 1.
  std::uint64_t w = s->word.fetch_add(std::uint64_t{1} << 32, std::memory_order_acq_rel) + (std::uint64_t{1} << 32);
  if ((w >> 32) >= max_generation) {
    s->word.fetch_sub((max_generation - 1) << 32, std::memory_order_acq_rel);
  }
  while (((w = s->word.load(std::memory_order_acquire)) & pin_mask) != 0) {
    std::this_thread::yield();  // a sender is in the middle of a push
  }
  // No pin can be taken now (the generation is new), so no mark can be
  // set: they are final, and go with the old pid (cleared only where set:
  // no locked instruction more for most ends).
  constexpr std::uint64_t marks = timers_here | timers_elsewhere;
  auto had = static_cast<std::uint32_t>(w & marks);
  if (had != 0) {
    s->word.fetch_and(~marks, std::memory_order_acq_rel);
  }
  s->proc.store(nullptr, std::memory_order_release);
  live_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lk(mu_);
  free_.push_back(id.slot());
  return had;
}

process* process_table::pin(pid id) noexcept {
  if (!id || (id.slot() >> chunk_bits) >= max_chunks) {
    return nullptr;
  }
  slot* s = find(id.slot());
  if (s == nullptr) {
    return nullptr;
  }
  std::uint64_t w = s->word.load(std::memory_order_acquire);
  do {
    if (static_cast<std::uint32_t>(w >> 32) != id.generation()) {
      return nullptr;
    }
  } while (!s->word.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel));
  process* p = s->proc.load(std::memory_order_acquire);
  if (p == nullptr) {
    s->word.fetch_sub(1, std::memory_order_acq_rel);
  }
  return p;
}

void process_table::unpin(pid id) noexcept { find(id.slot())->word.fetch_sub(1, std::memory_order_acq_rel); }

process* process_table::peek_owned(pid id, const void* owner) const noexcept {
  if (!id || (id.slot() >> chunk_bits) >= max_chunks) {
    return nullptr;
  }
  slot* s = find(id.slot());
  if (s == nullptr || s->owner.load(std::memory_order_relaxed) != owner ||
      static_cast<std::uint32_t>(s->word.load(std::memory_order_acquire) >> 32) != id.generation()) {
    return nullptr;
  }
  return s->proc.load(std::memory_order_acquire);
}

const void* process_table::owner_of(pid id) const noexcept {
  if (!id || (id.slot() >> chunk_bits) >= max_chunks) {
    return nullptr;
  }
  slot* s = find(id.slot());
  if (s == nullptr || static_cast<std::uint32_t>(s->word.load(std::memory_order_acquire) >> 32) != id.generation()) {
    return nullptr;
  }
  return s->owner.load(std::memory_order_relaxed);
}

std::vector<pid> process_table::live() const {
  std::vector<pid> out;
  std::uint32_t n;
  {
    std::lock_guard lk(mu_);
    n = next_;
  }
  for (std::uint32_t i = 1; i < n; ++i) {
    slot* s = find(i);
    if (s != nullptr && s->proc.load(std::memory_order_acquire) != nullptr) {
      out.emplace_back(i, static_cast<std::uint32_t>(s->word.load(std::memory_order_acquire) >> 32));
    }
  }
  return out;
}

}  // namespace otpnet::internal
