// File: fuzz/proxy_header.fuzz.cpp
//
// libFuzzer target for the PROXY protocol parser (listener/proxy_header).
// The input is the first bytes of a connection. Checked on every input:
//   - invalid always says why;
//   - a complete header fits in the input, is at least the shortest header
//     of its version (15 bytes for v1, 16 for v2; v1 at most 107), and is
//     found again, the same, when the input stops at its end;
//   - every strict prefix of a complete header, and of an incomplete
//     input, is incomplete (checked at a few cut points: all of them would
//     make a 64 KiB header quadratic);
//   - a complete, non-local header encodes (in its own version) to bytes
//     that parse back to the same addresses, transport and TLVs.
// Build and run: scripts/fuzz.sh proxy_header (docs/listener.md).
#include <otpnet/listener/proxy_header.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace ls = otpnet::listener;
using status = ls::proxy_parse::status;

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void prefixes_incomplete(std::span<const std::byte> b, std::size_t end) {
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, end / 2, end > 0 ? end - 1 : 0}) {
    if (cut < end) {
      check(ls::parse_proxy_header(b.first(cut)).what == status::incomplete);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  ls::proxy_parse p = ls::parse_proxy_header(in);
  switch (p.what) {
    case status::invalid:
      check(p.why != nullptr);
      return 0;
    case status::incomplete:
      prefixes_incomplete(in, size);
      return 0;
    case status::complete:
      break;
  }
  const ls::proxy_header& h = p.header;
  check(h.size <= size);
  check(h.version == 1 ? h.size >= 15 && h.size <= ls::proxy_v1_max_size : h.size >= ls::proxy_v2_fixed_size);
  check(h.local == !h.source.has_value() || h.version == 2);
  ls::proxy_parse again = ls::parse_proxy_header(in.first(h.size));
  check(again.what == status::complete && again.header.size == h.size && again.header.source == h.source &&
        again.header.destination == h.destination && again.header.tlvs == h.tlvs);
  prefixes_incomplete(in, h.size);
  std::size_t checksums = 0;
  for (const auto& t : h.tlvs) {
    checksums += t.type == ls::proxy_tlv_type::crc32c ? 1 : 0;
  }
  // (The encoder fills one CRC32C: a header with two cannot round-trip.)
  if (!h.local && h.source && h.destination && checksums <= 1) {
    auto enc = ls::encode_proxy_header(h);
    check(enc.has_value());
    ls::proxy_parse back = ls::parse_proxy_header(*enc);
    check(back.what == status::complete && back.header.size == enc->size());
    check(back.header.source == h.source && back.header.destination == h.destination);
    check(back.header.transport == h.transport && back.header.tlvs.size() == h.tlvs.size());
    for (std::size_t i = 0; i < h.tlvs.size(); ++i) {
      check(back.header.tlvs[i].type == h.tlvs[i].type);
      // (A CRC32C's value is the encoder's own checksum, not the input's.)
      check(h.tlvs[i].type == ls::proxy_tlv_type::crc32c || back.header.tlvs[i] == h.tlvs[i]);
    }
  }
  return 0;
}
