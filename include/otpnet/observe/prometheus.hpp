// File: otpnet/observe/prometheus.hpp
//
// Prometheus's text exposition format (version 0.0.4), written by hand: a
// family is its # HELP and # TYPE lines, then its samples, each with its
// labels. Names are checked against the format's grammar and label values
// escaped, so that what a scraper reads is always well formed.
//
//   observe::exposition out;
//   out.family("otpnet_processes", "Live processes.", observe::metric_type::gauge);
//   out.sample("otpnet_processes", {}, 42);
//   out.family("otpnet_x_seconds", "How long x took.", observe::metric_type::histogram);
//   out.histogram("otpnet_x_seconds", {}, h.read());   // a duration_histogram
//   std::string text = out.take();
#pragma once

#include <otpnet/base/duration_histogram.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace otpnet::observe {

enum class metric_type : std::uint8_t { counter, gauge, untyped, histogram };

using label = std::pair<std::string_view, std::string_view>;

/// Whether `name` is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), or a
/// valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__").
bool valid_metric_name(std::string_view name) noexcept;
bool valid_label_name(std::string_view name) noexcept;

class exposition {
 public:
  /// Starts the family `name` (its HELP and TYPE lines). Throws
  /// std::invalid_argument for a name the format does not allow, and
  /// std::logic_error for a family started already (the format wants a
  /// family's samples together).
  void family(std::string_view name, std::string_view help, metric_type type);
  /// One sample of the family started last (`name` may add a suffix to
  /// it, as _total does). Label values may hold anything (escaped); throws
  /// std::invalid_argument for a bad metric or label name.
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, const std::vector<label>& labels, double value);
  void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
  void sample(std::string_view name, const std::vector<label>& labels, std::uint64_t value);

  /// One histogram of the family started last (of type histogram), in
  /// seconds: NAME_bucket with each bound as `le` (cumulative, then
  /// "+Inf"), NAME_sum and NAME_count, each with `labels`. Throws
  /// std::invalid_argument for a bad name, or a label named le.
  void histogram(std::string_view name, const std::vector<label>& labels, const duration_histogram::snapshot& s);

  /// The text so far; the writer is empty after.
  std::string take();

 private:
  void sample_start(std::string_view name, const label* first, const label* last);
  std::string out_;
  std::vector<std::string> families_;
};

/// The content type a scrape answer carries.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace otpnet::observe
