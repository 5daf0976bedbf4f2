// File: tools/loadgen/echo_helper.cpp
//
// otpnet-loadgen-echo: the tiny echo server the loadgen's tests run against,
// so that they need nothing outside this directory. Plain POSIX on purpose
// (an oracle independent of the layers the load generator is built on):
// one thread, level-triggered epoll, every byte sent back as it came, which
// is a correct echo for packet2, line and raw framing alike.
//   otpnet-loadgen-echo [--port N | --unix PATH] [--corrupt-every N] [--drop-every N]
// Prints "listening on 127.0.0.1:PORT" (or the path) on stdout once ready;
// --port 0 (the default) lets the kernel choose. --corrupt-every N flips a
// bit in every Nth chunk echoed, --drop-every N echoes nothing of every Nth
// chunk, for the tests that the loadgen notices.
// Runs until SIGTERM/SIGINT.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

struct pending {
  std::vector<char> data;  // unsent tail
  std::size_t off = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string path;
  long corrupt_every = 0;
  long drop_every = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (a == "--unix" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--corrupt-every" && i + 1 < argc) {
      corrupt_every = std::atol(argv[++i]);
    } else if (a == "--drop-every" && i + 1 < argc) {
      drop_every = std::atol(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--port N | --unix PATH] [--corrupt-every N] [--drop-every N]\n", argv[0]);
      return 2;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  int lfd = -1;
  std::string where;
  if (!path.empty()) {
    lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (lfd < 0 || path.size() >= sizeof a.sun_path) {
      die("socket");
    }
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      die("bind");
    }
    where = path;
  } else {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
      die("socket");
    }
    int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      die("bind");
    }
    where = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  }
  if (::listen(lfd, 4096) != 0) {
    die("listen");
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  std::printf("listening on %s\n", where.c_str());
  std::fflush(stdout);

  std::vector<pending> pend;
  std::vector<char> buf(65536);
  long chunks = 0;
  auto drop = [&](int fd) {
    if (static_cast<std::size_t>(fd) < pend.size()) {
      pend[fd] = pending{};
    }
    ::close(fd);
  };
  epoll_event evs[256];
  while (g_stop == 0) {
    int n = ::epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          if (static_cast<std::size_t>(c) >= pend.size()) {
            pend.resize(static_cast<std::size_t>(c) + 1);
          }
        }
        continue;
      }
      pending& p = pend[fd];
      if (!p.data.empty()) {  // flushing a tail: reading waits for it
        ssize_t w = ::send(fd, p.data.data() + p.off, p.data.size() - p.off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          drop(fd);
          continue;
        }
        p.off += w > 0 ? static_cast<std::size_t>(w) : 0;
        if (p.off == p.data.size()) {
          p = pending{};
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
        continue;
      }
      ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
      if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          drop(fd);
        }
        continue;
      }
      ++chunks;
      if (corrupt_every > 0 && chunks % corrupt_every == 0) {
        buf[static_cast<std::size_t>(r) - 1] ^= 1;
      }
      if (drop_every > 0 && chunks % drop_every == 0) {
        continue;  // swallowed: never echoed
      }
      ssize_t w = ::send(fd, buf.data(), static_cast<std::size_t>(r), MSG_NOSIGNAL);
      if (w == r) {
        continue;
      }
      if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
          drop(fd);
          continue;
        }
        w = 0;
      }
      p.data.assign(buf.data() + w, buf.data() + r);
      p.off = 0;
      epoll_event cev{};
      cev.events = EPOLLOUT;
      cev.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
    }
  }
  if (!path.empty()) {
    ::unlink(path.c_str());
  }
  return 0;
}
