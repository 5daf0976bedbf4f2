// File: runtime/relations.hpp (private)
//
// A process's links and monitors, both ways, in one array: where three
// vectors took 72 bytes of every process record and up to three heap
// blocks, this takes 40 bytes and, for up to two relations, no block. Most
// processes have few relations (a connection's handler: its link to the
// supervisor and the listener's monitor, and for a moment the starter's
// monitor), so a scan of one short array finds any of them. Two are kept
// in place; a third moves them all to a heap array, and they go back in
// place when two are left. An entry is 16 bytes: the relation's kind rides
// in the top bits of its ref (refs count up from 1 and never reach them).
//
// A few processes have one relation per connection: a supervisor links to
// each of its dynamic children, a listener monitors each handler. For them
// a scan per exit signal or down would cost O(N) per connection ended (at
// 10,000 connections, a quarter of the server's CPU under churn). Past
// `indexed_from` relations the array becomes two hash tables, links by pid
// (an 8-byte slot) and monitors by ref (the whole entry): O(1) per lookup
// and removal, at about the array's memory per entry. Their order is not
// kept (OTP promises none among links or monitors); the array's is. The
// relations go back in place when two are left. A table that cannot grow
// ends the program with a report (internal/id_tables.hpp). Owned by the
// process's scheduler thread, like the rest of the record.
#pragma once

#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace otpnet::internal {

struct relations_table;  // the indexed form (relations.cpp)

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
    /// What identifies the entry among its kind: the pid of a link, the
    /// ref of a monitor.
    std::uint64_t id() const noexcept { return k() == kind::link ? other.value() : r().value(); }

    // Mutable: a monitor's `other` is not part of its key (demonitor clears
    // it in place, also in the indexed form, whose entries are const); a
    // link's is, and is never changed in place.
    mutable pid other;

   private:
    static constexpr unsigned kind_shift = 62;
    static constexpr std::uint64_t kind_mask = std::uint64_t{3} << kind_shift;
    static constexpr std::uint8_t k_bits(kind k) noexcept { return static_cast<std::uint8_t>(k); }
    std::uint64_t rk_ = 0;
  };
  static_assert(sizeof(entry) == 16);

  /// Above this many relations, the indexed form.
  static constexpr std::uint32_t indexed_from = 32;

  relations() noexcept = default;
  relations(const relations&) = delete;
  relations& operator=(const relations&) = delete;
  ~relations() { release(); }

  bool linked(pid p) const noexcept {
    if (indexed()) {
      return table_linked(*s_.table, p);
    }
    for (const entry& e : array()) {
      if (e.k() == kind::link && e.other == p) {
        return true;
      }
    }
    return false;
  }
  void add_link(pid p) { push(entry{ref{}, p, kind::link}); }
  /// Removes every link to `p` (the array may hold one twice; the indexed
  /// form holds it once).
  void erase_link(pid p) noexcept {
    if (indexed()) {
      table_erase(kind::link, p.value());
      return;
    }
    remove_if([p](const entry& e) { return e.k() == kind::link && e.other == p; });
  }

  void add_watcher(ref r, pid watcher) { push(entry{r, watcher, kind::monitored_by}); }
  std::size_t erase_watcher(ref r) noexcept {
    if (indexed()) {
      return table_erase(kind::monitored_by, r.value());
    }
    for (std::uint32_t i = size_; i-- > 0;) {
      entry* e = begin() + i;
      if (e->k() == kind::monitored_by && e->r() == r) {
        erase(e);
        return 1;
      }
    }
    return 0;
  }

  void add_target(ref r, pid target) { push(entry{r, target, kind::monitoring}); }
  /// The monitor this process set with `r`, or null. Valid until the next
  /// change of these relations (demonitor looks it up again after one).
  const entry* find_target(ref r) const noexcept {
    if (indexed()) {
      return table_find(*s_.table, kind::monitoring, r.value());
    }
    auto is = [r](const entry& e) { return e.k() == kind::monitoring && e.r() == r; };
    const entry* v = begin();
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
  /// Removes `e`, found by this object's find_target.
  void erase(const entry* e) noexcept {
    if (indexed()) {
      table_erase(e->k(), e->id());
      return;
    }
    entry* at = begin() + (e - begin());
    std::copy(at + 1, end(), at);
    --size_;
    shrink();
  }

  template <class F>
  void each(kind k, F&& f) const {
    if (indexed()) {
      table_each(
          *s_.table, k, [](void* ctx, const entry& e) { (*static_cast<std::remove_reference_t<F>*>(ctx))(e); },
          static_cast<void*>(&f));
      return;
    }
    for (const entry& e : array()) {
      if (e.k() == k) {
        f(e);
      }
    }
  }
  std::size_t size() const noexcept { return size_; }
  bool indexed() const noexcept { return cap_ == indexed_cap; }
  std::size_t heap_bytes() const noexcept {
    if (indexed()) {
      return table_bytes(*s_.table);
    }
    return cap_ > in_place ? cap_ * sizeof(entry) : 0;
  }

 private:
  struct span {
    const entry* b;
    const entry* e;
    const entry* begin() const noexcept { return b; }
    const entry* end() const noexcept { return e; }
  };
  span array() const noexcept { return {begin(), end()}; }
  entry* begin() noexcept { return cap_ > in_place ? s_.heap : s_.two; }
  entry* end() noexcept { return begin() + size_; }
  const entry* begin() const noexcept { return cap_ > in_place ? s_.heap : s_.two; }
  const entry* end() const noexcept { return begin() + size_; }

  void push(entry e) {
    if (indexed()) {
      // A table that cannot grow ends the program (id_tables.hpp: Abseil's
      // tables are left corrupt by a failed allocation).
      size_ = table_insert(*s_.table, e);
      return;
    }
    if (size_ == cap_) {
      if (cap_ >= indexed_from) {
        relations_table* t = table_make(begin(), end(), e);  // std::bad_alloc before its tables: nothing changed
        free_array(s_.heap, cap_);
        s_.table = t;
        cap_ = indexed_cap;
        size_ = table_size(*t);
        return;
      }
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

  template <class Pred>
  std::size_t remove_if(Pred pred) noexcept {
    entry* last = std::remove_if(begin(), end(), pred);
    auto removed = static_cast<std::size_t>(end() - last);
    size_ -= static_cast<std::uint32_t>(removed);
    shrink();
    return removed;
  }

  void shrink() noexcept {
    if (cap_ > in_place && cap_ != indexed_cap && size_ <= in_place) {
      entry* heap = s_.heap;
      std::copy(heap, heap + size_, s_.two);
      free_array(heap, cap_);
      cap_ = in_place;
    }
  }

  // Removes the entry of kind `k` and id `id` from the indexed form, which
  // goes back in place when two are left. Returns how many were removed.
  std::size_t table_erase(kind k, std::uint64_t id) noexcept {
    std::size_t n = table_remove(*s_.table, k, id);
    size_ -= static_cast<std::uint32_t>(n);
    if (size_ <= in_place) {
      relations_table* t = s_.table;
      entry two[in_place];  // NOLINT(modernize-avoid-c-arrays)
      table_take(*t, two);
      table_free(t);
      std::copy(two, two + size_, s_.two);
      cap_ = in_place;
    }
    return n;
  }
  void release() noexcept {
    if (indexed()) {
      table_free(s_.table);
    } else if (cap_ > in_place) {
      free_array(s_.heap, cap_);
    }
  }

  // The indexed form (relations.cpp): Abseil's flat hash set, kept out of
  // this header, which most of the runtime includes.
  static relations_table* table_make(const entry* b, const entry* e, entry more);
  static std::uint32_t table_insert(relations_table& t, entry e);
  static bool table_linked(const relations_table& t, pid p) noexcept;
  static const entry* table_find(const relations_table& t, kind k, std::uint64_t id) noexcept;
  static std::size_t table_remove(relations_table& t, kind k, std::uint64_t id) noexcept;
  static void table_take(relations_table& t, entry* out) noexcept;  // its entries, when at most in_place
  static void table_each(const relations_table& t, kind k, void (*f)(void*, const entry&), void* ctx);
  static std::size_t table_bytes(const relations_table& t) noexcept;
  static std::uint32_t table_size(const relations_table& t) noexcept;
  static void table_free(relations_table* t) noexcept;

  static entry* alloc_array(std::uint32_t cap) {
    return static_cast<entry*>(otpnet::detail::envelope_alloc(cap * sizeof(entry)));
  }
  static void free_array(entry* p, std::uint32_t cap) noexcept {
    otpnet::detail::envelope_free(p, cap * sizeof(entry));
  }

  static constexpr std::uint32_t in_place = 2;
  static constexpr std::uint32_t indexed_cap = ~std::uint32_t{0};
  union storage {
    storage() noexcept : two{} {}
    entry two[in_place];     // NOLINT(modernize-avoid-c-arrays): cap_ == in_place
    entry* heap;             // in_place < cap_ <= indexed_from
    relations_table* table;  // cap_ == indexed_cap
  } s_;
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = in_place;
};

}  // namespace otpnet::internal
