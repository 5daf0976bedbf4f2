// File: gen_tcp/send_queue.hpp (private)
//
// A port's send queue: a vector (the same calls) whose first element lives
// in place. An idle connection's queue is empty, and a connection that
// answers one frame at a time (ping-pong) never has more than one item, so
// neither keeps a heap block: a std::vector kept the 32-byte block of its
// first push for the connection's life (48 bytes with malloc's header).
// Longer queues move to a heap array that doubles, as a vector's does, and
// is kept until the port lets it go (= {}). Owned by the port's thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace otpnet::gen_tcp::detail {

template <class T>
class send_queue {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>);

 public:
  using iterator = T*;
  using const_iterator = const T*;

  send_queue() noexcept = default;
  send_queue(const send_queue&) = delete;
  send_queue& operator=(const send_queue&) = delete;
  /// Takes `o`'s items and storage; `o` is left empty.
  send_queue& operator=(send_queue&& o) noexcept {
    if (this != &o) {
      release();
      if (o.cap_ > 1) {
        s_.heap = std::exchange(o.s_.heap, nullptr);
        cap_ = std::exchange(o.cap_, 1);
        size_ = std::exchange(o.size_, 0);
      } else if (o.size_ == 1) {
        ::new (static_cast<void*>(&s_.one)) T(std::move(o.s_.one));
        o.s_.one.~T();
        size_ = 1;
        o.size_ = 0;
      }
    }
    return *this;
  }
  ~send_queue() { release(); }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  T* data() noexcept { return cap_ > 1 ? s_.heap : &s_.one; }
  const T* data() const noexcept { return cap_ > 1 ? s_.heap : &s_.one; }
  iterator begin() noexcept { return data(); }
  iterator end() noexcept { return data() + size_; }
  const_iterator begin() const noexcept { return data(); }
  const_iterator end() const noexcept { return data() + size_; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T& front() noexcept { return data()[0]; }
  T& back() noexcept { return data()[size_ - 1]; }

  /// std::bad_alloc if the queue must grow and cannot (nothing changed).
  void push_back(T&& x) {
    if (size_ == cap_) {
      grow();
    }
    ::new (static_cast<void*>(data() + size_)) T(std::move(x));
    ++size_;
  }

  /// Removes [first, last), keeping the order of the rest.
  iterator erase(iterator first, iterator last) noexcept {
    iterator e = end();
    iterator out = std::move(last, e, first);
    std::destroy(out, e);
    size_ -= static_cast<std::uint32_t>(e - out);
    return first;
  }

  /// Removes every item; the storage stays.
  void clear() noexcept {
    std::destroy(begin(), end());
    size_ = 0;
  }

 private:
  void grow() {
    std::uint32_t cap = cap_ * 2;
    T* heap = static_cast<T*>(::operator new(sizeof(T) * cap));
    T* old = data();
    std::uninitialized_move(old, old + size_, heap);
    std::destroy(old, old + size_);
    if (cap_ > 1) {
      ::operator delete(old);
    }
    s_.heap = heap;
    cap_ = cap;
  }

  void release() noexcept {
    clear();
    if (cap_ > 1) {
      ::operator delete(s_.heap);
      s_.heap = nullptr;
      cap_ = 1;
    }
  }

  union storage {
    storage() noexcept : heap(nullptr) {}
    ~storage() {}  // the queue destroys what it constructed
    T one;         // cap_ == 1: the only item, when size_ == 1
    T* heap;       // cap_ > 1
  } s_;
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = 1;
};

}  // namespace otpnet::gen_tcp::detail
