// File: otpnet/socket/sendfile.hpp
//
// OTP socket's sendfile: file contents to a stream socket without a copy
// through user space (Linux sendfile(2), looped past its 2 GiB per-call
// limit). The file is a descriptor the caller owns (for instance from
// `open_file`); its position is not used or moved: the range is given by
// `offset` and `count` (0: to the end of the file). The timeout forms are
// those of io.hpp; a nowait call that would block reports the bytes already
// sent in select_info::progress, and the caller repeats with the rest.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/message.hpp>
#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace otpnet::socket {

using std::chrono::milliseconds;

/// Opens `path` read-only and close-on-exec, for sendfile. Errors: enoent,
/// eacces, eisdir, emfile/enfile, eloop, enametoolong.
[[nodiscard]] result<unique_fd> open_file(const std::filesystem::path& path);

/// Sends `count` bytes of `file` from `offset` (count 0: up to the end of
/// the file) on the stream socket `s`; returns the bytes sent, which is
/// less than `count` only when the file ends first. The waiting forms send
/// everything. A nowait call that would block returns select with
/// `select_info::progress` bytes sent: after the event, repeat with
/// `offset + progress` and `count - progress` (or 0).
/// Errors: ebadf (`file` not open for reading), einval (`s` is not a
/// stream socket, `offset` is past the end of a regular file or beyond
/// off_t, or `file` cannot be sent from, e.g. a directory), epipe,
/// econnreset, enotconn, closed, timeout (some bytes may have been sent:
/// use the nowait form to follow progress).
[[nodiscard]] result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset = 0, std::size_t count = 0);
[[nodiscard]] result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count,
                                           milliseconds timeout);
[[nodiscard]] async_result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count,
                                                 nowait_t);
[[nodiscard]] async_result<std::size_t> sendfile(const socket& s, int file, std::uint64_t offset, std::size_t count,
                                                 select_handle h);

}  // namespace otpnet::socket
