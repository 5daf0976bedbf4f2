#include "tls/fd_bio.hpp"

#include "internal/syscall.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace otpnet::tls::internal {

namespace {

fd_bio_state* state_of(BIO* b) noexcept { return static_cast<fd_bio_state*>(BIO_get_data(b)); }

int bio_read(BIO* b, char* out, std::size_t len, std::size_t* got) {
  BIO_clear_retry_flags(b);
  *got = 0;
  fd_bio_state* st = state_of(b);
  if (st->prefix_at < st->prefix.size()) {
    std::size_t n = std::min(len, st->prefix.size() - st->prefix_at);
    std::memcpy(out, st->prefix.data() + st->prefix_at, n);
    st->prefix_at += n;
    if (st->prefix_at == st->prefix.size()) {
      std::vector<std::byte>().swap(st->prefix);
      st->prefix_at = 0;
    }
    *got = n;
    return 1;
  }
  auto r = otpnet::internal::sys([&] { return ::recv(st->fd, out, len, 0); });
  if (!r) {
    if (r.error() == errc::eagain) {
      BIO_set_retry_read(b);
    } else {
      st->error = r.error();
    }
    return 0;
  }
  if (*r == 0) {
    st->eof = true;
    return 0;
  }
  *got = static_cast<std::size_t>(*r);
  return 1;
}

int bio_write(BIO* b, const char* in, std::size_t len, std::size_t* put) {
  BIO_clear_retry_flags(b);
  *put = 0;
  fd_bio_state* st = state_of(b);
  auto r = otpnet::internal::sys([&] { return ::send(st->fd, in, len, MSG_NOSIGNAL); });
  if (!r) {
    if (r.error() == errc::eagain) {
      BIO_set_retry_write(b);
    } else {
      st->error = r.error();
    }
    return 0;
  }
  *put = static_cast<std::size_t>(*r);
  return 1;
}

long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
  fd_bio_state* st = state_of(b);
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is held back
    case BIO_C_GET_FD:
      if (ptr != nullptr) {
        *static_cast<int*>(ptr) = st->fd;
      }
      return st->fd;
    case BIO_CTRL_EOF:
      return st->eof ? 1 : 0;
    case BIO_CTRL_PENDING:
      return static_cast<long>(st->prefix.size() - st->prefix_at);
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 0);
  return 1;
}

int bio_destroy(BIO*) { return 1; }

BIO_METHOD* make_method() noexcept {
  BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "otpnet fd");
  if (m == nullptr) {
    return nullptr;
  }
  BIO_meth_set_read_ex(m, bio_read);
  BIO_meth_set_write_ex(m, bio_write);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  BIO_meth_set_destroy(m, bio_destroy);
  return m;
}

}  // namespace

BIO* make_fd_bio(fd_bio_state* st) noexcept {
  // Made once, kept for the life of the OS process.
  static BIO_METHOD* const method = make_method();
  if (method == nullptr) {
    return nullptr;
  }
  BIO* b = BIO_new(method);
  if (b == nullptr) {
    return nullptr;
  }
  BIO_set_data(b, st);
  BIO_set_init(b, 1);
  return b;
}

}  // namespace otpnet::tls::internal
