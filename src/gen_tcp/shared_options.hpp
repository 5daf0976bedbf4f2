// File: gen_tcp/shared_options.hpp (private)
//
// A port's options, shared by the ports made with the same ones: every
// connection of a listener starts with its listen socket's options and
// most never change them, so a port holds a pointer (8 bytes) to one
// immutable block where it held a copy (72 bytes). A change makes a block
// of its own (copy on write). Blocks are counted by atomic references
// (ports of one listener live on every scheduler); each thread remembers
// the last block it made, so that its next port with the same options
// shares it. The active mode, which changes with every frame, is not in
// the block: the port keeps it beside the pointer.
#pragma once

#include <otpnet/gen_tcp/options.hpp>

#include <atomic>
#include <cstdint>
#include <new>
#include <utility>

namespace otpnet::gen_tcp::detail {

class shared_options {
 public:
  /// Options `o` (their active mode set aside), shared with this thread's
  /// last block if it holds the same. std::bad_alloc if a block is needed
  /// and none can be had.
  explicit shared_options(const effective_options& o);
  shared_options(const shared_options&) = delete;
  shared_options& operator=(const shared_options&) = delete;
  ~shared_options() { release(b_); }

  const effective_options* operator->() const noexcept { return &b_->opts; }
  const effective_options& operator*() const noexcept { return b_->opts; }

  /// Replaces the options with `o` (active mode set aside): nothing changes
  /// if they are equal, else another block (shared as the constructor
  /// shares). False, and nothing changed, if no block could be had.
  [[nodiscard]] bool assign(const effective_options& o) noexcept;

 private:
  struct block {
    std::atomic<std::uint32_t> refs;
    effective_options opts;
  };
  /// A reference to a block holding `o` (the thread's last one if equal),
  /// or nullptr if none could be had.
  static block* acquire(const effective_options& o) noexcept;
  static void release(block* b) noexcept;

  /// The thread's last block, with a reference of its own (released when
  /// the thread ends).
  struct last_block {
    block* b = nullptr;
    bool gone = false;  // destroyed (thread exit): blocks made later are not cached
    last_block() noexcept = default;
    last_block(const last_block&) = delete;
    last_block& operator=(const last_block&) = delete;
    ~last_block();
  };
  static thread_local last_block thread_last;

  block* b_;
};

}  // namespace otpnet::gen_tcp::detail
