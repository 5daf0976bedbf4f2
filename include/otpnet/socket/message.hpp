// File: otpnet/socket/message.hpp
//
// OTP socket's recvmsg and sendmsg: gather sends and scatter receives over
// caller-owned buffers (no copy, no allocation on the data path), with
// control messages (OTP's cmsg()) decoded into typed values: descriptor
// passing (SCM_RIGHTS; received descriptors are owned by a `unique_fd` and
// close-on-exec), credentials, timestamps, IP/IPv6 TOS, TTL, hop limit,
// traffic class, packet info and extended errors; any other one stays
// {level, type, bytes}. The timeout forms are those of io.hpp.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

namespace otpnet::socket {

using std::chrono::milliseconds;

// -- owned descriptors -------------------------------------------------------

/// A descriptor owned by its holder and closed by it (RAII), as received in
/// SCM_RIGHTS. Move-only; -1 when empty.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  /// Takes ownership of `fd` (-1 for none).
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  /// The descriptor, still owned; -1 when empty.
  int get() const noexcept { return fd_; }
  /// Gives up ownership: the caller now closes the descriptor.
  [[nodiscard]] int release() noexcept;
  /// Closes the held descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// -- control messages (OTP's cmsg()) -----------------------------------------

/// socket/rights (SCM_RIGHTS) as received: the descriptors now belong to
/// the receiver and are close-on-exec. Sendable too: it borrows them.
struct socket_rights {
  std::vector<unique_fd> fds;
};

/// socket/rights to send: descriptors borrowed from the caller for the call
/// (the receiver gets duplicates; the caller's stay open).
struct socket_rights_ref {
  std::vector<int> fds;
};

/// socket/credentials (SCM_CREDENTIALS, on local sockets with SO_PASSCRED).
/// Sending one asks the kernel to vouch for these ids: only a privileged
/// process may send ids other than its own.
struct socket_credentials {
  std::int32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

/// socket/timestamp (SCM_TIMESTAMP, or SCM_TIMESTAMPNS): when the kernel
/// received the packet (SO_TIMESTAMP / SO_TIMESTAMPNS). Receive only.
struct socket_timestamp {
  std::chrono::sys_time<std::chrono::nanoseconds> time{};
};

/// ip/tos (IP_TOS): the TOS byte received (with IP_RECVTOS) or to send.
struct ip_tos {
  std::uint8_t value = 0;
};

/// ip/ttl (IP_TTL): the TTL received (with IP_RECVTTL) or to send.
struct ip_ttl {
  int value = 0;
};

/// ip/pktinfo (IP_PKTINFO): interface and addresses of a packet (received
/// with the IP_PKTINFO option), or to send: the interface and source
/// (`spec_dst`) to use; `addr` is ignored on send.
struct ip_pktinfo {
  unsigned ifindex = 0;
  std::array<std::uint8_t, 4> spec_dst{};
  std::array<std::uint8_t, 4> addr{};
};

/// ip/recverr or ipv6/recverr (IP_RECVERR, IPV6_RECVERR): a queued error,
/// read with msg::errqueue. Receive only.
struct ip_recverr {
  bool ipv6 = false;
  /// The error (ee_errno), e.g. econnrefused for an ICMP port unreachable.
  errc error = errc::ok;
  /// SO_EE_ORIGIN_* (1 local, 2 icmp, 3 icmp6, ...), ICMP type and code.
  std::uint8_t origin = 0, type = 0, code = 0;
  std::uint32_t info = 0, data = 0;
  /// The node that reported the error (SO_EE_OFFENDER), when known.
  std::optional<address> offender;
};

/// ipv6/hoplimit (IPV6_HOPLIMIT): received (with IPV6_RECVHOPLIMIT) or to send.
struct ipv6_hoplimit {
  int value = 0;
};

/// ipv6/tclass (IPV6_TCLASS): received (with IPV6_RECVTCLASS) or to send.
struct ipv6_tclass {
  int value = 0;
};

/// ipv6/pktinfo (IPV6_PKTINFO): received (with IPV6_RECVPKTINFO), or to send:
/// the source address and interface to use.
struct ipv6_pktinfo {
  std::array<std::uint8_t, 16> addr{};
  unsigned ifindex = 0;
};

/// Any other control message, as OTP's #{level, type, data}.
struct cmsg_raw {
  int level = 0;
  int type = 0;
  std::vector<std::byte> data;
  friend bool operator==(const cmsg_raw&, const cmsg_raw&) = default;
};

/// One control message. Move-only when it holds received descriptors.
using cmsg = std::variant<socket_rights, socket_rights_ref, socket_credentials, socket_timestamp, ip_tos, ip_ttl,
                          ip_pktinfo, ip_recverr, ipv6_hoplimit, ipv6_tclass, ipv6_pktinfo, cmsg_raw>;

/// The {level, type} of `c`, e.g. {SOL_SOCKET, SCM_RIGHTS}.
int level_of(const cmsg& c);
int type_of(const cmsg& c);

/// Bytes of control buffer that receiving `n_fds` descriptors needs.
std::size_t cmsg_space_for_fds(std::size_t n_fds) noexcept;

/// The control buffer size encoding `ctrl` needs. Errors: `invalid` if one
/// of them cannot be sent (socket_timestamp, ip_recverr), or carries no
/// descriptor or more than the kernel takes (SCM_MAX_FD, 253).
[[nodiscard]] result<std::size_t> cmsg_space(std::span<const cmsg> ctrl);

/// Encodes `ctrl` into `out` as sendmsg's msg_control, returning the bytes
/// used. `out` must be aligned like `struct cmsghdr` (operator new's
/// alignment is enough). Errors: as cmsg_space; `invalid` also if `out` is
/// too small or misaligned.
[[nodiscard]] result<std::size_t> encode_cmsgs(std::span<const cmsg> ctrl, std::span<std::byte> out);

/// Decodes a control buffer the kernel filled (msg_control, msg_controllen).
/// Ownership: every SCM_RIGHTS descriptor in it now belongs to the result,
/// so call this exactly once per received buffer. Messages it does not
/// know, or whose length does not fit their type, come back as cmsg_raw.
/// Throws std::bad_alloc when memory runs out, after closing every
/// descriptor of the buffer (none is left open with no owner).
std::vector<cmsg> decode_cmsgs(std::span<const std::byte> ctrl);

/// As decode_cmsgs, appending to `out`, but without throwing: when memory
/// runs out it keeps the messages decoded so far in `out`, closes every
/// descriptor of the buffer that is not among them, and returns false
/// (recvmsg then sets msg::ctrunc, as the kernel does for what it could
/// not fit).
[[nodiscard]] bool decode_cmsgs_into(std::span<const std::byte> ctrl, std::vector<cmsg>& out) noexcept;

// -- messages (OTP's msg_send() and msg_recv()) ------------------------------

/// What sendmsg sends: the data gathered from `iov` (not copied: the
/// buffers must live until the call returns), control messages, and
/// message flags (msg::*; MSG_NOSIGNAL is always added).
struct msg_send {
  std::optional<address> addr;
  std::span<const std::span<const std::byte>> iov;
  std::vector<cmsg> ctrl;
  int flags = 0;
};

/// What recvmsg returns: the bytes scattered into the caller's buffers, the
/// sender (datagram sockets), decoded control messages, and the flags the
/// kernel set (msg::trunc, ctrunc, eor, oob, errqueue).
struct msg_recv {
  std::size_t size = 0;
  std::optional<address> addr;
  std::vector<cmsg> ctrl;
  int flags = 0;

  /// The datagram was longer than the buffers; the rest was discarded.
  bool truncated() const noexcept;
  /// Control data did not fit in the control buffer, or memory ran out
  /// while decoding it; some was discarded (descriptors among it were
  /// closed, by the kernel or by recvmsg).
  bool ctrl_truncated() const noexcept;
  /// The first control message of type T, or nullptr.
  template <class T>
  T* find() noexcept {
    for (cmsg& c : ctrl) {
      if (T* p = std::get_if<T>(&c)) {
        return p;
      }
    }
    return nullptr;
  }
};

/// The part of `iov` after its first `n` bytes (for repeating a nowait
/// sendmsg after a select with `progress == n`).
std::vector<std::span<const std::byte>> iov_after(std::span<const std::span<const std::byte>> iov, std::size_t n);

// -- recvmsg -----------------------------------------------------------------

/// Receives one message into `iov` (scatter), with up to `ctrl_size` bytes
/// of control data (0: none; see cmsg_space_for_fds). Returns as soon as
/// data is there, like recv. MSG_CMSG_CLOEXEC is always added: received
/// descriptors are close-on-exec and owned by the result. Control messages
/// that cannot be held for want of memory are dropped, their descriptors
/// closed, and msg::ctrunc is set: the bytes are never lost. On a stream
/// socket an orderly shutdown by the peer gives `closed`. Errors:
/// econnreset, enotconn, emsgsize (too many buffers), closed, timeout.
[[nodiscard]] result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov,
                                       std::size_t ctrl_size = 0, int flags = 0);
[[nodiscard]] result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov,
                                       std::size_t ctrl_size, int flags, milliseconds timeout);
[[nodiscard]] async_result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov,
                                             std::size_t ctrl_size, int flags, nowait_t);
[[nodiscard]] async_result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov,
                                             std::size_t ctrl_size, int flags, select_handle h);

// -- sendmsg -----------------------------------------------------------------

/// Sends `m`; returns the bytes sent. On a stream socket it sends all of
/// the iov, advancing through the buffers after partial writes; the
/// control messages go with the first byte only. A nowait sendmsg that
/// would block after a partial write returns select with
/// `select_info::progress` bytes done: repeat with `iov_after(iov,
/// progress)` and no ctrl. On other sockets one message goes out whole.
/// Errors: invalid (a control message that cannot be sent), epipe,
/// econnreset, enotconn, emsgsize, eisconn, edestaddrreq, ebadf (a bad
/// descriptor in socket_rights_ref), eperm (credentials not one's own),
/// etoomanyrefs, closed, timeout.
[[nodiscard]] result<std::size_t> sendmsg(const socket& s, const msg_send& m);
[[nodiscard]] result<std::size_t> sendmsg(const socket& s, const msg_send& m, milliseconds timeout);
[[nodiscard]] async_result<std::size_t> sendmsg(const socket& s, const msg_send& m, nowait_t);
[[nodiscard]] async_result<std::size_t> sendmsg(const socket& s, const msg_send& m, select_handle h);

}  // namespace otpnet::socket
