#include <otpnet/runtime/process.hpp>
#include <otpnet/tls/session.hpp>

#include "gen_tcp/port.hpp"
#include "tls/tls_transport.hpp"

#include <openssl/ssl.h>

namespace otpnet::tls {

session::session(ssl_session_st* s) noexcept : s_(s, SSL_SESSION_free) {}

result<session> get_session(const gen_tcp::socket& sock) {
  gen_tcp::detail::port* p = sock.port();
  if (p == nullptr) {
    return fail(errc::closed);
  }
  if (!p->on_my_thread() || p->owner() != self()) {
    return fail(errc::invalid);
  }
  if (p->is_closed()) {
    return fail(errc::closed);
  }
  auto* t = dynamic_cast<internal::tls_transport*>(p->current_transport());
  if (t == nullptr || SSL_is_server(t->ssl()) == 1) {
    return fail(errc::invalid);
  }
  return t->current_session();
}

}  // namespace otpnet::tls
