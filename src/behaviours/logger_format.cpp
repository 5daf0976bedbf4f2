// The logger's formats: a report as a SASL-style text line or as a JSON
// object (nlohmann::ordered_json, so the keys keep a readable order), and
// the names of formats and levels.
#include <otpnet/behaviours/logger.hpp>

#include "behaviours/report_text.hpp"

#include <nlohmann/json.hpp>

namespace otpnet {

namespace {

using json = nlohmann::ordered_json;

using detail::who;

/// OTP's offender list: [{pid,<0.9.0>},{id,client},...].
std::string offender_text(const offender& o) {
  return "[{pid," + (o.child ? o.child.to_string() : std::string("undefined")) + "},{id," +
         (o.id.empty() ? std::string("undefined") : o.id) + "},{mfargs," +
         (o.start.empty() ? std::string("undefined") : o.start) + "},{restart_type," +
         std::string(to_string(o.restart)) + "},{shutdown," + o.shutdown.to_string() + "},{child_type," +
         std::string(to_string(o.type)) + "}]";
}

json offender_json(const offender& o) {
  return json{{"pid", o.child ? o.child.to_string() : std::string()},
              {"id", o.id},
              {"start", o.start},
              {"restart_type", to_string(o.restart)},
              {"shutdown", o.shutdown.to_string()},
              {"child_type", to_string(o.type)}};
}

struct as_text {
  std::string operator()(const supervisor_report& r) const {
    return "=SUPERVISOR REPORT==== supervisor: " + who(r.supervisor, r.supervisor_name) +
           ", context: " + std::string(to_string(r.context)) + ", reason: " + r.reason.to_string() +
           ", offender: " + offender_text(r.child);
  }
  std::string operator()(const crash_report& r) const {
    return "=CRASH REPORT==== process: " + who(r.process, r.name) + ", reason: " + r.reason.to_string();
  }
  std::string operator()(const progress_report& r) const {
    return "=PROGRESS REPORT==== supervisor: " + who(r.supervisor, r.supervisor_name) +
           ", started: " + offender_text(r.started);
  }
  std::string operator()(const application_report& r) const {
    return "=APPLICATION REPORT==== application: " + r.application + ", event: " + std::string(to_string(r.event)) +
           ", reason: " + r.reason.to_string();
  }
};

struct as_json {
  json operator()(const supervisor_report& r) const {
    return json{{"report", "supervisor"},
                {"supervisor", r.supervisor.to_string()},
                {"supervisor_name", r.supervisor_name},
                {"context", to_string(r.context)},
                {"reason", r.reason.to_string()},
                {"offender", offender_json(r.child)}};
  }
  json operator()(const crash_report& r) const {
    return json{
        {"report", "crash"}, {"pid", r.process.to_string()}, {"name", r.name}, {"reason", r.reason.to_string()}};
  }
  json operator()(const progress_report& r) const {
    return json{{"report", "progress"},
                {"supervisor", r.supervisor.to_string()},
                {"supervisor_name", r.supervisor_name},
                {"started", offender_json(r.started)}};
  }
  json operator()(const application_report& r) const {
    return json{{"report", "application"},
                {"application", r.application},
                {"event", to_string(r.event)},
                {"reason", r.reason.to_string()}};
  }
};

}  // namespace

std::string_view to_string(log_format f) noexcept { return f == log_format::json ? "json" : "text"; }

std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
    case log_level::critical:
      return "critical";
    case log_level::off:
      return "off";
  }
  return "?";
}

tl::expected<log_format, std::string> log_format_from_string(std::string_view s) {
  if (s == "text") {
    return log_format::text;
  }
  if (s == "json") {
    return log_format::json;
  }
  return tl::unexpected<std::string>("expected text or json");
}

tl::expected<log_level, std::string> log_level_from_string(std::string_view s) {
  for (auto l : {log_level::trace, log_level::debug, log_level::info, log_level::warning, log_level::error,
                 log_level::critical, log_level::off}) {
    if (s == to_string(l)) {
      return l;
    }
  }
  if (s == "warn") {
    return log_level::warning;
  }
  return tl::unexpected<std::string>("expected one of trace, debug, info, warning, error, critical, off");
}

namespace logger {

std::string format_report(const report& r, log_format f) {
  if (f == log_format::json) {
    return std::visit(as_json{}, r).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return std::visit(as_text{}, r);
}

log_level level_of(const report& r) noexcept {
  return severity_of(r) == report_severity::error ? log_level::error : log_level::info;
}

}  // namespace logger
}  // namespace otpnet
