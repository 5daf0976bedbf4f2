// File: fuzz/config.fuzz.cpp
//
// libFuzzer target for the configuration decoder (behaviours/config):
// TOML text, and the text of an environment variable or a command-line
// option, read against a schema with a key of every type and limits like
// otpnet-echo's. The first byte says where the rest goes (the TOML text, or
// the environment's or the command line's value of the key the second byte
// picks). Checked on every input:
//   - a refusal has its one line (config_error::to_string);
//   - what loads prints (--print-config) as TOML that loads again, every
//     value the same: the printed configuration is usable as a config file;
//   - every value's text form (config::format) read back from the
//     environment is the same value.
// Build and run: scripts/fuzz.sh config (docs/configuration.md).
#include <otpnet/behaviours/config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using otpnet::config;
using otpnet::config_schema;

namespace {

using namespace std::chrono_literals;

const config_schema& schema() {
  static const config_schema s = [] {
    config_schema c;
    c.add_int("port", 2222, "TCP port", 0, 65535)
        .add_int("offset", 0, "any integer")
        .add_string("bind", "0.0.0.0", "address")
        .add_bool("delay_send", true, "coalesce")
        .add_duration("idle_timeout", 120s, "idle")
        .add_enum("packet", "2", {"raw", "1", "2", "4", "line"}, "framing")
        .add_string("tls.cert", "", "certificate")
        .add_enum("log.format", "text", {"text", "json"}, "log format");
    return c;
  }();
  return s;
}

void check(bool ok, const char* what, const std::string& detail) {
  if (!ok) {
    std::fprintf(stderr, "config fuzz: %s\n%s\n", what, detail.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const config_schema& s = schema();
  const auto& keys = s.keys();
  const otpnet::config_key& key = keys[data[1] % keys.size()];
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  tl::expected<config, otpnet::config_error> c = [&]() {
    switch (data[0] % 3) {
      case 0:
        return config::load_toml(s, rest, "fuzz.toml", {}, {});
      case 1:
        return config::load_toml(s, "", "none", {{key.env, std::string(rest)}}, {});
      default:
        return config::load_toml(s, "", "none", {}, {{key.name, std::string(rest)}});
    }
  }();
  if (!c) {
    check(!c.error().to_string().empty(), "a refusal without its line", "");
    return 0;
  }
  const std::string printed = c->print();
  auto again = config::load_toml(s, printed, "printed.toml", {}, {});
  check(again.has_value(), "the printed configuration does not load",
        printed + (again ? "" : "\n" + again.error().to_string()));
  for (const auto& k : keys) {
    check(again->get(k.name) == c->get(k.name), "a value printed and loaded again differs",
          printed + "\nkey " + k.name);
    auto from_env = config::load_toml(s, "", "none", {{k.env, config::format(c->get(k.name))}}, {});
    check(from_env.has_value() && from_env->get(k.name) == c->get(k.name),
          "a value's text form does not read back the same", "key " + k.name + ": " + config::format(c->get(k.name)));
  }
  return 0;
}
