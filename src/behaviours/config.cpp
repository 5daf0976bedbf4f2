// The configuration schema, loading in precedence order (defaults, file,
// environment, command line: each source overwrites the ones before it),
// and printing the effective values with their sources.
#include <otpnet/behaviours/config.hpp>

#include "behaviours/config_value.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
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

/// Where toml++ 3.3 (Debian 12's) would reach undefined behaviour: its
/// whitespace test ends in __builtin_unreachable for most code points in
/// U+00A1..U+0499, U+2C5E..U+3057 (but U+3000) and U+FB26..U+FEFE
/// (upstream issue 295, fixed after 3.4). The parser asks it of any
/// character outside strings and comments (in a value, of every character
/// of a bare word, quotes included: `1."x"` is one word), and after a
/// backslash in a multi-line basic string. TOML allows only ASCII there
/// anyway (bare keys, values, headers; escapes), so a text with a
/// non-ASCII byte there is refused here. A leading byte order mark is
/// skipped, as the parser skips it. The line and column (in bytes) of the
/// first, or nothing.
std::optional<std::string> unsafe_for_toml_parser(std::string_view t) {
  std::size_t line = 1;
  std::size_t line_start = 0;
  auto at = [&](std::size_t i, const char* what) {
    return "line " + std::to_string(line) + ", column " + std::to_string(i - line_start + 1) + ": " + what;
  };
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  auto non_ascii = [](char c) { return static_cast<unsigned char>(c) >= 0x80; };
  // Where the scan is: a key (a line's start, a table header, an inline
  // table's key) or a value (after '=', an array's element). In a key a
  // quote after a dot or at the start is a quoted part; in a value a quote
  // starts a string only where an element can start, and a bare word
  // (number, date, boolean) runs to the next space or separator.
  bool in_value = false;
  std::string nesting;  // the open '[' (arrays) and '{' (inline tables) of the value
  char last = '\n';     // the last character of a key outside strings that was not a space
  std::size_t i = t.starts_with("\xef\xbb\xbf") ? 3 : 0;
  line_start = i;
  while (i < t.size()) {
    const char c = t[i];
    const bool quote = c == '"' || c == '\'';
    if (c == '\n') {
      ++line;
      line_start = ++i;
      last = '\n';
      in_value = in_value && !nesting.empty();
    } else if (c == '#') {  // a comment, to the end of its line
      while (i < t.size() && t[i] != '\n') {
        ++i;
      }
    } else if (is_space(c)) {
      ++i;
    } else if (quote && (in_value || std::string_view("\n[.{,").find(last) != std::string_view::npos)) {
      last = c;
      const bool basic = c == '"';
      const std::string_view close = t.substr(i, 3) == (basic ? "\"\"\"" : "'''") ? t.substr(i, 3) : t.substr(i, 1);
      const bool multi = close.size() == 3;
      i += close.size();
      while (i < t.size() && t.substr(i, close.size()) != close) {
        if (t[i] == '\n') {
          if (!multi) {
            break;  // a single-line string cut by its line's end: toml++ refuses it, safely
          }
          ++line;
          line_start = i + 1;
        }
        if (basic && t[i] == '\\') {
          // What follows a backslash: an escape (ASCII in TOML), or in a
          // multi-line string whitespace to skip (the parser tests each
          // character it skips, then the next, for whitespace).
          std::size_t j = i + 1;
          while (multi && j < t.size() && (is_space(t[j]) || t[j] == '\n')) {
            if (t[j] == '\n') {
              ++line;
              line_start = j + 1;
            }
            ++j;
          }
          if (j < t.size() && non_ascii(t[j])) {
            return at(j, "a non-ASCII character after a backslash");
          }
          i = j > i + 1 ? j : i + 2;  // (whitespace skipped, or an escape's character that cannot end the string)
          continue;
        }
        ++i;
      }
      if (i < t.size() && t.substr(i, close.size()) == close) {
        // A multi-line string may end with one or two of its quotes before
        // the closing three (TOML 1.0): the run of up to five is its end.
        std::size_t run = 0;
        while (multi && run < 5 && i + run < t.size() && t[i + run] == c) {
          ++run;
        }
        i += multi ? run : 1;
      }
    } else if (non_ascii(c)) {
      return at(i, "a non-ASCII character outside a string or comment");
    } else if (in_value && (c == '[' || c == '{')) {
      nesting += c;
      in_value = c == '[';  // an inline table starts with a key
      last = c;
      ++i;
    } else if (in_value && (c == ']' || c == '}')) {
      if (!nesting.empty()) {
        nesting.pop_back();
      }
      in_value = true;  // (an enclosing array's element, or the rest of the value)
      ++i;
    } else if (c == ',' && !nesting.empty()) {
      in_value = nesting.back() == '[';
      last = c;
      ++i;
    } else if (c == '=' && !in_value) {
      in_value = true;
      ++i;
    } else if (in_value) {
      // A bare word: every character of it, quotes too, is read as such
      // (the first one always: a ',' outside brackets is one too).
      do {
        if (non_ascii(t[i])) {
          return at(i, "a non-ASCII character outside a string or comment");
        }
        ++i;
      } while (i < t.size() && !is_space(t[i]) && std::string_view("\n,]}#").find(t[i]) == std::string_view::npos);
    } else {
      last = c;
      ++i;
    }
  }
  return std::nullopt;
}

/// The table of TOML text (or why it is not TOML: unreadable_file, with
/// the line and column).
tl::expected<toml::table, config_error> parse_toml(std::string_view text, const std::string& origin) {
  if (auto unsafe = unsafe_for_toml_parser(text)) {
    return error(config_error::kind::unreadable_file, config_source::file, {}, origin, *unsafe);
  }
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return error(config_error::kind::unreadable_file, config_source::file, {}, origin,
                 "line " + std::to_string(where.line) + ", column " + std::to_string(where.column) + ": " +
                     std::string(e.description()));
  }
}

tl::expected<void, config_error> read_text(const config_schema& s, std::string_view text, const std::string& origin,
                                           const entry_setter& set) {
  auto t = parse_toml(text, origin);
  if (!t) {
    return tl::unexpected(t.error());
  }
  return read_table(s, *t, "", origin, set);
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
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return error(config_error::kind::unreadable_file, config_source::file, {}, file, "cannot open it for reading");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return error(config_error::kind::unreadable_file, config_source::file, {}, file, "reading it failed");
  }
  return read_text(s, text, file, set);
}

}  // namespace

tl::expected<config, config_error> config::load(const config_schema& schema,
                                                const std::optional<std::filesystem::path>& file, const env_map& env,
                                                const cli_map& cli) {
  return load_from(schema, file ? &*file : nullptr, nullptr, {}, env, cli);
}

tl::expected<config, config_error> config::load_toml(const config_schema& schema, std::string_view toml_text,
                                                     const std::string& origin, const env_map& env,
                                                     const cli_map& cli) {
  return load_from(schema, nullptr, &toml_text, origin, env, cli);
}

tl::expected<config, config_error> config::load_from(const config_schema& schema, const std::filesystem::path* file,
                                                     const std::string_view* text, const std::string& origin,
                                                     const env_map& env, const cli_map& cli) {
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
  if (file != nullptr) {
    if (auto r = read_file(schema, *file, set); !r) {
      return tl::unexpected(r.error());
    }
  } else if (text != nullptr) {
    if (auto r = read_text(schema, *text, origin, set); !r) {
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

namespace {

/// `s` as a TOML comment may hold it: UTF-8 without control characters
/// other than tab (a file path may have a newline, or bytes that are not
/// UTF-8); what may not be there is written as '?'.
std::string comment_text(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    if (n > 1 && i + n <= s.size() && internal::valid_utf8(s.substr(i, n))) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    out += n == 1 && (b >= 0x20 || b == '\t') && b != 0x7f ? s[i] : '?';
    ++i;
  }
  return out;
}

}  // namespace

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
    out += lefts[i] + std::string(width - lefts[i].size() + 2, ' ') + "# " +
           comment_text(src + " -- " + keys_[e.key].description) + "\n";
  }
  return out;
}

}  // namespace otpnet
