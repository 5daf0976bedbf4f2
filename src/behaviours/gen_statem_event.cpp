// Names of gen_statem event kinds, as OTP writes the event types.
#include <otpnet/behaviours/gen_statem_event.hpp>

namespace otpnet {

std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::call:
      return "call";
    case event_kind::cast:
      return "cast";
    case event_kind::info:
      return "info";
    case event_kind::event_timeout:
      return "timeout";
    case event_kind::state_timeout:
      return "state_timeout";
    case event_kind::generic_timeout:
      return "generic_timeout";
    case event_kind::internal:
      return "internal";
    case event_kind::enter:
      return "enter";
  }
  return "unknown";
}

}  // namespace otpnet
