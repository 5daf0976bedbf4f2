// File: runtime/process_record.hpp (private)
//
// What a process is inside the runtime. A process belongs to one scheduler
// for its whole life; only that scheduler's thread touches its fields,
// except `inbox` and `remote_pending`, which other threads use to deliver
// messages and signals. Messages sent from the owning thread go straight to
// the local mailbox list; others arrive through the inbox and are moved to
// the list, in order, when the process is serviced.
#pragma once

#include <otpnet/reactor/timer_wheel.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/port.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/socket/poller.hpp>
#include <otpnet/socket/select.hpp>

#include "runtime/lazy_vector.hpp"
#include "runtime/relations.hpp"
#include "runtime/state_names.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::socket::detail {
class socket_state;
}

namespace otpnet::internal {

class scheduler;
struct process;

/// Link for the run queues.
struct run_node {
  std::atomic<run_node*> next{nullptr};
};

/// Envelopes sent by other threads: a lock-free stack (one word, where a
/// queue with its stub node took five) that the owner takes whole and
/// reverses, so that each sender's order is kept (the order is that of the
/// successful pushes, as a queue's would be).
class inbox_stack {
 public:
  /// @threadsafe
  void push(detail::envelope* e) noexcept {
    detail::envelope* top = top_.load(std::memory_order_relaxed);
    do {
      e->next.store(top, std::memory_order_relaxed);
    } while (!top_.compare_exchange_weak(top, e, std::memory_order_seq_cst, std::memory_order_relaxed));
  }

  /// Owner only: everything pushed so far, oldest first, linked by `next`;
  /// nullptr when empty (then without a write: it runs at every service).
  /// The push and this first load are seq_cst: the scheduler clears
  /// remote_pending (seq_cst) and then looks here, a sender pushes and then
  /// sets remote_pending; with weaker orders both could miss the other's
  /// write on a weakly ordered CPU (a message left with no wake-up). On
  /// x86 the push is a locked instruction and the load a plain one anyway.
  detail::envelope* take_all() noexcept {
    if (top_.load(std::memory_order_seq_cst) == nullptr) {
      return nullptr;
    }
    detail::envelope* e = top_.exchange(nullptr, std::memory_order_acquire);
    detail::envelope* oldest_first = nullptr;
    while (e != nullptr) {
      detail::envelope* older = e->next.load(std::memory_order_relaxed);
      e->next.store(oldest_first, std::memory_order_relaxed);
      oldest_first = e;
      e = older;
    }
    return oldest_first;
  }

 private:
  std::atomic<detail::envelope*> top_{nullptr};
};

/// Runtime-internal signals between processes; they travel in envelopes
/// like messages but are handled by the runtime, never seen by receive.
struct sig_exit {
  pid from;
  exit_reason reason;
  bool from_link;  // a linked process ended (vs. exit/2)
};
struct sig_link {
  pid from;
};
struct sig_unlink {
  pid from;
};
struct sig_monitor {
  pid from;
  ref r;
};
struct sig_demonitor {
  ref r;
};
/// A socket handed to the process (controlling_process): it tracks it, so
/// that it closes with the process.
struct sig_adopt_socket {
  std::shared_ptr<socket::detail::socket_state> sock;
};

inline bool is_signal(const detail::envelope* e) noexcept {
  return e->type == detail::tag_of<sig_exit>() || e->type == detail::tag_of<sig_link>() ||
         e->type == detail::tag_of<sig_unlink>() || e->type == detail::tag_of<sig_monitor>() ||
         e->type == detail::tag_of<sig_demonitor>() || e->type == detail::tag_of<sig_adopt_socket>();
}

enum class pstate : std::uint8_t {
  runnable,  ///< in the run queue, or about to be: will be resumed
  running,   ///< its coroutine is executing now
  waiting,   ///< suspended in a receive: woken by a match or a timeout
  exiting,   ///< an exit signal killed it: finalised at the next service
  dead,
};

/// What a plain thread's mailbox waits on (a process has none).
struct external_wait {
  std::mutex mu;
  std::condition_variable cv;
};

/// A receive in progress: tests envelopes against the awaited pattern.
using matcher = detail::receive_matcher;

/// What few processes have, in one block allocated by the first of them
/// (one pointer in the record where three took 24 bytes): the bare
/// sockets it waited on, the ports it owns beyond its first, a state name
/// copied.
struct process_extras {
  std::vector<std::weak_ptr<socket::detail::socket_state>> sockets;
  std::vector<std::weak_ptr<port_resource>> resources;
  std::string state_copy;
  /// The behaviour's name, when the table of names was full (see
  /// behaviour_index).
  const char* behaviour = nullptr;
};

/// A process is also the sink that turns readiness of the sockets it waits
/// on into socket_select messages (a base, not a member holding a
/// reference back: 8 bytes less).
struct process : run_node, socket::select_sink {
  process() noexcept = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  // Its scheduler is not kept here (8 bytes): the process table's slot
  // names it (process_table::owner_of; nullptr for a plain thread's
  // mailbox), and a process's own code runs on it (scheduler::current()).
  pid id;
  std::unique_ptr<detail::body_base> body;  // keeps a lambda's captures alive
  std::coroutine_handle<proc::promise_type> root;
  std::coroutine_handle<> resume_point;  // the innermost suspended frame
  pstate state = pstate::runnable;
  bool in_runq = false;
  bool adopted = false;
  bool trap_exit = false;
  std::uint32_t frame_bytes = 0;  // (32 bits: it fills what was padding)
  std::uint32_t queue_len = 0;    // messages in the local list
  /// A receive timeout not yet on the wheel: the scheduler arms it at the
  /// end of its run phase, unless the receive ends first (see
  /// scheduler::arm_receive_timer). Its place in the scheduler's list, or
  /// no_timer_wait (its length: recv_timeout_ms). (32 bits: with
  /// queue_len, one word.)
  std::uint32_t timer_wait_index = no_timer_wait;
  static constexpr std::uint32_t no_timer_wait = ~std::uint32_t{0};
  std::uint16_t state_index = 0;  // (introspection, see state_name(): here it fills padding)
  process* next_run = nullptr;    // the scheduler's local run queue
  // (No place in a list of its scheduler's processes: the scheduler finds
  // them in the process table when it stops.)

  // -- mailbox ---------------------------------------------------------------
  std::atomic<detail::envelope*> head{nullptr};  // local list, arrival order
  std::atomic<detail::envelope*>* tail_link = &head;
  /// Where the waiting receive stopped scanning: the link it reads next.
  std::atomic<detail::envelope*>* scan_link = &head;
  inbox_stack inbox;
  std::atomic<bool> remote_pending{false};
  // (Receive fields that fill what was padding here.)
  bool timed_out = false;
  bool recv_timer_armed = false;
  /// The behaviour's name (introspection), as its place among the names
  /// given so far (behaviour_names.hpp): one byte in padding where the
  /// pointer took 8 of the record.
  std::uint8_t behaviour_index = 0;
  std::uint32_t recv_timeout_ms = 0;  // a receive timeout's length, see timer_wait_index
  /// System signals to handle, in order, and the messages that came behind
  /// them (rare: allocated by the first).
  lazy_vector<detail::envelope*> signals;

  // -- receive ---------------------------------------------------------------
  matcher waiting_for;
  detail::envelope* matched = nullptr;
  reactor::timer_handle recv_timer{};
  // (The reductions left in the current run are the scheduler's: only the
  // running process has any.)
  std::uint64_t reductions = 0;

  // -- relations ------------------------------------------------------------
  relations rel;  // links, monitors of it, monitors it set

  // -- sockets -----------------------------------------------------------------
  /// Sends a socket_select message to this process. @threadsafe
  void notify(socket::select_event ev) noexcept override;
  /// Records the socket, so that the process's exit withdraws its waits.
  void on_wait(socket::detail::socket_state& s) noexcept override;
  /// The ports it owns: the first here (a connection's handler owns one),
  /// the others in the extras. Held weakly.
  std::weak_ptr<port_resource> first_resource;
  std::unique_ptr<process_extras> extras;
  process_extras& extras_now() {
    if (!extras) {
      extras = std::make_unique<process_extras>();
    }
    return *extras;
  }

  // -- introspection -------------------------------------------------------------
  /// The state's name: one with static storage as its place in the table
  /// of such names (state_names.hpp: two bytes, where a pointer took
  /// eight), any other (or one the table has no room for) copied into the
  /// extras' state_copy; none: empty.
  static constexpr std::uint16_t no_state_name = 0;
  static constexpr std::uint16_t copied_state_name = 0xffff;
  std::string_view state_name() const noexcept {
    if (state_index == no_state_name) {
      return {};
    }
    return state_index == copied_state_name ? std::string_view(extras->state_copy)
                                            : std::string_view(state_name_at(state_index));
  }

  /// Appends to the local list.
  void append(detail::envelope* e) noexcept {
    if (e->type == detail::tag_of<down_msg>()) {
      // Delivered: the monitor is no longer active (demonitor says false).
      // One demonitored after its target had ended is dropped: no down may
      // come after a demonitor.
      ref r = static_cast<detail::envelope_of<down_msg>*>(e)->value.monitor;
      if (const relations::entry* m = rel.find_target(r)) {
        bool demonitored = !m->other;
        rel.erase(m);
        if (demonitored) {
          detail::destroy_envelope(e);
          return;
        }
      }
    }
    e->next.store(nullptr, std::memory_order_relaxed);
    tail_link->store(e, std::memory_order_relaxed);
    tail_link = &e->next;
    ++queue_len;
  }

  /// Scans the local list from the link `from` for the first envelope `m`
  /// accepts, unlinks and returns it. Otherwise returns nullptr and leaves
  /// `scan_link` at the end, where the next arrival will be linked.
  detail::envelope* take_match(const matcher& m, std::atomic<detail::envelope*>* from) noexcept {
    for (auto* link = from;;) {
      detail::envelope* e = link->load(std::memory_order_relaxed);
      if (e == nullptr) {
        scan_link = link;
        return nullptr;
      }
      if (m.test(m.ctx, e)) {
        unlink(link, e);
        return e;
      }
      link = &e->next;
    }
  }

  /// Tracks `s` (once) as a socket this process uses. Compares by
  /// identity without taking strong references: releasing one here could
  /// destroy a socket in the middle of another socket's wait.
  void track(socket::detail::socket_state& s) noexcept { socket::detail::remember(extras_now().sockets, s); }

  /// Adds `r` to the ports it owns, first dropping the ones gone or handed
  /// to another process since (an acceptor hands over every port it makes:
  /// without this its list would hold one per live connection).
  void add_resource(std::weak_ptr<port_resource> r) {
    drop_stale_resources();
    if (first_resource.expired()) {
      first_resource = std::move(r);
    } else {
      extras_now().resources.push_back(std::move(r));
    }
  }

  /// Forgets the ports gone or handed to another process since they were
  /// added (erasing allocates nothing).
  void drop_stale_resources() noexcept {
    auto stale = [me = id](const std::weak_ptr<port_resource>& w) {
      std::shared_ptr<port_resource> x = w.lock();
      return x == nullptr || !x->owned_by(me);
    };
    if (!first_resource.expired() && stale(first_resource)) {
      first_resource.reset();
    }
    if (extras) {
      std::erase_if(extras->resources, stale);
    }
  }

  /// Gives back what the record holds beyond what it uses (a hibernating
  /// server): the entries of sockets and ports gone or handed on, the
  /// spare capacity of its lists, and the extras block when it holds
  /// nothing. Allocation failures leave things as they are.
  void compact() noexcept {
    drop_stale_resources();
    signals.release_if_empty_above(16);  // (messages that waited behind a signal can grow it)
    if (!extras) {
      return;
    }
    process_extras& x = *extras;
    if (state_index != copied_state_name) {
      x.state_copy = std::string();  // a name of before: no longer read
    }
    std::erase_if(x.sockets, [](const auto& w) { return w.expired(); });
    try {
      x.resources.shrink_to_fit();
      x.sockets.shrink_to_fit();
      x.state_copy.shrink_to_fit();
    } catch (...) {
      // (shrink_to_fit copies into a smaller block: without memory, kept.)
    }
    if (x.resources.empty() && x.sockets.empty() && x.state_copy.empty() && x.behaviour == nullptr) {
      extras.reset();
    }
  }

  /// Calls `f(port_resource&)` for each port still alive, and forgets them.
  template <class F>
  void release_resources(F&& f) {
    if (auto x = first_resource.lock()) {
      f(*x);
    }
    first_resource.reset();
    if (extras) {
      for (auto& w : extras->resources) {
        if (auto x = w.lock()) {
          f(*x);
        }
      }
      extras->resources.clear();
    }
  }

  /// Moves what other threads sent into the local list (messages) and the
  /// signal list, keeping their order.
  /// Adds `e` (a signal, or a message behind one) to the signals list;
  /// without memory for the list the program ends with the report line of
  /// a message the runtime must deliver (message.hpp).
  void queue_in_signals(detail::envelope* e) noexcept {
    try {
      signals.push_back(e);
    } catch (...) {
      detail::message_out_of_memory(sizeof(detail::envelope*) * (signals.size() + 1));  // the list's growth
    }
  }

  void drain_inbox() noexcept {
    detail::envelope* e = inbox.take_all();
    while (e != nullptr) {
      detail::envelope* next = e->next.load(std::memory_order_relaxed);  // before append relinks e
      // Behind a signal still to handle, a message waits its turn in the
      // same list (signals and messages of one sender keep their order: an
      // exit signal becomes its exit_msg, for a process that traps exits,
      // only when handled).
      if (is_signal(e) || !signals.empty()) {
        queue_in_signals(e);
      } else {
        append(e);
      }
      e = next;
    }
  }

  /// Removes `e`, which `link` points at.
  void unlink(std::atomic<detail::envelope*>* link, detail::envelope* e) noexcept {
    link->store(e->next.load(std::memory_order_relaxed), std::memory_order_relaxed);
    if (tail_link == &e->next) {
      tail_link = link;
    }
    scan_link = &head;
    --queue_len;
  }
};

/// A plain thread's mailbox: a record with no scheduler (its table slot's
/// owner is nullptr) and what its thread waits on, kept here rather than by
/// a pointer in every process's record.
struct thread_process final : process {
  external_wait wait;
};

/// What the plain thread of `p` (a record with no scheduler) waits on.
inline external_wait& external_of(process* p) noexcept { return static_cast<thread_process*>(p)->wait; }

}  // namespace otpnet::internal
