// File: otpnet/runtime/proc.hpp
//
// The coroutine types of process bodies. A process body is a function
// returning `proc`; it runs on its scheduler's thread and suspends only at
// `co_await` points (receive, socket waits, calls). Helper coroutines that
// a body awaits return `task<T>`; exceptions pass through them to the body,
// and an exception escaping the body ends the process with it as reason.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>

namespace otpnet {

namespace detail {
void* frame_alloc(std::size_t size);
void frame_free(void* p, std::size_t size) noexcept;
/// The size of the last frame allocated on this thread (spawn reads it to
/// account a process's memory).
std::size_t last_frame_size() noexcept;
/// The bytes of envelopes and frames this thread's pools hold for reuse
/// (tests and inspection).
std::size_t pooled_bytes() noexcept;

/// Frames come from the runtime's pools, not straight from the heap.
struct pooled_frame {
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
};

/// Room for one value of A or B, left uninitialised: its owner constructs
/// and destroys the member it uses, and keeps the flag saying which. For
/// what the behaviour loops make per message, where GCC 12 zero-fills the
/// whole storage of a default-constructed std::optional.
struct no_value {};
template <class A, class B = no_value>
union either_storage {
  either_storage() noexcept {}
  ~either_storage() {}
  either_storage(const either_storage&) = delete;
  either_storage& operator=(const either_storage&) = delete;
  A first;
  B second;
};
}  // namespace detail

/// The return type of a process body.
class [[nodiscard]] proc {
 public:
  struct promise_type : detail::pooled_frame {
    std::exception_ptr error;
    proc get_return_object() noexcept { return proc(std::coroutine_handle<promise_type>::from_promise(*this)); }
    // A process starts when its scheduler first runs it.
    std::suspend_always initial_suspend() noexcept { return {}; }
    // Kept until the scheduler has read the outcome and destroys it.
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  proc(proc&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  proc& operator=(proc&&) = delete;
  ~proc() {
    if (h_) {
      h_.destroy();
    }
  }
  std::coroutine_handle<promise_type> release() noexcept { return std::exchange(h_, {}); }

 private:
  explicit proc(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

/// A helper coroutine awaited by a process body (or by another task).
/// Lazy: it runs when awaited, and resumes its awaiter when it finishes.
template <class T = void>
class [[nodiscard]] task {
 public:
  struct promise_base : detail::pooled_frame {
    std::coroutine_handle<> continuation;
    std::exception_ptr error;
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      template <class P>
      std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
        return h.promise().continuation;
      }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };
  struct promise_value : promise_base {
    std::optional<T> value;
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
  };
  struct promise_void : promise_base {
    void return_void() noexcept {}
  };
  struct promise_type : std::conditional_t<std::is_void_v<T>, promise_void, promise_value> {
    task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
  };

  /// An empty task, owning no coroutine; awaiting it is undefined.
  task() noexcept = default;
  task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  task& operator=(task&&) = delete;
  ~task() {
    if (h_) {
      h_.destroy();
    }
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) {
      std::rethrow_exception(h_.promise().error);
    }
    if constexpr (!std::is_void_v<T>) {
      return std::move(*h_.promise().value);
    }
  }

 private:
  explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_{};
};

}  // namespace otpnet
