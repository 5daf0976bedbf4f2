// File: tls/openssl_error.hpp (private)
//
// OpenSSL's error queue turned into the tls layer's error values: the
// reason as an errc, the queue's text kept as this thread's last_error()
// (error.hpp) and put in report lines.
#pragma once

#include <otpnet/base/result.hpp>

#include <string>
#include <string_view>

namespace otpnet::tls::internal {

/// Empties this thread's OpenSSL error queue into one line ("; " between
/// entries), each as ERR_error_string_n gives it. Empty if it was empty.
std::string take_openssl_errors();

/// Records `detail` as this thread's last_error().
void set_last_error(std::string detail);

/// `reason`, with `what` and the OpenSSL error queue recorded as the
/// detail: `return fail(failure(errc::tls_error, "loading cert.pem"));`.
errc failure(errc reason, std::string_view what);

}  // namespace otpnet::tls::internal
