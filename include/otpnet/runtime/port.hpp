// File: otpnet/runtime/port.hpp
//
// What the layers built on the runtime (gen_tcp, tls) need to run "ports":
// objects that live on the scheduler of the process that owns them, are
// driven by that scheduler's reactor, and deliver messages to their owner
// locally (no cross-thread hop), as the BEAM's port drivers do.
//   - the calling process's scheduler loop, to register descriptors;
//   - `post_to_scheduler_of`, to move work (a port) to another scheduler;
//   - `port_resource`, closed by the runtime when its owner ends, and
//     whose `end_of_turn` hook can be run once after the scheduler's run
//     phase, so a port can gather the replies of one turn into one write;
//   - `linger_begin`, so that a close still writing out its queue when
//     the runtime stops is given the stop's grace to finish.
#pragma once

#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/reactor/task.hpp>
#include <otpnet/runtime/pid.hpp>

#include <memory>

namespace otpnet {

/// A resource whose life is bound to a process (an Erlang port is linked
/// to its owner).
class port_resource {
 public:
  virtual ~port_resource() = default;
  /// Called on the owner's scheduler thread while the owner ends.
  virtual void owner_exited(pid owner) noexcept = 0;
  /// Whether `p` owns it now (it may have been handed to another process
  /// since it was attached to `p`). @threadsafe
  virtual bool owned_by(pid p) const noexcept = 0;
  /// Runs once at the end of the run phase in which at_end_of_turn asked
  /// for it, on that scheduler's thread. (A member of this interface rather
  /// than one of its own: one virtual table pointer less in every port.)
  virtual void end_of_turn() noexcept {}
  /// The runtime is stopping and the grace it gave (runtime::stop) has
  /// passed while this resource was still lingering (see linger_begin):
  /// close it now, dropping what it had left to do, with a report line.
  /// On its scheduler's thread.
  virtual void abandon() noexcept {}
};

namespace detail {

/// The event loop of the scheduler running the calling process (or of the
/// scheduler thread calling); nullptr elsewhere.
reactor::event_loop* current_loop() noexcept;

/// Index of the calling scheduler thread, or -1.
int current_scheduler() noexcept;

/// The scheduler index `p` lives on, or -1 if it is dead.
int scheduler_of(pid p) noexcept;

/// The loop of scheduler `index` (for registration from its own thread).
reactor::event_loop* loop_of(int index) noexcept;

/// Runs `t` on scheduler `index`'s thread. @threadsafe
bool post_to_scheduler(int index, reactor::task t);

/// Binds `r` to the process `owner` (of the calling scheduler):
/// owner_exited runs when it ends. The runtime holds it weakly, until it
/// is gone or owned by another process. Only from a scheduler thread.
void attach_resource(pid owner, std::weak_ptr<port_resource> r);

/// Runs `h->end_of_turn()` after the current run phase of the calling
/// scheduler (once per call; call again next turn), holding `h` until then
/// (so that the hook's owner need not keep a reference to itself for it).
/// Scheduler threads only.
void at_end_of_turn(std::shared_ptr<port_resource> h) noexcept;

/// `r` goes on after its owner has let it go (a close writing out what is
/// queued, as inet's close lingers): the runtime's stop waits for it, up to
/// its grace, before it stops this scheduler, then calls `r.abandon()`.
/// False when it cannot be tracked (no memory, not a scheduler thread, or
/// the stop's grace is over): the caller closes it now. Until linger_end,
/// `r` must stay alive. Scheduler threads only.
bool linger_begin(port_resource& r) noexcept;
/// `r` is done lingering (closed). On the thread of its linger_begin.
void linger_end(port_resource& r) noexcept;

}  // namespace detail
}  // namespace otpnet
