// recvmsg and sendmsg. The caller's spans become an iovec array (on the
// stack for up to `inline_iov` buffers) built per attempt; the control
// buffer is on the stack up to `inline_ctrl` bytes. Received control data
// is decoded before anything else, so that SCM_RIGHTS descriptors are owned
// (and closed on every path that drops them).
#include <otpnet/socket/message.hpp>

#include "internal/syscall.hpp"
#include "socket/io_common.hpp"
#include "socket/socket_state.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstring>
#include <new>
#include <optional>

namespace otpnet::socket {

namespace {

using ::otpnet::internal::deadline;

constexpr std::size_t inline_iov = 16;
constexpr std::size_t inline_ctrl = 256;

/// The iovecs of `bufs` after their first `skip` bytes.
class iovec_array {
 public:
  template <class Byte>
  explicit iovec_array(std::span<const std::span<Byte>> bufs, std::size_t skip = 0) {
    std::size_t first = 0;
    while (first < bufs.size() && skip >= bufs[first].size()) {
      skip -= bufs[first].size();
      ++first;
    }
    size_ = bufs.size() - first;
    if (size_ > small_.size()) {
      big_.resize(size_);
    }
    data_ = size_ > small_.size() ? big_.data() : small_.data();
    for (std::size_t i = 0; i < size_; ++i) {
      const auto& b = bufs[first + i];
      data_[i].iov_base = const_cast<void*>(static_cast<const void*>(b.data()));
      data_[i].iov_len = b.size();
    }
    if (size_ > 0) {
      data_[0].iov_base = static_cast<char*>(data_[0].iov_base) + skip;
      data_[0].iov_len -= skip;
    }
  }
  iovec_array(const iovec_array&) = delete;
  iovec_array& operator=(const iovec_array&) = delete;

  ::iovec* data() noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  /// Skips the next `n` bytes (a partial send), in place.
  void advance(std::size_t n) noexcept {
    while (size_ > 0 && n >= data_->iov_len) {
      n -= data_->iov_len;
      ++data_;
      --size_;
    }
    if (size_ > 0) {
      data_->iov_base = static_cast<char*>(data_->iov_base) + n;
      data_->iov_len -= n;
    }
  }

 private:
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): filled before use
  std::array<::iovec, inline_iov> small_;
  std::vector<::iovec> big_;
  ::iovec* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A control buffer aligned for cmsghdr: inline when small, else on the heap
/// (operator new aligns for cmsghdr too).
class ctrl_buffer {
 public:
  explicit ctrl_buffer(std::size_t n = 0) { resize(n); }
  ctrl_buffer(const ctrl_buffer&) = delete;
  ctrl_buffer& operator=(const ctrl_buffer&) = delete;

  void resize(std::size_t n) {
    if (n > small_.size()) {
      big_.resize(n);
    }
    size_ = n;
  }
  std::byte* data() noexcept { return size_ == 0 ? nullptr : big_.empty() ? small_.data() : big_.data(); }
  std::span<std::byte> span() noexcept { return {data(), size_}; }
  std::size_t size() const noexcept { return size_; }

 private:
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): the kernel or the encoder fills it
  alignas(::cmsghdr) std::array<std::byte, inline_ctrl> small_;
  std::vector<std::byte> big_;
  std::size_t size_ = 0;
};

template <class Byte>
std::size_t total_size(std::span<const std::span<Byte>> iov) noexcept {
  std::size_t n = 0;
  for (const auto& b : iov) {
    n += b.size();
  }
  return n;
}

// -- attempts ----------------------------------------------------------------

auto recvmsg_attempt(const socket& s, std::span<const std::span<std::byte>> iov, std::size_t ctrl_size, int flags) {
  return [&s, iov, ctrl_size, flags]() -> result<msg_recv> {
    detail::socket_state& st = *s.state();
    st.counters().read_tries.add(1);
    // More buffers than fit inline, or a large control buffer, take memory
    // before anything is read: without it the bad_alloc is the call's
    // enomem (wait_for, no_wait).
    iovec_array v(iov);
    ctrl_buffer cb(ctrl_size);
    address from;
    ::msghdr mh{};
    mh.msg_name = from.native();
    mh.msg_namelen = address::capacity();
    mh.msg_iov = v.data();
    mh.msg_iovlen = v.size();
    mh.msg_control = cb.data();
    mh.msg_controllen = cb.size();
    const int fd = st.fd();
    auto n = ::otpnet::internal::sys([&] { return ::recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC); });
    if (!n) {
      if (n.error() != errc::eagain) {
        st.counters().read_fails.add(1);
      }
      return fail(n.error());
    }
    msg_recv out;
    if (!decode_cmsgs_into({cb.data(), mh.msg_controllen}, out.ctrl)) {
      // The bytes are read and the caller's: they are reported. Control
      // messages that could not be held are dropped (their descriptors
      // closed), as the kernel drops what does not fit the buffer.
      mh.msg_flags |= MSG_CTRUNC;
    }
    if (*n == 0 && (flags & MSG_ERRQUEUE) == 0 && total_size(iov) > 0 && ::otpnet::internal::eof_means_closed(st)) {
      return fail(errc::closed);
    }
    out.size = static_cast<std::size_t>(*n);
    out.flags = mh.msg_flags;
    if (mh.msg_namelen > 0) {
      from.resize(mh.msg_namelen);
      out.addr = from;
    }
    if ((flags & MSG_PEEK) == 0) {  // (peeked bytes are counted when they are read)
      st.counters().read_byte.add(out.size);
      st.counters().read_pkg.add(1);
    }
    return out;
  };
}

/// Sends `m` (with the encoded control data `ctrl`) through `v`, its
/// iovecs, made once per call: all of it on a stream socket; `done` keeps
/// the progress across attempts, and `v` is advanced with it, so that no
/// attempt after the first bytes went needs memory. The control data goes
/// with the first byte only.
auto sendmsg_attempt(const socket& s, const msg_send& m, std::span<std::byte> ctrl, iovec_array& v, std::size_t& done) {
  return [&s, &m, ctrl, &v, &done]() -> result<std::size_t> {
    detail::socket_state& st = *s.state();
    const int fd = st.fd();
    const std::size_t total = total_size(m.iov);
    const bool whole = st.typ() == type::stream;
    do {
      st.counters().write_tries.add(1);
      ::msghdr mh{};
      if (m.addr) {
        mh.msg_name = const_cast<::sockaddr*>(m.addr->native());
        mh.msg_namelen = m.addr->size();
      }
      mh.msg_iov = v.data();
      mh.msg_iovlen = v.size();
      if (done == 0 && !ctrl.empty()) {
        mh.msg_control = ctrl.data();
        mh.msg_controllen = ctrl.size();
      }
      auto n = ::otpnet::internal::sys([&] { return ::sendmsg(fd, &mh, m.flags | MSG_NOSIGNAL); });
      if (!n) {
        if (n.error() != errc::eagain) {
          st.counters().write_fails.add(1);
        }
        return fail(n.error());
      }
      done += static_cast<std::size_t>(*n);
      v.advance(static_cast<std::size_t>(*n));
      st.counters().write_byte.add(static_cast<std::uint64_t>(*n));
    } while (whole && done < total);
    st.counters().write_pkg.add(1);
    return done;
  };
}

result<msg_recv> recvmsg_until(const socket& s, std::span<const std::span<std::byte>> iov, std::size_t ctrl_size,
                               int flags, const deadline& dl) {
  return ::otpnet::internal::wait_for<msg_recv>(s, select_tag::recvmsg, dl, recvmsg_attempt(s, iov, ctrl_size, flags));
}

/// Encodes the control messages of `m` into `cb`. Errors: invalid,
/// enomem (a buffer larger than the inline one could not be had).
result<void> encode_ctrl(const msg_send& m, ctrl_buffer& cb) {
  auto space = cmsg_space(m.ctrl);
  if (!space) {
    return fail(space.error());
  }
  try {
    cb.resize(*space);
  } catch (const std::bad_alloc&) {
    return fail(errc::enomem);
  }
  auto n = encode_cmsgs(m.ctrl, cb.span());
  if (!n) {
    return fail(n.error());
  }
  cb.resize(*n);
  return ok();
}

/// Makes the iovecs of `m` in `v` (it does not move: its array may be
/// inline); false without memory for them (more than the inline 16).
bool make_iovecs(std::optional<iovec_array>& v, const msg_send& m) noexcept {
  try {
    v.emplace(m.iov);
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

result<std::size_t> sendmsg_until(const socket& s, const msg_send& m, const deadline& dl) {
  ctrl_buffer cb;
  if (auto e = encode_ctrl(m, cb); !e) {
    return fail(e.error());
  }
  std::optional<iovec_array> v;
  if (!make_iovecs(v, m)) {
    return fail(errc::enomem);  // (nothing sent)
  }
  std::size_t done = 0;
  return ::otpnet::internal::wait_for<std::size_t>(s, select_tag::sendmsg, dl,
                                                   sendmsg_attempt(s, m, cb.span(), *v, done));
}

async_result<std::size_t> sendmsg_nowait(const socket& s, const msg_send& m, select_handle h) {
  ctrl_buffer cb;
  if (auto e = encode_ctrl(m, cb); !e) {
    return fail(e.error());
  }
  std::optional<iovec_array> v;
  if (!make_iovecs(v, m)) {
    return fail(errc::enomem);
  }
  std::size_t done = 0;
  return ::otpnet::internal::no_wait<std::size_t>(s, select_tag::sendmsg, h, sendmsg_attempt(s, m, cb.span(), *v, done),
                                                  &done);
}

}  // namespace

// -- msg_recv and iov --------------------------------------------------------

bool msg_recv::truncated() const noexcept { return (flags & MSG_TRUNC) != 0; }
bool msg_recv::ctrl_truncated() const noexcept { return (flags & MSG_CTRUNC) != 0; }

std::vector<std::span<const std::byte>> iov_after(std::span<const std::span<const std::byte>> iov, std::size_t n) {
  std::vector<std::span<const std::byte>> rest;
  for (const auto& b : iov) {
    if (n >= b.size()) {
      n -= b.size();
      continue;
    }
    rest.push_back(b.subspan(n));
    n = 0;
  }
  return rest;
}

// -- recvmsg -----------------------------------------------------------------

result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov, std::size_t ctrl_size, int flags) {
  return recvmsg_until(s, iov, ctrl_size, flags, std::nullopt);
}
result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov, std::size_t ctrl_size, int flags,
                         milliseconds t) {
  return recvmsg_until(s, iov, ctrl_size, flags, ::otpnet::internal::deadline_after(t));
}
async_result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov, std::size_t ctrl_size,
                               int flags, nowait_t) {
  return recvmsg(s, iov, ctrl_size, flags, make_select_handle());
}
async_result<msg_recv> recvmsg(const socket& s, std::span<const std::span<std::byte>> iov, std::size_t ctrl_size,
                               int flags, select_handle h) {
  return ::otpnet::internal::no_wait<msg_recv>(s, select_tag::recvmsg, h, recvmsg_attempt(s, iov, ctrl_size, flags));
}

// -- sendmsg -----------------------------------------------------------------

result<std::size_t> sendmsg(const socket& s, const msg_send& m) { return sendmsg_until(s, m, std::nullopt); }
result<std::size_t> sendmsg(const socket& s, const msg_send& m, milliseconds t) {
  return sendmsg_until(s, m, ::otpnet::internal::deadline_after(t));
}
async_result<std::size_t> sendmsg(const socket& s, const msg_send& m, nowait_t) {
  return sendmsg_nowait(s, m, make_select_handle());
}
async_result<std::size_t> sendmsg(const socket& s, const msg_send& m, select_handle h) {
  return sendmsg_nowait(s, m, h);
}

}  // namespace otpnet::socket
