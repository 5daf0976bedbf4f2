#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>

#include "runtime/behaviour_names.hpp"
#include "runtime/names.hpp"
#include "runtime/process_table.hpp"
#include "runtime/runtime_state.hpp"

#include <atomic>
#include <future>
#include <memory>

namespace otpnet {

namespace {

const char* status_name(internal::pstate s) noexcept {
  switch (s) {
    case internal::pstate::runnable:
      return "runnable";
    case internal::pstate::running:
      return "running";
    case internal::pstate::waiting:
      return "waiting";
    case internal::pstate::exiting:
    case internal::pstate::dead:
      return "exiting";
  }
  return "unknown";
}

process_info_t snapshot(internal::process& p, unsigned scheduler_index) {
  p.drain_inbox();
  process_info_t i;
  i.id = p.id;
  i.status = status_name(p.state);
  i.message_queue_len = p.queue_len;
  for (const detail::envelope* e : p.signals) {
    i.message_queue_len += internal::is_signal(e) ? 0 : 1;  // a message waiting behind a signal
  }
  using kind = internal::relations::kind;
  p.rel.each(kind::link, [&](const internal::relations::entry& l) { i.links.push_back(l.other); });
  p.rel.each(kind::monitoring, [&](const internal::relations::entry& m) {
    if (m.other) {  // a null target: demonitored, its down still to drop
      i.monitors.push_back(m.other);
    }
  });
  p.rel.each(kind::monitored_by, [&](const internal::relations::entry& w) { i.monitored_by.push_back(w.other); });
  i.registered_name = internal::name_of(p.id);
  i.trap_exit = p.trap_exit;
  i.reductions = p.reductions;
  i.memory = sizeof(internal::process) + p.frame_bytes + p.rel.heap_bytes() + p.queue_len * sizeof(detail::envelope);
  if (p.extras) {
    const internal::process_extras& x = *p.extras;
    i.memory += sizeof(internal::process_extras) + x.sockets.capacity() * sizeof(x.sockets[0]) +
                x.resources.capacity() * sizeof(x.resources[0]) +
                (x.state_copy.capacity() > 15 ? x.state_copy.capacity() + 1 : 0);  // beyond the string's own room
  }
  i.scheduler = scheduler_index;
  const char* behaviour = internal::behaviour_name_at(p.behaviour_index);
  if (behaviour == nullptr && p.extras) {
    behaviour = p.extras->behaviour;
  }
  i.behaviour = behaviour != nullptr ? behaviour : "";
  i.state_name = p.state_name();
  return i;
}

/// The answer of process_info_async, tagged with its request.
struct info_answer {
  ref tag;
  std::optional<process_info_t> info;
};

}  // namespace

std::optional<process_info_t> process_info(pid id) {
  auto& table = internal::process_table::instance();
  const void* owner = table.owner_of(id);
  if (owner == nullptr) {
    return std::nullopt;  // dead, or a plain thread's mailbox (its thread owns it)
  }
  auto* s = static_cast<internal::scheduler*>(const_cast<void*>(owner));
  if (s->on_this_thread()) {
    internal::process* p = table.peek_owned(id, s);
    return p != nullptr ? std::optional(snapshot(*p, s->index())) : std::nullopt;
  }
  auto done = std::make_shared<std::promise<std::optional<process_info_t>>>();
  auto answer = done->get_future();
  s->post([s, id, done] {
    internal::process* p = internal::process_table::instance().peek_owned(id, s);
    done->set_value(p != nullptr ? std::optional(snapshot(*p, s->index())) : std::nullopt);
  });
  if (answer.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    return std::nullopt;
  }
  return answer.get();
}

task<std::optional<process_info_t>> process_info_async(pid id, std::chrono::milliseconds timeout) {
  auto& table = internal::process_table::instance();
  const void* owner = table.owner_of(id);
  if (owner == nullptr) {
    co_return std::nullopt;  // dead, or a plain thread's mailbox
  }
  auto* s = static_cast<internal::scheduler*>(const_cast<void*>(owner));
  if (s->on_this_thread()) {
    internal::process* p = table.peek_owned(id, s);
    co_return p != nullptr ? std::optional(snapshot(*p, s->index())) : std::nullopt;
  }
  // 0: asked; 1: answered (the message is on its way); 2: given up (no
  // answer will be sent). Whoever moves it from 0 decides.
  enum : int { asked, answered, given_up };
  auto state = std::make_shared<std::atomic<int>>(asked);
  const pid me = self();
  const ref tag = make_ref();
  s->post([s, id, me, tag, state] {
    internal::process* p = internal::process_table::instance().peek_owned(id, s);
    std::optional<process_info_t> snap = p != nullptr ? std::optional(snapshot(*p, s->index())) : std::nullopt;
    int expected = asked;
    if (state->compare_exchange_strong(expected, answered)) {
      (void)send(me, info_answer{tag, std::move(snap)});
    }
  });
  auto mine = [tag](const info_answer& a) { return a.tag == tag; };
  auto got = co_await receive<info_answer>(mine, after(timeout));
  if (!got) {
    int expected = asked;
    if (state->compare_exchange_strong(expected, given_up)) {
      co_return std::nullopt;
    }
    got = co_await receive<info_answer>(mine);  // answered just now: it comes
  }
  co_return std::move(got->info);
}

}  // namespace otpnet
