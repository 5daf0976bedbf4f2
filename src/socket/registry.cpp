#include <otpnet/socket/registry.hpp>

#include "socket/socket_state.hpp"

#include <atomic>
#include <mutex>
#include <tuple>

namespace otpnet::socket {

namespace {

struct registry_list {
  std::mutex mu;
  detail::socket_state* head = nullptr;
  std::size_t count = 0;
};

registry_list& reg() noexcept {
  static registry_list r;
  return r;
}

std::atomic<bool> default_on{true};

template <class Pred>
std::vector<socket> collect(Pred&& keep) {
  std::vector<std::shared_ptr<detail::socket_state>> live;
  {
    auto& r = reg();
    std::lock_guard lk(r.mu);
    live.reserve(r.count);
    for (auto* s = r.head; s != nullptr; s = s->reg_next) {
      // A state whose last reference is going stays listed until its
      // destructor unlinks it (under this lock); weak_from_this tells.
      if (auto sp = s->weak_from_this().lock()) {
        live.push_back(std::move(sp));
      }
    }
  }
  // Filtered outside the lock: dropping what may now be the last reference
  // runs a destructor that takes the registry lock.
  std::vector<socket> out;
  out.reserve(live.size());
  for (auto& sp : live) {
    if (keep(*sp)) {
      out.emplace_back(std::move(sp));
    }
  }
  return out;
}

}  // namespace

namespace detail {

void registry_add(socket_state& s) noexcept {
  auto& r = reg();
  std::lock_guard lk(r.mu);
  s.reg_prev = nullptr;
  s.reg_next = r.head;
  if (r.head != nullptr) {
    r.head->reg_prev = &s;
  }
  r.head = &s;
  ++r.count;
  s.registered.store(true, std::memory_order_release);
}

void registry_remove(socket_state& s) noexcept {
  if (!s.registered.load(std::memory_order_acquire)) {
    return;
  }
  auto& r = reg();
  std::lock_guard lk(r.mu);
  if (!s.registered.exchange(false)) {
    return;
  }
  (s.reg_prev != nullptr ? s.reg_prev->reg_next : r.head) = s.reg_next;
  if (s.reg_next != nullptr) {
    s.reg_next->reg_prev = s.reg_prev;
  }
  s.reg_prev = s.reg_next = nullptr;
  --r.count;
}

bool registry_default() noexcept { return default_on.load(std::memory_order_relaxed); }

}  // namespace detail

result<socket_info> info(const socket& s) {
  auto* st = s.state();
  if (st == nullptr) {
    return fail(errc::closed);
  }
  socket_info i;
  i.dom = st->dom();
  i.typ = st->typ();
  i.proto = st->proto();
  i.fd = st->fd();
  i.owner = st->owner.load(std::memory_order_relaxed);
  i.use_registry = st->registered.load(std::memory_order_relaxed);
  i.closed = st->closed();
  if (!i.closed) {
    i.bound = st->bound.load(std::memory_order_relaxed);
    i.listening = st->listening.load(std::memory_order_relaxed);
    i.connecting = st->connecting.load(std::memory_order_relaxed);
    i.connected = st->connected.load(std::memory_order_relaxed);
  }
  std::tie(i.read_waiters, i.write_waiters) = st->waiter_counts();
  if (const auto* c = st->counters_if()) {  // none: nothing counted yet
    i.counters = {c->read_byte.get(),   c->read_pkg.get(),    c->read_tries.get(),  c->read_fails.get(),
                  c->read_waits.get(),  c->write_byte.get(),  c->write_pkg.get(),   c->write_tries.get(),
                  c->write_fails.get(), c->write_waits.get(), c->acc_success.get(), c->acc_tries.get(),
                  c->acc_fails.get(),   c->acc_waits.get()};
  }
  return i;
}

std::vector<std::string_view> state_names(const socket_info& i) {
  if (i.closed) {
    return {"closed"};
  }
  std::vector<std::string_view> out;
  if (i.bound) {
    out.emplace_back("bound");
  }
  if (i.listening) {
    out.emplace_back("listening");
  }
  if (i.connecting) {
    out.emplace_back("connecting");
  }
  if (i.connected) {
    out.emplace_back("connected");
  }
  if (out.empty()) {
    out.emplace_back("open");
  }
  return out;
}

std::vector<socket> which_sockets() {
  return collect([](const detail::socket_state&) { return true; });
}
std::vector<socket> which_sockets(domain d) {
  return collect([d](const detail::socket_state& s) { return s.dom() == d; });
}
std::vector<socket> which_sockets(type t) {
  return collect([t](const detail::socket_state& s) { return s.typ() == t; });
}
std::vector<socket> which_sockets(protocol p) {
  return collect([p](const detail::socket_state& s) { return s.proto() == p; });
}
std::vector<socket> which_sockets(owned_by o) {
  return collect([o](const detail::socket_state& s) { return s.owner.load(std::memory_order_relaxed) == o.owner; });
}

std::vector<socket> which_sockets(const std::function<bool(const socket_info&)>& pred) {
  // info() takes each socket's waiter lock: filter outside the registry lock.
  std::vector<socket> all = which_sockets();
  std::vector<socket> out;
  for (auto& s : all) {
    if (auto i = info(s); i && pred(*i)) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::size_t number_of() noexcept {
  auto& r = reg();
  std::lock_guard lk(r.mu);
  return r.count;
}

void use_registry(bool on) noexcept { default_on.store(on, std::memory_order_relaxed); }
bool use_registry() noexcept { return default_on.load(std::memory_order_relaxed); }

result<void> set_owner(const socket& s, std::uint64_t owner) {
  auto* st = s.state();
  if (st == nullptr || st->closed()) {
    return fail(errc::closed);
  }
  st->owner.store(owner, std::memory_order_relaxed);
  return ok();
}

}  // namespace otpnet::socket
