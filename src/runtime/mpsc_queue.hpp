// File: runtime/mpsc_queue.hpp (private)
//
// An intrusive multi-producer single-consumer queue (Vyukov's design):
// push is one atomic exchange and never blocks; pop belongs to the single
// consumer (the owning scheduler). Nodes carry their own `next` link, so
// queueing allocates nothing. Used for the processes other threads make
// runnable (a mailbox's inbox is a stack: see process_record.hpp).
#pragma once

#include <atomic>

namespace otpnet::internal {

/// `Node` has a member `Node* next` reachable through `Link` (a pointer to
/// member of type std::atomic<Node*>).
template <class Node, std::atomic<Node*> Node::*Link>
class mpsc_queue {
 public:
  mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) { (stub_.*Link).store(nullptr, std::memory_order_relaxed); }
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  /// @threadsafe
  void push(Node* n) noexcept {
    (n->*Link).store(nullptr, std::memory_order_relaxed);
    Node* prev = head_.exchange(n, std::memory_order_acq_rel);
    (prev->*Link).store(n, std::memory_order_release);
  }

  /// Consumer only. nullptr when empty, or when a push is half done (the
  /// producer that exchanged head_ has not linked its node yet): the caller
  /// sees that node on a later pop.
  Node* pop() noexcept {
    Node* tail = tail_;
    Node* next = (tail->*Link).load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) {
        return nullptr;
      }
      tail_ = next;
      tail = next;
      next = (next->*Link).load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire)) {
      return nullptr;  // a producer is between its exchange and its link
    }
    push(&stub_);
    next = (tail->*Link).load(std::memory_order_acquire);
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    return nullptr;
  }

  /// Consumer only: whether a pop could return something (approximate).
  bool empty() const noexcept { return tail_ == &stub_ && (stub_.*Link).load(std::memory_order_acquire) == nullptr; }

 private:
  std::atomic<Node*> head_;
  Node* tail_;
  Node stub_{};
};

}  // namespace otpnet::internal
