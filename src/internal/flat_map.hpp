// File: internal/flat_map.hpp (private, for any layer)
//
// `flat_map<K, V>`: a hash map of one-word keys (pid, ref) in one array of
// slots: open addressing, linear probing, and removal by shifting the
// entries after it back (no tombstones), so a lookup stays O(1) however
// many entries came and went. For tables with an entry per connection (a
// supervisor's children, a listener's handlers): a node-based
// unordered_map takes a heap block per entry (32 bytes with malloc's
// header for a 24-byte node) and a bucket pointer; this takes one slot of
// sizeof(K) + sizeof(V) (8 bytes for a set: V = flat_unit) at a load
// between 3/16 and 3/4.
//
// A key whose value() is 0 (a default pid or ref, which names nothing)
// marks a free slot and cannot be stored. Inserting and erasing invalidate
// iterators and pointers to values. Not thread-safe: the owner's alone.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <utility>

namespace otpnet::internal {

/// The value of a flat_map that is a set.
struct flat_unit {};

template <class K, class V = flat_unit>
class flat_map {
 public:
  struct slot {
    K key{};
    [[no_unique_address]] V value{};
  };

  /// Visits the entries; no order.
  template <class Slot>
  class basic_iterator {
   public:
    basic_iterator(Slot* at, Slot* end) noexcept : at_(at), end_(end) { skip(); }
    Slot& operator*() const noexcept { return *at_; }
    Slot* operator->() const noexcept { return at_; }
    basic_iterator& operator++() noexcept {
      ++at_;
      skip();
      return *this;
    }
    friend bool operator==(const basic_iterator& a, const basic_iterator& b) noexcept { return a.at_ == b.at_; }

   private:
    void skip() noexcept {
      while (at_ != end_ && at_->key.value() == 0) {
        ++at_;
      }
    }
    Slot* at_;
    Slot* end_;
  };
  using iterator = basic_iterator<slot>;
  using const_iterator = basic_iterator<const slot>;

  flat_map() noexcept = default;
  flat_map(flat_map&& o) noexcept
      : slots_(std::move(o.slots_)),
        size_(std::exchange(o.size_, 0)),
        mask_(std::exchange(o.mask_, 0)),
        shift_(std::exchange(o.shift_, 64)) {}
  flat_map& operator=(flat_map&& o) noexcept {
    slots_ = std::move(o.slots_);
    size_ = std::exchange(o.size_, 0);
    mask_ = std::exchange(o.mask_, 0);
    shift_ = std::exchange(o.shift_, 64);
    return *this;
  }
  flat_map(const flat_map&) = delete;
  flat_map& operator=(const flat_map&) = delete;
  ~flat_map() = default;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Slots allocated (for tests and memory accounting).
  std::size_t capacity() const noexcept { return slots_ ? std::size_t{mask_} + 1 : 0; }

  /// The value of `k`, or nullptr.
  V* find(K k) noexcept {
    slot* s = locate(k);
    return s != nullptr ? &s->value : nullptr;
  }
  const V* find(K k) const noexcept {
    const slot* s = locate(k);
    return s != nullptr ? &s->value : nullptr;
  }
  bool contains(K k) const noexcept { return find(k) != nullptr; }

  /// Adds `k` with `v` unless `k` is there already (then nothing changes);
  /// whether it was added. std::bad_alloc if the table must grow and
  /// cannot (then nothing changes either).
  bool insert(K k, V v = V{}) {
    if (locate(k) != nullptr) {
      return false;
    }
    if (size_ + 1 > capacity() / 4 * 3) {
      if (!rehash(capacity() == 0 ? min_capacity : capacity() * 2)) {
        throw std::bad_alloc();
      }
    }
    place(slot{k, std::move(v)});
    ++size_;
    return true;
  }

  /// Removes `k` and gives its value, or no value if it was not there.
  std::optional<V> extract(K k) noexcept {
    slot* s = locate(k);
    if (s == nullptr) {
      return std::nullopt;
    }
    std::optional<V> v(std::move(s->value));
    remove(static_cast<std::size_t>(s - slots_.get()));
    return v;
  }
  /// Removes `k`; whether it was there.
  bool erase(K k) noexcept { return extract(k).has_value(); }

  /// Removes every entry and gives the memory back.
  void clear() noexcept {
    slots_.reset();
    size_ = 0;
    mask_ = 0;
    shift_ = 64;
  }

  iterator begin() noexcept { return {slots_.get(), slots_.get() + capacity()}; }
  iterator end() noexcept { return {slots_.get() + capacity(), slots_.get() + capacity()}; }
  const_iterator begin() const noexcept { return {slots_.get(), slots_.get() + capacity()}; }
  const_iterator end() const noexcept { return {slots_.get() + capacity(), slots_.get() + capacity()}; }

 private:
  static constexpr std::size_t min_capacity = 8;

  /// Fibonacci hashing: the top bits of the key times 2^64/phi, so that
  /// keys counting up (pids, refs) spread over the table.
  std::size_t home(K k) const noexcept {
    return static_cast<std::size_t>((k.value() * 0x9E3779B97F4A7C15ULL) >> shift_) & mask_;
  }

  slot* locate(K k) const noexcept {
    if (size_ == 0 || k.value() == 0) {
      return nullptr;
    }
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      slot& s = slots_[i];
      if (s.key.value() == k.value()) {
        return &s;
      }
      if (s.key.value() == 0) {
        return nullptr;
      }
    }
  }

  void place(slot s) noexcept {
    std::size_t i = home(s.key);
    while (slots_[i].key.value() != 0) {
      i = (i + 1) & mask_;
    }
    slots_[i] = std::move(s);
  }

  /// Empties slot `hole` and moves back the entries of its cluster that
  /// may not stay after a free slot (their home is at or before the hole).
  void remove(std::size_t hole) noexcept {
    for (std::size_t j = (hole + 1) & mask_; slots_[j].key.value() != 0; j = (j + 1) & mask_) {
      std::size_t h = home(slots_[j].key);
      // Whether h lies cyclically in (hole, j]: then slot j may stay.
      bool stays = hole < j ? (h > hole && h <= j) : (h > hole || h <= j);
      if (!stays) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole] = slot{};
    --size_;
    if (capacity() > min_capacity && size_ < capacity() / 16 * 3) {
      (void)rehash(capacity() / 2);  // without memory it stays as large
    }
  }

  /// Moves the entries into `cap` slots; false without memory.
  bool rehash(std::size_t cap) noexcept {
    std::unique_ptr<slot[]> old(new (std::nothrow) slot[cap]);
    if (!old) {
      return false;
    }
    std::size_t old_cap = capacity();
    old.swap(slots_);
    mask_ = static_cast<std::uint32_t>(cap - 1);
    shift_ = static_cast<std::uint8_t>(64 - std::countr_zero(cap));
    for (std::size_t i = 0; i < old_cap; ++i) {
      if (old[i].key.value() != 0) {
        place(std::move(old[i]));
      }
    }
    return true;
  }

  std::unique_ptr<slot[]> slots_;
  std::uint32_t size_ = 0;
  std::uint32_t mask_ = 0;
  std::uint8_t shift_ = 64;
};

}  // namespace otpnet::internal
