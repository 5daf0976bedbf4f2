// The table of static state names (state_names.hpp): a name's place is
// found by hashing its address and probing linearly; an empty place is
// taken with a compare-and-swap, so two threads adding the same name agree
// on one place. Places are never emptied.
#include "runtime/state_names.hpp"

#include <array>
#include <atomic>
#include <cstddef>

namespace otpnet::internal {

namespace {

constexpr unsigned max_probes = 64;  // beyond: treated as full (the name is copied)
static_assert((state_names_capacity & (state_names_capacity - 1)) == 0, "a power of two");

std::array<std::atomic<const char*>, state_names_capacity> names{};  // constant-initialised

unsigned home_of(const char* name) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(name);
  return static_cast<unsigned>(((a >> 3) * 0x9e3779b97f4a7c15ULL) >> 52) & (state_names_capacity - 1);
}

}  // namespace

std::uint16_t state_index_of(const char* name) noexcept {
  unsigned home = home_of(name);
  for (unsigned probe = 0; probe < max_probes; ++probe) {
    unsigned i = (home + probe) & (state_names_capacity - 1);
    const char* seen = names[i].load(std::memory_order_acquire);
    if (seen == nullptr && names[i].compare_exchange_strong(seen, name, std::memory_order_acq_rel)) {
      return static_cast<std::uint16_t>(i + 1);
    }
    if (seen == name) {
      return static_cast<std::uint16_t>(i + 1);  // (also when another thread just added it)
    }
  }
  return 0;
}

const char* state_name_at(std::uint16_t index) noexcept { return names[index - 1U].load(std::memory_order_acquire); }

}  // namespace otpnet::internal
