// File: tools/loadgen/report.cpp
//
// The human summary and the JSON document of otpnet-loadgen.

#include "report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

namespace otpnet::tools::loadgen {

namespace {

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

std::string_view unit(mode m) {
  switch (m) {
    case mode::connrate:
      return "conn/s";
    case mode::idle:
      return "conn/s opened";
    default:
      return "msg/s";
  }
}

std::optional<double> server_cpu_per_msg_us(const results& r) {
  if (!r.server_seen || r.messages == 0) {
    return std::nullopt;
  }
  return r.server_cpu_seconds * 1e6 / static_cast<double>(r.messages);
}

std::optional<double> rss_per_conn_bytes(const config& cfg, const results& r) {
  if (cfg.what != mode::idle || !r.rss_before_kib || !r.rss_after_kib || r.idle_ready == 0) {
    return std::nullopt;
  }
  const double growth = (static_cast<double>(*r.rss_after_kib) - static_cast<double>(*r.rss_before_kib)) * 1024.0;
  return growth / static_cast<double>(r.idle_ready);
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

bool succeeded(const config& cfg, const results& r) {
  if (!r.fatal.empty() || r.errors.total() != 0 || r.messages == 0) {
    return false;
  }
  return cfg.what != mode::idle || r.idle_ready == cfg.connections;
}

std::string to_text(const config& cfg, const results& r) {
  std::string s;
  s += "otpnet-loadgen " + std::string(to_string(cfg.what)) + " against " + cfg.target_text + ": " +
       std::to_string(cfg.connections) + " connections";
  if (cfg.what == mode::pipeline) {
    s += " x " + std::to_string(cfg.depth) + " in flight";
  }
  s += ", " + std::to_string(cfg.size) + "-byte payloads, " + std::string(to_string(cfg.framing)) + " framing, " +
       std::to_string(cfg.threads) + " thread(s)\n";
  if (cfg.what == mode::idle) {
    s += "  connections ready  " + std::to_string(r.idle_ready) + " of " + std::to_string(cfg.connections) +
         fmt(" in %.2f s", r.measured_seconds) + "\n";
  } else {
    s += "  measured           " + fmt("%.2f s", r.measured_seconds) + ", " + std::to_string(r.messages) +
         (cfg.what == mode::connrate ? " connections" : " echoes") + "\n";
    s += "  throughput         " + fmt("%.0f ", r.throughput()) + std::string(unit(cfg.what)) + "\n";
  }
  const histogram& h = r.latency;
  s += std::string(cfg.what == mode::pingpong || cfg.what == mode::pipeline ? "  round trip (us)    "
                                                                            : "  connect+echo (us)  ") +
       fmt("p50 %.1f", us(h.quantile(0.50))) + fmt("  p99 %.1f", us(h.quantile(0.99))) +
       fmt("  p99.9 %.1f", us(h.quantile(0.999))) + fmt("  max %.1f", us(h.max())) +
       fmt("  mean %.1f", h.mean() / 1e3) + "\n";
  if (cfg.server_pid > 0) {
    if (cfg.what != mode::idle) {
      if (auto per = server_cpu_per_msg_us(r)) {
        s += "  server CPU         " + fmt("%.2f us/", *per) + (cfg.what == mode::connrate ? "conn" : "msg") +
             fmt(", %.0f %% of a core", 100.0 * r.server_cpu_seconds / std::max(r.measured_seconds, 1e-9)) + "\n";
      } else {
        s += "  server CPU         unavailable (pid " + std::to_string(cfg.server_pid) + ")\n";
      }
    }
    if (auto per = rss_per_conn_bytes(cfg, r)) {
      s += "  server RSS         " + std::to_string(*r.rss_before_kib) + " KiB -> " + std::to_string(*r.rss_after_kib) +
           " KiB" + fmt(", %.0f bytes per connection", *per) + "\n";
    } else if (r.server_rss_kib) {
      s += "  server RSS         " + std::to_string(*r.server_rss_kib) + " KiB\n";
    }
  }
  if (cfg.what != mode::idle && r.messages > 0) {
    const double util = r.client_cpu_seconds / std::max(r.measured_seconds, 1e-9);
    s += "  loadgen CPU        " + fmt("%.2f us/", r.client_cpu_seconds * 1e6 / static_cast<double>(r.messages)) +
         (cfg.what == mode::connrate ? "conn" : "msg") + fmt(", %.0f %% of a core", 100.0 * util) +
         (util > 0.9 * static_cast<double>(cfg.threads) ? " (the load generator is the bottleneck)" : "") + "\n";
  }
  s += "  errors             " + std::to_string(r.errors.total());
  if (r.errors.total() > 0) {
    s += " (verify " + std::to_string(r.errors.verify) + ", framing " + std::to_string(r.errors.framing) + ", closed " +
         std::to_string(r.errors.closed) + ", connect " + std::to_string(r.errors.connect) + ", io " +
         std::to_string(r.errors.io) + ", unanswered " + std::to_string(r.errors.unanswered) + ")";
  }
  s += "\n";
  if (r.interrupted) {
    s += "  interrupted before the end\n";
  }
  if (!r.fatal.empty()) {
    s += "  fatal: " + r.fatal + "\n";
  }
  return s;
}

std::string to_json(const config& cfg, const results& r) {
  using json = nlohmann::ordered_json;
  const histogram& h = r.latency;
  json j;
  j["tool"] = "otpnet-loadgen";
  j["ok"] = succeeded(cfg, r);
  j["config"] = {
      {"target", cfg.target_text},
      {"mode", to_string(cfg.what)},
      {"connections", cfg.connections},
      {"depth", cfg.what == mode::pipeline ? cfg.depth : 1},
      {"size", cfg.size},
      {"framing", to_string(cfg.framing)},
      {"duration_s", std::chrono::duration<double>(cfg.duration).count()},
      {"warmup_s", std::chrono::duration<double>(cfg.warmup).count()},
      {"threads", cfg.threads},
      {"source_addrs", cfg.source_addrs},
      {"server_pid", cfg.server_pid > 0 ? json(cfg.server_pid) : json(nullptr)},
  };
  j["measured_s"] = r.measured_seconds;
  j["messages"] = r.messages;
  j["throughput"] = r.throughput();
  j["throughput_unit"] = unit(cfg.what);
  j["bytes_per_s"] = r.measured_seconds > 0 ? static_cast<double>(r.bytes) / r.measured_seconds : 0.0;
  j["latency_us"] = {
      {"what", cfg.what == mode::pingpong || cfg.what == mode::pipeline ? "round trip" : "connect + echo"},
      {"count", h.count()},
      {"min", us(h.min())},
      {"mean", h.mean() / 1e3},
      {"p50", us(h.quantile(0.50))},
      {"p90", us(h.quantile(0.90))},
      {"p99", us(h.quantile(0.99))},
      {"p999", us(h.quantile(0.999))},
      {"max", us(h.max())},
  };
  j["errors"] = r.errors.total();
  j["error_kinds"] = {{"verify", r.errors.verify}, {"framing", r.errors.framing},
                      {"closed", r.errors.closed}, {"connect", r.errors.connect},
                      {"io", r.errors.io},         {"unanswered", r.errors.unanswered}};
  j["error_samples"] = r.error_samples;
  j["connections"] = {{"target", cfg.connections},
                      {"connects_started", r.connects_started},
                      {"connects_established", r.connects_established},
                      {"idle_ready", r.idle_ready}};
  auto opt = [](const auto& o) { return o ? json(*o) : json(nullptr); };
  if (cfg.server_pid > 0) {
    const bool cpu = r.server_seen && cfg.what != mode::idle;
    j["server"] = {
        {"pid", cfg.server_pid},
        {"cpu_s", cpu ? json(r.server_cpu_seconds) : json(nullptr)},
        {"cpu_us_per_msg", cpu ? opt(server_cpu_per_msg_us(r)) : json(nullptr)},
        {"cpu_util", cpu && r.measured_seconds > 0 ? json(r.server_cpu_seconds / r.measured_seconds) : json(nullptr)},
        {"rss_kib", opt(r.server_rss_kib)},
        {"rss_before_kib", cfg.what == mode::idle ? opt(r.rss_before_kib) : json(nullptr)},
        {"rss_after_kib", opt(r.rss_after_kib)},
        {"rss_per_conn_bytes", opt(rss_per_conn_bytes(cfg, r))},
    };
  } else {
    j["server"] = nullptr;
  }
  j["client"] = {
      {"cpu_s", r.client_cpu_seconds},
      {"cpu_us_per_msg",
       r.messages > 0 ? json(r.client_cpu_seconds * 1e6 / static_cast<double>(r.messages)) : json(nullptr)},
      {"cpu_util", r.measured_seconds > 0 ? json(r.client_cpu_seconds / r.measured_seconds) : json(nullptr)},
  };
  j["interrupted"] = r.interrupted;
  j["fatal"] = r.fatal.empty() ? json(nullptr) : json(r.fatal);
  return j.dump(2) + "\n";
}

}  // namespace otpnet::tools::loadgen
