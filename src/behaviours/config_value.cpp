// One configuration value: parsed from text or from a TOML node against its
// key's type and limits, and written back. Every rejection names what was
// expected and repeats what was given, quoted, so that the error line alone
// tells the user what to fix.
#include "behaviours/config_value.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <sstream>

namespace otpnet::internal {

namespace {

std::string quote_text(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {  // (TOML's control characters)
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/// `s` quoted for a message, every byte above 0x7f as \xHH (the text is
/// not UTF-8: a terminal or a log would mangle it as it is).
std::string quote_bytes(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(b));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string expected_of(const config_key& k) {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  switch (k.type) {
    case config_type::integer:
      if (k.min != lo && k.max != hi) {
        return "an integer between " + std::to_string(k.min) + " and " + std::to_string(k.max);
      }
      if (k.min != lo) {
        return "an integer of at least " + std::to_string(k.min);
      }
      return k.max != hi ? "an integer of at most " + std::to_string(k.max) : "an integer";
    case config_type::string:
      return "a string";
    case config_type::boolean:
      return "true or false";
    case config_type::duration:
      return "a duration such as 500ms, 120s, 2m or 1h";
    case config_type::enumeration: {
      std::string s = "one of ";
      for (std::size_t i = 0; i < k.choices.size(); ++i) {
        s += (i == 0 ? "" : ", ") + k.choices[i];
      }
      return s;
    }
  }
  return "a value";
}

tl::expected<config_value, std::string> reject(const config_key& k, const std::string& got) {
  return tl::unexpected<std::string>("expected " + expected_of(k) + ", got " + got);
}

std::optional<std::int64_t> to_int(std::string_view s) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> to_duration(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])) != 0) {
    ++digits;
  }
  auto n = to_int(s.substr(0, digits));
  if (!n) {
    return std::nullopt;
  }
  std::string_view unit = s.substr(digits);
  std::int64_t scale = unit.empty() || unit == "ms" ? 1
                       : unit == "s"                ? 1000
                       : unit == "m"                ? 60000
                       : unit == "h"                ? 3600000
                                                    : 0;
  if (scale == 0 || *n > std::numeric_limits<std::int64_t>::max() / scale) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(*n * scale);
}

std::string describe(const toml::node& n) {
  if (auto s = n.value<std::string>(); s && n.is_string()) {
    return quote_text(*s);
  }
  if (n.is_table()) {
    return "a table";
  }
  if (n.is_array()) {
    return "an array";
  }
  std::ostringstream out;
  n.visit([&out](const auto& v) { out << v; });
  return out.str();
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    std::uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1fU) : n == 3 ? (b & 0x0fU) : (b & 0x07U);
    for (std::size_t j = 1; j < n; ++j) {
      auto c = static_cast<unsigned char>(s[i + j]);
      if ((c >> 6) != 0x2) {
        return false;
      }
      cp = (cp << 6) | (c & 0x3fU);
    }
    constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n;
  }
  return true;
}

tl::expected<config_value, std::string> parse_config_text(const config_key& k, std::string_view text) {
  switch (k.type) {
    case config_type::integer:
      if (auto v = to_int(text); v && *v >= k.min && *v <= k.max) {
        return *v;
      }
      break;
    case config_type::string:
      if (valid_utf8(text)) {
        return std::string(text);
      }
      return tl::unexpected<std::string>("expected UTF-8 text, got bytes that are not: " + quote_bytes(text));
    case config_type::boolean: {
      std::string t(text);
      std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
      if (t == "true" || t == "1" || t == "yes" || t == "on") {
        return true;
      }
      if (t == "false" || t == "0" || t == "no" || t == "off") {
        return false;
      }
      break;
    }
    case config_type::duration:
      if (auto d = to_duration(text)) {
        return *d;
      }
      break;
    case config_type::enumeration:
      if (std::find(k.choices.begin(), k.choices.end(), text) != k.choices.end()) {
        return std::string(text);
      }
      break;
  }
  return reject(k, quote_text(text));
}

tl::expected<config_value, std::string> parse_config_node(const config_key& k, const toml::node& n) {
  switch (k.type) {
    case config_type::integer:
      if (auto v = n.as_integer(); v != nullptr && v->get() >= k.min && v->get() <= k.max) {
        return v->get();
      }
      break;
    case config_type::string:
      if (auto s = n.as_string()) {
        return s->get();
      }
      break;
    case config_type::boolean:
      if (auto b = n.as_boolean()) {
        return b->get();
      }
      break;
    case config_type::duration:
      if (auto s = n.as_string()) {
        return parse_config_text(k, s->get());
      }
      if (auto v = n.as_integer(); v != nullptr && v->get() >= 0) {
        return std::chrono::milliseconds(v->get());
      }
      break;
    case config_type::enumeration:
      if (auto s = n.as_string()) {
        return parse_config_text(k, s->get());
      }
      if (auto v = n.as_integer()) {
        return parse_config_text(k, std::to_string(v->get()));
      }
      break;
  }
  return reject(k, describe(n));
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) {
    return std::to_string(ms / 3600000) + "h";
  }
  if (ms != 0 && ms % 60000 == 0) {
    return std::to_string(ms / 60000) + "m";
  }
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

std::string config_toml(const config_value& v) {
  if (auto* i = std::get_if<std::int64_t>(&v)) {
    return std::to_string(*i);
  }
  if (auto* s = std::get_if<std::string>(&v)) {
    return quote_text(*s);
  }
  if (auto* b = std::get_if<bool>(&v)) {
    return *b ? "true" : "false";
  }
  return quote_text(format_duration(std::get<std::chrono::milliseconds>(v)));
}

}  // namespace otpnet::internal
