// File: runtime/behaviour_names.hpp (private)
//
// The behaviour names that processes report (set_process_label:
// "gen_server", "gen_statem", "supervisor", ...), each kept once for the
// whole runtime, so that a process record holds a one-byte index instead
// of a pointer. The names have static storage and are told apart by
// address; a program has a handful of them.
#pragma once

#include <cstdint>

namespace otpnet::internal {

/// The index of `name` (a static string, not null), adding it the first
/// time it is seen: 1..255, or 0 when 255 names are known already (the
/// caller then keeps the pointer itself). Lock-free for a known name.
/// @threadsafe
std::uint8_t behaviour_index_of(const char* name) noexcept;

/// The name at `index` (from behaviour_index_of); nullptr for 0.
/// @threadsafe
const char* behaviour_name_at(std::uint8_t index) noexcept;

}  // namespace otpnet::internal
