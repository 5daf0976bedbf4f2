#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/tls/error.hpp>
#include <otpnet/tls/handshake.hpp>
#include <otpnet/tls/limits.hpp>

#include "gen_tcp/port.hpp"
#include "tls/openssl_error.hpp"
#include "tls/pending_handshake.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdint>

namespace otpnet::tls {

namespace {

using clock = std::chrono::steady_clock;
using internal::tls_transport;
using std::chrono::milliseconds;
using step = tls_transport::step;
using pending_ptr = std::shared_ptr<detail::pending_handshake>;

const char* role(bool server) noexcept { return server ? "server" : "client"; }

bool owned_by_caller(const gen_tcp::detail::port* p) noexcept { return p->on_my_thread() && p->owner() == self(); }

/// A refusal that leaves the socket as it is: the reason, with `why` as
/// last_error().
errc refuse(errc reason, std::string why) {
  internal::set_last_error(std::move(why));
  return reason;
}

/// Ends a handshake that failed: one report line, the socket closed.
errc give_up(detail::pending_handshake& h, errc reason, std::string why) {
  int fd = h.sock.port() != nullptr ? h.sock.port()->native_handle() : -1;
  try {
    spdlog::warn("tls: {} handshake failed on socket {} (owner {}): {}: {}", role(h.server), fd, self().to_string(),
                 err_name(reason), why);
  } catch (...) {
    // Reporting must not fail the connection further.
  }
  internal::set_last_error(std::move(why));
  h.finished = true;
  h.slot.end(reason);
  (void)h.sock.close();
  return reason;
}

/// Ends a handshake that found its socket closed (or failing): with the
/// error of the bytes sent before it when those failed (the port closed
/// then), else with `reason` and `why`.
errc give_up_closed(detail::pending_handshake& h, errc reason, std::string why) {
  if (errc e = h.sock.port()->send_failure(); e != errc::ok) {
    return give_up(h, e, "the bytes sent before the handshake could not be sent");
  }
  return give_up(h, reason, std::move(why));
}

/// The checks that leave the socket as it is.
result<gen_tcp::detail::port*> check(const gen_tcp::socket& sock, const context& ctx, bool server) {
  gen_tcp::detail::port* p = sock.port();
  if (p == nullptr) {
    return fail(refuse(errc::closed, "no socket"));
  }
  if (!ctx || ctx.is_server() != server) {
    return fail(refuse(errc::invalid, fmt::format("a {} handshake needs a {} context", role(server), role(server))));
  }
  if (p->is_closed()) {
    return fail(refuse(errc::closed, "the socket is closed"));
  }
  if (!owned_by_caller(p)) {
    return fail(refuse(errc::invalid, "only the socket's owner may upgrade it"));
  }
  if (p->is_tls()) {
    return fail(refuse(errc::invalid, "the socket is TLS already"));
  }
  if (errc e = p->send_failure(); e != errc::ok) {
    // (A send timed out with send_timeout_close false: the socket is open,
    // but the peer has not had all that was sent before.)
    return fail(refuse(e, "a send on the socket failed before the handshake"));
  }
  return p;
}

/// What an active socket had delivered before its handshake began.
struct reclaimed {
  std::vector<std::byte> bytes;
  int frames = 0;
  bool passive_notice = false;  // a tcp_passive: {active, N} ran out
};

/// Takes the socket's tcp messages out of the caller's mailbox, where an
/// active socket may have put the first bytes of the peer's hello: their
/// bytes, framed again as they came. A tcp_closed or tcp_error there
/// means the connection is over.
task<result<reclaimed>> reclaim(gen_tcp::socket sock, gen_tcp::packet_type packet) {
  auto mine = [raw = sock.port()](otpnet::detail::envelope* e) {
    if (auto* d = otpnet::detail::payload_if<gen_tcp::tcp>(e)) {
      return d->sock.port() == raw;
    }
    if (auto* c = otpnet::detail::payload_if<gen_tcp::tcp_closed>(e)) {
      return c->sock.port() == raw;
    }
    if (auto* x = otpnet::detail::payload_if<gen_tcp::tcp_error>(e)) {
      return x->sock.port() == raw;
    }
    if (auto* q = otpnet::detail::payload_if<gen_tcp::tcp_passive>(e)) {
      return q->sock.port() == raw;
    }
    return false;
  };
  reclaimed out;
  for (;;) {
    // A timeout of 0: only looks, never suspends.
    std::optional<message> m = co_await otpnet::detail::receive_awaiter<message, decltype(mine), true>(mine, 0);
    if (!m) {
      break;
    }
    if (auto* d = m->get_if<gen_tcp::tcp>()) {
      std::array<std::byte, 4> header{};
      std::size_t h = gen_tcp::encode_header(packet, d->data.size(), header.data());
      if (h != SIZE_MAX) {
        out.bytes.insert(out.bytes.end(), header.begin(), header.begin() + static_cast<std::ptrdiff_t>(h));
      }
      out.bytes.insert(out.bytes.end(), d->data.data(), d->data.data() + d->data.size());
      ++out.frames;
    } else if (auto* x = m->get_if<gen_tcp::tcp_error>()) {
      co_return fail(x->reason);
    } else if (m->is<gen_tcp::tcp_closed>()) {
      co_return fail(errc::closed);
    } else {
      out.passive_notice = true;
    }
  }
  co_return out;
}

/// The active mode to restore: the one the socket had before it delivered
/// the frames taken back (an {active, once} socket that delivered one is
/// passive now, but its owner has not seen that frame).
gen_tcp::active_mode mode_before(gen_tcp::active_mode now, const reclaimed& r) {
  if (now != gen_tcp::passive || r.frames == 0) {
    return now;
  }
  return r.passive_notice ? gen_tcp::active_n(r.frames) : gen_tcp::once;
}

/// Starts a handshake: the slot, the socket made passive, the bytes it has
/// read already, a TLS endpoint with the context's current set.
task<result<void>> wait_io(detail::pending_handshake& h, bool write, clock::time_point deadline);

task<result<pending_ptr>> start(gen_tcp::socket sock, context ctx, bool server, clock::time_point deadline,
                                milliseconds timeout) {
  auto p = check(sock, ctx, server);
  if (!p) {
    co_return fail(p.error());
  }
  // The port's room for the transport, before anything changes: waiting
  // for readiness and taking the transport (finish) cannot fail then.
  if (auto r = (*p)->prepare_transport(); !r) {
    co_return fail(refuse(r.error(), "no memory for the socket's transport"));
  }
  auto h = std::make_shared<detail::pending_handshake>();
  h->sock = sock;
  h->server = server;
  // From here a failure of the bytes sent before is this handshake's (and
  // every way out of it that fails closes the socket).
  (*p)->begin_upgrade();
  h->slot = internal::handshake_slot::try_acquire();
  if (!h->slot) {
    co_return fail(give_up(*h, errc::busy, fmt::format("{} handshakes in progress (the limit)", handshake_limit())));
  }
  auto o = sock.getopts();
  if (!o) {
    co_return fail(give_up(*h, o.error(), "the socket's options cannot be read"));
  }
  if (o->active != gen_tcp::passive) {
    if (auto r = sock.setopts({.active = gen_tcp::passive}); !r) {
      co_return fail(give_up(*h, r.error(), "the socket cannot be made passive"));
    }
  }
  auto taken = co_await reclaim(sock, o->packet);
  if (!taken) {
    co_return fail(give_up(*h, taken.error(), "the connection ended before the handshake"));
  }
  h->restore = mode_before(o->active, *taken);
  std::vector<std::byte> prefix = std::move(taken->bytes);
  // A receive in flight adds its bytes to unread() now.
  if (auto stopped = (*p)->stop_completion_reads(); !stopped) {
    // (Its flush of the queue may be what failed.)
    co_return fail(give_up_closed(*h, stopped.error(), "the connection failed before the handshake"));
  }
  std::span<const std::byte> unread = (*p)->unread();
  prefix.insert(prefix.end(), unread.begin(), unread.end());
  (*p)->take_unread(unread.size());
  // What was sent before the upgrade leaves first, in the clear: the
  // handshake writes the descriptor itself, so it begins once the kernel
  // has taken every byte queued (the port writes them as the socket
  // becomes writable), within the handshake's time.
  while ((*p)->sends_pending()) {
    auto w = co_await wait_io(*h, true, deadline);
    if (errc e = (*p)->send_failure(); e != errc::ok) {
      co_return fail(give_up(*h, e, "the bytes sent before the handshake could not be sent"));
    }
    if (!w) {
      co_return fail(give_up(*h, w.error(),
                             w.error() == errc::timeout
                                 ? fmt::format("the bytes sent before the handshake did not leave within {} ms: the "
                                               "peer does not read",
                                               timeout.count())
                                 : std::string("the socket was closed before the handshake")));
    }
    // (on_io wrote what the kernel would take before this resumed.)
  }
  // Before the endpoint takes the descriptor: a port that closed (its queue
  // went with it, so the loop ended) no longer owns one.
  if ((*p)->is_closed()) {
    co_return fail(give_up_closed(*h, errc::closed, "the socket was closed before the handshake"));
  }
  auto t = tls_transport::create((*p)->raw(), ctx.state()->snapshot(), std::move(prefix));
  if (!t) {
    co_return fail(give_up(*h, t.error(), last_error()));
  }
  h->t = std::move(*t);
  // From here a send (by another process, or the owner between a hello and
  // its continue) waits for the handshake: it goes through TLS after it.
  (*p)->hold_sends();
  co_return h;
}

/// Waits until the descriptor is readable (writable) or the deadline.
/// Errors: timeout, closed (the port closed meanwhile), enomem.
task<result<void>> wait_io(detail::pending_handshake& h, bool write, clock::time_point deadline) {
  gen_tcp::detail::port* p = h.sock.port();
  auto left = std::chrono::ceil<milliseconds>(deadline - clock::now());
  if (left.count() <= 0) {
    co_return fail(errc::timeout);
  }
  std::uint64_t ticket = make_ref().value();
  if (auto r = p->wait_io(write, ticket); !r) {
    co_return fail(r.error());  // closed (the queue's flush failed: the caller checks send_failure())
  }
  auto ready = co_await receive<gen_tcp::detail::io_ready>(
      [ticket](const gen_tcp::detail::io_ready& r) { return r.ticket == ticket; }, after(left));
  if (!ready) {
    p->cancel_wait_io(ticket);
    // One sent as the time ran out must not stay in the caller's mailbox.
    (void)co_await receive<gen_tcp::detail::io_ready>(
        [ticket](const gen_tcp::detail::io_ready& r) { return r.ticket == ticket; }, after(milliseconds(0)));
    co_return fail(errc::timeout);
  }
  // Closed after the readiness was sent: the descriptor may be another's now.
  if (ready->reason != errc::ok || p->is_closed()) {
    co_return fail(errc::closed);
  }
  co_return ok();
}

/// Steps the handshake until it is done, stops at the client's hello, or
/// fails (then the socket is closed).
task<result<step>> drive(pending_ptr h, clock::time_point deadline, milliseconds timeout) {
  for (;;) {
    if (h->sock.port()->is_closed()) {
      co_return fail(give_up_closed(*h, errc::closed, "the socket was closed during the handshake"));
    }
    step s = h->t->handshake_step();
    if (s == step::done || s == step::hello) {
      co_return s;
    }
    if (s == step::failed) {
      co_return fail(give_up(*h, h->t->failure_reason(), h->t->failure_detail()));
    }
    auto w = co_await wait_io(*h, s == step::want_write, deadline);
    if (!w) {
      co_return fail(
          give_up(*h, w.error(),
                  w.error() == errc::timeout
                      ? fmt::format("no handshake within {} ms: the peer is silent or too slow", timeout.count())
                  : w.error() == errc::enomem ? std::string("no memory for the socket's transport")
                                              : std::string("the socket was closed during the handshake")));
    }
  }
}

/// Makes the endpoint the port's transport and restores the active mode.
result<void> finish(detail::pending_handshake& h) {
  gen_tcp::detail::port* p = h.sock.port();
  if (auto r = p->set_transport(std::move(h.t), true); !r) {
    return fail(give_up(h, r.error(), "no memory for the socket's transport"));  // (not after prepare_transport)
  }
  h.finished = true;
  h.slot.end(errc::ok);
  if (h.restore != gen_tcp::passive) {
    (void)h.sock.setopts({.active = h.restore});
  }
  return ok();
}

}  // namespace

task<result<void>> handshake(gen_tcp::socket sock, context ctx, milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  auto h = co_await start(std::move(sock), std::move(ctx), true, deadline, timeout);
  if (!h) {
    co_return fail(h.error());
  }
  auto s = co_await drive(*h, deadline, timeout);
  if (!s) {
    co_return fail(s.error());
  }
  co_return finish(**h);
}

task<result<client_hello>> handshake_hello(gen_tcp::socket sock, context ctx, milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  auto h = co_await start(std::move(sock), std::move(ctx), true, deadline, timeout);
  if (!h) {
    co_return fail(h.error());
  }
  (*h)->t->pause_at_hello(true);
  auto s = co_await drive(*h, deadline, timeout);
  if (!s) {
    co_return fail(s.error());
  }
  client_hello hello;
  hello.server_name = (*h)->t->hello_server_name();
  hello.alpn = (*h)->t->hello_alpn();
  hello.pending = std::move(*h);
  co_return hello;
}

task<result<void>> connect_handshake(gen_tcp::socket sock, context ctx, milliseconds timeout, std::string server_name,
                                     session resume) {
  auto deadline = clock::now() + timeout;
  if (ctx && !ctx.is_server() && server_name.empty()) {
    auto set = ctx.state()->snapshot();
    if (set->verify != verify_mode::none && set->server_name.empty()) {
      co_return fail(refuse(errc::invalid, "no server name to verify the server's certificate against"));
    }
  }
  auto h = co_await start(std::move(sock), std::move(ctx), false, deadline, timeout);
  if (!h) {
    co_return fail(h.error());
  }
  if (auto r = (*h)->t->set_client_params(server_name, resume); !r) {
    co_return fail(give_up(**h, r.error(), last_error()));
  }
  auto s = co_await drive(*h, deadline, timeout);
  if (!s) {
    co_return fail(s.error());
  }
  co_return finish(**h);
}

task<result<void>> handshake_continue(client_hello hello, milliseconds timeout, std::optional<context> ctx) {
  auto deadline = clock::now() + timeout;
  pending_ptr h = std::move(hello.pending);
  if (!h || h->finished || !h->t) {
    co_return fail(refuse(errc::invalid, "no handshake to continue"));
  }
  if (!owned_by_caller(h->sock.port())) {
    co_return fail(refuse(errc::invalid, "only the socket's owner may continue its handshake"));
  }
  if (ctx) {
    if (!*ctx || !ctx->is_server()) {
      co_return fail(refuse(errc::invalid, "a server handshake needs a server context"));
    }
    h->t->choose(ctx->state()->snapshot());
  }
  h->t->pause_at_hello(false);
  auto s = co_await drive(h, deadline, timeout);
  if (!s) {
    co_return fail(s.error());
  }
  co_return finish(*h);
}

result<void> handshake_cancel(const client_hello& hello) {
  const pending_ptr& h = hello.pending;
  if (!h || h->finished || !h->t) {
    return fail(refuse(errc::invalid, "no handshake to cancel"));
  }
  if (!owned_by_caller(h->sock.port())) {
    return fail(refuse(errc::invalid, "only the socket's owner may cancel its handshake"));
  }
  if (!h->sock.port()->is_closed()) {
    h->t->cancel();
  }
  h->finished = true;
  h->slot.end(errc::ecanceled);
  (void)h->sock.close();
  return ok();
}

}  // namespace otpnet::tls
