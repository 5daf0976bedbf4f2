// File: internal/id_tables.hpp (private, for any layer)
//
// Tables keyed by a one-word id (pid, ref) that hold an entry per
// connection: a supervisor's dynamic children, a listener's handlers by
// monitor. Abseil's flat tables (open addressing, one slot per entry and a
// control byte), where a node-based unordered_map took a heap block per
// entry and a bucket pointer. The ids are sequential, so they are mixed by
// absl::Hash before the table takes its bits from them.
//
// Abseil tables never shrink by themselves: after a burst of connections
// has gone, shrink_if_sparse gives the memory back.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <cstddef>
#include <cstdint>

namespace otpnet::internal {

/// Hashes an id by its value().
struct id_hash {
  template <class Id>
  std::size_t operator()(const Id& id) const noexcept {
    return absl::Hash<std::uint64_t>{}(static_cast<std::uint64_t>(id.value()));
  }
};

template <class Id>
using id_set = absl::flat_hash_set<Id, id_hash>;
template <class Id, class V>
using id_map = absl::flat_hash_map<Id, V, id_hash>;

/// Call after removing entries: once the table is at most 1/8 full and
/// larger than a few groups, it is rebuilt at the size its entries need
/// (about 8/7 of them), so it shrinks a whole factor of 8 between two
/// rebuilds: amortised O(1) per removal. A rebuild that finds no memory
/// leaves the table as it was.
template <class Table>
void shrink_if_sparse(Table& t) noexcept {
  constexpr std::size_t keep = 64;  // below this, not worth a rebuild
  if (t.capacity() > keep && t.size() * 8 < t.capacity()) {
    try {
      t.rehash(0);
    } catch (...) {
      // No memory for the smaller table: the larger one stays, correct as it is.
    }
  }
}

}  // namespace otpnet::internal
