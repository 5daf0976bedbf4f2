// Socket activation: the descriptors systemd passes (sd_listen_fds(3)),
// read from the environment, checked, and wrapped as sockets.
#include <otpnet/listener/inherited.hpp>
#include <otpnet/socket/option.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace otpnet::listener {

namespace {

constexpr int first_fd = 3;  // SD_LISTEN_FDS_START (systemd's)
constexpr long max_fds = 1024;

std::optional<long> number(const char* s) {
  if (s == nullptr) {
    return std::nullopt;
  }
  std::string_view v(s);
  long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || end != v.data() + v.size() || v.empty() || n < 0) {
    return std::nullopt;
  }
  return n;
}

}  // namespace

result<std::vector<inherited_socket>> inherited_sockets(bool unset_environment) {
  // (The environment is read before any thread starts: see the header.)
  const char* pid_text = std::getenv("LISTEN_PID");   // NOLINT(concurrency-mt-unsafe)
  const char* fds_text = std::getenv("LISTEN_FDS");   // NOLINT(concurrency-mt-unsafe)
  const char* names = std::getenv("LISTEN_FDNAMES");  // NOLINT(concurrency-mt-unsafe)
  auto out = detail::inherited_sockets_of(pid_text, fds_text, names, first_fd);
  bool ours = pid_text != nullptr && number(pid_text) == static_cast<long>(::getpid());
  if (ours && unset_environment) {
    (void)::unsetenv("LISTEN_PID");      // NOLINT(concurrency-mt-unsafe)
    (void)::unsetenv("LISTEN_FDS");      // NOLINT(concurrency-mt-unsafe)
    (void)::unsetenv("LISTEN_FDNAMES");  // NOLINT(concurrency-mt-unsafe)
  }
  return out;
}

result<std::vector<inherited_socket>> detail::inherited_sockets_of(const char* pid_text, const char* fds_text,
                                                                   const char* names, int first_fd) {
  std::vector<inherited_socket> out;
  if (pid_text == nullptr || fds_text == nullptr) {
    return out;
  }
  auto pid = number(pid_text);
  if (!pid) {
    return fail(errc::invalid);
  }
  if (*pid != static_cast<long>(::getpid())) {
    return out;  // meant for another process (a parent that did not unset them), as sd_listen_fds says
  }
  auto count = number(fds_text);
  if (!count || *count > max_fds) {
    return fail(errc::invalid);
  }
  std::vector<std::string> name_list;
  if (names != nullptr) {
    std::string_view all(names);
    for (std::size_t at = 0;;) {
      std::size_t colon = all.find(':', at);
      name_list.emplace_back(all.substr(at, colon == std::string_view::npos ? std::string_view::npos : colon - at));
      if (colon == std::string_view::npos) {
        break;
      }
      at = colon + 1;
    }
    if (static_cast<long>(name_list.size()) != *count) {
      return fail(errc::invalid);
    }
  }
  // Every descriptor is checked before any is taken.
  for (int fd = first_fd; fd < first_fd + static_cast<int>(*count); ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (::fcntl(fd, F_GETFD) < 0) {
      return fail(errc::ebadf);
    }
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
      return fail(errc::enotsock);
    }
  }
  out.reserve(static_cast<std::size_t>(*count));
  for (int i = 0; i < static_cast<int>(*count); ++i) {
    int fd = first_fd + i;
    (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
    auto s = otpnet::socket::open(fd, {.dup = false});
    if (!s) {
      return fail(s.error());
    }
    inherited_socket in;
    in.sock = *s;
    if (!name_list.empty()) {
      in.name = name_list[static_cast<std::size_t>(i)];
    }
    if (auto a = otpnet::socket::sockname(in.sock)) {
      in.address = *a;
    }
    in.listening = otpnet::socket::getopt(in.sock, otpnet::socket::opt::socket::acceptconn).value_or(false);
    out.push_back(std::move(in));
  }
  return out;
}

}  // namespace otpnet::listener
