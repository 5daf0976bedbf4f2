#include <otpnet/listener/acceptor.hpp>
#include <otpnet/runtime/port.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/runtime/timer.hpp>
#include <otpnet/socket/io.hpp>

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>

namespace otpnet::listener {

namespace so = otpnet::socket;

namespace {
constexpr int batch_size = 32;  // accepts per turn before yielding to other messages
// Connections the kernel's accept may queue for the process before it is
// stopped until the process has taken them: the rest wait in the backlog
// (DESIGN invariant 4: no unbounded queue), as with accept calls.
constexpr std::size_t kernel_queue_limit = 64;
}  // namespace

// The kernel's multishot accept on one listen socket (io_uring): runs on
// the loop of the acceptor process's scheduler (the process never moves),
// so its queue is touched by the loop's io phase and by the process, never
// at once. Connections the kernel takes are queued, and the process is
// told with one accept_more until it has looked at the queue.
class acceptor::kernel_accept final : public reactor::io_handler {
 public:
  kernel_accept(reactor::event_loop& loop, int fd, listen_id id, pid owner) noexcept
      : loop_(loop), fd_(fd), id_(id), owner_(owner) {}
  kernel_accept(const kernel_accept&) = delete;
  kernel_accept& operator=(const kernel_accept&) = delete;

  /// Watches the socket (for nothing: the accept is what reports) and,
  /// unless `parked`, starts accepting. False where the loop cannot (then
  /// accept calls).
  bool start(bool parked) noexcept {
    if (!loop_.supports_accept() || !loop_.add(fd_, reactor::interest::none, *this, 0)) {
      return false;
    }
    watched_ = true;
    return parked || arm();
  }

  /// Ends the accept at once (so that closing the listen socket next
  /// refuses connections at once) and the registration (what the kernel
  /// still reports is closed by the reactor); queued connections close.
  /// Before the listen socket closes.
  ~kernel_accept() {
    if (watched_ && otpnet::detail::current_loop() == &loop_) {
      if (armed_) {
        (void)loop_.cancel_accept(fd_);
      }
      (void)loop_.remove(fd_);
    }
    // Only those not taken yet: the others belong to their handlers.
    for (std::size_t i = head_; i < queue_.size(); ++i) {
      (void)::close(queue_[i]);
    }
  }

  bool arm() noexcept {
    auto r = loop_.submit_accept(fd_);
    armed_ = r.has_value();
    arm_error_ = r ? errc::ok : r.error();
    cancelling_ = false;
    return armed_;
  }
  errc arm_error() const noexcept { return arm_error_; }
  /// Parked: the kernel stops taking connections now (those it took
  /// before still come, into the queue).
  void pause() noexcept {
    if (armed_ && !cancelling_ && otpnet::detail::current_loop() == &loop_) {
      cancelling_ = loop_.cancel_accept(fd_).has_value();
    }
  }
  bool armed() const noexcept { return armed_; }
  /// The next queued connection's descriptor, or -1.
  int take() noexcept {
    if (head_ == queue_.size()) {
      queue_.clear();
      head_ = 0;
      return -1;
    }
    return queue_[head_++];
  }
  /// The error the accept ended with, once.
  errc take_error() noexcept { return std::exchange(error_, errc::ok); }
  /// The process looked at the queue: the next connection tells it again.
  void looked() noexcept { told_ = false; }

  void on_io(std::uint64_t, reactor::readiness) noexcept override {}

  void on_accept(std::uint64_t, std::int32_t result, bool more) noexcept override {
    armed_ = more;
    if (!more) {
      cancelling_ = false;
    }
    if (result >= 0) {
      try {
        queue_.push_back(result);
      } catch (const std::bad_alloc&) {
        (void)::close(result);
        error_ = errc::enomem;
        pause();  // backs off; armed again after it
      }
      if (queue_.size() - head_ >= kernel_queue_limit) {
        pause();  // enough waiting: the rest stay in the backlog until these are taken
      }
    } else if (result != -ECANCELED) {
      error_ = from_errno(-result);
    }
    // Told of every connection, error and end (an ended accept is armed
    // again by the process, if it is not parked by then).
    if (!told_) {
      told_ = true;
      // Owed (nothing else wakes the listener for this port): without
      // memory for it the program ends with a report line.
      (void)otpnet::detail::must_send(owner_, accept_more{id_});
    }
  }

 private:
  reactor::event_loop& loop_;
  int fd_;
  listen_id id_;
  pid owner_;
  std::vector<int> queue_;
  std::size_t head_ = 0;
  errc error_ = errc::ok;
  errc arm_error_ = errc::ok;
  bool watched_ = false;
  bool armed_ = false;
  bool cancelling_ = false;
  bool told_ = false;
};

acceptor::acceptor(std::string name) : name_(std::move(name)) {}

acceptor::~acceptor() = default;

void acceptor::suspend() noexcept {
  suspended_ = true;
  pause_kernel();
}

void acceptor::set_max_connections(std::size_t n) noexcept {
  max_ = n == 0 ? unlimited : n;
  pause_kernel();
}

void acceptor::set_limit(std::size_t n) noexcept {
  max_ = n;
  pause_kernel();
}

void acceptor::pause_kernel() noexcept {
  if (!parked()) {
    return;
  }
  for (auto& p : ports_) {
    if (p.kernel) {
      p.kernel->pause();
    }
  }
}

result<std::uint16_t> acceptor::add_port(const so::address& addr, const gen_tcp::options& opts) {
  gen_tcp::options o = opts;
  if (addr.family() == so::domain::inet6 && !o.ipv6_v6only && addr.port() != 0) {
    // An IPv4 socket on this port already: a dual-stack IPv6 socket could not
    // bind beside it, so this one takes IPv6 only (two sockets, one port).
    bool v4_there = std::any_of(ports_.begin(), ports_.end(), [&](const port_state& p) {
      return p.port == addr.port() && p.addr.family() == so::domain::inet;
    });
    if (v4_there) {
      o.ipv6_v6only = true;
    }
  }
  auto ls = gen_tcp::listen(addr, o);
  if (!ls) {
    return fail(ls.error());
  }
  return take_listen(*ls, addr.with_port(ls->port), false);
}

result<std::uint16_t> acceptor::add_socket(const so::socket& s, const gen_tcp::options& opts) {
  // A descriptor of its own: closing it (an end, a drain, remove_port)
  // leaves `s` open, so that a listener restarted by its supervisor with
  // the same options finds the socket again.
  if (!s.is_open()) {
    return fail(errc::closed);
  }
  auto own = so::open(s.native_handle(), {.dup = true});
  if (!own) {
    return fail(own.error());
  }
  auto ls = gen_tcp::listen_on(std::move(*own), opts);
  if (!ls) {
    return fail(ls.error());
  }
  auto here = so::sockname(ls->sock);
  if (!here) {
    return fail(here.error());
  }
  return take_listen(*ls, *here, true);
}

result<std::uint16_t> acceptor::take_listen(const gen_tcp::listen_socket& ls, const so::address& addr, bool shared) {
  // Owned by this process, watched by its scheduler.
  if (auto r = so::co::adopt(ls.sock); !r) {
    return fail(r.error());
  }
  port_state p;
  p.sock = ls.sock;
  p.opts = ls.opts;
  p.carried = ls.carried;
  p.addr = addr;
  p.port = ls.port;
  p.id = next_id_++;
  p.handle = so::make_select_handle();
  reactor::event_loop* loop = otpnet::detail::current_loop();
  if (loop != nullptr && !shared) {
    auto k = std::make_unique<kernel_accept>(*loop, p.sock.native_handle(), p.id, self());
    if (k->start(parked())) {
      p.kernel = std::move(k);
    }
  }
  listen_id id = p.id;
  std::uint16_t port = p.port;
  ports_.push_back(std::move(p));
  // Start accepting: the first call selects (or finds connections waiting,
  // which the select event will then announce).
  send(self(), accept_more{id});
  return port;
}

bool acceptor::remove_port(std::uint16_t port) {
  auto gone = std::remove_if(ports_.begin(), ports_.end(), [port](port_state& p) {
    if (p.port != port) {
      return false;
    }
    p.kernel.reset();  // before the close: the kernel's accept holds the socket
    (void)so::close(p.sock);
    return true;
  });
  bool any = gone != ports_.end();
  ports_.erase(gone, ports_.end());
  return any;
}

bool acceptor::remove_address(const so::address& addr) {
  auto it = std::find_if(ports_.begin(), ports_.end(), [&](const port_state& p) { return p.addr == addr; });
  if (it == ports_.end()) {
    return false;
  }
  it->kernel.reset();
  (void)so::close(it->sock);
  ports_.erase(it);
  return true;
}

std::vector<listen_id> acceptor::listen_ids() const {
  std::vector<listen_id> out;
  out.reserve(ports_.size());
  for (const auto& p : ports_) {
    out.push_back(p.id);
  }
  return out;
}

void acceptor::close_all() noexcept {
  for (auto& p : ports_) {
    p.kernel.reset();
    (void)so::close(p.sock);
  }
  ports_.clear();
}

acceptor::port_state* acceptor::find(listen_id id) noexcept {
  for (auto& p : ports_) {
    if (p.id == id) {
      return &p;
    }
  }
  return nullptr;
}

bool acceptor::owns(const socket_select& ev) const noexcept {
  return std::any_of(ports_.begin(), ports_.end(), [&](const port_state& p) { return p.sock == ev.sock; });
}

std::optional<connection> acceptor::on_select(const socket_select& ev) {
  for (auto& p : ports_) {
    if (p.sock == ev.sock) {
      p.batch = 0;
      return accept_step(p.id);
    }
  }
  return std::nullopt;
}

std::optional<connection> acceptor::on_tick(listen_id id) {
  if (port_state* p = find(id)) {
    p->backing_off = false;
    p->batch = 0;
    return accept_step(id);
  }
  return std::nullopt;
}

std::optional<connection> acceptor::on_more(listen_id id) {
  if (port_state* p = find(id)) {
    p->batch = 0;
    return accept_step(id);
  }
  return std::nullopt;
}

void acceptor::count_failure(errc e) {
  ++failures_;
  ++by_reason_[std::string(err_name(e))];
}

std::optional<connection> acceptor::accept_step(listen_id id) {
  port_state* p = find(id);
  if (p == nullptr || p->backing_off) {
    return std::nullopt;
  }
  if (parked()) {
    if (p->kernel) {
      p->kernel->pause();  // connections wait in the kernel's backlog
    }
    return std::nullopt;
  }
  if (p->kernel) {
    return kernel_step(*p);
  }
  for (;;) {
    if (p->batch >= batch_size) {
      // Bounded work: let the process's other messages (calls) in first.
      send(self(), accept_more{id});
      return std::nullopt;
    }
    ++p->batch;
    so::address peer;
    auto r = so::accept(p->sock, p->handle, peer);
    if (r.is_select()) {
      // The kernel gave a descriptor and found nobody waiting (it takes the
      // descriptor first): whatever ran short is back.
      resumed(*p, " (nobody waiting)");
      return std::nullopt;
    }
    if (r.is_ok()) {
      return accepted(*p, std::move(r.value()), &peer);
    }
    count_failure(r.error());
    if (!accept_failed(*p, r.error())) {
      return std::nullopt;
    }
  }
}

// The kernel's accept: a queued connection, or its error, or nothing (then
// it is armed again if it had ended, and an accept_more comes with the next
// connection).
std::optional<connection> acceptor::kernel_step(port_state& p) {
  kernel_accept& k = *p.kernel;
  for (;;) {
    if (p.batch >= batch_size) {
      send(self(), accept_more{p.id});
      return std::nullopt;
    }
    ++p.batch;
    if (int fd = k.take(); fd >= 0) {
      auto s = so::adopt_accepted(p.sock, fd);
      if (s) {
        return accepted(p, std::move(*s));
      }
      count_failure(s.error());
      if (!accept_failed(p, s.error())) {
        return std::nullopt;
      }
      continue;
    }
    if (errc e = k.take_error(); e != errc::ok) {
      so::count_failed_accept(p.sock);
      count_failure(e);
      if (!accept_failed(p, e)) {
        return std::nullopt;  // backing off: armed again after the tick
      }
      continue;
    }
    k.looked();
    if (!k.armed() && !k.arm()) {
      // The reactor would not take it again: accept calls from now on.
      spdlog::warn("listener {}: {}: the kernel's accept could not be queued again ({}); accepting with calls", name_,
                   p.addr.to_string(), format_error(k.arm_error()));
      p.kernel.reset();
      send(self(), accept_more{p.id});
    }
    return std::nullopt;
  }
}

void acceptor::resumed(port_state& p, const char* how) {
  if (unsigned n = p.delay.resumed(); n != 0) {
    spdlog::info("listener {}: accepting again on {} after {} back-off(s){}", name_, p.addr.to_string(), n, how);
  }
}

std::optional<connection> acceptor::accepted(port_state& p, so::socket s, const so::address* peer) {
  // The next exhaustion waits the shortest time again; it is reported only
  // if it starts a new burst.
  resumed(p, "");
  p.delay.accepted();
  connection c;
  c.raw = std::move(s);
  c.opts = p.opts;
  c.carried = p.carried;
  c.local_port = p.port;
  c.listen_id = p.id;
  if (peer != nullptr) {
    c.peer = *peer;  // from the accept call
  } else if (auto name = so::peername(c.raw)) {
    c.peer = *name;  // the kernel's accept gives no address
  }
  ++active_;
  ++total_;
  pause_kernel();  // at the limit now: the kernel takes no more
  return c;
}

bool acceptor::accept_failed(port_state& p, errc e) {
  const std::string where = p.addr.to_string();
  switch (classify_accept_error(e)) {
    case accept_action::skip:
      return true;
    case accept_action::stop:
      spdlog::error("listener {}: {} no longer listens: {}; the listener ends", name_, where, format_error(e));
      if (failure_.empty()) {
        failure_ = where + ": " + format_error(e);
      }
      return false;
    case accept_action::backoff:
    case accept_action::report_backoff: {
      // Once per burst, not once per failure, nor once per descriptor
      // freed in a burst (backoff's rule).
      auto step = p.delay.failed(backoff::clock::now());
      if (step.new_burst) {
        spdlog::warn("listener {}: accept on {}: {}; backing off (from {} ms, growing to 1 s)", name_, where,
                     format_error(e), step.delay.count());
      }
      p.backing_off = true;
      (void)send_after(step.delay, self(), backoff_tick{p.id});
      return false;
    }
  }
  return false;
}

void acceptor::connection_ended() noexcept {
  if (active_ > 0) {
    --active_;
  }
}

void acceptor::handoff_failed(connection& c, const std::string& why) noexcept { handoff_failed(c.raw, c.peer, why); }

void acceptor::handoff_failed(const so::socket& raw, const so::address& peer, const std::string& why) noexcept {
  (void)so::close(raw);
  connection_ended();
  try {
    spdlog::error("listener {}: handing over the connection from {} failed: {}; it is closed, accepting goes on", name_,
                  peer.to_string(), why);
  } catch (...) {
    // The report must not take the listener down.
  }
}

void acceptor::handoff_declined(connection& c) noexcept {
  (void)so::close(c.raw);
  connection_ended();
  try {
    spdlog::info(
        "listener {}: the handler for the connection from {} declined it (its init returned ignore); it is "
        "closed",
        name_, c.peer.to_string());
  } catch (...) {
    // The report must not take the listener down.
  }
}

listener_info acceptor::info() const {
  listener_info i;
  i.name = name_;
  for (const auto& p : ports_) {
    i.ports.push_back({p.port, p.addr.to_string(), p.backing_off});
  }
  i.active_connections = active_;
  i.total_connections = total_;
  i.accept_failures = failures_;
  i.failures_by_reason = by_reason_;
  i.max_connections = max_ == unlimited ? 0 : max_;
  i.suspended = suspended_;
  i.at_limit = active_ >= max_;
  i.accepted_by_acceptor = {total_};
  i.active_by_acceptor = {active_};
  return i;
}

}  // namespace otpnet::listener
