// File: otpnet/behaviours/config.hpp
//
// Configuration with DESIGN.md's precedence, lowest first: built-in
// defaults < TOML config file < environment (OTPNET_<NAME>) < command line.
// A program declares its keys once in a `config_schema` (name, type,
// default, description, limits), then `config::load` reads every source,
// checks every value against its key, and gives the effective values, each
// with the source it came from; `print()` shows them for --print-config.
//
//   config_schema s;
//   s.add_int("port", 2222, "TCP port to listen on", 1, 65535)
//    .add_duration("idle_timeout", 120s, "close a silent client after this");
//   auto c = config::load(s, "/etc/echo.toml", config::environment(), cli);
//   if (!c) { std::cerr << c.error().to_string() << "\n"; return 2; }
//   int port = c->get_int("port");
#pragma once

#include <tl/expected.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace otpnet {

enum class config_type : unsigned char { integer, string, boolean, duration, enumeration };
/// Where a value came from.
enum class config_source : unsigned char { default_, file, env, cli };

std::string_view to_string(config_type t) noexcept;
/// "default", "file", "env", "cli".
std::string_view to_string(config_source s) noexcept;

/// A value: integer, string (also enums), boolean or duration.
using config_value = std::variant<std::int64_t, std::string, bool, std::chrono::milliseconds>;

/// One key of a schema.
struct config_key {
  /// snake_case; dots make TOML tables ("log.format" is `format` in [log]).
  std::string name;
  config_type type = config_type::string;
  config_value default_value;
  std::string description;
  std::int64_t min = std::numeric_limits<std::int64_t>::min();  ///< integers
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::vector<std::string> choices;  ///< enumerations
  /// OTPNET_<NAME>: upper case, dots and dashes as underscores.
  std::string env;
  /// --name: dashes for underscores and dots ("--idle-timeout").
  std::string cli;
};

/// The keys a program accepts, in the order they are printed.
class config_schema {
 public:
  config_schema& add_int(std::string name, std::int64_t def, std::string description,
                         std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                         std::int64_t max = std::numeric_limits<std::int64_t>::max());
  config_schema& add_string(std::string name, std::string def, std::string description);
  config_schema& add_bool(std::string name, bool def, std::string description);
  /// In files, the environment and on the command line a duration is a
  /// number with a unit, "500ms", "120s", "2m", "1h"; a bare number is ms.
  config_schema& add_duration(std::string name, std::chrono::milliseconds def, std::string description);
  /// One of `choices` (written as strings; a TOML integer matches "2").
  config_schema& add_enum(std::string name, std::string def, std::vector<std::string> choices, std::string description);

  const std::vector<config_key>& keys() const noexcept { return keys_; }
  const config_key* find(std::string_view name) const noexcept;

 private:
  config_schema& add(config_key k);
  std::vector<config_key> keys_;
};

/// Why loading failed; to_string() is the one line a program prints.
struct config_error {
  enum class kind : unsigned char {
    bad_value,        ///< a value that does not fit its key
    unknown_key,      ///< a key the schema does not have (file, command line)
    unreadable_file,  ///< missing, unreadable, or not valid TOML
  };
  kind what = kind::bad_value;
  config_source source = config_source::file;
  std::string key;     ///< the key (empty for unreadable_file)
  std::string where;   ///< the file's path, the variable, or the option (--port)
  std::string detail;  ///< "expected an integer between 1 and 65535, got \"abc\""

  /// "config: key 'port' in /x.toml: expected an integer between 1 and
  /// 65535, got \"abc\"", "config: key 'port' in environment variable
  /// OTPNET_PORT: ...", "config: key 'port' on the command line (--port):
  /// ...", "config: unknown key 'prot' in /x.toml", "config: cannot read
  /// /x.toml: no such file".
  std::string to_string() const;
};

/// The effective configuration. Copyable; immutable once loaded.
class config {
 public:
  using env_map = std::map<std::string, std::string>;
  using cli_map = std::map<std::string, std::string>;

  /// Reads, lowest precedence first, the schema's defaults, `file` (TOML;
  /// none: skipped), the OTPNET_* variables of `env` that name a key (other
  /// variables are ignored), and `cli` (key name -> text, as the command
  /// line gave it). Errors: the first bad value, unknown key or unreadable
  /// file, in that order of sources.
  static tl::expected<config, config_error> load(const config_schema& schema,
                                                 const std::optional<std::filesystem::path>& file, const env_map& env,
                                                 const cli_map& cli);

  /// The same with the file's part given as TOML text (a configuration a
  /// program embeds, or what print() wrote); `origin` names it in errors
  /// and in origin(). A text that is not valid TOML is unreadable_file.
  static tl::expected<config, config_error> load_toml(const config_schema& schema, std::string_view toml_text,
                                                      const std::string& origin, const env_map& env,
                                                      const cli_map& cli);
  /// This process's environment (the OTPNET_* part of it).
  static env_map environment();

  /// Typed getters. The key must exist with that type (a programming
  /// error otherwise: std::invalid_argument).
  std::int64_t get_int(std::string_view name) const;
  const std::string& get_string(std::string_view name) const;  ///< strings and enums
  bool get_bool(std::string_view name) const;
  std::chrono::milliseconds get_duration(std::string_view name) const;
  const config_value& get(std::string_view name) const;
  config_source source(std::string_view name) const;
  /// The file, variable or "command line" a value came from ("" for defaults).
  const std::string& origin(std::string_view name) const;

  /// The effective configuration as TOML (usable as a config file), each
  /// value with its source and description in a comment:
  ///   port = 2222  # default -- TCP port to listen on
  ///   idle_timeout = "30s"  # env OTPNET_IDLE_TIMEOUT -- close a silent client
  std::string print() const;

  /// A value as text, in the form the sources accept ("120s", "true").
  static std::string format(const config_value& v);

 private:
  struct entry {
    std::size_t key;  // index in keys_
    config_value value;
    config_source source = config_source::default_;
    std::string origin;
  };
  /// load and load_toml: the file's part from `file` or from `text`
  /// (neither: none).
  static tl::expected<config, config_error> load_from(const config_schema& schema, const std::filesystem::path* file,
                                                      const std::string_view* text, const std::string& origin,
                                                      const env_map& env, const cli_map& cli);
  std::size_t index_of(std::string_view name) const;
  const entry& at(std::string_view name) const;

  std::vector<config_key> keys_;  // the schema's, in order
  std::vector<entry> entries_;    // one per key, same order
};

/// Adds one option per key to a CLI11 app (`--port`, `--idle-timeout`;
/// booleans are flags, `--name` or `--name=false`), each storing the text
/// it is given in `cli` under the key's name, for config::load. Any type
/// with CLI11's add_option_function works; config.hpp does not include
/// CLI11. `cli` must outlive the parse.
template <class App>
void add_cli_options(App& app, const config_schema& schema, config::cli_map& cli) {
  for (const config_key& k : schema.keys()) {
    std::string help = k.description + " (default " + config::format(k.default_value) + ", env " + k.env + ")";
    auto store = [&cli, name = k.name](const std::string& v) { cli[name] = v; };
    if (k.type == config_type::boolean) {
      app.template add_option_function<std::string>(k.cli, store, help)->expected(0, 1)->default_str("true");
    } else {
      app.template add_option_function<std::string>(k.cli, store, help);
    }
  }
}

}  // namespace otpnet
