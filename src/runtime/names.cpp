#include "runtime/names.hpp"

#include "runtime/process_table.hpp"

#include <mutex>
#include <unordered_map>

namespace otpnet::internal {

namespace {

struct name_table {
  std::mutex mu;
  std::unordered_map<std::string, pid> by_name;
  std::unordered_map<pid, std::string> by_pid;
};

name_table& registered_names() {
  static name_table t;
  return t;
}

}  // namespace

result<void> register_process(std::string name, pid p) {
  if (name.empty()) {
    return fail(errc::invalid);
  }
  auto& t = registered_names();
  std::lock_guard lk(t.mu);
  // Alive, checked under the lock: a process retires its pid before it
  // drops its name (scheduler::finalize), so one that ends meanwhile either
  // is seen dead here or has its name dropped after this.
  auto& table = process_table::instance();
  if (table.pin(p) == nullptr) {
    return fail(errc::noproc);
  }
  table.unpin(p);
  if (t.by_pid.contains(p) || t.by_name.contains(name)) {
    return fail(errc::invalid);
  }
  t.by_name.emplace(name, p);
  t.by_pid.emplace(p, std::move(name));
  return ok();
}

bool unregister_name(std::string_view name) {
  auto& t = registered_names();
  std::lock_guard lk(t.mu);
  auto it = t.by_name.find(std::string(name));
  if (it == t.by_name.end()) {
    return false;
  }
  t.by_pid.erase(it->second);
  t.by_name.erase(it);
  return true;
}

pid lookup_name(std::string_view name) {
  auto& t = registered_names();
  std::lock_guard lk(t.mu);
  auto it = t.by_name.find(std::string(name));
  return it == t.by_name.end() ? pid{} : it->second;
}

std::string name_of(pid p) {
  auto& t = registered_names();
  std::lock_guard lk(t.mu);
  auto it = t.by_pid.find(p);
  return it == t.by_pid.end() ? std::string() : it->second;
}

std::vector<std::string> all_names() {
  auto& t = registered_names();
  std::lock_guard lk(t.mu);
  std::vector<std::string> out;
  out.reserve(t.by_name.size());
  for (const auto& [n, p] : t.by_name) {
    out.push_back(n);
  }
  return out;
}

void unregister_process(pid p) noexcept {
  auto& t = registered_names();
  std::lock_guard lk(t.mu);
  auto it = t.by_pid.find(p);
  if (it != t.by_pid.end()) {
    t.by_name.erase(it->second);
    t.by_pid.erase(it);
  }
}

}  // namespace otpnet::internal
