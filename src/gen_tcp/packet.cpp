// The framing decoder: the one protocol decoder of gen_tcp, kept free of
// I/O so the fuzzer (fuzz/packet.fuzz.cpp) can drive it directly.
#include <otpnet/gen_tcp/packet.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace otpnet::gen_tcp {

std::string_view to_string(packet_type p) noexcept {
  switch (p) {
    case packet_type::raw:
      return "raw";
    case packet_type::u1:
      return "1";
    case packet_type::u2:
      return "2";
    case packet_type::u4:
      return "4";
    case packet_type::line:
      return "line";
  }
  return "unknown";
}

bool parse_packet_type(std::string_view s, packet_type& out) noexcept {
  if (s == "raw" || s == "0") {
    out = packet_type::raw;
  } else if (s == "1") {
    out = packet_type::u1;
  } else if (s == "2") {
    out = packet_type::u2;
  } else if (s == "4") {
    out = packet_type::u4;
  } else if (s == "line") {
    out = packet_type::line;
  } else {
    return false;
  }
  return true;
}

namespace {

// A frame behind a length header of H (1, 2 or 4) bytes, big-endian. H is
// a constant, so the header is read without a loop or a second switch on
// its size: this runs once per frame received.
template <std::size_t H>
decoded decode_prefixed(const frame_spec& spec, std::span<const std::byte> buf) noexcept {
  if (buf.size() < H) {
    return {decoded::status::need_more, 0, 0, H};
  }
  std::uint32_t len = 0;
  for (std::size_t i = 0; i < H; ++i) {
    len = len << 8 | std::to_integer<std::uint32_t>(buf[i]);
  }
  if (spec.packet_size != 0 && len > spec.packet_size) {
    return {decoded::status::too_big};
  }
  if (buf.size() - H < len) {
    return {decoded::status::need_more, 0, 0, H + static_cast<std::size_t>(len)};
  }
  return {decoded::status::frame, H, len, 0};
}

decoded decode_line(const frame_spec& spec, std::span<const std::byte> buf, std::size_t scanned) noexcept {
  if (buf.empty()) {
    return {decoded::status::need_more, 0, 0, 0};  // (memchr on a null pointer is undefined)
  }
  const auto* begin = reinterpret_cast<const char*>(buf.data());
  std::size_t limit = buf.size();
  if (spec.line_length != 0 && limit > spec.line_length) {
    limit = spec.line_length;
  }
  std::size_t from = std::min(scanned, limit);
  if (const void* hit = from < limit ? std::memchr(begin + from, spec.line_delimiter, limit - from) : nullptr) {
    std::size_t len = static_cast<const char*>(hit) - begin + 1;
    if (spec.packet_size != 0 && len > spec.packet_size) {
      return {decoded::status::too_big};
    }
    return {decoded::status::frame, 0, len, 0};
  }
  // No delimiter within reach. The verdict must not depend on how the
  // stream was split: a part cut at line_length is too big when it
  // exceeds packet_size, as the whole line would be.
  if (spec.line_length != 0 && buf.size() >= spec.line_length) {
    if (spec.packet_size != 0 && spec.line_length > spec.packet_size) {
      return {decoded::status::too_big};
    }
    return {decoded::status::frame, 0, spec.line_length, 0};
  }
  if (spec.packet_size != 0 && buf.size() >= spec.packet_size) {
    return {decoded::status::too_big};  // the line, delimiter included, cannot fit
  }
  return {decoded::status::need_more, 0, 0, 0};
}

}  // namespace

decoded decode(const frame_spec& spec, std::span<const std::byte> buf, std::size_t scanned) noexcept {
  switch (spec.type) {
    case packet_type::raw:
      if (buf.empty()) {
        return {decoded::status::need_more, 0, 0, 1};
      }
      return {decoded::status::frame, 0, buf.size(), 0};
    case packet_type::line:
      return decode_line(spec, buf, scanned);
    case packet_type::u1:
      return decode_prefixed<1>(spec, buf);
    case packet_type::u2:
      return decode_prefixed<2>(spec, buf);
    case packet_type::u4:
      return decode_prefixed<4>(spec, buf);
  }
  return {decoded::status::too_big};  // (not a packet_type: options never hold one)
}

std::size_t encode_header(packet_type p, std::size_t len, std::byte* out) noexcept {
  // One case per size, as decode_prefixed: this runs once per frame sent.
  constexpr std::size_t too_big = std::numeric_limits<std::size_t>::max();
  switch (p) {
    case packet_type::u1:
      if (len > 0xff) {
        return too_big;
      }
      out[0] = static_cast<std::byte>(len);
      return 1;
    case packet_type::u2:
      if (len > 0xffff) {
        return too_big;
      }
      out[0] = static_cast<std::byte>(len >> 8);
      out[1] = static_cast<std::byte>(len & 0xff);
      return 2;
    case packet_type::u4:
      if (len > std::numeric_limits<std::uint32_t>::max()) {
        return too_big;
      }
      out[0] = static_cast<std::byte>(len >> 24);
      out[1] = static_cast<std::byte>((len >> 16) & 0xff);
      out[2] = static_cast<std::byte>((len >> 8) & 0xff);
      out[3] = static_cast<std::byte>(len & 0xff);
      return 4;
    default:
      return 0;
  }
}

}  // namespace otpnet::gen_tcp
