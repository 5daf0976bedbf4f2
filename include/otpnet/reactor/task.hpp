// File: otpnet/reactor/task.hpp
//
// `task`: a move-only `void()` callable, the unit of work `event_loop::post`
// queues. Unlike std::function it takes move-only callables (a lambda owning
// a unique_ptr or a message), and it keeps callables up to `inline_size`
// bytes inside itself, so that posting a typical lambda does not allocate.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace otpnet::reactor {

/// A type-erased, move-only `void() noexcept` callable, possibly empty.
/// Not thread-safe: a task is handed from thread to thread by moving it
/// under the queue's own synchronisation.
class task {
 public:
  /// Callables up to this size (and nothrow-movable) are stored inline.
  static constexpr std::size_t inline_size = 6 * sizeof(void*);

  /// An empty task.
  task() noexcept = default;

  /// Wraps `f`, which must be invocable as `f()`. It runs in a noexcept
  /// context: an exception escaping it terminates the program.
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, task> && std::is_invocable_v<std::remove_cvref_t<F>&>)
      task(F&& f) {  // implicit: a lambda is a task
    using fn = std::remove_cvref_t<F>;
    if constexpr (fits<fn>) {
      ::new (static_cast<void*>(buf_)) fn(std::forward<F>(f));
      ops_ = &inline_ops<fn>;
    } else {
      ::new (static_cast<void*>(buf_)) fn*(new fn(std::forward<F>(f)));
      ops_ = &heap_ops<fn>;
    }
  }

  /// Takes over `other`'s callable; `other` becomes empty.
  task(task&& other) noexcept : ops_(other.ops_) {
    if (ops_ != nullptr) {
      ops_->move(buf_, other.buf_);
      other.ops_ = nullptr;
    }
  }

  /// Destroys the current callable and takes over `other`'s.
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      if (other.ops_ != nullptr) {
        other.ops_->move(buf_, other.buf_);
        ops_ = std::exchange(other.ops_, nullptr);
      }
    }
    return *this;
  }

  task(const task&) = delete;
  task& operator=(const task&) = delete;

  /// Destroys the callable, if any.
  ~task() { reset(); }

  /// True unless empty.
  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Runs the callable. Precondition: not empty.
  void operator()() noexcept { ops_->invoke(buf_); }

  /// Destroys the callable; the task becomes empty.
  void reset() noexcept {
    if (ops_ != nullptr) {
      std::exchange(ops_, nullptr)->destroy(buf_);
    }
  }

 private:
  struct ops {
    void (*invoke)(void*) noexcept;
    void (*move)(void* dst, void* src) noexcept;  // leaves src destroyed
    void (*destroy)(void*) noexcept;
  };

  template <class F>
  static constexpr bool fits = sizeof(F) <= inline_size &&
                               alignof(F) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<F>;

  template <class F>
  static constexpr ops inline_ops{
      [](void* p) noexcept { (*static_cast<F*>(p))(); },
      [](void* dst, void* src) noexcept {
        ::new (dst) F(std::move(*static_cast<F*>(src)));
        static_cast<F*>(src)->~F();
      },
      [](void* p) noexcept { static_cast<F*>(p)->~F(); },
  };

  template <class F>
  static constexpr ops heap_ops{
      [](void* p) noexcept { (**static_cast<F**>(p))(); },
      [](void* dst, void* src) noexcept { ::new (dst) F*(*static_cast<F**>(src)); },
      [](void* p) noexcept { delete *static_cast<F**>(p); },
  };

  alignas(std::max_align_t) unsigned char buf_[inline_size];
  const ops* ops_ = nullptr;
};

}  // namespace otpnet::reactor
