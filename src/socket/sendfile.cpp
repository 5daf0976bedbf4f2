// sendfile: checks the arguments once, then loops Linux sendfile(2) in
// chunks of at most MAX_RW_COUNT (just under 2 GiB, what one call moves at
// most) with an explicit offset, so that the file position is never used.
// `done` carries the progress across attempts, and into select_info.
#include <otpnet/socket/sendfile.hpp>

#include "internal/syscall.hpp"
#include "socket/io_common.hpp"
#include "socket/socket_state.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <limits>

namespace otpnet::socket {

namespace {

using ::otpnet::internal::deadline;

/// Linux's MAX_RW_COUNT: the most one sendfile(2) call transfers.
constexpr std::size_t max_chunk = 0x7ffff000;
/// No known end: send until sendfile(2) reports the end of the file.
constexpr std::uint64_t unbounded = std::numeric_limits<std::uint64_t>::max();

/// The byte count to send, after checking the arguments: `count`, or for
/// count 0 the rest of a regular file (`unbounded` for other files).
result<std::uint64_t> checked_count(const socket& s, int file, std::uint64_t offset, std::size_t count) {
  const detail::socket_state* st = s.state();
  if (st == nullptr || st->closed()) {
    return fail(errc::closed);
  }
  if (st->typ() != type::stream) {
    return fail(errc::einval);
  }
  struct ::stat sb {};
  if (auto r = ::otpnet::internal::sys([&] { return ::fstat(file, &sb); }); !r) {
    return fail(r.error());
  }
  constexpr auto max_off = static_cast<std::uint64_t>(std::numeric_limits<::off_t>::max());
  if (S_ISDIR(sb.st_mode) || offset > max_off || count > max_off - offset) {
    return fail(errc::einval);
  }
  if (!S_ISREG(sb.st_mode)) {
    return count != 0 ? std::uint64_t{count} : unbounded;
  }
  const auto size = static_cast<std::uint64_t>(sb.st_size);
  if (offset > size) {
    return fail(errc::einval);
  }
  return count != 0 ? std::uint64_t{count} : size - offset;
}

/// Sends up to `want` bytes of `file` from `offset`; `done` keeps the
/// progress across attempts.
auto sendfile_attempt(const socket& s, int file, std::uint64_t offset, std::uint64_t want, std::size_t& done) {
  return [&s, file, offset, want, &done]() -> result<std::size_t> {
    detail::socket_state& st = *s.state();
    const int fd = st.fd();
    while (done < want) {
      const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(want - done, max_chunk));
      auto off = static_cast<::off_t>(offset + done);
      st.counters().write_tries.add(1);
      auto n = ::otpnet::internal::sys([&] { return ::sendfile(fd, file, &off, chunk); });
      if (!n) {
        if (n.error() != errc::eagain) {
          st.counters().write_fails.add(1);
        }
        return fail(n.error());
      }
      if (*n == 0) {
        break;  // the file ended (or shrank) before `want`
      }
      done += static_cast<std::size_t>(*n);
      st.counters().write_byte.add(static_cast<std::uint64_t>(*n));
    }
    st.counters().write_pkg.add(1);
    return done;
  };
}

result<std::size_t> sendfile_until(const socket& s, int file, std::uint64_t offset, std::size_t count,
                                   const deadline& dl) {
  auto want = checked_count(s, file, offset, count);
  if (!want) {
    return fail(want.error());
  }
  std::size_t done = 0;
  return ::otpnet::internal::wait_for<std::size_t>(s, select_tag::sendfile, dl,
                                                   sendfile_attempt(s, file, offset, *want, done));
}

async_result<std::size_t> sendfile_nowait(const socket& s, int file, std::uint64_t offset, std::size_t count,
                                          select_handle h) {
  auto want = checked_count(s, file, offset, count);
  if (!want) {
    return fail(want.error());
  }
  std::size_t done = 0;
  return ::otpnet::internal::no_wait<std::size_t>(s, select_tag::sendfile, h,
                                                  sendfile_attempt(s, file, offset, *want, done), &done);
}

}  // namespace

result<unique_fd> open_file(const std::filesystem::path& path) {
  auto fd = ::otpnet::internal::sys([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (!fd) {
    return fail(fd.error());
  }
  unique_fd f(*fd);
  struct ::stat sb {};
  if (auto r = ::otpnet::internal::sys([&] { return ::fstat(f.get(), &sb); }); !r) {
    return fail(r.error());
  }
  if (S_ISDIR(sb.st_mode)) {
    return fail(errc::eisdir);
  }
  return f;
}

result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count) {
  return sendfile_until(s, file, offset, count, std::nullopt);
}
result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count, milliseconds t) {
  return sendfile_until(s, file, offset, count, ::otpnet::internal::deadline_after(t));
}
async_result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count, nowait_t) {
  return sendfile_nowait(s, file, offset, count, make_select_handle());
}
async_result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count,
                                   select_handle h) {
  return sendfile_nowait(s, file, offset, count, h);
}

}  // namespace otpnet::socket
