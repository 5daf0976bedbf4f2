#include "otpnet/socket/sendfile.hpp"

#include <otpnet/socket/io.hpp>
#include <otpnet/socket/registry.hpp>

#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::socket {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t mib = 1 << 20;

/// A temporary file (mkstemp) removed with its descriptor at scope exit.
class temp_file {
 public:
  temp_file() {
    path_ = (std::filesystem::temp_directory_path() / "otpnet-sendfile-XXXXXX").string();
    fd_ = ::mkstemp(path_.data());
    EXPECT_GE(fd_, 0) << path_;
  }
  ~temp_file() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(path_.c_str());
    }
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  /// Fills the file with `n` pseudo-random bytes, returning them.
  std::string fill(std::size_t n, std::uint64_t seed = 42) {
    std::string data(n, '\0');
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < n; i += 8) {
      const std::uint64_t v = rng();
      for (std::size_t j = 0; j < 8 && i + j < n; ++j) {
        data[i + j] = static_cast<char>(v >> (8 * j));
      }
    }
    EXPECT_EQ(::pwrite(fd_, data.data(), n, 0), static_cast<::ssize_t>(n));
    return data;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

/// Reads `n` bytes from `s` on its own thread (bounded waits).
class reader {
 public:
  reader(const socket& s, std::size_t n)
      : thread_([this, s, n] {
          std::string buf(256 * 1024, '\0');
          while (got_.size() < n) {
            auto r = recv(s, std::as_writable_bytes(std::span(buf.data(), buf.size())), 0, 10000ms);
            if (!r) {
              error_ = r.error();
              break;
            }
            got_.append(buf, 0, *r);
          }
        }) {}
  /// Everything read, once the thread ended.
  const std::string& join() {
    thread_.join();
    EXPECT_EQ(error_, errc::ok) << format_error(error_);
    return got_;
  }

 private:
  std::string got_;
  errc error_ = errc::ok;
  std::thread thread_;
};

void small_buffers(const socket& c, const socket& a) {
  const int sz = 32 * 1024;
  ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
  ASSERT_EQ(::setsockopt(a.native_handle(), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
}

// -- whole files and slices --------------------------------------------------

TEST(sendfile, multi_mib_file_arrives_byte_for_byte) {
  temp_file f;
  const std::string data = f.fill(8 * mib);
  auto file = open_file(f.path());
  ASSERT_TRUE(file) << format_error(file.error());
  auto [c, a] = test::connected_pair();
  reader rd(a, data.size());
  auto n = sendfile(c, file->get());
  ASSERT_TRUE(n) << format_error(n.error());
  EXPECT_EQ(*n, data.size());
  const std::string& got = rd.join();
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  auto i = info(c);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->counters.write_byte, data.size());
  EXPECT_EQ(i->counters.write_pkg, 1u);
}

TEST(sendfile, offset_and_count_send_a_slice) {
  temp_file f;
  const std::string data = f.fill(1 * mib);
  auto [c, a] = test::connected_pair();
  const std::size_t off = 1000;
  const std::size_t count = 300000;
  reader rd(a, count);
  auto n = sendfile(c, f.fd(), off, count, 10000ms);
  ASSERT_TRUE(n) << format_error(n.error());
  EXPECT_EQ(*n, count);
  EXPECT_TRUE(rd.join() == data.substr(off, count));
  // The file position was neither used nor moved.
  EXPECT_EQ(::lseek(f.fd(), 0, SEEK_CUR), 0);
}

TEST(sendfile, count_zero_sends_to_the_end_and_a_short_file_stops_early) {
  temp_file f;
  const std::string data = f.fill(100000);
  auto [c, a] = test::connected_pair();
  reader rd(a, 2 * (data.size() - 40000));
  auto tail = sendfile(c, f.fd(), 40000, 0, 5000ms);
  ASSERT_TRUE(tail);
  EXPECT_EQ(*tail, data.size() - 40000);
  auto beyond = sendfile(c, f.fd(), 40000, 10 * data.size(), 5000ms);  // more than there is
  ASSERT_TRUE(beyond);
  EXPECT_EQ(*beyond, data.size() - 40000);
  const std::string rest = data.substr(40000);
  EXPECT_TRUE(rd.join() == rest + rest);
  auto at_end = sendfile(c, f.fd(), data.size(), 0, 5000ms);
  ASSERT_TRUE(at_end);
  EXPECT_EQ(*at_end, 0u);
}

TEST(sendfile, offsets_beyond_4_gib_in_a_sparse_file) {
  temp_file f;
  const std::uint64_t at = (9ull << 29);  // 4.5 GiB
  if (::ftruncate(f.fd(), static_cast<::off_t>(at + 4096)) != 0) {
    GTEST_SKIP() << "the temporary directory cannot hold a sparse 4.5 GiB file";
  }
  ASSERT_EQ(::pwrite(f.fd(), "far away", 8, static_cast<::off_t>(at)), 8);
  auto [c, a] = test::connected_pair();
  reader rd(a, 8);
  auto n = sendfile(c, f.fd(), at, 8, 5000ms);
  ASSERT_TRUE(n) << format_error(n.error());
  EXPECT_EQ(*n, 8u);
  EXPECT_EQ(rd.join(), "far away");
}

// -- nowait ------------------------------------------------------------------

TEST(sendfile, nowait_reports_progress_and_resumes_until_done) {
  temp_file f;
  const std::string data = f.fill(8 * mib, 7);
  auto [c, a] = test::connected_pair();
  small_buffers(c, a);

  // Nobody reads yet, so the first call must stop part way.
  auto r = sendfile(c, f.fd(), 0, 0, nowait);
  ASSERT_TRUE(r.is_select()) << format_error(r.error());
  EXPECT_EQ(r.select_info()->tag, select_tag::sendfile);
  std::size_t done = r.select_info()->progress;
  EXPECT_GT(done, 0u);
  EXPECT_LT(done, data.size());

  reader rd(a, data.size());
  int selects = 1;
  while (done < data.size()) {
    auto ev = wait_select(10000ms);
    ASSERT_TRUE(ev) << format_error(ev.error());
    EXPECT_EQ(ev->tag, select_tag::sendfile);
    auto again = sendfile(c, f.fd(), done, 0, ev->handle);
    if (again.is_ok()) {
      done += again.value();
    } else {
      ASSERT_TRUE(again.is_select()) << format_error(again.error());
      done += again.select_info()->progress;
      ++selects;
    }
  }
  EXPECT_EQ(done, data.size());
  EXPECT_TRUE(rd.join() == data);
  EXPECT_GE(selects, 1);
  auto i = info(c);
  ASSERT_TRUE(i);
  EXPECT_GE(i->counters.write_waits, static_cast<std::uint64_t>(selects));
}

TEST(sendfile, timeout_when_nobody_reads) {
  temp_file f;
  static_cast<void>(f.fill(8 * mib));
  auto [c, a] = test::connected_pair();
  small_buffers(c, a);
  auto n = sendfile(c, f.fd(), 0, 0, 50ms);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), errc::timeout);
  auto i = info(c);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->write_waiters, 0u);  // the expired wait left nothing behind
}

// -- errors ------------------------------------------------------------------

TEST(sendfile, closed_socket_gives_closed) {
  temp_file f;
  static_cast<void>(f.fill(1000));
  auto [c, a] = test::connected_pair();
  ASSERT_TRUE(close(c));
  EXPECT_EQ(sendfile(c, f.fd()).error(), errc::closed);
  EXPECT_EQ(sendfile(c, f.fd(), 0, 0, nowait).error(), errc::closed);
  EXPECT_EQ(sendfile(socket{}, f.fd(), 0, 0, 10ms).error(), errc::closed);
}

TEST(sendfile, bad_file_gives_ebadf) {
  auto [c, a] = test::connected_pair();
  EXPECT_EQ(sendfile(c, -1, 0, 0, 100ms).error(), errc::ebadf);
  temp_file f;
  static_cast<void>(f.fill(1000));
  int wronly = ::open(f.path().c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(wronly, 0);
  EXPECT_EQ(sendfile(c, wronly, 0, 0, 100ms).error(), errc::ebadf);  // not open for reading
  ::close(wronly);
}

TEST(sendfile, bad_offset_and_non_stream_socket_give_einval) {
  temp_file f;
  static_cast<void>(f.fill(1000));
  auto [c, a] = test::connected_pair();
  EXPECT_EQ(sendfile(c, f.fd(), 1001, 0, 100ms).error(), errc::einval);
  EXPECT_EQ(sendfile(c, f.fd(), ~std::uint64_t{0}, 1, 100ms).error(), errc::einval);
  auto u = open(domain::inet, type::dgram, protocol::udp);
  ASSERT_TRUE(u);
  EXPECT_EQ(sendfile(*u, f.fd(), 0, 0, 100ms).error(), errc::einval);
}

TEST(sendfile, open_file_errors_are_named) {
  EXPECT_EQ(open_file("/nonexistent/otpnet/file").error(), errc::enoent);
  EXPECT_EQ(open_file(std::filesystem::temp_directory_path()).error(), errc::eisdir);
  temp_file f;
  auto ok = open_file(f.path());
  ASSERT_TRUE(ok);
  EXPECT_EQ(::fcntl(ok->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

}  // namespace
}  // namespace otpnet::socket
