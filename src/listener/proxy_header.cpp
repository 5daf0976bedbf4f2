// The PROXY protocol's parser and encoder (HAProxy's specification,
// "The PROXY protocol", versions 1 and 2). Pure: the reader that takes a
// header off a socket is in proxy_recv.cpp.
#include <otpnet/listener/proxy_header.hpp>

#include <arpa/inet.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace otpnet::listener {

namespace {

using status = proxy_parse::status;

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::array<std::uint8_t, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t inet_block = 12;   // two IPv4 addresses, two ports
constexpr std::size_t inet6_block = 36;  // two IPv6 addresses, two ports
constexpr std::size_t unix_path = 108;
constexpr std::size_t unix_block = 2 * unix_path;
constexpr std::size_t v2_max_body = 65535;

proxy_parse invalid(const char* why) {
  proxy_parse p;
  p.what = status::invalid;
  p.why = why;
  return p;
}

proxy_parse incomplete() { return {}; }

std::uint8_t byte_at(std::span<const std::byte> b, std::size_t i) noexcept {
  return std::to_integer<std::uint8_t>(b[i]);
}

std::uint16_t be16(std::span<const std::byte> b, std::size_t i) noexcept {
  return static_cast<std::uint16_t>(byte_at(b, i) << 8 | byte_at(b, i + 1));
}

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), a byte at a time
// from a table: a header is at most 64 KiB, checked once per connection.
constexpr auto crc32c_table = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    }
    t[i] = c;
  }
  return t;
}();

std::uint32_t crc32c(std::span<const std::byte> bytes, std::size_t zero_from, std::size_t zero_to) noexcept {
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::uint8_t b = i >= zero_from && i < zero_to ? 0 : std::to_integer<std::uint8_t>(bytes[i]);
    c = crc32c_table[(c ^ b) & 0xFFU] ^ (c >> 8);
  }
  return c ^ 0xFFFFFFFFU;
}

// -- version 1 ------------------------------------------------------------------

/// A port: 1 to 5 digits, at most 65535, with no leading zero (the
/// specification forbids them, lest they be read as octal; "0" itself is a
/// port).
std::optional<std::uint16_t> v1_port(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s.front() == '0')) {
    return std::nullopt;
  }
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

/// An address literal of the family the protocol word names (no zone id:
/// a header names no interface of this host).
std::optional<socket::address> v1_address(std::string_view s, bool v6, std::uint16_t port) noexcept {
  char buf[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof(buf)) {
    return std::nullopt;
  }
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  if (v6) {
    std::array<std::uint8_t, 16> a{};
    if (::inet_pton(AF_INET6, buf, a.data()) != 1) {
      return std::nullopt;
    }
    return socket::address::inet6(a, port);
  }
  std::array<std::uint8_t, 4> a{};
  if (::inet_pton(AF_INET, buf, a.data()) != 1) {
    return std::nullopt;
  }
  return socket::address::inet(a, port);
}

proxy_parse parse_v1(std::span<const std::byte> bytes) {
  // The line ends at the first CR, which must be followed by LF, both
  // within 107 bytes: the CR at index 105 at the latest.
  std::size_t limit = std::min(bytes.size(), proxy_v1_max_size - 1);
  std::size_t cr = limit;
  for (std::size_t i = v1_prefix.size(); i < limit; ++i) {
    auto c = static_cast<char>(byte_at(bytes, i));
    if (c == '\r') {
      cr = i;
      break;
    }
    if (c == '\n' || c == '\0') {
      return invalid("v1: a line feed or NUL before the CRLF");
    }
  }
  if (cr == limit) {
    return bytes.size() >= proxy_v1_max_size - 1 ? invalid("v1: no CRLF within 107 bytes") : incomplete();
  }
  if (cr + 1 >= bytes.size()) {
    return incomplete();
  }
  if (static_cast<char>(byte_at(bytes, cr + 1)) != '\n') {
    return invalid("v1: a CR not followed by LF");
  }
  std::string_view line(reinterpret_cast<const char*>(bytes.data()), cr);
  std::array<std::string_view, 6> words{};
  std::size_t n = 0;
  std::size_t at = 0;
  while (at <= line.size()) {
    std::size_t sp = line.find(' ', at);
    std::string_view w = line.substr(at, sp == std::string_view::npos ? std::string_view::npos : sp - at);
    if (n == 2 && words[1] == "UNKNOWN") {
      break;  // the rest of an UNKNOWN line is ignored (the specification's rule)
    }
    if (w.empty()) {
      return invalid("v1: an empty field (two spaces, or a space at the end)");
    }
    if (n == words.size()) {
      return invalid("v1: more than six fields");
    }
    words[n++] = w;
    if (sp == std::string_view::npos) {
      break;
    }
    at = sp + 1;
  }
  proxy_parse p;
  p.what = status::complete;
  p.header.version = 1;
  p.header.transport = proxy_transport::stream;
  p.header.size = cr + 2;
  if (n >= 2 && words[1] == "UNKNOWN") {
    return p;  // local: the connection's own addresses apply
  }
  if (n < 2 || (words[1] != "TCP4" && words[1] != "TCP6")) {
    return invalid("v1: the protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (n != 6) {
    return invalid("v1: TCP4 and TCP6 take four fields after them");
  }
  bool v6 = words[1] == "TCP6";
  auto sport = v1_port(words[4]);
  auto dport = v1_port(words[5]);
  if (!sport || !dport) {
    return invalid("v1: a port that is not a number from 0 to 65535");
  }
  auto src = v1_address(words[2], v6, *sport);
  auto dst = v1_address(words[3], v6, *dport);
  if (!src || !dst) {
    return invalid(v6 ? "v1: an address that is not an IPv6 literal" : "v1: an address that is not an IPv4 literal");
  }
  p.header.local = false;
  p.header.source = *src;
  p.header.destination = *dst;
  return p;
}

// -- version 2 ------------------------------------------------------------------

/// A UNIX-family address: a NUL-padded path, or an abstract name (a first
/// NUL, then the name up to the next NUL). Empty: an unnamed socket.
std::optional<socket::address> v2_unix(std::span<const std::byte> b) noexcept {
  const auto* p = reinterpret_cast<const char*>(b.data());
  if (p[0] == '\0') {
    std::string_view name(p + 1, ::strnlen(p + 1, unix_path - 1));
    if (name.empty()) {
      return std::nullopt;
    }
    auto a = socket::address::abstract(name);
    return a ? std::optional(*a) : std::nullopt;
  }
  auto a = socket::address::local(std::string_view(p, ::strnlen(p, unix_path)));
  return a ? std::optional(*a) : std::nullopt;
}

/// Whether a UNIX-family address holds a path that fits no socket address
/// (108 bytes and no NUL: the kernel's sun_path would have no room left).
bool v2_unix_too_long(std::span<const std::byte> b) noexcept {
  const auto* p = reinterpret_cast<const char*>(b.data());
  return p[0] != '\0' && ::strnlen(p, unix_path) == unix_path;
}

proxy_parse parse_v2(std::span<const std::byte> bytes) {
  if (bytes.size() > v2_signature.size()) {
    std::uint8_t vc = byte_at(bytes, 12);
    if (vc >> 4 != 2) {
      return invalid("v2: a version other than 2");
    }
    if ((vc & 0x0FU) > 1) {
      return invalid("v2: a command other than LOCAL or PROXY");
    }
  }
  if (bytes.size() > 13) {
    // The specification's seven values: UNSPEC with UNSPEC, or INET, INET6
    // or UNIX over STREAM or DGRAM; it says to reject any other.
    std::uint8_t ft = byte_at(bytes, 13);
    std::uint8_t fam = ft >> 4;
    std::uint8_t tr = ft & 0x0FU;
    if (fam > 3 || tr > 2 || (fam == 0) != (tr == 0)) {
      return invalid("v2: an address family and transport the specification does not list");
    }
  }
  if (bytes.size() < proxy_v2_fixed_size) {
    return incomplete();
  }
  std::size_t body = be16(bytes, 14);
  std::size_t total = proxy_v2_fixed_size + body;
  if (bytes.size() < total) {
    return incomplete();
  }
  std::span<const std::byte> h = bytes.first(total);
  bool local = (byte_at(h, 12) & 0x0FU) == 0;
  std::uint8_t family = byte_at(h, 13) >> 4;
  std::uint8_t transport = byte_at(h, 13) & 0x0FU;
  proxy_parse p;
  p.what = status::complete;
  p.header.version = 2;
  p.header.size = total;
  p.header.transport = static_cast<proxy_transport>(transport);
  if (local) {
    return p;  // the protocol block is discarded (the specification's rule)
  }
  std::size_t block = family == 1 ? inet_block : family == 2 ? inet6_block : family == 3 ? unix_block : 0;
  if (body < block) {
    return invalid("v2: shorter than its address family's addresses");
  }
  std::span<const std::byte> a = h.subspan(proxy_v2_fixed_size, block);
  if (family == 1) {
    auto ip = [&](std::size_t at) {
      return std::array<std::uint8_t, 4>{byte_at(a, at), byte_at(a, at + 1), byte_at(a, at + 2), byte_at(a, at + 3)};
    };
    p.header.source = socket::address::inet(ip(0), be16(a, 8));
    p.header.destination = socket::address::inet(ip(4), be16(a, 10));
  } else if (family == 2) {
    auto ip = [&](std::size_t at) {
      std::array<std::uint8_t, 16> v{};
      std::memcpy(v.data(), a.data() + at, v.size());
      return v;
    };
    p.header.source = socket::address::inet6(ip(0), be16(a, 32));
    p.header.destination = socket::address::inet6(ip(16), be16(a, 34));
  } else if (family == 3) {
    if (v2_unix_too_long(a.first(unix_path)) || v2_unix_too_long(a.subspan(unix_path))) {
      return invalid("v2: a UNIX path of 108 bytes, with no room for its end");
    }
    p.header.source = v2_unix(a.first(unix_path));
    p.header.destination = v2_unix(a.subspan(unix_path));
  }
  p.header.local = family == 0;  // unspecified: the connection's own addresses apply
  // The TLVs: type, 16-bit length, value; they fill the rest exactly.
  std::size_t at = proxy_v2_fixed_size + block;
  while (at < total) {
    if (total - at < 3) {
      return invalid("v2: a TLV header cut by the header's end");
    }
    proxy_tlv t;
    t.type = byte_at(h, at);
    std::size_t len = be16(h, at + 1);
    if (len > total - at - 3) {
      return invalid("v2: a TLV longer than what is left of the header");
    }
    const std::byte* v = h.data() + at + 3;
    if (t.type == proxy_tlv_type::crc32c) {
      if (len != 4) {
        return invalid("v2: a CRC32C TLV whose value is not 4 bytes");
      }
      std::uint32_t want = static_cast<std::uint32_t>(be16(h, at + 3)) << 16 | be16(h, at + 5);
      if (crc32c(h, at + 3, at + 7) != want) {
        return invalid("v2: the CRC32C does not match the header");
      }
    }
    t.value.assign(v, v + len);
    p.header.tlvs.push_back(std::move(t));
    at += 3 + len;
  }
  return p;
}

void put16(std::vector<std::byte>& out, std::size_t at, std::size_t v) {
  out[at] = static_cast<std::byte>(v >> 8);
  out[at + 1] = static_cast<std::byte>(v & 0xFFU);
}

void append(std::vector<std::byte>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

/// The IPv4 or IPv6 bytes and port of an inet or inet6 address.
void append_ip(std::vector<std::byte>& out, const socket::address& a) {
  if (a.family() == socket::domain::inet) {
    const auto* in = reinterpret_cast<const ::sockaddr_in*>(a.native());
    append(out, &in->sin_addr, 4);
  } else {
    const auto* in6 = reinterpret_cast<const ::sockaddr_in6*>(a.native());
    append(out, &in6->sin6_addr, 16);
  }
}

void append_unix(std::vector<std::byte>& out, const std::optional<socket::address>& a) {
  std::array<char, unix_path> path{};
  if (a && a->family() == socket::domain::local) {
    std::string name = a->path();
    std::size_t skip = a->is_abstract() ? 1 : 0;
    std::memcpy(path.data() + skip, name.data(), std::min(name.size(), unix_path - skip));
  }
  append(out, path.data(), path.size());
}

std::string ip_text(const socket::address& a) {
  std::string s = a.to_string();  // "1.2.3.4:80" or "[::1]:80"
  std::size_t colon = s.rfind(':');
  s.resize(colon);
  if (!s.empty() && s.front() == '[') {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

}  // namespace

const proxy_tlv* proxy_header::find(std::uint8_t type) const noexcept {
  for (const proxy_tlv& t : tlvs) {
    if (t.type == type) {
      return &t;
    }
  }
  return nullptr;
}

std::optional<std::string_view> proxy_header::text(std::uint8_t type) const noexcept {
  const proxy_tlv* t = find(type);
  if (t == nullptr) {
    return std::nullopt;
  }
  return std::string_view(reinterpret_cast<const char*>(t->value.data()), t->value.size());
}

proxy_parse parse_proxy_header(std::span<const std::byte> bytes) {
  if (bytes.empty()) {
    return incomplete();
  }
  // The first byte tells the versions apart ('P' or CR); every byte given
  // must match the chosen version's fixed start.
  std::size_t n = 0;
  if (static_cast<char>(byte_at(bytes, 0)) == 'P') {
    n = std::min(bytes.size(), v1_prefix.size());
    if (std::memcmp(bytes.data(), v1_prefix.data(), n) != 0) {
      return invalid("not a PROXY protocol header");
    }
    return n < v1_prefix.size() ? incomplete() : parse_v1(bytes);
  }
  n = std::min(bytes.size(), v2_signature.size());
  if (std::memcmp(bytes.data(), v2_signature.data(), n) != 0) {
    return invalid("not a PROXY protocol header");
  }
  return parse_v2(bytes);
}

result<std::vector<std::byte>> encode_proxy_header(const proxy_header& h) {
  bool both = h.source && h.destination;
  if (!h.local && (!both || h.source->family() != h.destination->family())) {
    return fail(errc::invalid);
  }
  std::vector<std::byte> out;
  if (h.version == 1) {
    socket::domain f = both ? h.source->family() : socket::domain::unspec;
    std::string line;
    if (h.local || (f != socket::domain::inet && f != socket::domain::inet6) || h.transport == proxy_transport::dgram) {
      line = "PROXY UNKNOWN\r\n";
    } else {
      line = std::string(f == socket::domain::inet ? "PROXY TCP4 " : "PROXY TCP6 ") + ip_text(*h.source) + " " +
             ip_text(*h.destination) + " " + std::to_string(h.source->port()) + " " +
             std::to_string(h.destination->port()) + "\r\n";
    }
    append(out, line.data(), line.size());
    return out;
  }
  if (h.version != 2) {
    return fail(errc::invalid);
  }
  append(out, v2_signature.data(), v2_signature.size());
  std::uint8_t family = 0;
  if (!h.local) {
    switch (h.source->family()) {
      case socket::domain::inet:
        family = 1;
        break;
      case socket::domain::inet6:
        family = 2;
        break;
      case socket::domain::local:
        family = 3;
        break;
      default:
        return fail(errc::invalid);
    }
  }
  std::size_t checksums = 0;
  for (const proxy_tlv& t : h.tlvs) {
    if (t.type == proxy_tlv_type::crc32c && (t.value.size() != 4 || ++checksums > 1)) {
      return fail(errc::invalid);  // a header no receiver would take
    }
  }
  // Only the specification's pairs: a non-local header over an unspecified
  // transport is written as a stream; a local one says UNSPEC for both.
  proxy_transport tr = h.transport == proxy_transport::unspec ? proxy_transport::stream : h.transport;
  std::uint8_t fam_byte = family == 0 ? 0 : static_cast<std::uint8_t>(family << 4 | static_cast<std::uint8_t>(tr));
  out.push_back(static_cast<std::byte>(h.local ? 0x20 : 0x21));
  out.push_back(static_cast<std::byte>(fam_byte));
  out.resize(proxy_v2_fixed_size);  // the length, filled below
  if (family == 1 || family == 2) {
    append_ip(out, *h.source);
    append_ip(out, *h.destination);
    std::size_t at = out.size();
    out.resize(at + 4);
    put16(out, at, h.source->port());
    put16(out, at + 2, h.destination->port());
  } else if (family == 3) {
    append_unix(out, h.source);
    append_unix(out, h.destination);
  }
  std::optional<std::size_t> crc_at;
  for (const proxy_tlv& t : h.tlvs) {
    if (t.value.size() > v2_max_body) {
      return fail(errc::emsgsize);
    }
    std::size_t at = out.size();
    out.resize(at + 3);
    out[at] = static_cast<std::byte>(t.type);
    put16(out, at + 1, t.value.size());
    if (t.type == proxy_tlv_type::crc32c) {
      crc_at = out.size();
      out.resize(out.size() + 4);  // zero while the checksum is computed
    } else {
      out.insert(out.end(), t.value.begin(), t.value.end());
    }
  }
  std::size_t body = out.size() - proxy_v2_fixed_size;
  if (body > v2_max_body) {
    return fail(errc::emsgsize);
  }
  put16(out, 14, body);
  if (crc_at) {
    std::uint32_t c = crc32c(out, *crc_at, *crc_at + 4);
    put16(out, *crc_at, c >> 16);
    put16(out, *crc_at + 2, c & 0xFFFFU);
  }
  return out;
}

}  // namespace otpnet::listener
