// File: internal/id_tables.hpp (private, for any layer)
//
// Tables keyed by a one-word id (pid, ref) that hold an entry per
// connection: a supervisor's dynamic children, a listener's handlers by
// monitor, a process's links and monitors past a few dozen. Abseil's flat
// tables (open addressing, one slot per entry and a control byte), where a
// node-based unordered_map took a heap block per entry and a bucket
// pointer. The ids are sequential, so they are mixed by absl::Hash before
// the table takes its bits from them.
//
// Abseil is written for builds without exceptions: a table whose growth
// fails to allocate is left corrupt (the Debian 12 version sets its new
// capacity before it allocates the slots), so std::bad_alloc must not come
// out of one. These tables take their memory from table_allocator, which
// ends the program with a report instead, as the BEAM does when its own
// allocators fail ("Cannot allocate N bytes of memory"): the runtime's
// bookkeeping cannot go on without its entries. (Memory a connection asks
// for, its buffers and frames, fails that connection alone.)
//
// Abseil tables never shrink by themselves: after a burst of connections
// has gone, shrink_if_sparse gives the memory back.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <utility>

namespace otpnet::internal {

/// Hashes an id by its value().
struct id_hash {
  template <class Id>
  std::size_t operator()(const Id& id) const noexcept {
    return absl::Hash<std::uint64_t>{}(static_cast<std::uint64_t>(id.value()));
  }
};

/// Memory for the tables: an allocation that fails ends the program with a
/// report line on stderr (see the file comment), never a std::bad_alloc.
template <class T>
struct table_allocator {
  using value_type = T;
  table_allocator() noexcept = default;
  template <class U>
  table_allocator(const table_allocator<U>& /*other*/) noexcept {}  // NOLINT(google-explicit-constructor)

  T* allocate(std::size_t n) noexcept {
    if (n <= std::size_t(-1) / sizeof(T)) {
      if (void* p = ::operator new(n * sizeof(T), std::nothrow)) {
        return static_cast<T*>(p);
      }
    }
    out_of_memory(n * sizeof(T));
  }
  void deallocate(T* p, std::size_t /*n*/) noexcept { ::operator delete(p); }

  [[noreturn]] static void out_of_memory(std::size_t bytes) noexcept {
    std::fprintf(stderr, "otpnet: out of memory: a runtime table could not grow by %zu bytes; ending\n", bytes);
    std::abort();
  }
  friend bool operator==(const table_allocator&, const table_allocator&) noexcept { return true; }
};

template <class Id>
using id_set = absl::flat_hash_set<Id, id_hash, std::equal_to<Id>, table_allocator<Id>>;
template <class Id, class V>
using id_map = absl::flat_hash_map<Id, V, id_hash, std::equal_to<Id>, table_allocator<std::pair<const Id, V>>>;

/// Call after removing entries: once the table is at most 1/8 full and
/// larger than a few groups, it is rebuilt at the size its entries need
/// (about 8/7 of them), so it shrinks a whole factor of 8 between two
/// rebuilds: amortised O(1) per removal.
template <class Table>
void shrink_if_sparse(Table& t) noexcept {
  constexpr std::size_t keep = 64;  // below this, not worth a rebuild
  if (t.capacity() > keep && t.size() * 8 < t.capacity()) {
    t.rehash(0);  // table_allocator: no exception (a failure ends the program)
  }
}

}  // namespace otpnet::internal
