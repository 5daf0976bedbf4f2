#include "gen_tcp/shared_options.hpp"

#include <utility>

namespace otpnet::gen_tcp::detail {

namespace {

/// The options as a block holds them: the active mode is the port's.
effective_options without_active(const effective_options& o) noexcept {
  effective_options c = o;
  c.active = always;
  return c;
}

}  // namespace

thread_local shared_options::last_block shared_options::thread_last;

// A port made or changed later in the thread's teardown (another
// thread_local's destructor) gets a block of its own, not this one.
shared_options::last_block::~last_block() {
  gone = true;
  if (block* last = std::exchange(b, nullptr)) {
    release(last);
  }
}

shared_options::block* shared_options::acquire(const effective_options& o) noexcept {
  effective_options want = without_active(o);
  if (thread_last.gone) {
    return new (std::nothrow) block{{1}, want};  // ours only
  }
  block* last = thread_last.b;
  if (last != nullptr && last->opts == want) {
    last->refs.fetch_add(1, std::memory_order_relaxed);
    return last;
  }
  auto* b = new (std::nothrow) block{{2}, want};  // ours and the thread's
  if (b == nullptr) {
    return nullptr;
  }
  if (last != nullptr) {
    release(last);
  }
  thread_last.b = b;
  return b;
}

void shared_options::release(block* b) noexcept {
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete b;
  }
}

shared_options::shared_options(const effective_options& o) : b_(acquire(o)) {
  if (b_ == nullptr) {
    throw std::bad_alloc();
  }
}

bool shared_options::assign(const effective_options& o) noexcept {
  if (b_->opts == without_active(o)) {
    return true;
  }
  block* b = acquire(o);
  if (b == nullptr) {
    return false;
  }
  release(std::exchange(b_, b));
  return true;
}

}  // namespace otpnet::gen_tcp::detail
