// File: otpnet/tls/error.hpp
//
// The detail behind an errc::tls_error (or einval) from the tls layer.
// Errors are named values (errc); what OpenSSL said about them (its error
// queue, e.g. "error:0A000086:SSL routines::certificate verify failed",
// the verification result, the file concerned) is kept per thread, as
// OpenSSL's own error queue is, and also logged in the failure's report
// line.
#pragma once

#include <string>

namespace otpnet::tls {

/// The detail of the last failure of a tls call made on this thread (a
/// process's scheduler thread, or a plain thread): read it right after the
/// call fails, before the next co_await. Empty if none failed yet.
std::string last_error();

}  // namespace otpnet::tls
