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
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

namespace otpnet::detail {

namespace {

const receive_matcher& any_envelope() noexcept {
  static const receive_matcher m{[](void*, envelope*) noexcept { return true; }, nullptr};
  return m;
}

}  // namespace

statem_core::~statem_core() {
  if (have_cur_) {
    destroy_envelope(cur_e_);
  }
  disarm(state_timer_);
  if (rare_) {
    for (item& it : rare_->queue) {
      destroy_envelope(it.e);
    }
    disarm(rare_->event_timer);
    for (item& it : rare_->postponed) {
      destroy_envelope(it.e);
    }
    for (timer& t : rare_->generic) {
      disarm(t);
    }
  }
}

statem_core::rare_parts& statem_core::rare() {
  if (!rare_) {
    rare_ = std::make_unique<rare_parts>();
  }
  return *rare_;
}

statem_core::named_timer* statem_core::find_generic(const std::string& name) noexcept {
  if (!rare_) {
    return nullptr;
  }
  auto& g = rare_->generic;
  auto it = std::find_if(g.begin(), g.end(), [&](const named_timer& t) { return *t.name == name; });
  return it == g.end() ? nullptr : &*it;
}

// -- choosing the next event ------------------------------------------------------

statem_core::pick statem_core::select() {
  if (rare_ && !rare_->queue.empty()) {
    fresh_ = false;  // the time goes on while it is handled
    item it = std::move(rare_->queue.back());
    rare_->queue.pop_back();
    begin(std::move(it));
    return pick::event;
  }
  timer* t = earliest();
  if (t == nullptr) {
    fresh_ = false;
    wait_ms_ = -1;
    return pick::wait;
  }
  if (std::exchange(fresh_, false) && t->order() == seq_) {
    // The earliest timer is the one just set: its whole time is left, and
    // wait_ms_ holds it. Its time starts when the process waits (settle):
    // no clock read while the next event is already at hand.
    return pick::wait;
  }
  auto now = clock::now();
  if (unsettled_) {
    settle_at(now);
  }
  if (t->deadline <= now) {
    if (rare_ && t == &rare_->event_timer) {
      if (envelope* e = receive_now(any_envelope(), false)) {
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
  // (The envelope goes even if keeping the reason finds no memory.)
  struct destroy_after {
    envelope* e;
    ~destroy_after() { destroy_envelope(e); }
  };
  if (auto* s = payload_if<gen_server::detail::stop_request>(e)) {
    destroy_after d{e};
    set_reason(s->reason);
    return pick::stop_request;
  }
  if (auto* x = payload_if<exit_msg>(e); x != nullptr && parent_ && x->from == parent_) {
    destroy_after d{e};
    set_reason(x->reason);
    return pick::parent_exit;
  }
  event_kind k = e->type == tag_of<gen::detail::call_tag>()   ? event_kind::call
                 : e->type == tag_of<gen::detail::cast_tag>() ? event_kind::cast
                                                              : event_kind::info;
  begin(item{k, e, nullptr});
  return pick::event;
}

void statem_core::begin(item it) noexcept {
  // Any event cancels the event timeout.
  if (rare_) {
    disarm(rare_->event_timer);
  }
  cur_kind_ = it.kind;
  cur_e_ = it.e;
  if (rare_) {
    rare_->cur_name = std::move(it.name);  // a name comes only with rare parts (generic timers live there)
  }
  have_cur_ = true;
}

void statem_core::drop_current() noexcept {
  if (have_cur_) {
    destroy_envelope(std::exchange(cur_e_, nullptr));
    have_cur_ = false;
  }
}

// -- timeouts -----------------------------------------------------------------------

void statem_core::arm(timer& t, action& a) {
  envelope* content = a.release_content();
  if (content != nullptr && &t == &state_timer_) {
    try {
      (void)rare();  // where the state timeout's content is kept
    } catch (...) {
      destroy_envelope(content);
      throw;
    }
  }
  disarm(t);
  std::chrono::milliseconds time = a.time();
  t.seq = ++seq_;
  if (!others_armed(t)) {
    // The only timeout: its time only, started by the next settle.
    t.deadline = clock::time_point{} + time;
    t.seq |= relative;
    unsettled_ = true;
  } else {
    // Beside others: an absolute deadline, and a relative one among them
    // starts now (at most one relative timeout, so none waits for its
    // start while others are set and run).
    auto now = clock::now();
    if (unsettled_) {
      settle_at(now);
    }
    t.deadline = now + time;
  }
  if (envelope** slot = content_of(t)) {
    *slot = content;
  }
  // For select, if this is the earliest timer when it next looks.
  fresh_ = time.count() > 0;
  wait_ms_ = time.count();
}

void statem_core::disarm(timer& t) noexcept {
  t.seq = 0;
  if (envelope** slot = content_of(t)) {
    destroy_envelope(std::exchange(*slot, nullptr));
  }
}

bool statem_core::others_armed(const timer& t) const noexcept {
  auto other = [&t](const timer& u) { return &u != &t && u.armed(); };
  if (other(state_timer_)) {
    return true;
  }
  return rare_ && (other(rare_->event_timer) || std::any_of(rare_->generic.begin(), rare_->generic.end(), other));
}

void statem_core::settle_relative() noexcept {
  auto is_relative = [](const timer& t) { return (t.seq & relative) != 0; };
  bool any =
      is_relative(state_timer_) || (rare_ && (is_relative(rare_->event_timer) ||
                                              std::any_of(rare_->generic.begin(), rare_->generic.end(), is_relative)));
  if (any) {
    settle_at(clock::now());
  } else {
    unsettled_ = false;  // it was cancelled or fired: no clock to read
  }
}

void statem_core::settle_at(clock::time_point now) noexcept {
  auto start = [now](timer& t) {
    if ((t.seq & relative) != 0) {
      t.deadline = now + t.deadline.time_since_epoch();
      t.seq &= ~relative;
    }
  };
  start(state_timer_);
  if (rare_) {
    start(rare_->event_timer);
    for (timer& t : rare_->generic) {
      start(t);
    }
  }
  unsettled_ = false;
}

statem_core::timer* statem_core::earliest() noexcept {
  timer* best = nullptr;
  auto better = [&best](timer& t) {
    if (t.armed() && (best == nullptr || t.deadline < best->deadline ||
                      (t.deadline == best->deadline && t.order() < best->order()))) {
      best = &t;
    }
  };
  better(state_timer_);
  if (rare_) {
    better(rare_->event_timer);
    for (timer& t : rare_->generic) {
      better(t);
    }
  }
  return best;
}

void statem_core::fire(timer& t) {
  item it;
  it.kind = &t == &state_timer_                             ? event_kind::state_timeout
            : rare_ != nullptr && &t == &rare_->event_timer ? event_kind::event_timeout
                                                            : event_kind::generic_timeout;
  envelope** slot = content_of(t);
  it.e = slot != nullptr ? std::exchange(*slot, nullptr) : nullptr;
  t.seq = 0;
  if (it.kind == event_kind::generic_timeout) {
    auto& g = rare_->generic;
    auto& named = static_cast<named_timer&>(t);
    it.name = std::move(named.name);
    g.erase(g.begin() + (&named - g.data()));
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
      rare_parts& r = rare();
      r.postponed.push_back(item{cur_kind_, cur_e_, nullptr});
      r.postponed.back().name = std::move(r.cur_name);
      cur_e_ = nullptr;
      have_cur_ = false;
    } else {
      drop_current();
    }
  }
  if (changed) {
    disarm(state_timer_);
    if (rare_) {
      // Retried oldest first, before anything queued.
      auto& p = rare_->postponed;
      for (auto it = p.rbegin(); it != p.rend(); ++it) {
        rare_->queue.push_back(std::move(*it));
      }
      p.clear();
    }
  }
  std::size_t queued_before = rare_ ? rare_->queue.size() : 0;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    action& a = actions[i];
    switch (a.what()) {
      case action::verb::reply:
        (void)a.to().commit();
        break;
      case action::verb::event_timeout:
        arm(rare().event_timer, a);
        break;
      case action::verb::state_timeout:
        arm(state_timer_, a);
        break;
      case action::verb::generic_timeout: {
        named_timer* t = find_generic(a.name());
        if (t == nullptr) {
          t = &rare().generic.emplace_back();
          t->name = a.release_name();
          if (!t->name) {
            t->name = std::make_unique<std::string>();
          }
        }
        arm(*t, a);
        break;
      }
      case action::verb::cancel_state_timeout:
        disarm(state_timer_);
        break;
      case action::verb::cancel_timeout: {
        if (named_timer* t = find_generic(a.name())) {
          disarm(*t);
          rare_->generic.erase(rare_->generic.begin() + (t - rare_->generic.data()));
        }
        break;
      }
      case action::verb::postpone:
      case action::verb::hibernate:  // (the engine's: statem_engine::apply)
        break;
      case action::verb::next_event:
        rare().queue.push_back(item{a.kind(), a.release_content(), nullptr});
        break;
    }
  }
  // The first inserted event is handled first: it goes to the back last.
  if (rare_) {
    std::reverse(rare_->queue.begin() + static_cast<std::ptrdiff_t>(queued_before), rare_->queue.end());
  }
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
