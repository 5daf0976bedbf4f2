#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/net/addrinfo.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/socket/option.hpp>

#include "gen_tcp/port.hpp"

namespace otpnet::gen_tcp {

namespace so = otpnet::socket;

namespace {

// Set once on the listen socket for every connection: an accepted socket
// starts with the listen socket's. One that fails is set per connection
// instead.
void set_carried(const so::socket& s, listen_socket& ls) {
  const effective_options& o = ls.opts;
  ls.carried.nodelay = o.nodelay && so::setopt(s, so::opt::tcp::nodelay, true);
  ls.carried.keepalive = o.keepalive && so::setopt(s, so::opt::socket::keepalive, true);
  ls.carried.recbuf = o.recbuf > 0 && so::setopt(s, so::opt::socket::rcvbuf, o.recbuf) ? o.recbuf : 0;
  ls.carried.sndbuf = o.sndbuf > 0 && so::setopt(s, so::opt::socket::sndbuf, o.sndbuf) ? o.sndbuf : 0;
}

}  // namespace

result<listen_socket> listen(const so::address& addr, const options& opts) {
  listen_socket ls;
  if (!ls.opts.apply(opts)) {
    return fail(errc::invalid);
  }
  auto proto = addr.family() == so::domain::local ? so::protocol::default_ : so::protocol::tcp;
  auto s = so::open(addr.family(), so::type::stream, proto);
  if (!s) {
    return fail(s.error());
  }
  if (addr.family() != so::domain::local) {
    set_carried(*s, ls);
    if (ls.opts.reuseaddr) {
      (void)so::setopt(*s, so::opt::socket::reuseaddr, true);
    }
    if (ls.opts.reuseport) {
      if (auto r = so::setopt(*s, so::opt::socket::reuseport, true); !r) {
        return fail(r.error());
      }
    }
    if (addr.family() == so::domain::inet6 && ls.opts.ipv6_v6only) {
      if (auto r = so::setopt(*s, so::opt::ipv6::v6only, *ls.opts.ipv6_v6only); !r) {
        return fail(r.error());
      }
    }
  }
  auto port = so::bind(*s, addr);
  if (!port) {
    return fail(port.error());
  }
  if (auto r = so::listen(*s, ls.opts.backlog); !r) {
    return fail(r.error());
  }
  ls.sock = std::move(*s);
  ls.port = *port;
  return ls;
}

result<listen_socket> listen(std::uint16_t port, const options& opts) {
  return listen(so::address::inet_any(port), opts);
}

result<listen_socket> listen_on(so::socket s, const options& opts) {
  listen_socket ls;
  if (!ls.opts.apply(opts)) {
    return fail(errc::invalid);
  }
  auto listening = so::getopt(s, so::opt::socket::acceptconn);
  if (!listening) {
    return fail(listening.error() == errc::closed ? errc::closed : errc::invalid);
  }
  auto kind = so::getopt(s, so::opt::socket::type);
  if (!*listening || !kind || *kind != so::type::stream) {
    return fail(errc::invalid);
  }
  auto here = so::sockname(s);
  if (!here) {
    return fail(here.error());
  }
  if (here->family() == so::domain::inet || here->family() == so::domain::inet6) {
    set_carried(s, ls);
    // What it had already (systemd's NoDelay=, KeepAlive=) is what its
    // connections start with: read back, so that accept turns off per
    // connection what the options say off.
    ls.carried.nodelay = so::getopt(s, so::opt::tcp::nodelay).value_or(ls.carried.nodelay);
    ls.carried.keepalive = so::getopt(s, so::opt::socket::keepalive).value_or(ls.carried.keepalive);
  }
  ls.port = here->port();
  ls.sock = std::move(s);
  return ls;
}

result<socket> adopt(so::socket raw, const effective_options& opts, const socket_defaults& start) {
  auto p = detail::port::create(std::move(raw), opts, start);
  if (!p) {
    return fail(p.error());
  }
  return socket(std::move(*p));
}

task<result<socket>> accept(listen_socket ls, std::optional<std::chrono::milliseconds> timeout) {
  auto raw = co_await so::co::accept(ls.sock, timeout);
  if (!raw) {
    co_return fail(raw.error());
  }
  co_return adopt(std::move(*raw), ls.opts, ls.carried);
}

task<result<socket>> connect(so::address dest, options opts, std::optional<std::chrono::milliseconds> timeout) {
  effective_options eff;
  if (!eff.apply(opts)) {
    co_return fail(errc::invalid);
  }
  auto proto = dest.family() == so::domain::local ? so::protocol::default_ : so::protocol::tcp;
  auto s = so::co::open(dest.family(), so::type::stream, proto);
  if (!s) {
    co_return fail(s.error());
  }
  auto c = co_await so::co::connect(*s, dest, timeout);
  if (!c) {
    (void)so::close(*s);
    co_return fail(c.error());
  }
  co_return adopt(std::move(*s), eff);
}

task<result<socket>> connect(std::string host, std::uint16_t port, options opts,
                             std::optional<std::chrono::milliseconds> timeout) {
  if (auto literal = so::address::parse(host, port)) {
    co_return co_await connect(*literal, opts, timeout);
  }
  auto found = net::getaddrinfo(host, std::nullopt, {.socktype = SOCK_STREAM});
  if (!found) {
    co_return fail(found.error());
  }
  errc last = errc::eai_noname;
  for (const auto& e : *found) {
    auto a = so::address::from_native(e.addr.native(), e.addr.size());
    if (!a) {
      continue;
    }
    auto r = co_await connect(a->with_port(port), opts, timeout);
    if (r) {
      co_return r;
    }
    last = r.error();
  }
  co_return fail(last);
}

}  // namespace otpnet::gen_tcp
