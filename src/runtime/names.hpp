// File: runtime/names.hpp (private)
//
// The registry of process names (erlang:register/2): a map each way under
// one lock, so any thread may register, look up, or list.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/runtime/pid.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace otpnet::internal {

/// Errors: `invalid` (empty name, name taken, or `p` already named).
result<void> register_process(std::string name, pid p);
bool unregister_name(std::string_view name);
pid lookup_name(std::string_view name);
/// The name of `p`, or empty.
std::string name_of(pid p);
std::vector<std::string> all_names();
/// At exit: frees the process's name, if it has one.
void unregister_process(pid p) noexcept;

}  // namespace otpnet::internal
