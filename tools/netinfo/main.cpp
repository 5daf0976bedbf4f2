// File: tools/netinfo/main.cpp
//
// otpnet-netinfo: what otpnet's net and socket layers see on this machine
// (host name, interfaces, resolver answers, supports) and a live self-check
// over loopback. The README's first command runs it until the echo server
// exists.
//   otpnet-netinfo [--json] [--no-selfcheck]
// Exit status: 0 on success; 1 with one line on stderr when a step fails
// (the report, as far as it got, is still printed); CLI11's code for a bad
// command line.

#include "netinfo.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#ifndef OTPNET_NETINFO_VERSION
#define OTPNET_NETINFO_VERSION "unknown"
#endif

namespace {

namespace ni = otpnet::tools::netinfo;

int fail_with(const std::string& what) {
  std::cerr << "otpnet-netinfo: error: " << what << '\n';
  return 1;
}

int run(bool json, bool selfcheck) {
  auto r = ni::collect();
  if (!r) {
    return fail_with(r.error().to_string());
  }
  r->version = OTPNET_NETINFO_VERSION;
  if (selfcheck) {
    r->selfcheck = ni::run_selfcheck();
  }
  std::cout << (json ? ni::to_json(*r) : ni::to_text(*r)) << std::flush;
  if (r->selfcheck && !r->selfcheck->ok()) {
    return fail_with("self-check failed at " + r->selfcheck->error.to_string());
  }
  return 0;
}

int cli_main(int argc, char** argv) {
  CLI::App app{
      "Prints what otpnet's net and socket layers see on this machine: the host name, the interfaces, what "
      "localhost and the host name resolve to and what the socket layer supports; then checks a TCP connection "
      "over 127.0.0.1.",
      "otpnet-netinfo"};
  bool json = false;
  bool no_selfcheck = false;
  app.add_flag("--json", json, "Print one JSON document instead of text");
  app.add_flag("--no-selfcheck", no_selfcheck, "Skip the live check over loopback");
  app.set_version_flag("--version", std::string("otpnet-netinfo ") + OTPNET_NETINFO_VERSION);
  CLI11_PARSE(app, argc, argv);
  return run(json, !no_selfcheck);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return cli_main(argc, argv);
  } catch (const std::exception& e) {
    // Only allocation and stream failures can get here: the layers below
    // return errors as values.
    return fail_with(e.what());
  } catch (...) {
    return fail_with("unexpected exception");
  }
}
