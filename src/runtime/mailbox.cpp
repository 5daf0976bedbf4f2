// A plain thread's mailbox: a process record without a scheduler. Senders
// push to its inbox and wake its condition variable; the owning thread
// drains the inbox while it receives. It traps exits: exit signals become
// exit_msg messages.
#include <otpnet/runtime/mailbox.hpp>

#include "runtime/names.hpp"
#include "runtime/process_table.hpp"
#include "runtime/runtime_state.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>

namespace otpnet {

namespace internal {

/// Applies signals as a trapping process does; down and exit become messages.
/// Messages that came behind a signal take their turn in between.
void apply_thread_signals(process* p) noexcept {
  for (detail::envelope* e : p->signals) {
    if (!is_signal(e)) {
      p->append(e);
      continue;
    }
    if (auto* x = detail::payload_if<sig_exit>(e)) {
      bool linked = p->rel.linked(x->from);
      if (!x->from_link || linked) {
        p->rel.erase_link(x->from);
        p->append(detail::must_make_envelope<exit_msg>(exit_msg{x->from, x->reason}));
      }
    } else if (auto* l = detail::payload_if<sig_link>(e)) {
      if (!p->rel.linked(l->from)) {  // one link per pair, as scheduler::handle_signals keeps it
        p->rel.add_link(l->from);
      }
    } else if (auto* u = detail::payload_if<sig_unlink>(e)) {
      p->rel.erase_link(u->from);
    } else if (auto* m = detail::payload_if<sig_monitor>(e)) {
      p->rel.add_watcher(m->r, m->from);
    } else if (auto* d = detail::payload_if<sig_demonitor>(e)) {
      p->rel.erase_watcher(d->r);
    }
    detail::destroy_envelope(e);
  }
  p->signals.clear();
}

}  // namespace internal

mailbox::mailbox() {
  if (internal::current_state() == nullptr) {
    throw std::system_error(make_error_code(errc::invalid), "otpnet runtime not running");
  }
  p_ = new internal::thread_process();
  p_->trap_exit = true;
  p_->state = internal::pstate::waiting;
  p_->id = internal::process_table::instance().add(p_, nullptr);
  internal::thread_mailbox = p_;
}

mailbox::~mailbox() {
  if (internal::thread_mailbox == p_) {
    internal::thread_mailbox = nullptr;
  }
  internal::process_table::instance().retire(p_->id);
  internal::unregister_process(p_->id);  // (after: see scheduler::finalize)
  exit_reason why = exit_reason::normal();
  p_->drain_inbox();
  internal::settle_exit(p_, why);
  while (detail::envelope* e = p_->head.load(std::memory_order_relaxed)) {
    p_->head.store(e->next.load(std::memory_order_relaxed), std::memory_order_relaxed);
    detail::destroy_envelope(e);
  }
  delete static_cast<internal::thread_process*>(p_);
}

pid mailbox::self() const noexcept { return p_->id; }

message mailbox::receive_if(const std::function<bool(message&)>& match, std::chrono::milliseconds timeout) {
  struct ctx_t {
    const std::function<bool(message&)>* match;
  } ctx{&match};
  internal::matcher m{[](void* c, detail::envelope* e) noexcept {
                        message view(e);
                        bool ok = false;
                        try {
                          ok = (*static_cast<ctx_t*>(c)->match)(view);
                        } catch (...) {
                          ok = false;
                        }
                        (void)view.release();
                        return ok;
                      },
                      &ctx};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(internal::external_of(p_).mu);
  for (;;) {
    p_->drain_inbox();
    internal::apply_thread_signals(p_);
    if (detail::envelope* e = p_->take_match(m, &p_->head)) {
      return message(e);
    }
    if (internal::external_of(p_).cv.wait_until(lk, deadline) == std::cv_status::timeout) {
      p_->drain_inbox();
      internal::apply_thread_signals(p_);
      return message(p_->take_match(m, &p_->head));
    }
  }
}

std::size_t mailbox::size() const {
  std::lock_guard lk(internal::external_of(p_).mu);
  p_->drain_inbox();
  internal::apply_thread_signals(p_);
  return p_->queue_len;
}

}  // namespace otpnet
