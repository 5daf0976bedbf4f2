#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <atomic>

namespace otpnet {

std::string pid::to_string() const { return "<0." + std::to_string(slot()) + "." + std::to_string(generation()) + ">"; }

std::string ref::to_string() const { return "#Ref<" + std::to_string(v_) + ">"; }

ref make_ref() noexcept {
  // Each thread takes refs from a block of its own, so that a ref (one per
  // call, for its monitor) costs no shared atomic. Refs are only compared
  // for equality: their order across threads means nothing.
  constexpr std::uint64_t block = 1024;
  static std::atomic<std::uint64_t> next{1};
  thread_local std::uint64_t cur = 0;
  thread_local std::uint64_t end = 0;
  if (cur == end) {
    cur = next.fetch_add(block, std::memory_order_relaxed);
    end = cur + block;
  }
  return ref(cur++);
}

std::string exit_reason::to_string() const {
  switch (kind_) {
    case kind::normal:
      return "normal";
    case kind::shutdown:
      return text_ ? "{shutdown," + *text_ + "}" : "shutdown";
    case kind::kill:
      return "kill";
    case kind::killed:
      return "killed";
    case kind::noproc:
      return "noproc";
    case kind::timeout:
      return "timeout";
    case kind::other:
      return text_ ? *text_ : "other";
  }
  return "unknown";
}

}  // namespace otpnet
