// Exception -> exit reason: one definition, used by the scheduler and the behaviours.
#include <otpnet/runtime/exception_reason.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace otpnet {

std::string demangle(const char* mangled) {
  if (mangled == nullptr) {
    return "?";
  }
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> d(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(mangled);
}

exit_reason reason_of(const std::exception_ptr& e) {
  if (!e) {
    return exit_reason::normal();
  }
  try {
    std::rethrow_exception(e);
  } catch (const exit_exception& x) {
    return x.reason;
  } catch (const std::exception& x) {
    return exit_reason::other(demangle(typeid(x).name()) + ": " + x.what());
  } catch (...) {
    return exit_reason::other("unknown exception");
  }
}

}  // namespace otpnet
