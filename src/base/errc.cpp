#include <otpnet/base/errc.hpp>

#include <cstring>
#include <string>

namespace otpnet {

// clang-format off
std::string_view err_name(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return "ok";
#define OTPNET_X(name, value) \
  case errc::name:            \
    return #name;
    OTPNET_BASE_POSIX_ERRORS(OTPNET_X)
    OTPNET_BASE_EAI_ERRORS(OTPNET_X)
#undef OTPNET_X
#define OTPNET_X(name, text) \
  case errc::name:           \
    return #name;
    OTPNET_BASE_OWN_ERRORS(OTPNET_X)
#undef OTPNET_X
    case errc::own_first_:
      break;
  }
  return "unknown";
}
// clang-format on

// clang-format off
const char* err_text(errc e) noexcept {
  int v = static_cast<int>(e);
  switch (e) {
#define OTPNET_X(name, value) \
  case errc::name:            \
    return ::gai_strerror(value);
    OTPNET_BASE_EAI_ERRORS(OTPNET_X)
#undef OTPNET_X
#define OTPNET_X(name, text) \
  case errc::name:           \
    return text;
    OTPNET_BASE_OWN_ERRORS(OTPNET_X)
#undef OTPNET_X
    default:
      break;
  }
  if (v > 0 && v < 2000) {
    // strerrordesc_np is glibc's thread-safe, locale-free strerror.
    if (const char* d = ::strerrordesc_np(v)) {
      return d;
    }
  }
  return v == 0 ? "success" : "unknown error";
}
// clang-format on

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "otpnet"; }
  std::string message(int v) const override { return format_error(static_cast<errc>(v)); }
};

}  // namespace

std::string format_error(errc e) {
  std::string s(err_name(e));
  s += ": ";
  s += err_text(e);
  return s;
}

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

}  // namespace otpnet
