#include <otpnet/behaviours/server_ref.hpp>
#include <otpnet/runtime/process.hpp>

namespace otpnet {

pid server_ref::resolve() const { return is_name() ? whereis(name_) : pid_; }

}  // namespace otpnet
