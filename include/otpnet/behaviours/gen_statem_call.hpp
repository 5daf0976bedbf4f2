// File: otpnet/behaviours/gen_statem_call.hpp
//
// The client side of a gen_statem: statem::call, statem::cast and
// statem::stop. They are the behaviours' shared request protocol (call.hpp,
// OTP's gen module): a gen_statem is called exactly as a gen_server is, a
// dead or unknown server gives noproc, and a reply that comes after the
// caller gave up never reaches its mailbox. From a process: co_await; from
// a plain thread: sync_wait(statem::call<int>(fsm, get{}, 1s)).
#pragma once

#include <otpnet/behaviours/call.hpp>
#include <otpnet/behaviours/from.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/server_ref.hpp>
#include <otpnet/behaviours/wait_time.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/proc.hpp>

namespace otpnet::statem {

/// gen::call<Reply>(server, request, timeout): the call event's reply, or
/// noproc, timeout, the server's exit reason, "bad_reply_type", "calling_self".
using gen::call;
/// gen::cast(server, msg): a cast event; false if there is no such process.
using gen::cast;
/// gen::reply(from, v): replies at once, from any process (OTP's
/// gen_statem:reply/2); inside a callback the reply action does the same.
using gen::reply;

/// Stops `server` in order (OTP's gen_statem:stop/3): it handles the
/// request before any later message, runs terminate(why) and ends with
/// `why`. Waits up to `timeout`. Errors: noproc, timeout (it goes on), or
/// the reason it ended with if not `why` (its terminate failed).
inline task<outcome<>> stop(server_ref server, exit_reason why = exit_reason::normal(), wait_time timeout = infinity) {
  return gen_server::stop(std::move(server), std::move(why), timeout);
}

}  // namespace otpnet::statem
