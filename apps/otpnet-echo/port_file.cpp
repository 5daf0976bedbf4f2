#include "port_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace otpnet::echo {

tl::expected<void, std::string> write_port_file(const std::string& path, std::uint16_t port) {
  // Same directory, so that rename replaces the file in one step.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return tl::unexpected<std::string>("cannot write the port file " + path + ": " + std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return tl::unexpected<std::string>("cannot write the port file " + path + ": " + why);
  }
  return {};
}

}  // namespace otpnet::echo
