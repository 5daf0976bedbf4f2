// File: runtime/process_table.hpp (private)
//
// The table that maps pids to processes. Slots live in chunks that are
// never freed, so a slot read through a stale pid is still valid memory.
// Each slot has one atomic word: the generation (high 32 bits) and a count
// of senders pinning the slot (low 32 bits). A sender on another thread
// pins the slot only if the generation matches its pid, and the owning
// scheduler, when the process ends, bumps the generation and waits for the
// pins to drain before it frees anything: so a send either reaches the
// live process or is dropped, never touches freed memory.
#pragma once

#include <otpnet/runtime/pid.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace otpnet::internal {

struct process;

class process_table {
 public:
  struct slot {
    std::atomic<std::uint64_t> word{0};  // generation << 32 | marks | pins
    std::atomic<process*> proc{nullptr};
    std::atomic<const void*> owner{nullptr};  // its scheduler
  };

  static process_table& instance() noexcept;

  /// A free slot for `p` (of scheduler `owner`), published under a new
  /// pid. @threadsafe
  pid add(process* p, const void* owner);
  /// Ends the slot's current generation (so its pid is dead), waits for
  /// pins to drain, and returns the slot to the free list, and the marks
  /// set on the pid (which the next pid of the slot does not have).
  /// @threadsafe
  std::uint32_t retire(pid id) noexcept;

  /// Marks a pid may carry beside its pins (two bits of the slot's word,
  /// no byte more per slot): send_after timers aimed at it live on its own
  /// scheduler, or on another; its end has them cancelled (see
  /// scheduler::start_send_timer).
  static constexpr std::uint32_t timers_here = 1u << 30;
  static constexpr std::uint32_t timers_elsewhere = 1u << 31;
  /// Sets `marks` on a pid the caller has pinned. @threadsafe
  void mark(pid pinned, std::uint32_t marks) noexcept {
    // (Set already: no locked instruction. Only retire clears a mark, and
    // it cannot run while the pid is pinned.)
    std::atomic<std::uint64_t>& w = find(pinned.slot())->word;
    if ((w.load(std::memory_order_relaxed) & marks) != marks) {
      w.fetch_or(marks, std::memory_order_acq_rel);
    }
  }

  /// The process of a live pid, pinned; unpin() when done. nullptr if the
  /// pid is dead or unknown. @threadsafe
  process* pin(pid id) noexcept;
  void unpin(pid id) noexcept;

  /// The process of a live pid if it belongs to `owner`, without pinning:
  /// for the owner's own thread, where it cannot end concurrently.
  process* peek_owned(pid id, const void* owner) const noexcept;
  /// The scheduler a live pid belongs to (racy: check again after pinning).
  const void* owner_of(pid id) const noexcept;
  /// The scheduler of a pid the caller has pinned (nullptr: a plain
  /// thread's mailbox). The slot cannot change owner while it is pinned.
  const void* pinned_owner(pid id) const noexcept { return find(id.slot())->owner.load(std::memory_order_relaxed); }

  /// Live pids (a racy snapshot). @threadsafe
  std::vector<pid> live() const;
  /// Calls `f(process*)` for each live process of `owner` (a scheduler),
  /// in slot order; `f` may end it. From the owner's thread, which alone
  /// ends its processes; one added meanwhile by another thread may or may
  /// not be seen.
  template <class F>
  void each_owned(const void* owner, F&& f) {
    std::uint32_t n = 0;
    {
      std::lock_guard lk(mu_);
      n = next_;
    }
    for (std::uint32_t i = 1; i < n; ++i) {
      slot* s = find(i);
      if (s == nullptr) {
        continue;
      }
      // Pinned, the slot cannot be retired and reused under us: its owner
      // is that process's. (Read unpinned, a slot another scheduler
      // retired and this one reused could pair this scheduler with the
      // other's freed process.) Once it is known to be ours, only this
      // thread can end it, so it stays valid after the unpin.
      pid id(i, static_cast<std::uint32_t>(s->word.load(std::memory_order_acquire) >> 32));
      process* p = pin(id);
      if (p == nullptr) {
        continue;
      }
      bool mine = s->owner.load(std::memory_order_relaxed) == owner;
      unpin(id);
      if (mine) {
        f(p);
      }
    }
  }
  std::size_t size() const noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  friend struct process_table_probe;  // (its test reaches a slot's word)
  /// Generations stay below this: a pid's value keeps its top bit clear.
  static constexpr std::uint64_t max_generation = std::uint64_t{1} << 31;
  /// The pins in a slot's word (below the marks).
  static constexpr std::uint64_t pin_mask = timers_here - 1;
  static constexpr std::uint32_t chunk_bits = 12;
  static constexpr std::uint32_t chunk_size = 1u << chunk_bits;
  static constexpr std::uint32_t max_chunks = 4096;  // 16 M processes

  slot* find(std::uint32_t index) const noexcept;

  std::atomic<slot*> chunks_[max_chunks] = {};
  mutable std::mutex mu_;  // free list and growth
  std::vector<std::uint32_t> free_;
  std::uint32_t next_ = 1;  // slot 0 is never used: pid{} names nothing
  std::atomic<std::size_t> live_{0};
};

}  // namespace otpnet::internal
