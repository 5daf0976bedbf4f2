#include <otpnet/reactor/backend_selector.hpp>
#include <otpnet/reactor/epoll_backend.hpp>

#include <array>
#include <cstdlib>

namespace otpnet::reactor {

namespace {

// Best first. io_uring stays listed so that asking for it gives a clear
// `unsupported` rather than an unknown-name `invalid`.
constexpr std::array<backend_status, 2> known_backends{{
    {"epoll", true, "Linux epoll, edge-triggered"},
    {"io_uring", false, "not available: the io_uring backend is not part of this build yet"},
}};

const backend_status* find(std::string_view name) noexcept {
  for (const auto& b : known_backends) {
    if (b.name == name) {
      return &b;
    }
  }
  return nullptr;
}

}  // namespace

std::span<const backend_status> backend_selector::known() noexcept { return known_backends; }

std::vector<std::string_view> backend_selector::available() {
  std::vector<std::string_view> names;
  for (const auto& b : known_backends) {
    if (b.available) {
      names.push_back(b.name);
    }
  }
  return names;
}

std::string_view backend_selector::default_backend() noexcept {
  for (const auto& b : known_backends) {
    if (b.available) {
      return b.name;
    }
  }
  return {};
}

result<std::string_view> backend_selector::resolve(std::string_view requested) noexcept {
  std::string_view name = requested;
  if (name.empty()) {
    // getenv is safe here as long as nobody calls setenv concurrently, the
    // usual rule for environment reads.
    const char* env = std::getenv(env_var.data());
    name = env != nullptr ? std::string_view(env) : std::string_view();
  }
  if (name.empty()) {
    name = default_backend();
  }
  const backend_status* b = find(name);
  if (b == nullptr) {
    return fail(errc::invalid);
  }
  if (!b->available) {
    return fail(errc::unsupported);
  }
  return b->name;
}

result<std::unique_ptr<backend>> backend_selector::create(std::string_view requested,
                                                          const backend_options& opts) noexcept {
  auto name = resolve(requested);
  if (!name) {
    return fail(name.error());
  }
  if (*name == "epoll") {
    auto b = epoll_backend::create(opts);
    if (!b) {
      return fail(b.error());
    }
    return std::unique_ptr<backend>(std::move(*b));
  }
  return fail(errc::unsupported);
}

}  // namespace otpnet::reactor
