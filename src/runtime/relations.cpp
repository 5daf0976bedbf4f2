// File: runtime/relations.cpp
//
// The indexed form of a process's relations (relations.hpp): a flat hash
// set of the entries, keyed by kind and by the pid of a link or the ref of
// a monitor, with lookups by that key alone (heterogeneous).
#include "runtime/relations.hpp"

#include "internal/id_tables.hpp"

#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <cstdint>
#include <utility>

namespace otpnet::internal {

namespace {

using entry = relations::entry;
using kind = relations::kind;

struct key {
  kind k;
  std::uint64_t id;
};
key key_of(const entry& e) noexcept { return {e.k(), e.id()}; }
key key_of(const key& k) noexcept { return k; }

struct key_hash {
  using is_transparent = void;
  template <class T>
  std::size_t operator()(const T& x) const noexcept {
    key k = key_of(x);
    return absl::Hash<std::pair<std::uint64_t, std::uint8_t>>{}({k.id, static_cast<std::uint8_t>(k.k)});
  }
};
struct key_eq {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    key x = key_of(a);
    key y = key_of(b);
    return x.k == y.k && x.id == y.id;
  }
};

}  // namespace

// Links by pid alone, in the runtime's id_set (an 8-byte slot: a
// supervisor's children cost less than in the array), monitors as whole
// entries (their other pid rides along) keyed by kind and ref.
static_assert(sizeof(pid) == sizeof(std::uint64_t), "a link's slot is one word");
struct relations_table {
  id_set<pid> links;
  absl::flat_hash_set<entry, key_hash, key_eq, table_allocator<entry>> monitors;

  std::size_t size() const noexcept { return links.size() + monitors.size(); }
  void insert(const entry& e) {
    if (e.k() == kind::link) {
      links.insert(e.other);
    } else {
      monitors.insert(e);
    }
  }
};

relations_table* relations::table_make(const entry* b, const entry* e, entry more) {
  auto t = std::make_unique<relations_table>();
  for (const entry* x = b; x != e; ++x) {
    t->insert(*x);
  }
  t->insert(more);
  return t.release();
}

std::uint32_t relations::table_insert(relations_table& t, entry e) {
  t.insert(e);
  return static_cast<std::uint32_t>(t.size());
}

bool relations::table_linked(const relations_table& t, pid p) noexcept { return t.links.contains(p); }

const entry* relations::table_find(const relations_table& t, kind k, std::uint64_t id) noexcept {
  auto it = t.monitors.find(key{k, id});
  return it == t.monitors.end() ? nullptr : &*it;
}

std::size_t relations::table_remove(relations_table& t, kind k, std::uint64_t id) noexcept {
  if (k == kind::link) {
    std::size_t n = t.links.erase(pid::from_value(id));
    if (n != 0) {
      shrink_if_sparse(t.links);
    }
    return n;
  }
  std::size_t n = t.monitors.erase(key{k, id});
  if (n != 0) {
    shrink_if_sparse(t.monitors);
  }
  return n;
}

void relations::table_take(relations_table& t, entry* out) noexcept {
  for (pid l : t.links) {
    *out++ = entry{ref{}, l, kind::link};
  }
  for (const entry& e : t.monitors) {
    *out++ = e;
  }
}

void relations::table_each(const relations_table& t, kind k, void (*f)(void*, const entry&), void* ctx) {
  if (k == kind::link) {
    for (pid l : t.links) {
      f(ctx, entry{ref{}, l, kind::link});
    }
    return;
  }
  for (const entry& e : t.monitors) {
    if (e.k() == k) {
      f(ctx, e);
    }
  }
}

std::size_t relations::table_bytes(const relations_table& t) noexcept {
  return sizeof(relations_table) + t.links.capacity() * (sizeof(pid) + 1) + t.monitors.capacity() * (sizeof(entry) + 1);
}

std::uint32_t relations::table_size(const relations_table& t) noexcept { return static_cast<std::uint32_t>(t.size()); }

void relations::table_free(relations_table* t) noexcept { delete t; }

}  // namespace otpnet::internal
