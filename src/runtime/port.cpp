#include <otpnet/runtime/port.hpp>

#include "runtime/process_table.hpp"
#include "runtime/runtime_state.hpp"
#include "runtime/scheduler.hpp"

namespace otpnet::detail {

reactor::event_loop* current_loop() noexcept {
  internal::scheduler* s = internal::scheduler::current();
  return s != nullptr ? &s->loop() : nullptr;
}

int current_scheduler() noexcept {
  internal::scheduler* s = internal::scheduler::current();
  return s != nullptr ? static_cast<int>(s->index()) : -1;
}

int scheduler_of(pid p) noexcept {
  const void* owner = internal::process_table::instance().owner_of(p);
  return owner != nullptr ? static_cast<int>(static_cast<const internal::scheduler*>(owner)->index()) : -1;
}

reactor::event_loop* loop_of(int index) noexcept {
  internal::runtime_state* st = internal::current_state();
  if (st == nullptr || index < 0 || static_cast<std::size_t>(index) >= st->schedulers.size()) {
    return nullptr;
  }
  return &st->schedulers[static_cast<std::size_t>(index)]->loop();
}

bool post_to_scheduler(int index, reactor::task t) {
  internal::runtime_state* st = internal::current_state();
  if (st == nullptr || index < 0 || static_cast<std::size_t>(index) >= st->schedulers.size()) {
    return false;
  }
  st->schedulers[static_cast<std::size_t>(index)]->post(std::move(t));
  return true;
}

void attach_resource(pid owner, std::weak_ptr<port_resource> r) {
  internal::scheduler* s = internal::scheduler::current();
  if (s == nullptr) {
    return;
  }
  if (internal::process* p = internal::process_table::instance().peek_owned(owner, s)) {
    p->add_resource(std::move(r));
  }
}

void at_end_of_turn(std::shared_ptr<port_resource> h) noexcept {
  if (internal::scheduler* s = internal::scheduler::current()) {
    s->at_end_of_turn(std::move(h));
  }
}

bool linger_begin(port_resource& r) noexcept {
  internal::scheduler* s = internal::scheduler::current();
  return s != nullptr && s->linger_begin(r);
}

void linger_end(port_resource& r) noexcept {
  if (internal::scheduler* s = internal::scheduler::current()) {
    s->linger_end(r);
  }
}

}  // namespace otpnet::detail
