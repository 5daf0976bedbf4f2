// File: runtime/lazy_vector.hpp (private)
//
// A vector for what a process seldom has (system signals waiting, bare
// sockets it waited on): one pointer in the process record, where a vector
// takes three words, and the vector allocated by the first element. A
// process that never has one (a connection's handler) pays 8 bytes.
// Owned by one thread, like the record that holds it.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace otpnet::internal {

template <class T>
class lazy_vector {
 public:
  bool empty() const noexcept { return v_ == nullptr || v_->empty(); }
  std::size_t size() const noexcept { return v_ != nullptr ? v_->size() : 0; }
  /// Allocates the vector on first use (std::bad_alloc if that fails).
  void push_back(T x) {
    if (v_ == nullptr) {
      v_ = std::make_unique<std::vector<T>>();
    }
    v_->push_back(std::move(x));
  }
  /// Removes and returns the first element. Precondition: !empty().
  T pop_front() noexcept {
    T x = std::move(v_->front());
    v_->erase(v_->begin());
    return x;
  }
  /// Frees the vector if it is empty and has room for more than `n` (a
  /// burst left it large; a small one is kept for the next elements).
  void release_if_empty_above(std::size_t n) noexcept {
    if (v_ != nullptr && v_->empty() && v_->capacity() > n) {
      v_.reset();
    }
  }
  /// Removes the first `n` elements.
  void erase_front(std::size_t n) noexcept {
    if (v_ != nullptr) {
      v_->erase(v_->begin(), v_->begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
  /// Removes the elements `pred` accepts.
  template <class Pred>
  void erase_if(Pred pred) {
    if (v_ != nullptr) {
      std::erase_if(*v_, pred);
    }
  }
  /// Removes every element (keeps the vector for the next ones).
  void clear() noexcept {
    if (v_ != nullptr) {
      v_->clear();
    }
  }
  T* begin() noexcept { return v_ != nullptr ? v_->data() : nullptr; }
  T* end() noexcept { return v_ != nullptr ? v_->data() + v_->size() : nullptr; }
  const T* begin() const noexcept { return v_ != nullptr ? v_->data() : nullptr; }
  const T* end() const noexcept { return v_ != nullptr ? v_->data() + v_->size() : nullptr; }

 private:
  std::unique_ptr<std::vector<T>> v_;
};

}  // namespace otpnet::internal
