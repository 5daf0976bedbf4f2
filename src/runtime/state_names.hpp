// File: runtime/state_names.hpp (private)
//
// The static state names that processes report (set_process_label_static:
// a gen_statem's state function names), each kept once for the whole
// runtime, so that a process record holds a two-byte index instead of a
// pointer. The names have static storage and are told apart by address.
// A fixed open-addressing table, read and filled without a lock.
#pragma once

#include <cstdint>

namespace otpnet::internal {

/// The index of `name` (a static string, not null), adding it the first
/// time it is seen: 1..state_names_capacity, or 0 when the table has no
/// room for it (the caller then copies the name). @threadsafe
std::uint16_t state_index_of(const char* name) noexcept;

/// The name at `index` (from state_index_of, not 0). @threadsafe
const char* state_name_at(std::uint16_t index) noexcept;

/// How many distinct names the table keeps.
inline constexpr unsigned state_names_capacity = 4096;

}  // namespace otpnet::internal
