#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <atomic>

namespace otpnet {

std::string pid::to_string() const { return "<0." + std::to_string(slot()) + "." + std::to_string(generation()) + ">"; }

std::string ref::to_string() const { return "#Ref<" + std::to_string(v_) + ">"; }

ref make_ref() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return ref(next.fetch_add(1, std::memory_order_relaxed));
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
