#include <otpnet/base/errc.hpp>
#include <otpnet/behaviours/sync_wait.hpp>

#include <system_error>

namespace otpnet::detail {

std::exception_ptr sync_abandoned() {
  return std::make_exception_ptr(
      std::system_error(make_error_code(errc::noproc), "sync_wait: the helper process ended before the task"));
}

}  // namespace otpnet::detail
