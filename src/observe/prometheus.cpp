// The text exposition format: names checked, HELP and label values escaped
// as the format says (backslash, newline; in label values also the double
// quote), numbers as Go's strconv writes them (integers exactly; NaN,
// +Inf, -Inf by name).
#include <otpnet/observe/prometheus.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace otpnet::observe {

namespace {

bool name_char(char c, bool first, bool colon) noexcept {
  bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return letter || (!first && c >= '0' && c <= '9');
}

void escape(std::string& out, std::string_view v, bool quote) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc{} ? end : buf);
  }
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, true)) {
      return false;
    }
  }
  return true;
}

bool valid_label_name(std::string_view name) noexcept {
  if (name.empty() || name.substr(0, 2) == "__") {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, false)) {
      return false;
    }
  }
  return true;
}

void exposition::family(std::string_view name, std::string_view help, metric_type type) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("prometheus: not a metric name: " + std::string(name));
  }
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) {
    // Its samples would be split: the format wants a family's together.
    throw std::logic_error("prometheus: the family " + std::string(name) + " was started already");
  }
  families_.emplace_back(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  escape(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  switch (type) {
    case metric_type::counter:
      out_ += " counter\n";
      break;
    case metric_type::gauge:
      out_ += " gauge\n";
      break;
    case metric_type::histogram:
      out_ += " histogram\n";
      break;
    case metric_type::untyped:
      out_ += " untyped\n";
      break;
  }
}

void exposition::sample_start(std::string_view name, const label* first, const label* last) {
  // Checked before anything is written: a refused sample leaves no part line.
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("prometheus: not a metric name: " + std::string(name));
  }
  for (const label* l = first; l != last; ++l) {
    if (!valid_label_name(l->first)) {
      throw std::invalid_argument("prometheus: not a label name: " + std::string(l->first));
    }
  }
  out_ += name;
  if (first != last) {
    out_ += '{';
    for (const label* l = first; l != last; ++l) {
      if (l != first) {
        out_ += ',';
      }
      out_ += l->first;
      out_ += "=\"";
      escape(out_, l->second, true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, double value) {
  sample_start(name, labels.begin(), labels.end());
  append_number(out_, value);
  out_ += '\n';
}

void exposition::sample(std::string_view name, const std::vector<label>& labels, double value) {
  sample_start(name, labels.data(), labels.data() + labels.size());
  append_number(out_, value);
  out_ += '\n';
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value) {
  sample_start(name, labels.begin(), labels.end());
  out_ += std::to_string(value);
  out_ += '\n';
}

void exposition::sample(std::string_view name, const std::vector<label>& labels, std::uint64_t value) {
  sample_start(name, labels.data(), labels.data() + labels.size());
  out_ += std::to_string(value);
  out_ += '\n';
}

void exposition::histogram(std::string_view name, const std::vector<label>& labels,
                           const duration_histogram::snapshot& s) {
  if (std::any_of(labels.begin(), labels.end(), [](const label& l) { return l.first == "le"; })) {
    throw std::invalid_argument("prometheus: a histogram's labels hold le");
  }
  const std::string base(name);
  std::vector<label> with_le = labels;
  with_le.emplace_back("le", "");
  std::uint64_t below = 0;
  std::string bound;
  for (std::size_t i = 0; i < duration_histogram::bucket_count; ++i) {
    below += s.buckets[i];
    bound.clear();
    if (i < duration_histogram::bounds_ns.size()) {
      // As Go's clients write them (strconv 'g', shortest: an exponent
      // below -4 in e-notation): 2.5e-06, 5e-05, 0.0001, 0.25, 1000.
      const double v = static_cast<double>(duration_histogram::bounds_ns[i]) / 1e9;
      char buf[32];
      auto [end, ec] =
          std::to_chars(buf, buf + sizeof buf, v, v < 1e-4 ? std::chars_format::scientific : std::chars_format::fixed);
      bound.assign(buf, ec == std::errc{} ? end : buf);
    } else {
      bound = "+Inf";
    }
    with_le.back().second = bound;
    sample(base + "_bucket", with_le, below);
  }
  sample(base + "_sum", labels, s.sum_seconds());
  sample(base + "_count", labels, s.count);
}

std::string exposition::take() {
  families_.clear();
  return std::exchange(out_, {});
}

}  // namespace otpnet::observe
