// File: runtime/relations.hpp (private)
//
// A process's links and monitors, both ways, in one array: where three
// vectors took 72 bytes of every process record and up to three heap
// blocks, this takes 40 bytes and, for up to two relations, no block. A
// process has few relations (a connection's handler: its link to the
// supervisor and the listener's monitor, and for a moment the starter's
// monitor), so a scan of one short array finds any of them. Two are kept
// in place; a third moves them all to a heap array, which goes back to the
// heap when two are left. An entry is 16 bytes: the relation's kind rides
// in the top bits of its ref (refs count up from 1 and never reach them).
// Owned by the process's scheduler thread, like the rest of the record.
#pragma once

#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace otpnet::internal {

class relations {
 public:
  enum class kind : std::uint8_t {
    link,          ///< `other` is linked to this process (no ref)
    monitored_by,  ///< `other` monitors this process with `r`
    monitoring,    ///< this process monitors `other` with `r`; a null `other`: demonitored, drop its down
  };
  class entry {
   public:
    entry() noexcept = default;
    entry(ref r, pid o, kind k) noexcept : other(o), rk_(r.value() | (std::uint64_t{k_bits(k)} << kind_shift)) {}
    ref r() const noexcept { return ref(rk_ & ~kind_mask); }
    kind k() const noexcept { return static_cast<kind>(rk_ >> kind_shift); }

    pid other;

   private:
    static constexpr unsigned kind_shift = 62;
    static constexpr std::uint64_t kind_mask = std::uint64_t{3} << kind_shift;
    static constexpr std::uint8_t k_bits(kind k) noexcept { return static_cast<std::uint8_t>(k); }
    std::uint64_t rk_ = 0;
  };
  static_assert(sizeof(entry) == 16);

  relations() noexcept = default;
  relations(const relations&) = delete;
  relations& operator=(const relations&) = delete;
  ~relations() {
    if (cap_ > in_place) {
      free_array(s_.heap, cap_);
    }
  }

  // -- links -------------------------------------------------------------------------
  bool linked(pid p) const noexcept {
    for (const entry& e : *this) {
      if (e.k() == kind::link && e.other == p) {
        return true;
      }
    }
    return false;
  }
  void add_link(pid p) { push(entry{ref{}, p, kind::link}); }
  /// Removes every link to `p`.
  void erase_link(pid p) noexcept {
    remove_if([p](const entry& e) { return e.k() == kind::link && e.other == p; });
  }

  // -- monitors set on this process ----------------------------------------------------
  void add_watcher(ref r, pid watcher) { push(entry{r, watcher, kind::monitored_by}); }
  /// Removes the monitor `r` of a watcher; how many were removed.
  std::size_t erase_watcher(ref r) noexcept {
    // A ref names one monitor: the first match is the only one. Newest
    // first (a caller's monitor, removed right after the reply).
    for (std::uint32_t i = size_; i-- > 0;) {
      entry* e = begin() + i;
      if (e->k() == kind::monitored_by && e->r() == r) {
        erase(e);
        return 1;
      }
    }
    return 0;
  }

  // -- monitors this process set ----------------------------------------------------------
  void add_target(ref r, pid target) { push(entry{r, target, kind::monitoring}); }
  /// The monitor `r` this process set (demonitored or not), or nullptr.
  /// Valid until the next change of these relations.
  entry* find_target(ref r) noexcept {
    // From both ends inward: a process with many relations (a listener
    // monitoring its connections) looks up its newest monitor (a call's,
    // removed right after the reply) and its oldest (the first connection
    // to end) most often.
    auto is = [r](const entry& e) { return e.k() == kind::monitoring && e.r() == r; };
    entry* v = begin();
    for (std::size_t lo = 0, hi = size_; lo < hi;) {
      if (is(v[--hi])) {
        return &v[hi];
      }
      if (lo < hi && is(v[lo])) {
        return &v[lo];
      }
      ++lo;
    }
    return nullptr;
  }
  /// Removes `e` (from find_target).
  void erase(entry* e) noexcept {
    std::copy(e + 1, end(), e);
    --size_;
    shrink();
  }

  // -- all -------------------------------------------------------------------------------
  /// Calls `f(entry)` for each relation of kind `k`, in the order they were made.
  template <class F>
  void each(kind k, F&& f) const {
    for (const entry& e : *this) {
      if (e.k() == k) {
        f(e);
      }
    }
  }
  std::size_t heap_bytes() const noexcept { return cap_ > in_place ? cap_ * sizeof(entry) : 0; }

  entry* begin() noexcept { return cap_ > in_place ? s_.heap : s_.two; }
  entry* end() noexcept { return begin() + size_; }
  const entry* begin() const noexcept { return cap_ > in_place ? s_.heap : s_.two; }
  const entry* end() const noexcept { return begin() + size_; }

 private:
  void push(entry e) {
    if (size_ == cap_) {
      std::uint32_t cap = cap_ * 2;
      entry* heap = alloc_array(cap);  // std::bad_alloc as a vector's push_back
      std::copy(begin(), end(), heap);
      if (cap_ > in_place) {
        free_array(s_.heap, cap_);
      }
      s_.heap = heap;
      cap_ = cap;
    }
    begin()[size_++] = e;
  }

  /// Removes what `pred` accepts, keeping the order of the rest; how many.
  template <class Pred>
  std::size_t remove_if(Pred pred) noexcept {
    entry* last = std::remove_if(begin(), end(), pred);
    auto removed = static_cast<std::size_t>(end() - last);
    size_ -= static_cast<std::uint32_t>(removed);
    shrink();
    return removed;
  }

  /// Back in place once two relations (or fewer) are left.
  void shrink() noexcept {
    if (cap_ > in_place && size_ <= in_place) {
      entry* heap = s_.heap;
      std::copy(heap, heap + size_, s_.two);
      free_array(heap, cap_);
      cap_ = in_place;
    }
  }

  // The heap array comes from the runtime's per-thread pools: a process
  // with two relations that makes calls (a third, the call's monitor, for
  // a moment each) takes and gives back a block from a free list, not
  // from malloc.
  static entry* alloc_array(std::uint32_t cap) {
    return static_cast<entry*>(otpnet::detail::envelope_alloc(cap * sizeof(entry)));
  }
  static void free_array(entry* p, std::uint32_t cap) noexcept {
    otpnet::detail::envelope_free(p, cap * sizeof(entry));
  }

  static constexpr std::uint32_t in_place = 2;
  union storage {
    storage() noexcept : two{} {}
    entry two[in_place];  // NOLINT(modernize-avoid-c-arrays): cap_ == in_place
    entry* heap;          // cap_ > in_place
  } s_;
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = in_place;
};

}  // namespace otpnet::internal
