// File: behaviours/config_value.hpp (private)
//
// Reading one configuration value for its key: from text (environment,
// command line) or from a TOML node (config file), each failure described
// as the one-line detail of a config_error ("expected an integer between 1
// and 65535, got \"abc\""); and writing a value back as TOML.
#pragma once

#include <otpnet/behaviours/config.hpp>

#include <toml++/toml.h>

#include <string>
#include <string_view>

namespace otpnet::internal {

/// The value of `text` for key `k`, or the detail of why it does not fit.
tl::expected<config_value, std::string> parse_config_text(const config_key& k, std::string_view text);

/// The value of TOML node `n` for key `k`, or the detail of why not.
tl::expected<config_value, std::string> parse_config_node(const config_key& k, const toml::node& n);

/// `v` as a TOML value: 2222, "0.0.0.0", true, "120s".
std::string config_toml(const config_value& v);

/// Whether `s` is UTF-8 as TOML (and so print()) can write it: no
/// overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) noexcept;

/// `d` in its largest exact unit: "2h", "120s", "1500ms".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace otpnet::internal
