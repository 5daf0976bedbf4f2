#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>

#include "gen_tcp/port.hpp"

namespace otpnet::gen_tcp {

namespace {

std::uint64_t next_ticket() noexcept { return make_ref().value(); }

/// Whether `e` is one of the socket messages (of flavour Tag) for `raw`.
template <class Tag>
bool about(otpnet::detail::envelope* e, const detail::port* raw) noexcept {
  if (auto* t = otpnet::detail::payload_if<basic_data<Tag>>(e)) {
    return t->sock.port() == raw;
  }
  if (auto* c = otpnet::detail::payload_if<basic_closed<Tag>>(e)) {
    return c->sock.port() == raw;
  }
  if (auto* x = otpnet::detail::payload_if<basic_error<Tag>>(e)) {
    return x->sock.port() == raw;
  }
  if (auto* q = otpnet::detail::payload_if<basic_passive<Tag>>(e)) {
    return q->sock.port() == raw;
  }
  return false;
}

/// Owner-only operations run on the owner's scheduler, in the owner.
bool is_owner_call(const std::shared_ptr<detail::port>& p) noexcept {
  return p->on_my_thread() && p->owner() == self();
}

}  // namespace

result<queued> socket::send(const buffer& data) const { return send(buffer(data)); }

result<queued> socket::send(buffer&& data) const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (p_->on_my_thread()) {
    return p_->send(std::move(data), false);
  }
  if (p_->is_closed()) {
    return fail(errc::closed);
  }
  p_->run_on_port_thread([data = std::move(data)](detail::port& p) mutable { (void)p.send(std::move(data), false); });
  return queued{};
}

result<queued> socket::send(std::span<const std::byte> data) const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (p_->on_my_thread()) {
    return p_->send_span(data);
  }
  return send(buffer::copy_of(data));
}

// The coroutines behind drained, recv and controlling_process take the
// port by value: a task is lazy, and the socket it came from may be gone
// (reassigned, or moved by a container) before it is awaited.
namespace {

task<result<void>> drained_on(std::shared_ptr<detail::port> p) {
  if (!p || !is_owner_call(p)) {
    co_return fail(p ? errc::invalid : errc::closed);
  }
  std::uint64_t ticket = next_ticket();
  auto r = p->drained(ticket);
  if (!r) {
    co_return fail(r.error());
  }
  if (*r) {
    co_return ok();
  }
  detail::drained_note note =
      co_await receive<detail::drained_note>([ticket](const detail::drained_note& n) { return n.ticket == ticket; });
  if (note.reason != errc::ok) {
    co_return fail(note.reason);
  }
  co_return ok();
}

task<result<buffer>> recv_on(std::shared_ptr<detail::port> p, std::size_t length,
                             std::optional<std::chrono::milliseconds> timeout) {
  if (!p) {
    co_return fail(errc::closed);
  }
  if (!is_owner_call(p)) {
    co_return fail(errc::invalid);
  }
  std::uint64_t ticket = next_ticket();
  auto r = p->recv(length, ticket, timeout && timeout->count() <= 0);
  if (r.error() != errc::eagain && r.error() != errc::ealready) {
    co_return r;
  }
  auto mine = [ticket](const detail::recv_reply& m) { return m.ticket == ticket; };
  std::optional<detail::recv_reply> reply;
  if (timeout) {
    reply = co_await receive<detail::recv_reply>(mine, after(*timeout));
  } else {
    reply = co_await receive<detail::recv_reply>(mine);
  }
  if (!reply) {
    // Nothing was consumed: the port forgets the request (this thread, so
    // no answer can be under way).
    p->cancel_recv(ticket);
    co_return fail(errc::timeout);
  }
  co_return std::move(reply->data);
}

}  // namespace

task<result<void>> socket::drained() const { return drained_on(p_); }

task<result<buffer>> socket::recv(std::size_t length, std::optional<std::chrono::milliseconds> timeout) const {
  return recv_on(p_, length, timeout);
}

result<void> socket::setopts(const options& o) const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (!is_owner_call(p_)) {
    return fail(errc::invalid);
  }
  return p_->setopts(o);
}

result<void> socket::set_active(active_mode a) const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (!is_owner_call(p_)) {
    return fail(errc::invalid);
  }
  return p_->set_active(a);
}

result<effective_options> socket::getopts() const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (!p_->on_my_thread()) {
    return fail(errc::invalid);
  }
  if (p_->is_closed()) {
    return fail(errc::closed);
  }
  return p_->opts();
}

namespace {

task<result<void>> controlling_process_on(std::shared_ptr<detail::port> p, pid new_owner) {
  if (!p) {
    co_return fail(errc::closed);
  }
  if (!is_owner_call(p)) {
    co_return fail(errc::invalid);
  }
  // (A lingering close too, before the checks of the new owner: whoever
  // it names, a closed socket answers closed, as inet's does.)
  if (p->closed_for_owner()) {
    co_return fail(errc::closed);
  }
  if (!is_alive(new_owner)) {
    co_return fail(errc::noproc);
  }
  if (new_owner == self()) {
    co_return ok();
  }
  // The new owner owns the socket before it sees any of its messages:
  // ownership moves first, then the messages for this socket already in
  // the caller's mailbox follow, in their order (inet's controlling_process
  // does the same), and only then does the port deliver again.
  auto moved = p->hand_over(new_owner);
  if (!moved) {
    co_return fail(moved.error());
  }
  auto for_me = [raw = p.get()](const otpnet::detail::envelope* e) {
    auto* env = const_cast<otpnet::detail::envelope*>(e);
    return about<tcp_tag>(env, raw) || about<ssl_tag>(env, raw);
  };
  for (;;) {
    std::optional<message> m = co_await otpnet::detail::receive_awaiter<message, decltype(for_me), true>(for_me, 0);
    if (!m) {
      break;
    }
    (void)otpnet::detail::send_envelope(new_owner, m->release());
  }
  p->finish_hand_over(*moved);
  co_return ok();
}

}  // namespace

task<result<void>> socket::controlling_process(pid new_owner) const { return controlling_process_on(p_, new_owner); }

result<void> socket::close() const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (p_->on_my_thread()) {
    return p_->close();
  }
  if (p_->is_closed()) {
    return fail(errc::closed);
  }
  p_->run_on_port_thread([](detail::port& p) { (void)p.close(); });
  return ok();
}

result<void> socket::shutdown(otpnet::socket::shutdown_how how) const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (!p_->on_my_thread()) {
    return fail(errc::invalid);
  }
  return p_->shutdown(how);
}

result<otpnet::socket::address> socket::peername() const {
  return p_ ? otpnet::socket::peername(p_->raw()) : fail(errc::closed);
}
result<otpnet::socket::address> socket::sockname() const {
  return p_ ? otpnet::socket::sockname(p_->raw()) : fail(errc::closed);
}

result<stats> socket::getstat() const {
  if (!p_) {
    return fail(errc::closed);
  }
  if (!p_->on_my_thread()) {
    return fail(errc::invalid);
  }
  return p_->getstat();
}

pid socket::owner() const noexcept { return p_ ? p_->owner() : pid{}; }
otpnet::socket::socket socket::raw() const { return p_ ? p_->raw() : otpnet::socket::socket{}; }
bool socket::is_tls() const noexcept { return p_ && p_->is_tls(); }

}  // namespace otpnet::gen_tcp
