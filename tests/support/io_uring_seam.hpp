#pragma once

// The io_uring backend's test seam (a friend of io_uring_backend): faults
// the kernel makes rarely or never on this machine, injected where the
// backend meets the kernel, so that the code above sees what it would see.

#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/reactor/io_uring_backend.hpp>

#include <liburing.h>

namespace otpnet::reactor {

struct io_uring_backend_testing {
  /// The ring takes no entry (as a full one whose submission failed).
  static void refuse_entries(io_uring_backend& b, bool refuse) { b.refuse_entries_ = refuse; }
  /// Multishot receives made from now on are refused by the kernel with
  /// EINVAL on their first completion, as a kernel without them refuses
  /// them (they carry MSG_WAITALL, which the kernel refuses with them).
  static void refuse_multishot(io_uring_backend& b, bool refuse) { b.refuse_multishot_ = refuse; }
  /// Synchronous cancellations fail with EIO (after the submission, so
  /// that what was queued reaches the kernel): cancel_recv_now cannot end a
  /// receive, which stays in flight; cancel_accept cancels asynchronously.
  static void fail_sync_cancels(io_uring_backend& b, bool fail) { b.fail_sync_cancels_ = fail; }
  /// The backend of a loop, for the faults above, where it is io_uring: on
  /// the loop's own thread only (event_loop gives it for inspection).
  static io_uring_backend* of(const event_loop& loop) {
    return dynamic_cast<io_uring_backend*>(const_cast<backend*>(&loop.io_backend()));  // NOLINT
  }
  /// Entries queued for the next submission.
  static unsigned queued_entries(const io_uring_backend& b) { return io_uring_sq_ready(b.ring_.get()); }
};

}  // namespace otpnet::reactor
