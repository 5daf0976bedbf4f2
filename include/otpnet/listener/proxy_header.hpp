// File: otpnet/listener/proxy_header.hpp
//
// The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy
// specifies it: the header a proxy or load balancer (HAProxy, nginx's
// proxy_protocol, AWS NLB, ...) sends first on every connection it
// forwards, so that the server learns the client's address, not the
// proxy's. ranch's counterpart is ranch:recv_proxy_header/2 with
// ranch_proxy_header:parse/1.
//
//   // in the handler's process, before take():
//   auto h = co_await listener::recv_proxy_header(ready->conn, 5s);
//   if (!h) co_return stop();               // bad_proxy_header, timeout, closed: reported
//   peer = h->source.value_or(ready->conn.peer);
//
// The reader consumes exactly the header's bytes (it peeks, then reads what
// is known to be header), so the bytes that follow, sent in the same
// segment or not, are the connection's first bytes for gen_tcp or TLS.
// A LOCAL (v2) or UNKNOWN (v1) header is the proxy's own connection (a
// health check): no addresses, use the connection's own.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace otpnet::listener {

struct connection;

/// The TLV types of version 2 that the specification names.
namespace proxy_tlv_type {
inline constexpr std::uint8_t alpn = 0x01;       ///< the application protocol (ALPN) the client chose
inline constexpr std::uint8_t authority = 0x02;  ///< the host name the client asked for (TLS SNI)
inline constexpr std::uint8_t crc32c = 0x03;     ///< a CRC32C of the header (checked by the parser)
inline constexpr std::uint8_t noop = 0x04;       ///< padding
inline constexpr std::uint8_t unique_id = 0x05;  ///< an id of the connection, up to 128 bytes
inline constexpr std::uint8_t ssl = 0x20;        ///< TLS facts of the client's connection (sub-TLVs)
inline constexpr std::uint8_t netns = 0x30;      ///< the network namespace's name
}  // namespace proxy_tlv_type

/// A type-length-value field of a version 2 header.
struct proxy_tlv {
  std::uint8_t type = 0;
  std::vector<std::byte> value;

  friend bool operator==(const proxy_tlv&, const proxy_tlv&) = default;
};

/// What the proxy's own connection to the client carried (version 2's
/// transport nibble; version 1 is always a stream).
enum class proxy_transport : std::uint8_t { unspec, stream, dgram };

struct proxy_header {
  int version = 0;  ///< 1 or 2
  /// LOCAL (v2), UNKNOWN (v1) or an unspecified family (v2): the
  /// connection is the proxy's own (a health check) or of a protocol the
  /// header does not describe. `source` and `destination` are then absent.
  bool local = true;
  proxy_transport transport = proxy_transport::unspec;
  /// The client, and the address it connected to (inet, inet6, or local for
  /// v2's UNIX family; absent when local, or for an unnamed local socket).
  std::optional<socket::address> source;
  std::optional<socket::address> destination;
  /// v2 only, in their order; a CRC32C TLV has been checked.
  std::vector<proxy_tlv> tlvs;
  /// The header's length in bytes.
  std::size_t size = 0;

  /// The first TLV of `type`, or nullptr.
  const proxy_tlv* find(std::uint8_t type) const noexcept;
  /// The value of the first TLV of `type` as text (ALPN, authority, unique
  /// id, netns), or nothing.
  std::optional<std::string_view> text(std::uint8_t type) const noexcept;
};

/// Version 1's longest header (CRLF included).
inline constexpr std::size_t proxy_v1_max_size = 107;
/// Version 2's fixed part (signature, version and command, family, length).
inline constexpr std::size_t proxy_v2_fixed_size = 16;

/// What parse_proxy_header found in the bytes given.
struct proxy_parse {
  enum class status : std::uint8_t {
    complete,    ///< `header` is set; its `size` bytes were the header
    incomplete,  ///< a valid start: every byte given belongs to the header
    invalid,     ///< not a PROXY header, or a malformed one: `why` says how
  };
  status what = status::incomplete;
  proxy_header header;
  const char* why = nullptr;  ///< static text, for invalid
};

/// Parses the header at the start of `bytes` (either version). Pure: no
/// I/O. Bytes after the header are not looked at. Throws std::bad_alloc
/// only (TLV values are copied).
[[nodiscard]] proxy_parse parse_proxy_header(std::span<const std::byte> bytes);

/// Encodes `h` as a header of `h.version` (for a client or a proxy written
/// with otpnet, and for tests). Version 1 says UNKNOWN when `h.local`, for
/// a datagram transport, or when the addresses are not both inet or both
/// inet6; version 2 writes the TLVs in order, and fills the value of a
/// CRC32C TLV (4 bytes) with the header's checksum; a non-local header
/// whose transport is unspec is written as a stream. Errors: invalid
/// (version not 1 or 2; source and destination of different families, or
/// only one of them, when not local; a CRC32C TLV of other than 4 bytes,
/// or two), emsgsize (v2: more than 65535 bytes after the fixed part).
[[nodiscard]] result<std::vector<std::byte>> encode_proxy_header(const proxy_header& h);

/// Reads the PROXY header the connection starts with, consuming exactly its
/// bytes, within `timeout`. From the process that owns `s` (a handler,
/// before it takes its connection). Errors: bad_proxy_header (not a PROXY
/// header, or a malformed one; a report line says what was wrong and from
/// whom), timeout, closed (the peer closed before the header's end),
/// invalid (not a stream socket), econnreset and the socket's other
/// receive errors. The caller closes the connection on error. (The peeks
/// count in the socket's read counters: the header's bytes are counted
/// twice there.)
task<result<proxy_header>> recv_proxy_header(socket::socket s, std::chrono::milliseconds timeout);
/// The same for a listener's connection (its peer names it in reports).
task<result<proxy_header>> recv_proxy_header(const connection& c, std::chrono::milliseconds timeout);

}  // namespace otpnet::listener
