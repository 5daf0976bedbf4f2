#include <otpnet/tls/context.hpp>

#include "tls/context_state.hpp"

namespace otpnet::tls {

result<context> context::server(server_options o) {
  auto set = internal::load_server(o);
  if (!set) {
    return fail(set.error());
  }
  auto st = std::make_shared<detail::context_state>();
  st->server = true;
  st->server_opts = std::move(o);
  st->install(std::move(*set));
  st->generation.store(1, std::memory_order_release);
  return context(std::move(st));
}

result<context> context::client(client_options o) {
  auto set = internal::load_client(o);
  if (!set) {
    return fail(set.error());
  }
  auto st = std::make_shared<detail::context_state>();
  st->server = false;
  st->client_opts = std::move(o);
  st->install(std::move(*set));
  st->generation.store(1, std::memory_order_release);
  return context(std::move(st));
}

result<void> context::reload() const {
  if (!s_) {
    return fail(errc::invalid);
  }
  // Loading reads files: done outside the lock that handshakes take, so
  // that they never wait for a disk.
  std::lock_guard one_at_a_time(s_->reload_mutex);
  auto set = s_->server ? internal::load_server(s_->server_opts) : internal::load_client(s_->client_opts);
  if (!set) {
    return fail(set.error());
  }
  s_->install(std::move(*set));
  s_->generation.fetch_add(1, std::memory_order_acq_rel);
  return ok();
}

bool context::is_server() const noexcept { return s_ != nullptr && s_->server; }

std::uint64_t context::generation() const noexcept {
  return s_ != nullptr ? s_->generation.load(std::memory_order_acquire) : 0;
}

}  // namespace otpnet::tls
