// The out-of-line parts of the call protocol: error reasons and names.
#include <otpnet/behaviours/call.hpp>
#include <otpnet/runtime/exception_reason.hpp>

namespace otpnet::gen {

namespace detail {

exit_reason bad_reply_type(const char* expected, const char* offered) {
  return exit_reason::other("bad_reply_type: expected " + demangle(expected) + ", got " +
                            (offered != nullptr ? demangle(offered) : std::string("nothing")));
}

exit_reason calling_self() { return exit_reason::other("calling_self"); }

}  // namespace detail

std::string request::type_name() const { return demangle(h_->req_name); }

}  // namespace otpnet::gen
