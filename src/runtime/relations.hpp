// File: runtime/relations.hpp (private)
//
// A process's links and monitors, both ways, in one vector: where three
// vectors took 72 bytes of every process record and up to three heap
// blocks, this takes 24 bytes and one block. A process has few relations
// (a supervised worker: its link to the supervisor, and for a moment the
// starter's monitor), so a scan of one short vector finds any of them.
// Owned by the process's scheduler thread, like the rest of the record.
#pragma once

#include <otpnet/runtime/pid.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace otpnet::internal {

class relations {
 public:
  enum class kind : std::uint8_t {
    link,          ///< `other` is linked to this process (no ref)
    monitored_by,  ///< `other` monitors this process with `r`
    monitoring,    ///< this process monitors `other` with `r`; a null `other`: demonitored, drop its down
  };
  struct entry {
    ref r;
    pid other;
    kind k;
  };

  // -- links -------------------------------------------------------------------------
  bool linked(pid p) const noexcept {
    for (const entry& e : v_) {
      if (e.k == kind::link && e.other == p) {
        return true;
      }
    }
    return false;
  }
  void add_link(pid p) { push(entry{ref{}, p, kind::link}); }
  /// Removes every link to `p`.
  void erase_link(pid p) noexcept {
    // Erased one by one (a block move each) rather than by remove_if,
    // which moves every later entry singly: a supervisor with thousands of
    // children erases one link per child that ends, usually an old one.
    auto is = [p](const entry& e) { return e.k == kind::link && e.other == p; };
    for (auto it = std::find_if(v_.begin(), v_.end(), is); it != v_.end(); it = std::find_if(it, v_.end(), is)) {
      it = v_.erase(it);
    }
  }

  // -- monitors set on this process ----------------------------------------------------
  void add_watcher(ref r, pid watcher) { push(entry{r, watcher, kind::monitored_by}); }
  /// Removes the monitor `r` of a watcher; how many were removed.
  std::size_t erase_watcher(ref r) noexcept {
    // A ref names one monitor: the first match is the only one. Newest
    // first (a caller's monitor, removed right after the reply).
    for (std::size_t i = v_.size(); i-- > 0;) {
      if (v_[i].k == kind::monitored_by && v_[i].r == r) {
        v_.erase(v_.begin() + static_cast<std::ptrdiff_t>(i));
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
    auto is = [r](const entry& e) { return e.k == kind::monitoring && e.r == r; };
    for (std::size_t lo = 0, hi = v_.size(); lo < hi;) {
      if (is(v_[--hi])) {
        return &v_[hi];
      }
      if (lo < hi && is(v_[lo])) {
        return &v_[lo];
      }
      ++lo;
    }
    return nullptr;
  }
  /// Removes `e` (from find_target).
  void erase(entry* e) noexcept { v_.erase(v_.begin() + (e - v_.data())); }

  // -- all -------------------------------------------------------------------------------
  /// Calls `f(entry)` for each relation of kind `k`, in the order they were made.
  template <class F>
  void each(kind k, F&& f) const {
    for (const entry& e : v_) {
      if (e.k == k) {
        f(e);
      }
    }
  }
  std::size_t heap_bytes() const noexcept { return v_.capacity() * sizeof(entry); }

 private:
  // Room for two at the first: a supervised worker is spawned with its
  // link and its starter's monitor, one allocation instead of two.
  void push(const entry& e) {
    if (v_.capacity() == 0) {
      v_.reserve(2);
    }
    v_.push_back(e);
  }

  std::vector<entry> v_;
};

}  // namespace otpnet::internal
