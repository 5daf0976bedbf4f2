// File: runtime/resource_list.hpp (private)
//
// The ports a process owns, held weakly (the runtime closes them when the
// process ends). A connection's handler owns one port: it is kept in
// place, and only a second one allocates (a lazy vector), where a vector
// took a 16-byte block per connection. Owned by the process's scheduler
// thread, like the record that holds it.
#pragma once

#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/port.hpp>

#include "runtime/lazy_vector.hpp"

#include <memory>
#include <utility>

namespace otpnet::internal {

class resource_list {
 public:
  /// Adds `r` for process `owner`, first dropping what is gone or has
  /// been handed to another process (an acceptor hands over every port it
  /// makes: without this its list would hold one per live connection).
  void add(pid owner, std::weak_ptr<port_resource> r) {
    auto stale = [owner](const std::weak_ptr<port_resource>& w) {
      std::shared_ptr<port_resource> x = w.lock();
      return x == nullptr || !x->owned_by(owner);
    };
    if (!first_.expired() && stale(first_)) {
      first_.reset();
    }
    more_.erase_if(stale);
    if (first_.expired()) {
      first_ = std::move(r);
    } else {
      more_.push_back(std::move(r));
    }
  }

  /// Calls `f(port_resource&)` for each resource still alive, then forgets them all.
  template <class F>
  void release_each(F&& f) {
    if (auto x = first_.lock()) {
      f(*x);
    }
    first_.reset();
    for (auto& w : more_) {
      if (auto x = w.lock()) {
        f(*x);
      }
    }
    more_.clear();
  }

 private:
  std::weak_ptr<port_resource> first_;
  lazy_vector<std::weak_ptr<port_resource>> more_;
};

}  // namespace otpnet::internal
