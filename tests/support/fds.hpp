// File: support/fds.hpp
//
// The count of this process's open descriptors, for the leak checks of the
// tests of every layer.
#pragma once

#include <dirent.h>

namespace otpnet::test {

/// Open descriptors of this process (entries of /proc/self/fd).
inline int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) {
      ++n;
    }
    ::closedir(d);
  }
  return n - 3;  // ".", ".." and the directory's own descriptor
}

}  // namespace otpnet::test
