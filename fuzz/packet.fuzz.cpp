// File: fuzz/packet.fuzz.cpp
//
// libFuzzer target for gen_tcp's framing decoder (every packet type). The
// first bytes of the input choose the frame_spec (type, packet_size,
// line_delimiter, line_length); the rest is the byte stream, decoded frame
// after frame as a port does. Checked on every step:
//   - a frame's header + body fits in what was given, and moves forward;
//   - a length-prefixed frame is exactly what its header says, and within
//     packet_size; a line ends at its delimiter or is cut at line_length;
//     raw takes everything;
//   - too_big only when the frame exceeds packet_size (never with no limit,
//     never when line_length cuts lines at or under it);
//   - need_more's `need`, when known, is more than what was given, and
//     exactly the header or the whole frame for length-prefixed types;
//   - the verdict does not depend on where the stream was cut: every strict
//     prefix of a frame (raw aside) asks for more, and the frame alone gives
//     the same frame;
//   - encode_header then decode gives the length back.
// Build and run: scripts/fuzz.sh (docs/gen_tcp.md, "Fuzzing").
#include <otpnet/gen_tcp/packet.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

namespace gt = otpnet::gen_tcp;

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

std::uint32_t read_be(const std::byte* p, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  }
  return v;
}

/// Small limits most of the time (so they are hit), sometimes none or large.
std::uint32_t pick_limit(std::uint8_t sel, std::uint8_t a, std::uint8_t b) {
  switch (sel % 4) {
    case 0:
      return 0;
    case 1:
      return a;  // 0..255
    case 2:
      return (static_cast<std::uint32_t>(a) << 8) | b;
    default:
      return (static_cast<std::uint32_t>(a) << 24) | (static_cast<std::uint32_t>(b) << 8);
  }
}

void check_frame(const gt::frame_spec& spec, std::span<const std::byte> buf, const gt::decoded& d) {
  std::size_t h = gt::header_size(spec.type);
  check(d.header + d.body <= buf.size());
  check(d.header + d.body > 0);
  check(d.header == h);
  switch (spec.type) {
    case gt::packet_type::raw:
      check(d.body == buf.size() && !buf.empty());
      break;
    case gt::packet_type::u1:
    case gt::packet_type::u2:
    case gt::packet_type::u4:
      check(d.body == read_be(buf.data(), h));
      check(spec.packet_size == 0 || d.body <= spec.packet_size);
      break;
    case gt::packet_type::line: {
      check(d.body > 0);
      const void* first = std::memchr(buf.data(), spec.line_delimiter, d.body);
      bool ends = buf[d.body - 1] == static_cast<std::byte>(spec.line_delimiter);
      if (ends) {
        // The first delimiter is the last byte of the frame.
        check(first == buf.data() + d.body - 1);
      } else {
        // Cut at line_length, with no delimiter inside.
        check(spec.line_length != 0 && d.body == spec.line_length && first == nullptr);
      }
      check(spec.line_length == 0 || d.body <= spec.line_length);
      check(spec.packet_size == 0 || d.body <= spec.packet_size);
      break;
    }
  }
  // The frame alone gives the same frame; a strict prefix asks for more.
  auto alone = gt::decode(spec, buf.first(d.header + d.body));
  check(alone.st == gt::decoded::status::frame && alone.header == d.header && alone.body == d.body);
  if (spec.type != gt::packet_type::raw) {
    std::size_t cut = (d.header + d.body) / 2;
    auto part = gt::decode(spec, buf.first(cut));
    check(part.st == gt::decoded::status::need_more);
  }
}

void check_too_big(const gt::frame_spec& spec, std::span<const std::byte> buf) {
  check(spec.packet_size != 0);
  std::size_t h = gt::header_size(spec.type);
  switch (spec.type) {
    case gt::packet_type::raw:
      check(false);
      break;
    case gt::packet_type::u1:
    case gt::packet_type::u2:
    case gt::packet_type::u4:
      check(buf.size() >= h && read_be(buf.data(), h) > spec.packet_size);
      break;
    case gt::packet_type::line: {
      // The line (up to its delimiter, or all there is without one) is
      // already longer than packet_size, and line_length does not cut it
      // before that.
      check(spec.line_length == 0 || spec.line_length > spec.packet_size);
      const void* hit = std::memchr(buf.data(), spec.line_delimiter, buf.size());
      std::size_t len = hit != nullptr ? static_cast<std::size_t>(static_cast<const std::byte*>(hit) - buf.data()) + 1
                                       : buf.size() + 1;  // at least one more byte to come
      check(len > spec.packet_size);
      break;
    }
  }
}

void check_need_more(const gt::frame_spec& spec, std::span<const std::byte> buf, const gt::decoded& d) {
  if (d.need != 0) {
    check(d.need > buf.size());
  }
  std::size_t h = gt::header_size(spec.type);
  switch (spec.type) {
    case gt::packet_type::raw:
      check(buf.empty() && d.need == 1);
      break;
    case gt::packet_type::u1:
    case gt::packet_type::u2:
    case gt::packet_type::u4:
      check(d.need == (buf.size() < h ? h : h + read_be(buf.data(), h)));
      break;
    case gt::packet_type::line:
      check(std::memchr(buf.data(), spec.line_delimiter, buf.size()) == nullptr);
      check(spec.line_length == 0 || buf.size() < spec.line_length);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 6) {
    return 0;
  }
  gt::frame_spec spec;
  spec.type = static_cast<gt::packet_type>(data[0] % 5);
  spec.packet_size = pick_limit(data[0] / 5, data[1], data[2]);
  spec.line_delimiter = static_cast<char>(data[3]);
  spec.line_length = data[4] < 128 ? 0 : static_cast<std::uint32_t>(data[4] - 127) * (data[5] % 4 == 0 ? 256 : 1);
  std::span<const std::byte> buf(reinterpret_cast<const std::byte*>(data + 6), size - 6);

  // Nothing buffered (a null span, as a port without a chunk has).
  check(gt::decode(spec, std::span<const std::byte>()).st == gt::decoded::status::need_more);

  // Frame after frame, as a port consumes them.
  for (int steps = 0; steps < 100000; ++steps) {
    auto d = gt::decode(spec, buf);
    if (d.st == gt::decoded::status::frame) {
      check_frame(spec, buf, d);
      buf = buf.subspan(d.header + d.body);
      if (d.header + d.body == 0) {
        break;
      }
      continue;
    }
    if (d.st == gt::decoded::status::too_big) {
      check_too_big(spec, buf);
    } else {
      check(d.st == gt::decoded::status::need_more);
      check_need_more(spec, buf, d);
    }
    break;
  }

  // Headers: what is encoded decodes back.
  if (size >= 10) {
    std::size_t len = read_be(reinterpret_cast<const std::byte*>(data + size - 4), 4);
    for (auto p : {gt::packet_type::u1, gt::packet_type::u2, gt::packet_type::u4}) {
      std::byte out[4];
      std::size_t h = gt::encode_header(p, len, out);
      std::size_t hs = gt::header_size(p);
      bool fits = hs == 4 || len < (std::size_t{1} << (8 * hs));
      check(fits ? h == hs : h == SIZE_MAX);
      if (fits) {
        check(read_be(out, h) == len);
        auto d = gt::decode({.type = p}, std::span<const std::byte>(out, h));
        check(len == 0 ? d.st == gt::decoded::status::frame : d.need == h + len);
      }
    }
  }
  return 0;
}
