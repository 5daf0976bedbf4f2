// The configuration schema, loading in precedence order (defaults, file,
// environment, command line: each source overwrites the ones before it),
// and printing the effective values with their sources.
#include <otpnet/behaviours/config.hpp>

#include "behaviours/config_value.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <system_error>

namespace otpnet {

namespace {

std::string env_name(std::string_view key) {
  std::string s = "OTPNET_";
  for (char c : key) {
    s += c == '.' || c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string cli_name(std::string_view key) {
  std::string s = "--";
  for (char c : key) {
    s += c == '.' || c == '_' ? '-' : c;
  }
  return s;
}

tl::unexpected<config_error> error(config_error::kind k, config_source src, std::string key, std::string where,
                                   std::string detail) {
  return tl::unexpected<config_error>(config_error{k, src, std::move(key), std::move(where), std::move(detail)});
}

}  // namespace

std::string_view to_string(config_type t) noexcept {
  switch (t) {
    case config_type::integer:
      return "integer";
    case config_type::string:
      return "string";
    case config_type::boolean:
      return "boolean";
    case config_type::duration:
      return "duration";
    case config_type::enumeration:
      return "enum";
  }
  return "?";
}

std::string_view to_string(config_source s) noexcept {
  switch (s) {
    case config_source::default_:
      return "default";
    case config_source::file:
      return "file";
    case config_source::env:
      return "env";
    case config_source::cli:
      return "cli";
  }
  return "?";
}

// -- schema --------------------------------------------------------------------------

config_schema& config_schema::add(config_key k) {
  if (k.name.empty() || find(k.name) != nullptr) {
    throw std::invalid_argument("config_schema: empty or duplicate key '" + k.name + "'");
  }
  k.env = env_name(k.name);
  k.cli = cli_name(k.name);
  // The default must pass the key's own checks, as any other source.
  if (!internal::parse_config_text(k, config::format(k.default_value))) {
    throw std::invalid_argument("config_schema: the default of '" + k.name + "' does not fit its key");
  }
  keys_.push_back(std::move(k));
  return *this;
}

config_schema& config_schema::add_int(std::string name, std::int64_t def, std::string description, std::int64_t min,
                                      std::int64_t max) {
  return add({std::move(name), config_type::integer, def, std::move(description), min, max, {}, {}, {}});
}

config_schema& config_schema::add_string(std::string name, std::string def, std::string description) {
  config_key k{std::move(name), config_type::string, std::move(def), std::move(description)};
  return add(std::move(k));
}

config_schema& config_schema::add_bool(std::string name, bool def, std::string description) {
  return add({std::move(name), config_type::boolean, def, std::move(description)});
}

config_schema& config_schema::add_duration(std::string name, std::chrono::milliseconds def, std::string description) {
  return add({std::move(name), config_type::duration, def, std::move(description)});
}

config_schema& config_schema::add_enum(std::string name, std::string def, std::vector<std::string> choices,
                                       std::string description) {
  config_key k{std::move(name), config_type::enumeration, std::move(def), std::move(description)};
  k.choices = std::move(choices);
  return add(std::move(k));
}

const config_key* config_schema::find(std::string_view name) const noexcept {
  auto it = std::find_if(keys_.begin(), keys_.end(), [&](const config_key& k) { return k.name == name; });
  return it == keys_.end() ? nullptr : &*it;
}

// -- errors ----------------------------------------------------------------------------

std::string config_error::to_string() const {
  if (what == kind::unreadable_file) {
    return "config: cannot read " + where + ": " + detail;
  }
  std::string place = source == config_source::env   ? "in environment variable " + where
                      : source == config_source::cli ? "on the command line (" + where + ")"
                                                     : "in " + where;
  if (what == kind::unknown_key) {
    return "config: unknown key '" + key + "' " + place;
  }
  return "config: key '" + key + "' " + place + ": " + detail;
}

// -- loading -----------------------------------------------------------------------------

namespace {

using entry_setter = std::function<void(const config_key&, config_value, config_source, std::string)>;

/// Walks a TOML table: leaves are keys (dotted by their tables).
tl::expected<void, config_error> read_table(const config_schema& s, const toml::table& t, const std::string& prefix,
                                            const std::string& file, const entry_setter& set) {
  for (const auto& [k, node] : t) {
    std::string name = prefix + std::string(k.str());
    const config_key* key = s.find(name);
    if (key == nullptr && node.is_table()) {
      if (auto r = read_table(s, *node.as_table(), name + ".", file, set); !r) {
        return r;
      }
      continue;
    }
    if (key == nullptr) {
      return error(config_error::kind::unknown_key, config_source::file, name, file, {});
    }
    auto v = internal::parse_config_node(*key, node);
    if (!v) {
      return error(config_error::kind::bad_value, config_source::file, name, file, v.error());
    }
    set(*key, std::move(*v), config_source::file, file);
  }
  return {};
}

tl::expected<void, config_error> read_file(const config_schema& s, const std::filesystem::path& path,
                                           const entry_setter& set) {
  std::string file = path.string();
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st) || ec || !std::filesystem::is_regular_file(st)) {
    return error(config_error::kind::unreadable_file, config_source::file, {}, file,
                 !std::filesystem::exists(st) ? "no such file"
                 : ec                         ? ec.message()
                                              : "not a regular file");
  }
  toml::table t;
  try {
    t = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return error(config_error::kind::unreadable_file, config_source::file, {}, file,
                 "line " + std::to_string(where.line) + ", column " + std::to_string(where.column) + ": " +
                     std::string(e.description()));
  }
  return read_table(s, t, "", file, set);
}

}  // namespace

tl::expected<config, config_error> config::load(const config_schema& schema,
                                                const std::optional<std::filesystem::path>& file, const env_map& env,
                                                const cli_map& cli) {
  config c;
  c.keys_ = schema.keys();
  for (std::size_t i = 0; i < c.keys_.size(); ++i) {
    c.entries_.push_back({i, c.keys_[i].default_value, config_source::default_, {}});
  }
  entry_setter set = [&c](const config_key& k, config_value v, config_source src, std::string origin) {
    entry& e = c.entries_[c.index_of(k.name)];
    e.value = std::move(v);
    e.source = src;
    e.origin = std::move(origin);
  };
  if (file) {
    if (auto r = read_file(schema, *file, set); !r) {
      return tl::unexpected(r.error());
    }
  }
  for (const config_key& k : c.keys_) {
    if (auto it = env.find(k.env); it != env.end()) {
      auto v = internal::parse_config_text(k, it->second);
      if (!v) {
        return error(config_error::kind::bad_value, config_source::env, k.name, k.env, v.error());
      }
      set(k, std::move(*v), config_source::env, k.env);
    }
  }
  for (const auto& [name, text] : cli) {
    const config_key* k = schema.find(name);
    if (k == nullptr) {
      return error(config_error::kind::unknown_key, config_source::cli, name, cli_name(name), {});
    }
    auto v = internal::parse_config_text(*k, text);
    if (!v) {
      return error(config_error::kind::bad_value, config_source::cli, name, k->cli, v.error());
    }
    set(*k, std::move(*v), config_source::cli, k->cli);
  }
  return c;
}

config::env_map config::environment() {
  env_map out;
  for (char** e = ::environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (kv.starts_with("OTPNET_") && eq != std::string_view::npos) {
      out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  }
  return out;
}

// -- reading -------------------------------------------------------------------------------

std::size_t config::index_of(std::string_view name) const {
  auto it = std::find_if(keys_.begin(), keys_.end(), [&](const config_key& k) { return k.name == name; });
  if (it == keys_.end()) {
    throw std::invalid_argument("config: no key '" + std::string(name) + "' in the schema");
  }
  return static_cast<std::size_t>(it - keys_.begin());
}

const config::entry& config::at(std::string_view name) const { return entries_[index_of(name)]; }

const config_value& config::get(std::string_view name) const { return at(name).value; }
config_source config::source(std::string_view name) const { return at(name).source; }
const std::string& config::origin(std::string_view name) const { return at(name).origin; }

namespace {

template <class T>
const T& typed(const config_value& v, std::string_view name) {
  if (auto* p = std::get_if<T>(&v)) {
    return *p;
  }
  throw std::invalid_argument("config: key '" + std::string(name) + "' has another type");
}

}  // namespace

std::int64_t config::get_int(std::string_view name) const { return typed<std::int64_t>(get(name), name); }
const std::string& config::get_string(std::string_view name) const { return typed<std::string>(get(name), name); }
bool config::get_bool(std::string_view name) const { return typed<bool>(get(name), name); }
std::chrono::milliseconds config::get_duration(std::string_view name) const {
  return typed<std::chrono::milliseconds>(get(name), name);
}

std::string config::format(const config_value& v) {
  if (auto* s = std::get_if<std::string>(&v)) {
    return *s;
  }
  if (auto* d = std::get_if<std::chrono::milliseconds>(&v)) {
    return internal::format_duration(*d);
  }
  return internal::config_toml(v);
}

std::string config::print() const {
  std::vector<std::string> lefts;
  std::size_t width = 0;
  for (const entry& e : entries_) {
    lefts.push_back(keys_[e.key].name + " = " + internal::config_toml(e.value));
    width = std::max(width, lefts.back().size());
  }
  std::string out = "# effective configuration: value  # source -- description\n";
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const entry& e = entries_[i];
    std::string src(to_string(e.source));
    if (e.source != config_source::default_ && e.source != config_source::cli) {
      src += " " + e.origin;
    }
    out += lefts[i] + std::string(width - lefts[i].size() + 2, ' ') + "# " + src + " -- " + keys_[e.key].description +
           "\n";
  }
  return out;
}

}  // namespace otpnet
