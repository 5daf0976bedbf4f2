// Taking a PROXY header off a connection: peek at what has come, parse,
// and read exactly the bytes known to be header (all of what was peeked
// while the header is incomplete, only the header's rest once it is
// complete), so that nothing after it is consumed.
#include <otpnet/listener/connection.hpp>
#include <otpnet/listener/proxy_header.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/socket/option.hpp>

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

namespace otpnet::listener {

namespace {

void report_bad(const std::optional<socket::address>& peer, const char* why) noexcept {
  try {
    spdlog::warn(
        "listener: the connection from {} did not start with a valid PROXY protocol header ({}); it is "
        "closed",
        peer ? peer->to_string() : std::string("a peer"), why);
  } catch (...) {
  }
}

task<result<proxy_header>> take_header(socket::socket s, std::chrono::milliseconds timeout,
                                       std::optional<socket::address> peer) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  // A stream's header only: a datagram's would be peeked for ever, and the
  // read of its header's bytes would drop the rest of the datagram.
  if (auto kind = socket::getopt(s, socket::opt::socket::type); !kind || *kind != socket::type::stream) {
    co_return fail(kind ? errc::invalid : kind.error());
  }
  std::vector<std::byte> seen;  // the header's bytes read so far, then what was peeked after them
  std::array<std::byte, 512> buf{};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      co_return fail(errc::timeout);
    }
    auto peeked = co_await socket::co::recv(s, buf, MSG_PEEK, left);
    if (!peeked) {
      co_return fail(peeked.error());
    }
    std::size_t before = seen.size();
    seen.insert(seen.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*peeked));
    proxy_parse p = parse_proxy_header(seen);
    if (p.what == proxy_parse::status::invalid) {
      report_bad(peer, p.why);
      co_return fail(errc::bad_proxy_header);
    }
    // Incomplete: everything peeked is header. Complete: its rest only.
    std::size_t want = p.what == proxy_parse::status::complete ? p.header.size - before : *peeked;
    for (std::size_t got = 0; got < want;) {
      // Peeked already: the bytes wait in the socket, so this returns at once.
      auto n = co_await socket::co::recv(s, std::span(buf).first(std::min(want - got, buf.size())), 0, left);
      if (!n) {
        co_return fail(n.error());
      }
      got += *n;
    }
    if (p.what == proxy_parse::status::complete) {
      co_return std::move(p.header);
    }
  }
}

}  // namespace

task<result<proxy_header>> recv_proxy_header(socket::socket s, std::chrono::milliseconds timeout) {
  return take_header(std::move(s), timeout, std::nullopt);
}

task<result<proxy_header>> recv_proxy_header(const connection& c, std::chrono::milliseconds timeout) {
  return take_header(c.raw, timeout, c.peer);
}

}  // namespace otpnet::listener
