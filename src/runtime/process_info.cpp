#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>

#include "runtime/behaviour_names.hpp"
#include "runtime/names.hpp"
#include "runtime/process_table.hpp"
#include "runtime/runtime_state.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <iterator>
#include <memory>
#include <utility>

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

/// One scheduler's snapshots, for processes_info_async.
struct batch_answer {
  ref tag;
  std::size_t index = 0;
  std::vector<process_info_t> infos;
};

// The answer handshake of the async calls: the caller asks; the snapshot
// task claims "answered" and sends, or the caller claims "given up" at its
// timeout and no answer is sent. Whoever moves it from "asked" decides.
enum claim : int { asked, answered, given_up };

/// Sends `e` to `to` if the answer is still to be made (claims it); frees
/// it otherwise. `e` null (no memory to make it): nothing, the caller's
/// timeout covers it. The message is made before the claim, so that a
/// claimed answer is always sent.
void send_if_claimed(std::atomic<int>& state, pid to, detail::envelope* e) noexcept {
  if (e == nullptr) {
    return;
  }
  int expected = asked;
  if (state.compare_exchange_strong(expected, answered)) {
    (void)detail::send_envelope(to, e);
  } else {
    detail::destroy_envelope(e);
  }
}

/// The caller's side at its timeout: true if no answer will come.
bool give_up(std::atomic<int>& state) noexcept {
  int expected = asked;
  return state.compare_exchange_strong(expected, given_up);
}

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
  auto state = std::make_shared<std::atomic<int>>(asked);
  const pid me = self();
  const ref tag = make_ref();
  s->post([s, id, me, tag, state] {
    // (A posted task must not throw: without memory the answer is empty,
    // and the message is made before the answer is claimed, so that a
    // claimed answer is always sent.)
    detail::envelope* e = nullptr;
    try {
      internal::process* p = internal::process_table::instance().peek_owned(id, s);
      std::optional<process_info_t> snap = p != nullptr ? std::optional(snapshot(*p, s->index())) : std::nullopt;
      e = detail::make_envelope<info_answer>(info_answer{tag, std::move(snap)});
    } catch (...) {
      e = nullptr;  // (a posted task must not throw)
    }
    send_if_claimed(*state, me, e);
  });
  auto mine = [tag](const info_answer& a) { return a.tag == tag; };
  auto got = co_await receive<info_answer>(mine, after(timeout));
  if (!got) {
    if (give_up(*state)) {
      co_return std::nullopt;
    }
    got = co_await receive<info_answer>(mine, after(std::chrono::seconds(10)));  // answered just now: it comes
    if (!got) {
      co_return std::nullopt;
    }
  }
  co_return std::move(got->info);
}

namespace {

/// Up to `max` snapshots of `s`'s processes, in slot order (on `s`'s
/// thread).
std::vector<process_info_t> snapshots_of(internal::scheduler& s, std::size_t max) {
  std::vector<process_info_t> out;
  internal::process_table::instance().each_owned(&s, [&](internal::process* p) {
    if (out.size() < max) {
      out.push_back(snapshot(*p, s.index()));
    }
  });
  return out;
}

/// On `s`'s thread: its snapshots, sent to `me` if `state` is still
/// "asked" (send_if_claimed); nothing if the caller gave up. Never throws:
/// without memory nothing is sent and the caller's timeout covers it.
void answer_batch(internal::scheduler& s, std::size_t i, pid me, ref tag, std::atomic<int>& state,
                  std::size_t max) noexcept {
  detail::envelope* e = nullptr;
  try {
    batch_answer a;
    a.tag = tag;
    a.index = i;
    a.infos = snapshots_of(s, max);
    e = detail::make_envelope<batch_answer>(std::move(a));
  } catch (...) {
    e = nullptr;
  }
  send_if_claimed(state, me, e);
}

}  // namespace

task<process_list> processes_info_async(std::size_t max, std::chrono::milliseconds timeout) {
  process_list out;
  internal::runtime_state* st = internal::current_state();
  if (st == nullptr) {
    co_return out;
  }
  const std::size_t n = st->schedulers.size();
  auto states = std::make_shared<std::vector<std::atomic<int>>>(n);
  const pid me = self();
  const ref tag = make_ref();
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < n; ++i) {
    internal::scheduler* s = st->schedulers[i].get();
    if (s->on_this_thread()) {
      auto mine = snapshots_of(*s, max);
      out.processes.insert(out.processes.end(), std::make_move_iterator(mine.begin()),
                           std::make_move_iterator(mine.end()));
      (*states)[i] = answered;
      continue;
    }
    ++waiting;
    s->post([s, i, me, tag, states, max] { answer_batch(*s, i, me, tag, (*states)[i], max); });
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto ours = [tag](const batch_answer& a) { return a.tag == tag; };
  auto take = [&](batch_answer& a) {
    out.processes.insert(out.processes.end(), std::make_move_iterator(a.infos.begin()),
                         std::make_move_iterator(a.infos.end()));
    --waiting;
  };
  while (waiting != 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto got = co_await receive<batch_answer>(ours, after(std::max(left, std::chrono::milliseconds(0))));
    if (!got) {
      break;
    }
    take(*got);
  }
  // Those that did not answer: given up, or answered just now (the message
  // comes, and is taken so that none is left behind).
  for (std::size_t i = 0; i < n && waiting != 0; ++i) {
    if (give_up((*states)[i])) {
      ++out.unanswered;
      --waiting;
    }
  }
  while (waiting != 0) {
    auto got = co_await receive<batch_answer>(ours, after(std::chrono::seconds(10)));
    if (!got) {
      break;
    }
    take(*got);
  }
  std::sort(out.processes.begin(), out.processes.end(), [](const process_info_t& a, const process_info_t& b) {
    return std::pair(a.id.slot(), a.id.generation()) < std::pair(b.id.slot(), b.id.generation());
  });
  co_return out;
}

}  // namespace otpnet
