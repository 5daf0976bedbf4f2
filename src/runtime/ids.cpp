#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <atomic>
#include <charconv>

namespace otpnet {

std::string pid::to_string() const { return "<0." + std::to_string(slot()) + "." + std::to_string(generation()) + ">"; }

std::optional<pid> pid::parse(std::string_view text) noexcept {
  if (text.size() >= 2 && text.front() == '<' && text.back() == '>') {
    text = text.substr(1, text.size() - 2);
  }
  std::uint32_t part[3] = {};
  for (int i = 0; i < 3; ++i) {
    const char* end = text.data() + text.size();
    auto [at, ec] = std::from_chars(text.data(), end, part[i]);
    if (ec != std::errc{} || at == text.data() || (at != end && (i == 2 || *at != '.')) || (i < 2 && at == end) ||
        (at - text.data() > 1 && text.front() == '0')) {
      return std::nullopt;  // (not a number, a missing or extra part, a leading zero)
    }
    text.remove_prefix(static_cast<std::size_t>(at - text.data()) + (at == end ? 0 : 1));
  }
  pid p(part[1], part[2]);
  if (part[0] != 0 || !p) {
    return std::nullopt;  // (another node's, or the null pid)
  }
  return p;
}

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
