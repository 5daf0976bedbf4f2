#include <otpnet/reactor/backend_selector.hpp>
#include <otpnet/reactor/epoll_backend.hpp>
#include <otpnet/reactor/io_uring_backend.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <thread>

namespace otpnet::reactor {

namespace {

// The probe's verdict, made once: the table below is built on first use.
struct io_uring_probe {
  bool available = false;
  std::array<char, 160> note{};
};

// The probe runs on a thread of its own. Tearing a ring down makes the
// kernel queue work to every thread that used it, which interrupts that
// thread's next blocking call with EINTR; a thread that has exited is
// spared, so the caller (often main) never sees the probe.
result<void> probe_on_own_thread() noexcept {
  result<void> r = fail(errc::unsupported);
  try {
    std::thread t([&r] { r = probe_io_uring(); });
    t.join();
  } catch (const std::system_error&) {
    r = probe_io_uring();  // no thread to spare: probe here
  }
  return r;
}

io_uring_probe probe_once() noexcept {
  io_uring_probe p;
  auto r = probe_on_own_thread();
  p.available = r.has_value();
  if (p.available) {
    std::snprintf(p.note.data(), p.note.size(),
                  "Linux io_uring: multishot poll, receives into provided buffers (Linux 6.0+), batched submissions");
  } else if (r.error() == errc::unsupported) {
    std::snprintf(p.note.data(), p.note.size(),
                  "not available: this kernel's io_uring lacks multishot poll or wait timeouts (needs Linux 5.13+)");
  } else {
    std::snprintf(p.note.data(), p.note.size(),
                  "not available: io_uring_setup failed (%.*s): an old kernel, seccomp, or kernel.io_uring_disabled",
                  static_cast<int>(err_name(r.error()).size()), err_name(r.error()).data());
  }
  return p;
}

const backend_status& epoll_status() noexcept {
  static const backend_status status{"epoll", true, "Linux epoll, edge-triggered"};
  return status;
}

// Probed on first need only: a program that asks for epoll never sets up
// a ring.
const backend_status& io_uring_status() noexcept {
  static const io_uring_probe probe = probe_once();
  static const backend_status status{"io_uring", probe.available, std::string_view(probe.note.data())};
  return status;
}

// Best first. default_backend() is epoll, which needs no probe: see
// docs/reactor.md ("Choosing a backend") for the measurements.
const std::array<backend_status, 2>& known_backends() noexcept {
  static const std::array<backend_status, 2> table{epoll_status(), io_uring_status()};
  return table;
}

const backend_status* find(std::string_view name) noexcept {
  if (name == "epoll") {
    return &epoll_status();
  }
  if (name == "io_uring") {
    return &io_uring_status();
  }
  return nullptr;
}

// getenv is safe here as long as nobody calls setenv concurrently, the
// usual rule for environment reads.
std::string_view env(std::string_view var) noexcept {
  const char* v = std::getenv(var.data());
  return v != nullptr ? std::string_view(v) : std::string_view();
}

// OTPNET_URING_RECV_BUFFERS (0: readiness only) and
// OTPNET_URING_STREAM_BUFFERS (0: no multishot receives): a count up to
// 32768. Anything else is ignored with one line on stderr (this layer has
// no logger), once per process and variable.
std::optional<unsigned> buffers_from_environment(std::string_view var, unsigned fallback,
                                                 std::atomic<bool>& said) noexcept {
  std::string_view v = env(var);
  if (v.empty()) {
    return std::nullopt;
  }
  unsigned n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || end != v.data() + v.size() || n > 32768) {
    if (!said.exchange(true)) {
      std::fprintf(stderr, "otpnet: %s=%.*s is not a count from 0 to 32768; using the default (%u)\n", var.data(),
                   static_cast<int>(v.size()), v.data(), fallback);
    }
    return std::nullopt;
  }
  return n;
}

}  // namespace

std::span<const backend_status> backend_selector::known() noexcept { return known_backends(); }

std::vector<std::string_view> backend_selector::available() {
  std::vector<std::string_view> names;
  for (const auto& b : known_backends()) {
    if (b.available) {
      names.push_back(b.name);
    }
  }
  return names;
}

std::string_view backend_selector::default_backend() noexcept { return epoll_status().name; }

std::string_view backend_selector::from_environment() noexcept {
  std::string_view name = env(env_var);
  return name.empty() ? env(env_alias) : name;
}

result<std::string_view> backend_selector::resolve(std::string_view requested) noexcept {
  std::string_view name = requested.empty() ? from_environment() : requested;
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
  if (*name == "io_uring") {
    io_uring_options ring;
    static std::atomic<bool> said_recv{false};
    static std::atomic<bool> said_stream{false};
    if (auto n = buffers_from_environment(recv_buffers_env_var, ring.recv_buffers, said_recv)) {
      ring.recv_buffers = *n;
    }
    if (auto n = buffers_from_environment(stream_buffers_env_var, ring.stream_buffers, said_stream)) {
      ring.stream_buffers = *n;
    }
    auto b = io_uring_backend::create(opts, ring);
    if (!b) {
      return fail(b.error());
    }
    return std::unique_ptr<backend>(std::move(*b));
  }
  return fail(errc::unsupported);
}

}  // namespace otpnet::reactor
