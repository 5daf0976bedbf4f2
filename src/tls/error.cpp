#include <otpnet/tls/error.hpp>

#include "tls/openssl_error.hpp"

#include <openssl/err.h>

#include <array>

namespace otpnet::tls {

namespace {

thread_local std::string last_detail;

}  // namespace

std::string last_error() { return last_detail; }

namespace internal {

std::string take_openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(e, text.data(), text.size());
    if (!out.empty()) {
      out += "; ";
    }
    out += text.data();
  }
  return out;
}

void set_last_error(std::string detail) { last_detail = std::move(detail); }

errc failure(errc reason, std::string_view what) {
  std::string detail(what);
  std::string queue = take_openssl_errors();
  if (!queue.empty()) {
    detail += ": ";
    detail += queue;
  }
  set_last_error(std::move(detail));
  return reason;
}

}  // namespace internal

}  // namespace otpnet::tls
