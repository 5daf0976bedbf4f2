// The out-of-line parts of gen_server: the start protocol (init_ack), the
// stop request, and the loop's reports.
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/runtime/exception_reason.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>

#include <spdlog/spdlog.h>

namespace otpnet::gen_server {

namespace detail {

namespace {

struct ack_or_down {
  ref tag;
  ref monitor;
  bool operator()(rt::envelope* e) const noexcept {
    if (auto* a = rt::payload_if<init_ack>(e)) {
      return a->tag == tag;
    }
    auto* d = rt::payload_if<down_msg>(e);
    return d != nullptr && d->monitor == monitor;
  }
};

struct down_of {
  ref monitor;
  bool operator()(rt::envelope* e) const noexcept {
    auto* d = rt::payload_if<down_msg>(e);
    return d != nullptr && d->monitor == monitor;
  }
};

struct ack_of {
  ref tag;
  bool operator()(rt::envelope* e) const noexcept {
    auto* a = rt::payload_if<init_ack>(e);
    return a != nullptr && a->tag == tag;
  }
};

}  // namespace

void init_failed(const start_ctx& ctx, start_result r) {
  if (ctx.parent) {
    unlink(ctx.parent);
  }
  (void)send(ctx.starter, init_ack{ctx.tag, std::move(r)});
}

void init_done(const start_ctx& ctx) { (void)send(ctx.starter, init_ack{ctx.tag, start_result::ok(self())}); }

bool register_or_fail(const start_ctx& ctx) {
  if (ctx.name.empty()) {
    return true;
  }
  if (register_name(ctx.name, self())) {
    return true;
  }
  init_failed(ctx, start_result::error(exit_reason::other("already_started"), whereis(ctx.name)));
  return false;
}

task<start_result> await_ack(pid child, ref mon, ref tag, bool linked, wait_time timeout) {
  std::optional<message> got = co_await gd::receive_for(ack_or_down{tag, mon}, timeout);
  if (!got) {
    // init is too slow: end it, without its exit reaching the caller.
    if (linked) {
      unlink(child);
    }
    ::otpnet::exit(child, exit_reason::kill());
    (void)co_await gd::receive_for(down_of{mon}, infinity);
    (void)co_await gd::receive_for(ack_of{tag}, std::chrono::milliseconds(0));
    co_return start_result::error(exit_reason::timeout());
  }
  if (auto* d = got->get_if<down_msg>()) {
    co_return start_result::error(d->reason);
  }
  start_result r = std::move(got->get<init_ack>().result);
  if (r.is_ok()) {
    (void)demonitor(mon, true);
  } else {
    // It ends right after the ack: wait, so that its name is free again
    // when the caller learns of the failure.
    (void)co_await gd::receive_for(down_of{mon}, infinity);
  }
  co_return r;
}

void unexpected_info(const char* behaviour, const rt::envelope* e) {
  (void)e;
  spdlog::warn("{} {}: dropped a message of a type it has no handle_info for", behaviour, self().to_string());
}

exit_reason unknown_request(const char* what, const char* mangled_type) {
  return exit_reason::other(std::string(what) + ": " + demangle(mangled_type));
}

}  // namespace detail

task<outcome<>> stop(server_ref server, exit_reason why, wait_time timeout) {
  pid p = server.resolve();
  if (!p) {
    co_return fail(exit_reason::noproc());
  }
  if (p == self()) {
    co_return fail(gen::detail::calling_self());
  }
  ref mon = monitor(p);
  (void)send(p, detail::stop_request{why});
  std::optional<message> got = co_await gen::detail::receive_for(detail::down_of{mon}, timeout);
  if (!got) {
    (void)demonitor(mon, true);
    co_return fail(exit_reason::timeout());
  }
  exit_reason ended = got->get<down_msg>().reason;
  if (ended == why) {
    co_return outcome<>{};
  }
  co_return fail(std::move(ended));
}

}  // namespace otpnet::gen_server
