// File: apps/otpnet-echo/main.cpp
//
// otpnet-echo: the tutorial's echo server as a program. Configuration comes
// from built-in defaults < a TOML file (--config) < OTPNET_* variables <
// the command line; --print-config shows the result. With --tls-cert and
// --tls-key the port serves TLS. It prints "listening on ADDRESS" when it
// accepts (after writing --port-file, atomically), drains on SIGTERM or
// SIGINT (exit 0), stops at once on a second signal, and reloads the TLS
// certificate on SIGHUP. A startup error (port in use, bad value, a
// certificate that does not load) is one line on stderr and a non-zero exit:
// the reports of a failed start are held back (held_log.hpp).
#include <otpnet/behaviours/application.hpp>
#include <otpnet/behaviours/config.hpp>
#include <otpnet/behaviours/logger.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/listener/inherited.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/tls/error.hpp>
#include <otpnet/tls/limits.hpp>

#include "echo_app.hpp"
#include "held_log.hpp"
#include "port_file.hpp"
#include "signals.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace otpnet;

config_schema schema() {
  config_schema s;
  s.add_int("port", 2222, "TCP port to listen on (0: any free port)", 0, 65535)
      .add_string("bind", "0.0.0.0", "address to listen on (IPv4 or IPv6 literal)")
      .add_enum("packet", "2", {"raw", "1", "2", "4", "line"}, "framing of client messages ({packet, N})")
      .add_int("packet_size", 0, "largest frame accepted, bytes (0: no limit)", 0, 1 << 30)
      .add_duration("idle_timeout", 120s, "close a client silent for this long (0: never)")
      .add_int("max_connections", 0, "connections served at once (0: no limit)", 0, 1 << 30)
      .add_int("schedulers", 0, "scheduler threads (0: one per core)", 0, 1024)
      .add_string("backend", "", "reactor backend: epoll or io_uring (empty: the default, epoll)")
      .add_int("backlog", 4096, "listen backlog", 1, 1 << 20)
      .add_int("acceptors", 1,
               "acceptor processes, each with its own SO_REUSEPORT listen socket on its own scheduler (0: one "
               "per scheduler)",
               0, 1024)
      .add_enum("log_format", "text", {"text", "json"}, "format of log lines and reports")
      .add_bool("log_connections", false, "log each connect and disconnect (info level)")
      .add_duration("drain_timeout", 10s, "on SIGTERM/SIGINT, how long live connections may finish")
      .add_bool("delay_send", true, "gather the replies of one scheduler turn into one write")
      .add_enum("active", "once", {"once", "true"},
                "active mode of each connection: once (the tutorial's, one frame per re-arm) or true (frames as "
                "they come)")
      .add_string("port_file", "", "write the bound port to this file once listening")
      .add_string("tls.cert", "", "PEM certificate (the chain may follow it): serve TLS on the port")
      .add_string("tls.key", "", "PEM private key of tls.cert (unencrypted)")
      .add_string("tls.chain", "", "PEM intermediate certificates sent after tls.cert (optional)")
      .add_string("tls.ca", "", "PEM CA certificates that client certificates must chain to")
      .add_enum("tls.verify", "none", {"none", "optional", "required"},
                "client certificates: none, optional (checked if sent), required")
      .add_duration("tls.handshake_timeout", 5s, "a TLS handshake not done within this closes its connection")
      .add_int("tls.max_handshakes", 1024, "TLS handshakes in progress at once (more are refused)", 1, 1 << 20)
      .add_bool("proxy_protocol", false,
                "each connection starts with a PROXY protocol header (v1 or v2, from HAProxy or a load balancer); "
                "the client it names is the one logged")
      .add_duration("proxy_timeout", 5s, "a connection whose PROXY header has not come within this is closed")
      .add_string("admin", "",
                  "serve the admin HTTP endpoint (/metrics for Prometheus, /tree, /healthz, / a live tree page) "
                  "on this address:port, e.g. 127.0.0.1:9090 (empty: none; it has no authentication)")
      .add_bool("systemd_sockets", true,
                "accept on the listen sockets systemd passes (socket activation: LISTEN_FDS), when it passes any, "
                "instead of binding bind and port; one named admin (FileDescriptorName=admin) serves the admin "
                "endpoint instead of the admin address");
  return s;
}

int fail_startup(const std::string& line) {
  std::cerr << "otpnet-echo: " << line << "\n";
  return 2;
}

/// What the program needs beyond the application's configuration.
struct program {
  echo::echo_config ec;
  std::string port_file;
  std::string tls_cert;  // for the reload report
  std::chrono::milliseconds drain_timeout{};
  log_format format = log_format::text;
  unsigned schedulers = 0;
  std::string backend;
  bool systemd_sockets = true;
  /// Where the sockets systemd passed listen (empty: none passed).
  std::vector<socket::address> inherited;
  /// Where those named "admin" listen (the admin endpoint's).
  std::vector<socket::address> inherited_admin;
};

/// "127.0.0.1:9090" or "[::1]:9090".
std::optional<socket::address> address_and_port(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 6553) {
      return std::nullopt;
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) {
    return std::nullopt;
  }
  auto a = socket::address::parse(host, static_cast<std::uint16_t>(port));
  return a ? std::optional(*a) : std::nullopt;
}

/// Takes the listen sockets systemd passed, if any (before any thread
/// starts: the environment is read and cleared). An error is the line to
/// exit with.
tl::expected<void, std::string> take_inherited(program& p) {
  if (!p.systemd_sockets) {
    return {};
  }
  auto got = listener::inherited_sockets();
  if (!got) {
    return tl::unexpected<std::string>("systemd sockets (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES): " +
                                       format_error(got.error()));
  }
  for (const auto& s : *got) {
    if (!s.listening) {
      return tl::unexpected<std::string>("systemd sockets: " + s.address.to_string() +
                                         " does not listen (a stream socket with Accept=no is needed)");
    }
    // FileDescriptorName=admin: the admin endpoint's socket.
    if (s.name == echo::admin_name) {
      p.ec.admin_sockets.push_back(s.sock);
      p.inherited_admin.push_back(s.address);
    } else {
      p.ec.sockets.push_back(s.sock);
      p.inherited.push_back(s.address);
    }
  }
  return {};
}

tls::verify_mode verify_of(const std::string& s) {
  if (s == "required") {
    return tls::verify_mode::required;
  }
  return s == "optional" ? tls::verify_mode::optional : tls::verify_mode::none;
}

/// The TLS context, if the configuration asks for TLS; an error line if it
/// cannot be built.
tl::expected<tls::context, std::string> tls_of(const config& cfg) {
  const std::string& cert = cfg.get_string("tls.cert");
  const std::string& key = cfg.get_string("tls.key");
  if (cert.empty() != key.empty()) {
    return tl::unexpected<std::string>(std::string("config: key '") + (cert.empty() ? "tls.cert" : "tls.key") +
                                       "' is missing: tls.cert and tls.key go together");
  }
  if (cert.empty()) {
    // TLS is off: settings that only TLS reads would be ignored in silence
    // (a --tls-verify required server accepting plain clients).
    for (const char* k : {"tls.chain", "tls.ca"}) {
      if (!cfg.get_string(k).empty()) {
        return tl::unexpected<std::string>(std::string("config: key '") + k +
                                           "' is set but TLS is off: it needs tls.cert and tls.key");
      }
    }
    if (cfg.get_string("tls.verify") != "none") {
      return tl::unexpected<std::string>("config: key 'tls.verify' is \"" + cfg.get_string("tls.verify") +
                                         "\" but TLS is off: it needs tls.cert and tls.key");
    }
    return tls::context();
  }
  tls::server_options o;
  o.cert = {cert, key, cfg.get_string("tls.chain")};
  o.ca_file = cfg.get_string("tls.ca");
  o.verify = verify_of(cfg.get_string("tls.verify"));
  auto ctx = tls::context::server(std::move(o));
  if (!ctx) {
    return tl::unexpected<std::string>("tls: cannot load the certificate " + cert + ": " +
                                       std::string(err_name(ctx.error())) + ": " + tls::last_error());
  }
  return *ctx;
}

tl::expected<program, std::string> program_of(const config& cfg) {
  program p;
  auto port = static_cast<std::uint16_t>(cfg.get_int("port"));
  auto bind = socket::address::parse(cfg.get_string("bind"), port);
  if (!bind) {
    return tl::unexpected<std::string>("config: key 'bind': not an IPv4 or IPv6 address: \"" + cfg.get_string("bind") +
                                       "\"");
  }
  auto ctx = tls_of(cfg);
  if (!ctx) {
    return tl::unexpected<std::string>(ctx.error());
  }
  // 0 for these would fail every connection at once (there is no "never").
  for (const char* k : {"proxy_timeout", "tls.handshake_timeout"}) {
    if (cfg.get_duration(k).count() == 0) {
      return tl::unexpected<std::string>(std::string("config: key '") + k +
                                         "' is 0: a connection would time out at once; give a time (5s)");
    }
  }
  p.ec.bind = *bind;
  (void)gen_tcp::parse_packet_type(cfg.get_string("packet"), p.ec.packet);
  p.ec.packet_size = static_cast<std::uint32_t>(cfg.get_int("packet_size"));
  p.ec.max_connections = static_cast<std::size_t>(cfg.get_int("max_connections"));
  p.ec.backlog = static_cast<int>(cfg.get_int("backlog"));
  p.ec.acceptors = static_cast<std::size_t>(cfg.get_int("acceptors"));
  p.ec.delay_send = cfg.get_bool("delay_send");
  p.ec.handler.idle_timeout = cfg.get_duration("idle_timeout");
  p.ec.handler.log_connections = cfg.get_bool("log_connections");
  p.ec.handler.active_true = cfg.get_string("active") == "true";
  p.ec.handler.tls = *ctx;
  p.ec.handler.handshake_timeout = cfg.get_duration("tls.handshake_timeout");
  p.systemd_sockets = cfg.get_bool("systemd_sockets");
  if (const std::string& admin = cfg.get_string("admin"); !admin.empty()) {
    auto a = address_and_port(admin);
    if (!a) {
      return tl::unexpected<std::string>("config: key 'admin': not ADDRESS:PORT (127.0.0.1:9090, [::1]:9090): \"" +
                                         admin + "\"");
    }
    p.ec.admin = *a;
  }
  p.ec.handler.proxy_protocol = cfg.get_bool("proxy_protocol");
  p.ec.handler.proxy_timeout = cfg.get_duration("proxy_timeout");
  tls::set_handshake_limit(static_cast<std::size_t>(cfg.get_int("tls.max_handshakes")));
  p.port_file = cfg.get_string("port_file");
  p.tls_cert = cfg.get_string("tls.cert");
  p.drain_timeout = cfg.get_duration("drain_timeout");
  p.format = log_format_from_string(cfg.get_string("log_format")).value_or(log_format::text);
  p.schedulers = static_cast<unsigned>(cfg.get_int("schedulers"));
  p.backend = cfg.get_string("backend");
  if (!p.backend.empty() && p.backend != "epoll" && p.backend != "io_uring") {
    return tl::unexpected<std::string>("backend: unknown \"" + p.backend + "\" (epoll or io_uring)");
  }
  return p;
}

/// SIGHUP: new handshakes use the certificate files as they are now; live
/// connections keep theirs. One report line either way.
void reload_certificate(const program& p) {
  const tls::context& ctx = p.ec.handler.tls;
  if (!ctx) {
    spdlog::warn("otpnet-echo: SIGHUP: no TLS certificate to reload (--tls-cert is not set)");
    return;
  }
  if (auto r = ctx.reload(); !r) {
    spdlog::error("otpnet-echo: SIGHUP: certificate reload failed, the previous one stays in use: {}: {}",
                  err_name(r.error()), tls::last_error());
    return;
  }
  spdlog::info("otpnet-echo: SIGHUP: certificate reloaded from {} (generation {}): new handshakes use it", p.tls_cert,
               ctx.generation());
}

/// The application's end, when it was not asked for (its top supervisor
/// gave up: OTP's permanent application, which stops the node). Set on a
/// scheduler thread by the termination handler, read by the main thread.
class app_end {
 public:
  void set(const application::termination& t) {
    {
      std::lock_guard lk(mu_);
      what_ = t.reason.to_string();
    }
    ended_.store(true, std::memory_order_release);
  }
  bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
  std::string what() const {
    std::lock_guard lk(mu_);
    return what_;
  }

 private:
  std::atomic<bool> ended_{false};
  mutable std::mutex mu_;
  std::string what_;
};

/// Serves until SIGTERM or SIGINT, then drains; a second one stops at once.
/// If the application ends by itself meanwhile (its top supervisor gave
/// up), exits 1 so that a service manager restarts the server.
int serve_until_stopped(const program& p, echo::signal_set& sigs, const app_end& end) {
  // Report lines, so that --log-format json keeps every line JSON.
  int sig = sigs.wait_stop([&] { reload_certificate(p); }, [&] { return end.ended(); });
  if (sig == 0) {
    spdlog::critical("otpnet-echo: the application tcp_server ended ({}): it has given up restarting; exiting",
                     end.what());
    return 1;
  }
  spdlog::info("otpnet-echo: signal {}: draining (up to {} ms; a second signal stops at once)", sig,
               p.drain_timeout.count());
  echo::drainer d(echo::listener_name, p.drain_timeout, sigs);
  if (!sigs.wait_drained(d, [&] { reload_certificate(p); })) {
    spdlog::warn("otpnet-echo: second signal: stopping now");
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }
  const auto& r = d.result();
  int rc = 0;
  if (r) {
    spdlog::info("otpnet-echo: drained: {} finished, {} stopped at the deadline", r->finished, r->forced);
  } else {
    spdlog::error("otpnet-echo: drain failed: {}", r.error().to_string());
    rc = 1;
  }
  (void)sync_wait(application::stop("tcp_server"));
  // What each scheduler did over the server's life: its backend, turns,
  // events, and with io_uring its submissions and multishot receives.
  for (const scheduler_statistics& s : runtime::statistics()) {
    spdlog::info("otpnet-echo: {}", s.to_string());
  }
  return rc;
}

/// The line for a failed start: the listener's own reason when it could not
/// listen (OTP nests it as {shutdown, failed_to_start_child ...}).
std::string start_failure(const exit_reason& why) {
  std::string text = why.is_shutdown() && !why.text().empty() ? std::string(why.text()) : why.to_string();
  const std::string listener_failed = std::string("failed_to_start_child ") + echo::listener_name + ": ";
  if (text.rfind(listener_failed, 0) == 0) {
    return "cannot listen: " + text.substr(listener_failed.size());
  }
  return "cannot start: " + text;
}

/// Starts the application and serves; the exit code.
int run(const program& p, const echo::held_log& held, echo::signal_set& sigs) {
  mailbox mb;
  // With several acceptors the listen sockets have SO_REUSEPORT, which
  // would let this server join a port another one serves (a second
  // instance started by mistake) and share its clients in silence.
  if (p.ec.sockets.empty() && listener::port_in_use(p.ec.bind)) {
    return fail_startup("cannot listen: " + format_error(errc::eaddrinuse) + " (" + p.ec.bind.to_string() +
                        "): a socket listens there already");
  }
  auto spec = echo::make_app(p.ec);
  // (Static: the handler may run on a scheduler thread until the runtime
  // stops, after this frame; `sigs` lives until then.)
  static app_end end;
  application::set_termination_handler([&sigs](const application::termination& t) {
    end.set(t);
    sigs.wake();
  });
  auto started = sync_wait(application::start(spec, application::start_type::permanent));
  if (!started) {
    return fail_startup(start_failure(started.error()));
  }
  auto info = sync_wait(listener::info(echo::listener_name));
  std::uint16_t bound = info && !info->ports.empty() ? info->ports.front().port : p.ec.bind.port();
  if (p.inherited.empty()) {
    std::cout << "listening on " << p.ec.bind.with_port(bound).to_string() << (p.ec.handler.tls ? " (TLS)" : "")
              << std::endl;
  }
  for (const socket::address& a : p.inherited) {
    std::cout << "listening on " << a.to_string() << (p.ec.handler.tls ? " (TLS)" : "") << " (from systemd)"
              << std::endl;
  }
  for (const socket::address& a : p.inherited_admin) {
    std::cout << "admin on " << a.to_string() << " (from systemd)" << std::endl;
  }
  if (p.ec.admin && p.inherited_admin.empty()) {
    auto admin = sync_wait(listener::info(std::string(echo::admin_name) + "_listener"));
    std::uint16_t at = admin && !admin->ports.empty() ? admin->ports.front().port : p.ec.admin->port();
    std::cout << "admin on " << p.ec.admin->with_port(at).to_string() << std::endl;
  }
  // The port file comes last: whoever waits for it finds the line above
  // already written.
  if (!p.port_file.empty()) {
    if (auto w = echo::write_port_file(p.port_file, bound); !w) {
      (void)sync_wait(application::stop("tcp_server"));
      return fail_startup(w.error());
    }
  }
  held.release();
  return serve_until_stopped(p, sigs, end);
}

/// The program, from its command line to its exit code.
int run_main(int argc, char** argv) {
  config_schema s = schema();
  CLI::App app{"otpnet-echo: the OTP tutorial's non-blocking echo server", "otpnet-echo"};
  std::string config_file;
  bool print_config = false;
  config::cli_map cli;
  app.add_option("--config", config_file, "TOML configuration file");
  app.add_flag("--print-config", print_config, "print the effective configuration and exit");
  app.set_version_flag("--version", "otpnet-echo 0.1.0");
  add_cli_options(app, s, cli);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e);  // --help, --version
    }
    return fail_startup(std::string("command line: ") + e.what() + " (try --help)");
  }
  // Writes to a reader that has gone (a closed log pipe) fail with EPIPE
  // instead of ending the server without its drain.
  (void)std::signal(SIGPIPE, SIG_IGN);

  std::optional<std::filesystem::path> file;
  if (!config_file.empty()) {
    file = config_file;
  }
  auto cfg = config::load(s, file, config::environment(), cli);
  if (!cfg) {
    return fail_startup(cfg.error().to_string());
  }
  if (print_config) {
    std::cout << cfg->print();
    return 0;
  }
  auto p = program_of(*cfg);
  if (!p) {
    return fail_startup(p.error());
  }
  if (auto t = take_inherited(*p); !t) {
    return fail_startup(t.error());
  }
  echo::held_log held;
  if (auto r = logger::configure({.format = p->format, .sink = held.sink()}); !r) {
    return fail_startup(r.error());
  }
  // Before any other thread starts, so that every thread inherits the mask.
  echo::signal_set sigs;
  if (auto r = runtime::start({.schedulers = p->schedulers, .backend = p->backend}); !r) {
    return fail_startup("runtime: " + format_error(r.error()));
  }
  int rc = run(*p, held, sigs);
  // Handlers that ended with their last answers still queued (a client
  // reading slowly) have them written out for up to drain_timeout more,
  // on a thread of its own, so that a signal meanwhile still stops the
  // server at once.
  std::atomic<bool> stopped{false};
  std::thread stopper;
  try {
    stopper = std::thread([&] {
      runtime::stop(p->drain_timeout);
      stopped.store(true, std::memory_order_release);
      sigs.wake();
    });
  } catch (const std::system_error&) {
    runtime::stop(p->drain_timeout);  // (no thread for it: here, without the second signal)
    return rc;
  }
  if (!sigs.wait_for([&] { return stopped.load(std::memory_order_acquire); }, [] {})) {
    spdlog::warn("otpnet-echo: signal while the last answers were written out: stopping now");
    spdlog::default_logger()->flush();
    std::_Exit(rc != 0 ? rc : 1);
  }
  stopper.join();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    // Nothing below is expected to throw; if it does, one line all the same.
    return fail_startup(std::string("unexpected error: ") + e.what());
  } catch (...) {
    return fail_startup("unexpected error");
  }
}
