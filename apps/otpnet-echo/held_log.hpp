// File: apps/otpnet-echo/held_log.hpp
//
// The logger's sink while the server starts: lines (reports of the
// application's start, of a listener that cannot listen, of the supervisors
// that give up after it) are held back, so that a failed start shows the
// user one line naming the problem instead of a cascade of reports. Once
// the start succeeded, release() writes what was held, in order, and every
// later line goes straight to stderr; after a failed start nothing is
// released: the program prints its one line and exits.
#pragma once

#include <otpnet/behaviours/logger.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::echo {

class held_log {
 public:
  held_log() : s_(std::make_shared<state>()) {}

  /// The logger's destination: this object's buffer, then stderr.
  logger::line_callback sink() const {
    return [s = s_](std::string_view line) { s->write(line); };
  }

  /// Writes what was held, then lets every line through. @threadsafe
  void release() const { s_->release(); }

 private:
  struct state {
    std::mutex mu;
    bool holding = true;
    std::vector<std::string> lines;

    void write(std::string_view line) {
      std::lock_guard lock(mu);
      if (holding) {
        lines.emplace_back(line);
      } else {
        put(line);
      }
    }
    void release() {
      std::lock_guard lock(mu);
      for (const auto& l : lines) {
        put(l);
      }
      lines.clear();
      holding = false;
    }
    static void put(std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fputc('\n', stderr);
      std::fflush(stderr);
    }
  };
  std::shared_ptr<state> s_;
};

}  // namespace otpnet::echo
