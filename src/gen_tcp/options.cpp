#include <otpnet/gen_tcp/options.hpp>

namespace otpnet::gen_tcp {

bool effective_options::apply(const options& o) noexcept {
  effective_options next = *this;
  if (o.active) {
    if (o.active->k == active_mode::kind::count && (o.active->n < -32767 || o.active->n > 32767)) {
      return false;
    }
    next.active = *o.active;
  }
  auto set = [](auto& field, const auto& opt) {
    if (opt) {
      field = *opt;
    }
  };
  set(next.packet, o.packet);
  set(next.packet_size, o.packet_size);
  set(next.line_delimiter, o.line_delimiter);
  set(next.line_length, o.line_length);
  set(next.high_watermark, o.high_watermark);
  set(next.low_watermark, o.low_watermark);
  set(next.send_timeout, o.send_timeout);
  set(next.send_timeout_close, o.send_timeout_close);
  set(next.exit_on_close, o.exit_on_close);
  set(next.delay_send, o.delay_send);
  set(next.nodelay, o.nodelay);
  set(next.keepalive, o.keepalive);
  set(next.recbuf, o.recbuf);
  set(next.sndbuf, o.sndbuf);
  set(next.backlog, o.backlog);
  set(next.reuseaddr, o.reuseaddr);
  set(next.reuseport, o.reuseport);
  if (o.ipv6_v6only) {
    next.ipv6_v6only = o.ipv6_v6only;
  }
  if (o.high_watermark && !o.low_watermark && next.low_watermark > next.high_watermark) {
    next.low_watermark = next.high_watermark / 2;
  }
  if (next.low_watermark > next.high_watermark || next.send_timeout.count() < 0 || next.recbuf < 0 || next.sndbuf < 0) {
    return false;
  }
  switch (next.packet) {  // (a value cast from a number may name none)
    case packet_type::raw:
    case packet_type::u1:
    case packet_type::u2:
    case packet_type::u4:
    case packet_type::line:
      break;
    default:
      return false;
  }
  *this = next;
  return true;
}

}  // namespace otpnet::gen_tcp
