// File: support/print.hpp
//
// Makes GoogleTest print an otpnet::errc by its name ("econnreset") rather
// than as a number, in every failed assertion that shows one.
#pragma once

#include <otpnet/base/errc.hpp>

#include <ostream>

namespace otpnet {

inline void PrintTo(errc e, std::ostream* os) { *os << err_name(e); }

}  // namespace otpnet
