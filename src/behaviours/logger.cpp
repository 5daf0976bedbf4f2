// The logger's plumbing: one spdlog sink (stderr, a file, or a callback)
// with one formatter, shared by two spdlog loggers: "otpnet.report", whose
// messages are report bodies already in the chosen format, and "otpnet",
// installed as spdlog's default logger for every other line. The formatter
// adds time and level: as a text prefix, or as the first keys of the JSON
// object (a report's object is merged in; any other message becomes "msg").
#include <otpnet/behaviours/logger.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

namespace otpnet::logger {

namespace {

constexpr std::string_view report_logger = "otpnet.report";

spdlog::level::level_enum to_spdlog(log_level l) noexcept {
  switch (l) {
    case log_level::trace:
      return spdlog::level::trace;
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warning:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
    case log_level::critical:
      return spdlog::level::critical;
    case log_level::off:
      break;
  }
  return spdlog::level::off;
}

/// The least severe report a logger at level `l` writes: reports are
/// logged at info or error level (level_of), so the rest are dropped before
/// they are built.
report_severity least_severity(log_level l) noexcept {
  if (l <= log_level::info) {
    return report_severity::info;
  }
  return l <= log_level::error ? report_severity::error : report_severity::off;
}

/// "2024-11-28T21:07:00.123Z" (json) or "2024-11-28 22:07:00.123" (text, local).
std::string timestamp(spdlog::log_clock::time_point t, bool utc) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  std::time_t tt = spdlog::log_clock::to_time_t(secs);
  std::tm tm{};
  if (utc) {
    gmtime_r(&tt, &tm);
  } else {
    localtime_r(&tt, &tm);
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, utc ? "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" : "%04d-%02d-%02d %02d:%02d:%02d.%03d",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

class line_formatter final : public spdlog::formatter {
 public:
  explicit line_formatter(log_format f) noexcept : format_(f) {}

  void format(const spdlog::details::log_msg& m, spdlog::memory_buf_t& dest) override {
    std::string_view payload(m.payload.data(), m.payload.size());
    std::string_view level(spdlog::level::to_string_view(m.level).data(),
                           spdlog::level::to_string_view(m.level).size());
    std::string line;
    if (format_ == log_format::json) {
      line = "{\"time\":\"" + timestamp(m.time, true) + "\",\"level\":\"" + std::string(level) + "\",";
      bool report = std::string_view(m.logger_name.data(), m.logger_name.size()) == report_logger;
      if (report && payload.size() > 2 && payload.front() == '{') {
        line.append(payload.substr(1));  // the report's own keys follow
      } else {
        line += "\"msg\":" +
                nlohmann::json(std::string(payload)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                "}";
      }
    } else {
      line = "[" + timestamp(m.time, false) + "] [" + std::string(level) + "] " + std::string(payload);
    }
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<line_formatter>(format_); }

 private:
  log_format format_;
};

/// Hands each finished line to a callback.
class callback_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit callback_sink(line_callback cb) : cb_(std::move(cb)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override {
    spdlog::memory_buf_t buf;
    formatter_->format(m, buf);
    std::string_view line(buf.data(), buf.size());
    if (!line.empty() && line.back() == '\n') {
      line.remove_suffix(1);
    }
    cb_(line);
  }
  void flush_() override {}

 private:
  line_callback cb_;
};

std::mutex config_mu;
std::shared_ptr<spdlog::logger> original_default;  // spdlog's, restored by reset()
bool configured = false;

spdlog::sink_ptr make_sink(const destination& d) {
  if (auto* cb = std::get_if<line_callback>(&d)) {
    return std::make_shared<callback_sink>(*cb);
  }
  if (auto* path = std::get_if<std::filesystem::path>(&d)) {
    return std::make_shared<spdlog::sinks::basic_file_sink_mt>(path->string(), false);
  }
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

}  // namespace

tl::expected<void, std::string> configure(const options& o) {
  spdlog::sink_ptr sink;
  try {
    sink = make_sink(o.sink);
  } catch (const std::exception& e) {
    auto* path = std::get_if<std::filesystem::path>(&o.sink);
    return tl::unexpected<std::string>("logger: cannot open " + (path != nullptr ? path->string() : std::string()) +
                                       ": " + e.what());
  }
  sink->set_formatter(std::make_unique<line_formatter>(o.format));
  auto reports = std::make_shared<spdlog::logger>(std::string(report_logger), sink);
  auto general = std::make_shared<spdlog::logger>("otpnet", sink);
  for (auto* l : {reports.get(), general.get()}) {
    l->set_level(to_spdlog(o.level));
    l->flush_on(spdlog::level::trace);  // every line reaches the file at once
  }
  std::lock_guard lk(config_mu);
  if (!configured) {
    original_default = spdlog::default_logger();
    configured = true;
  }
  spdlog::set_default_logger(general);
  set_progress_reports(o.progress_reports);
  set_report_sink(
      [reports, f = o.format](const report& r) {
        auto level = to_spdlog(level_of(r));
        if (reports->should_log(level)) {
          reports->log(level, "{}", format_report(r, f));
        }
      },
      least_severity(o.level));
  return {};
}

void reset() {
  std::lock_guard lk(config_mu);
  set_report_sink({});
  set_progress_reports(false);
  if (configured) {
    spdlog::set_default_logger(original_default);
    original_default.reset();
    configured = false;
  }
}

}  // namespace otpnet::logger
