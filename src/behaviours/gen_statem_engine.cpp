// The non-template helpers of the gen_statem loop: the mailbox wait and
// the process label.
#include <otpnet/behaviours/gen_statem_engine.hpp>
#include <otpnet/runtime/receive.hpp>

namespace otpnet::detail {

namespace {

const receive_matcher any_message{[](void*, envelope*) noexcept { return true; }, nullptr};

}  // namespace

bool statem_mailbox_wait::await_ready() noexcept {
  long long ms = core->wait_ms();
  got = receive_now(any_message, ms != 0);
  return got != nullptr || ms == 0;
}

void statem_mailbox_wait::await_suspend(std::coroutine_handle<> h) noexcept {
  core->settle();
  receive_suspend(h, any_message, core->wait_ms());
}

envelope* statem_mailbox_wait::await_resume() noexcept {
  if (got == nullptr && core->wait_ms() != 0) {
    got = receive_result();
  }
  return got;
}

void statem_set_label(std::string_view state_name) { set_process_label("gen_statem", state_name); }
void statem_set_label_static(const char* state_name) noexcept { set_process_label_static("gen_statem", state_name); }

}  // namespace otpnet::detail
