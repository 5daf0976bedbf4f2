// File: otpnet/runtime/mailbox.hpp
//
// `mailbox`: gives a plain thread (main, a test) a pid, so that processes
// can send to it, link to it and monitor it, and lets it wait for messages
// with a timeout. It behaves as a process that traps exits: exit signals
// arrive as exit_msg. It must be destroyed before runtime::stop.
#pragma once

#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>

#include <chrono>
#include <functional>
#include <optional>

namespace otpnet {

namespace internal {
struct process;
}

class mailbox {
 public:
  /// Errors are thrown (std::system_error) only if the runtime is not
  /// running.
  mailbox();
  ~mailbox();
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  pid self() const noexcept;

  /// The first message that `match` accepts, waiting up to `timeout`.
  message receive_if(const std::function<bool(message&)>& match, std::chrono::milliseconds timeout);

  /// The first T (satisfying `pred`), waiting up to `timeout`.
  template <class T, class Pred = bool (*)(const T&)>
  std::optional<T> receive(
      std::chrono::milliseconds timeout, Pred pred = [](const T&) { return true; }) {
    message m = receive_if([&](message& x) { return x.is<T>() && pred(x.get<T>()); }, timeout);
    if (!m) {
      return std::nullopt;
    }
    return std::optional<T>(std::move(m.get<T>()));
  }

  /// Any message, waiting up to `timeout`.
  message receive_any(std::chrono::milliseconds timeout) {
    return receive_if([](message&) { return true; }, timeout);
  }

  /// Messages waiting.
  std::size_t size() const;

 private:
  internal::process* p_;
};

}  // namespace otpnet
