// File: otpnet/runtime/exception_reason.hpp
//
// The exit reason an exception stands for, computed the way the runtime
// computes it for an exception escaping a process body: an exit_exception
// gives its reason; any other exception gives `other` with its demangled
// type and what() ("std::runtime_error: boom"). Behaviours use it to pass
// the reason to terminate before the exception ends the process.
#pragma once

#include <otpnet/runtime/exit_reason.hpp>

#include <exception>
#include <string>

namespace otpnet {

/// The exit reason `e` would end a process with; normal for a null `e`.
exit_reason reason_of(const std::exception_ptr& e);

/// A type's readable name from its mangled one (typeid(T).name()).
std::string demangle(const char* mangled);

}  // namespace otpnet
