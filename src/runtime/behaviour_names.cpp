// The table of behaviour names (behaviour_names.hpp): append-only, read
// without a lock. A name is stored before the count that covers it is
// published (release), so a reader that loads the count (acquire) sees
// every name below it.
#include "runtime/behaviour_names.hpp"

#include <array>
#include <atomic>
#include <mutex>

namespace otpnet::internal {

namespace {

constexpr unsigned max_names = 255;

struct behaviour_name_table {
  std::array<std::atomic<const char*>, max_names + 1> names{};  // [0]: no name
  std::atomic<unsigned> count{0};                               // names[1..count] are set
  std::mutex grow;                                              // one writer at a time
};

behaviour_name_table& table() noexcept {
  static behaviour_name_table t;  // (constant-initialised: no guard on the way in)
  return t;
}

std::uint8_t find(const behaviour_name_table& t, const char* name, unsigned n) noexcept {
  for (unsigned i = 1; i <= n; ++i) {
    if (t.names[i].load(std::memory_order_relaxed) == name) {
      return static_cast<std::uint8_t>(i);
    }
  }
  return 0;
}

}  // namespace

std::uint8_t behaviour_index_of(const char* name) noexcept {
  behaviour_name_table& t = table();
  if (std::uint8_t i = find(t, name, t.count.load(std::memory_order_acquire))) {
    return i;
  }
  std::lock_guard lk(t.grow);
  unsigned n = t.count.load(std::memory_order_relaxed);
  if (std::uint8_t i = find(t, name, n)) {
    return i;  // added by another thread meanwhile
  }
  if (n == max_names) {
    return 0;
  }
  t.names[n + 1].store(name, std::memory_order_relaxed);
  t.count.store(n + 1, std::memory_order_release);
  return static_cast<std::uint8_t>(n + 1);
}

const char* behaviour_name_at(std::uint8_t index) noexcept {
  return table().names[index].load(std::memory_order_relaxed);
}

}  // namespace otpnet::internal
