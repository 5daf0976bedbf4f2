// The type-independent part of the gen_statem engine: event queue, postponed
// events, timeouts as deadlines, actions. Ordering rules (OTP's):
//   1. events inserted by next_event, in their order, then retried postponed
//      events (oldest first), then everything else;
//   2. a due timeout before any mailbox message, except the event timeout,
//      which any event cancels: a message already waiting wins over it;
//   3. due timeouts fire in deadline order, ties in the order they were set
//      (so a zero timeout fires after the queued events, before the mailbox).
#include <otpnet/behaviours/gen_server_loop.hpp>
#include <otpnet/behaviours/gen_statem_core.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>

#include <algorithm>

namespace otpnet::detail {

namespace {

const receive_matcher& any_message() noexcept {
  static const receive_matcher m{[](void*, envelope*) noexcept { return true; }, nullptr};
  return m;
}

}  // namespace

statem_core::~statem_core() {
  if (have_cur_) {
    destroy_envelope(cur_.e);
  }
  for (item& it : queue_) {
    destroy_envelope(it.e);
  }
  for (item& it : postponed_) {
    destroy_envelope(it.e);
  }
  disarm(event_timer_);
  disarm(state_timer_);
  for (timer& t : generic_) {
    disarm(t);
  }
}

// -- choosing the next event ------------------------------------------------------

statem_core::pick statem_core::select() {
  if (!queue_.empty()) {
    item it = std::move(queue_.back());
    queue_.pop_back();
    begin(std::move(it));
    return pick::event;
  }
  timer* t = earliest();
  if (t == nullptr) {
    wait_ms_ = -1;
    return pick::wait;
  }
  auto now = clock::now();
  if (t->deadline <= now) {
    if (t == &event_timer_) {
      if (envelope* e = receive_now(any_message(), false)) {
        return accept(e);
      }
    }
    fire(*t);
    return pick::event;
  }
  wait_ms_ = std::max<long long>(1, std::chrono::ceil<std::chrono::milliseconds>(t->deadline - now).count());
  return pick::wait;
}

statem_core::pick statem_core::accept(envelope* e) {
  // The system messages first: a stop request (the same as gen_server's,
  // so gen_server::stop and statem::stop both work), the parent's exit.
  if (auto* s = payload_if<gen_server::detail::stop_request>(e)) {
    reason_ = s->reason;
    destroy_envelope(e);
    return pick::stop_request;
  }
  if (auto* x = payload_if<exit_msg>(e); x != nullptr && parent_ && x->from == parent_) {
    reason_ = x->reason;
    destroy_envelope(e);
    return pick::parent_exit;
  }
  event_kind k = e->type == tag_of<gen::detail::call_tag>()   ? event_kind::call
                 : e->type == tag_of<gen::detail::cast_tag>() ? event_kind::cast
                                                              : event_kind::info;
  begin(item{k, e, {}});
  return pick::event;
}

void statem_core::begin(item it) noexcept {
  // Any event cancels the event timeout.
  disarm(event_timer_);
  cur_ = std::move(it);
  have_cur_ = true;
}

void statem_core::drop_current() noexcept {
  if (have_cur_) {
    destroy_envelope(std::exchange(cur_.e, nullptr));
    have_cur_ = false;
  }
}

// -- timeouts -----------------------------------------------------------------------

void statem_core::arm(timer& t, action& a) {
  disarm(t);
  t.armed = true;
  t.deadline = clock::now() + a.time();
  t.seq = ++seq_;
  t.content = a.release_content();
}

void statem_core::disarm(timer& t) noexcept {
  t.armed = false;
  destroy_envelope(std::exchange(t.content, nullptr));
}

statem_core::timer* statem_core::earliest() noexcept {
  timer* best = nullptr;
  auto better = [&best](timer& t) {
    if (t.armed &&
        (best == nullptr || t.deadline < best->deadline || (t.deadline == best->deadline && t.seq < best->seq))) {
      best = &t;
    }
  };
  better(event_timer_);
  better(state_timer_);
  for (timer& t : generic_) {
    better(t);
  }
  return best;
}

void statem_core::fire(timer& t) {
  item it;
  it.kind = &t == &event_timer_   ? event_kind::event_timeout
            : &t == &state_timer_ ? event_kind::state_timeout
                                  : event_kind::generic_timeout;
  it.e = std::exchange(t.content, nullptr);
  t.armed = false;
  if (it.kind == event_kind::generic_timeout) {
    it.name = std::move(t.name);
    generic_.erase(generic_.begin() + (&t - generic_.data()));
  }
  begin(std::move(it));
}

// -- actions --------------------------------------------------------------------------

const char* statem_core::apply(action_list& actions, bool changed, bool in_enter) {
  bool postpone_it = false;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    auto v = actions[i].what();
    if (v == action::verb::postpone || v == action::verb::next_event) {
      if (in_enter) {
        return "bad_state_enter_action";
      }
      postpone_it = postpone_it || v == action::verb::postpone;
    }
  }
  if (!in_enter && have_cur_) {
    if (postpone_it) {
      postponed_.push_back(std::move(cur_));
      cur_ = item{};
      have_cur_ = false;
    } else {
      drop_current();
    }
  }
  if (changed) {
    disarm(state_timer_);
    // Retried oldest first, before anything queued.
    for (auto it = postponed_.rbegin(); it != postponed_.rend(); ++it) {
      queue_.push_back(std::move(*it));
    }
    postponed_.clear();
  }
  inserted_.clear();
  for (std::size_t i = 0; i < actions.size(); ++i) {
    action& a = actions[i];
    switch (a.what()) {
      case action::verb::reply:
        (void)a.to().commit();
        break;
      case action::verb::event_timeout:
        arm(event_timer_, a);
        break;
      case action::verb::state_timeout:
        arm(state_timer_, a);
        break;
      case action::verb::generic_timeout: {
        auto it = std::find_if(generic_.begin(), generic_.end(), [&](const timer& t) { return t.name == a.name(); });
        if (it == generic_.end()) {
          generic_.emplace_back().name = a.name();
          it = generic_.end() - 1;
        }
        arm(*it, a);
        break;
      }
      case action::verb::cancel_state_timeout:
        disarm(state_timer_);
        break;
      case action::verb::cancel_timeout: {
        auto it = std::find_if(generic_.begin(), generic_.end(), [&](const timer& t) { return t.name == a.name(); });
        if (it != generic_.end()) {
          disarm(*it);
          generic_.erase(it);
        }
        break;
      }
      case action::verb::postpone:
        break;
      case action::verb::next_event:
        inserted_.push_back(item{a.kind(), a.release_content(), {}});
        break;
    }
  }
  // The first inserted event is handled first: it goes to the back last.
  for (auto it = inserted_.rbegin(); it != inserted_.rend(); ++it) {
    queue_.push_back(std::move(*it));
  }
  inserted_.clear();
  return nullptr;
}

void statem_core::send_replies(action_list& actions) noexcept {
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (actions[i].what() == action::verb::reply) {
      (void)actions[i].to().commit();
    }
  }
  actions.clear();
}

}  // namespace otpnet::detail
