#include <otpnet/behaviours/start_result.hpp>

namespace otpnet {

std::string start_result::to_string() const {
  switch (kind_) {
    case kind::ok:
      return "ok " + pid_.to_string();
    case kind::ignore:
      return "ignore";
    case kind::error:
      break;
  }
  return "error " + reason_.to_string();
}

}  // namespace otpnet
