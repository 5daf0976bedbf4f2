// File: socket/socket_state.hpp (private to the socket layer)
//
// What a `socket` refers to: the descriptor, its identity (domain, type,
// protocol), the registry hook, and, allocated by the first call of this
// layer that needs them, the counters of info(), two waiter queues (input:
// accept/recv*; output: connect/send*) and the poller attachment. A socket
// that a gen_tcp port drives (its own reactor registration, its own
// counters) never makes such a call and saves them: it lives as long as its
// connection. The fast path of a call touches only `uses_` and the
// counters; the waiter lock is taken only when a call would block or a
// notified waiter is served.
#pragma once

#include <otpnet/base/relaxed_counter.hpp>
#include <otpnet/socket/poller.hpp>
#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace otpnet::socket::detail {

/// info() counters. Relaxed atomics updated with load+store: exact for a
/// socket used by one thread at a time (the common case), approximate, but
/// never torn, under concurrent callers.
struct socket_counters {
  using counter = relaxed_counter;
  counter read_byte, read_pkg, read_tries, read_fails, read_waits;
  counter write_byte, write_pkg, write_tries, write_fails, write_waits;
  counter acc_success, acc_tries, acc_fails, acc_waits;
};

/// One caller waiting for readiness.
struct waiter {
  select_sink* sink;
  select_tag tag;
  select_handle handle;
};

enum class direction : std::uint8_t { in = 0, out = 1 };

/// The waiters of one direction. `current` is the waiter last notified that
/// has not yet repeated its call: while it is set, readiness is left to it,
/// and when it succeeds it hands the turn to the next (edge-triggered
/// readiness is not reported twice).
struct waiter_queue {
  std::vector<waiter> queue;  // FIFO; short, and empty costs nothing (a deque allocates)
  std::atomic<select_sink*> current{nullptr};
  /// Bumped by every readiness report; a caller that saw would-block
  /// compares it under the lock to catch a report that raced with it.
  std::atomic<std::uint32_t> ready_seq{0};
  /// Mirrors !queue.empty() for the lock-free fast path.
  std::atomic<bool> contended{false};
};

/// What a socket used through this layer's calls needs: the counters, the
/// waiters (their lock and the two queues) and the poller attachment.
/// Allocated by the first call that counts, waits or picks a poller (see
/// socket_state::io).
struct socket_io_part {
  socket_counters counters;
  std::mutex mu;
  waiter_queue queues[2];
  std::mutex poll_mu;                    // serialises attach and detach
  std::atomic<bool> attached{false};     // written under poll_mu
  std::atomic<poller*> chosen{nullptr};  // the poller used, or preferred while not attached
  std::uint64_t poller_cookie = 0;
};

class socket_state : public std::enable_shared_from_this<socket_state> {
  // First, so that they fill the word after the base: the identity in 4
  // bytes (address families and socket types fit 8 bits, protocols 16:
  // IPPROTO_MPTCP is 262) and the use count. With the fields below, 72
  // bytes: a 96-byte malloc chunk with make_shared's counts, where 80
  // bytes took 112.
  std::uint8_t dom_;
  std::uint8_t typ_;
  std::uint16_t proto_;
  std::atomic<std::uint32_t> uses_{0};

 public:
  socket_state(int fd, domain d, type t, protocol p) noexcept;
  ~socket_state();
  socket_state(const socket_state&) = delete;
  socket_state& operator=(const socket_state&) = delete;

  // -- descriptor use --------------------------------------------------------

  /// Marks a call in progress; false once closed. Pair with `leave`.
  bool enter() noexcept;
  void leave() noexcept;
  int fd() const noexcept { return fd_.load(std::memory_order_relaxed); }
  bool closed() const noexcept { return (uses_.load(std::memory_order_acquire) & closed_bit) != 0; }
  /// Closes: wakes all waiters with `closed`, detaches from the poller,
  /// releases the descriptor when the last call in progress leaves.
  result<void> close() noexcept;

  // -- waiting ---------------------------------------------------------------

  /// The waiters of direction `d`, allocated on first use (std::bad_alloc
  /// if that fails).
  waiter_queue& queue(direction d) { return io().queues[static_cast<int>(d)]; }
  /// The info() counters, allocated on first use (std::bad_alloc if that
  /// fails).
  socket_counters& counters() { return io().counters; }
  /// The counters, or nullptr if nothing was ever counted.
  const socket_counters* counters_if() const noexcept {
    socket_io_part* p = io_if();
    return p != nullptr ? &p->counters : nullptr;
  }
  /// How many callers wait to read and to write (registry info).
  std::pair<std::size_t, std::size_t> waiter_counts() noexcept;
  /// Makes sure a poller watches the descriptor (lazily, on first wait).
  result<void> ensure_polled() noexcept;
  /// Uses `p` instead of the default poller; only before the first wait.
  /// Errors: `invalid` (already attached), `enomem`.
  result<void> set_poller(poller& p) noexcept;
  /// `p` is going away: stop using it (see detail::forget_poller).
  void forget_poller(poller& p) noexcept;
  /// Unless attached, stop preferring `p` (see detail::drop_preference).
  void drop_preference(poller& p) noexcept;
  void on_ready(readiness r) noexcept;

  enum class wait_decision : std::uint8_t { parked, retry, closed, no_memory };
  /// Before a call: true when the caller must wait behind others (it is
  /// then queued) instead of trying now.
  bool must_queue(waiter_queue& q, const waiter& w) noexcept;
  /// After a would-block: queues `w` unless readiness was reported since
  /// `seen_seq` was read (then: retry), the socket closed, or there is no
  /// memory for its place (no_memory: nothing changed).
  wait_decision park(waiter_queue& q, const waiter& w, std::uint32_t seen_seq) noexcept;
  /// After a call that did not block: if `sink` held the turn, hand it on.
  void finished(waiter_queue& q, select_sink& sink) noexcept;
  /// What withdraw found.
  enum class withdrawn : std::uint8_t { yes, not_queued, closed };
  /// Cancels `sink`'s pending wait with handle `h` (another caller's wait
  /// with the same handle is not touched). Under the waiter lock, so that a
  /// close either has not served it yet (then it is withdrawn: no abort
  /// follows) or has (then `closed`, and its abort is delivered already).
  /// `not_queued`: its event was delivered, and a turn it held is handed on.
  withdrawn withdraw(waiter_queue& q, select_sink& sink, select_handle h) noexcept;
  /// A blocking call of the caller whose nowait calls report to `from` is
  /// the same caller (OTP: the same pid): it takes over `from`'s turn, or
  /// its place in the queue (whose select is then never delivered, as OTP
  /// replaces a caller's select with its next call's).
  /// True if it did: `to.sink` is then in the queue or holds the turn
  /// before its caller tried, and must be withdrawn (withdraw_sink) before
  /// it goes, whatever way its call ends.
  bool take_over(direction d, select_sink& from, const waiter& to) noexcept;
  /// Removes every wait of `sink` (its owner is gone), handing on a turn it
  /// held.
  void withdraw_sink(select_sink& sink) noexcept;

  // -- identity and bookkeeping ----------------------------------------------

  domain dom() const noexcept { return static_cast<domain>(dom_); }
  type typ() const noexcept { return static_cast<type>(typ_); }
  protocol proto() const noexcept { return static_cast<protocol>(proto_); }
  std::atomic<std::uint64_t> owner{0};
  /// Intrusive links of the registry's list (guarded by the registry lock).
  socket_state* reg_prev = nullptr;
  socket_state* reg_next = nullptr;
  // (The flags last, so that the private ones below follow them without
  // padding: a socket lives as long as its connection.)
  std::atomic<bool> bound{false};
  std::atomic<bool> listening{false};
  std::atomic<bool> connected{false};
  std::atomic<bool> connecting{false};
  std::atomic<bool> registered{false};
  /// Made by open(fd) from a descriptor of the caller's: its open file may
  /// have other descriptors. Set before the socket is shared, read only
  /// after.
  bool adopted = false;

 private:
  void release_fd() noexcept;
  socket_io_part& io();
  /// The io part, or nullptr if none was needed yet. Read seq_cst:
  /// on_ready's check that there are no waiters pairs with the first
  /// waiter's publication of them, which comes before that waiter reads
  /// ready_seq and tries its call; and close()'s check that nothing is
  /// attached pairs with ensure_polled's publication (see there).
  socket_io_part* io_if() const noexcept { return io_.load(std::memory_order_seq_cst); }
  void detach_poller() noexcept;
  /// Notifies the head waiter of `q` with `reason`, making it current.
  static void serve_head(socket_state& self, waiter_queue& q, errc reason) noexcept;

  static constexpr std::uint32_t closed_bit = 1u << 31;
  std::atomic<int> fd_;
  std::atomic<socket_io_part*> io_{nullptr};

  friend void deliver_readiness(socket_state&, readiness) noexcept;
  friend std::uint64_t& poller_cookie(socket_state&) noexcept;
};

/// RAII for enter/leave.
class use_guard {
 public:
  explicit use_guard(socket_state* s) noexcept : s_(s != nullptr && s->enter() ? s : nullptr) {}
  ~use_guard() {
    if (s_ != nullptr) {
      s_->leave();
    }
  }
  use_guard(const use_guard&) = delete;
  use_guard& operator=(const use_guard&) = delete;
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  socket_state* s_;
};

/// Creates the state for a new descriptor and lists it in the registry
/// according to `mode`. Takes ownership of `fd`.
std::shared_ptr<socket_state> make_state(int fd, domain d, type t, protocol p, open_options::registry_mode mode,
                                         std::uint64_t owner);

}  // namespace otpnet::socket::detail
