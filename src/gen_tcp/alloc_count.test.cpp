// File: gen_tcp/alloc_count.test.cpp
//
// The gen_tcp test program links otpnet_alloc_hooks (tests/support), which
// replaces the global operator new: here it is told to count the
// allocations larger than a pooled read chunk (a port's buffer growing for
// a long frame). Tests use the counts to show that a long line costs a few
// buffers, not one per byte, and that a length header alone never makes the
// port allocate what it announces.
#include "gen_tcp/harness.test.hpp"

namespace otpnet::gen_tcp::test {
namespace {

// Before main, so before any test.
const bool counting = (otpnet::test::count_allocations_above(gen_tcp::detail::read_chunk_size + 64), true);

}  // namespace
}  // namespace otpnet::gen_tcp::test
