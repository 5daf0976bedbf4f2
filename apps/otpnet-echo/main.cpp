// File: apps/otpnet-echo/main.cpp
//
// otpnet-echo: the tutorial's echo server as a program. Configuration comes
// from built-in defaults < a TOML file (--config) < OTPNET_* variables <
// the command line; --print-config shows the result. It prints
// "listening on ADDRESS" when it accepts, drains on SIGTERM or SIGINT
// (exit 0), and stops at once on a second signal. A startup error (port in
// use, bad value) is one line on stderr and a non-zero exit.
#include <otpnet/behaviours/application.hpp>
#include <otpnet/behaviours/config.hpp>
#include <otpnet/behaviours/logger.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/address.hpp>

#include "echo_app.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace otpnet;

config_schema schema() {
  config_schema s;
  s.add_int("port", 2222, "TCP port to listen on (0: any free port)", 0, 65535)
      .add_string("bind", "0.0.0.0", "address to listen on (IPv4 or IPv6 literal)")
      .add_enum("packet", "2", {"raw", "1", "2", "4", "line"}, "framing of client messages ({packet, N})")
      .add_int("packet_size", 0, "largest frame accepted, bytes (0: no limit)", 0, 1 << 30)
      .add_duration("idle_timeout", 120s, "close a client silent for this long")
      .add_int("max_connections", 0, "connections served at once (0: no limit)", 0, 1 << 30)
      .add_int("schedulers", 0, "scheduler threads (0: one per core)", 0, 1024)
      .add_int("backlog", 4096, "listen backlog", 1, 1 << 20)
      .add_enum("log_format", "text", {"text", "json"}, "format of log lines and reports")
      .add_bool("log_connections", false, "log each connect and disconnect (info level)")
      .add_duration("drain_timeout", 10s, "on SIGTERM/SIGINT, how long live connections may finish")
      .add_bool("delay_send", true, "gather the replies of one scheduler turn into one write")
      .add_string("port_file", "", "write the bound port to this file once listening");
  return s;
}

int fail_startup(const std::string& line) {
  std::cerr << "otpnet-echo: " << line << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  config_schema s = schema();
  CLI::App app{"otpnet-echo: the OTP tutorial's non-blocking echo server", "otpnet-echo"};
  std::string config_file;
  bool print_config = false;
  config::cli_map cli;
  app.add_option("--config", config_file, "TOML configuration file");
  app.add_flag("--print-config", print_config, "print the effective configuration and exit");
  app.set_version_flag("--version", "otpnet-echo 0.1.0");
  add_cli_options(app, s, cli);
  CLI11_PARSE(app, argc, argv);

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

  echo::echo_config ec;
  auto port = static_cast<std::uint16_t>(cfg->get_int("port"));
  auto bind = socket::address::parse(cfg->get_string("bind"), port);
  if (!bind) {
    return fail_startup("config: key 'bind': not an IPv4 or IPv6 address: \"" + cfg->get_string("bind") + "\"");
  }
  ec.bind = *bind;
  (void)gen_tcp::parse_packet_type(cfg->get_string("packet"), ec.packet);
  ec.packet_size = static_cast<std::uint32_t>(cfg->get_int("packet_size"));
  ec.max_connections = static_cast<std::size_t>(cfg->get_int("max_connections"));
  ec.backlog = static_cast<int>(cfg->get_int("backlog"));
  ec.delay_send = cfg->get_bool("delay_send");
  ec.handler.idle_timeout = cfg->get_duration("idle_timeout");
  ec.handler.log_connections = cfg->get_bool("log_connections");

  auto format = log_format_from_string(cfg->get_string("log_format"));
  if (auto r = logger::configure({.format = format.value_or(log_format::text)}); !r) {
    return fail_startup(r.error());
  }

  // Signals are taken by this thread alone (sigwait): block them before
  // any scheduler thread starts, so that every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  if (auto r = runtime::start({.schedulers = static_cast<unsigned>(cfg->get_int("schedulers"))}); !r) {
    return fail_startup("runtime: " + format_error(r.error()));
  }
  int rc = 0;
  {
    mailbox mb;
    auto spec = echo::make_app(ec);
    auto started = sync_wait(application::start(spec));
    if (!started) {
      rc = fail_startup("cannot start: " + started.error().to_string());
    } else {
      auto info = sync_wait(listener::info(echo::listener_name));
      std::uint16_t bound = info && !info->ports.empty() ? info->ports.front().port : port;
      std::cout << "listening on " << ec.bind.with_port(bound).to_string() << std::endl;
      if (auto pf = cfg->get_string("port_file"); !pf.empty()) {
        std::ofstream(pf) << bound << "\n";
      }
      int sig = 0;
      sigwait(&sigs, &sig);
      std::cerr << "otpnet-echo: signal " << sig << ": draining (up to " << cfg->get_duration("drain_timeout").count()
                << " ms; a second signal stops at once)" << std::endl;
      std::optional<outcome<listener::drain_result>> drained;
      std::thread drainer([&] {
        mailbox dm;
        drained = sync_wait(listener::drain(echo::listener_name, cfg->get_duration("drain_timeout")));
        ::kill(::getpid(), SIGTERM);  // wake the waiting main thread
      });
      sigwait(&sigs, &sig);
      if (drained && *drained) {
        std::cerr << "otpnet-echo: drained: " << (*drained)->finished << " finished, " << (*drained)->forced
                  << " stopped at the deadline" << std::endl;
        drainer.join();
        (void)sync_wait(application::stop("tcp_server"));
      } else {
        std::cerr << "otpnet-echo: stopping now" << std::endl;
        drainer.detach();
        std::_Exit(1);
      }
    }
  }
  runtime::stop();
  return rc;
}
