// Collecting the metrics and the trees: runtime::statistics and the socket
// registry read directly, listeners and supervisors asked with calls
// bounded by the sources' timeout.
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/observe/metrics.hpp>
#include <otpnet/observe/prometheus.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/registry.hpp>
#include <otpnet/socket/socket.hpp>
#include <otpnet/tls/limits.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace otpnet::observe {

namespace {

/// A counter name as a metric name's part: what the format does not allow
/// becomes '_'.
std::string metric_part(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      c = '_';
    }
  }
  return out;
}

void runtime_metrics(exposition& out) {
  out.family("otpnet_processes", "Live processes.", metric_type::gauge);
  out.sample("otpnet_processes", {}, static_cast<std::uint64_t>(runtime::process_count()));
  out.family("otpnet_sockets", "Sockets in the socket registry.", metric_type::gauge);
  out.sample("otpnet_sockets", {}, static_cast<std::uint64_t>(otpnet::socket::number_of()));
  std::vector<scheduler_statistics> all = runtime::statistics();
  out.family("otpnet_scheduler_processes", "Live processes placed on each scheduler.", metric_type::gauge);
  for (const auto& s : all) {
    std::string index = std::to_string(s.index);
    out.sample("otpnet_scheduler_processes", {{"scheduler", index}, {"backend", s.backend}},
               static_cast<std::uint64_t>(s.processes));
  }
  // One family per counter name, its samples by scheduler.
  std::map<std::string, std::vector<std::pair<const scheduler_statistics*, std::uint64_t>>> by_name;
  for (const auto& s : all) {
    for (const auto& [name, value] : s.counters) {
      by_name[name].emplace_back(&s, value);
    }
  }
  for (const auto& [name, samples] : by_name) {
    // A flag among the counters (io_uring's multishot_recv_available: 0
    // or 1) is a gauge; the rest count up from the start.
    bool flag = name.ends_with("_available");
    std::string metric = "otpnet_scheduler_" + metric_part(name) + (flag ? "" : "_total");
    out.family(metric, "The scheduler's " + name + (flag ? " (1: yes)." : " since the start (runtime::statistics)."),
               flag ? metric_type::gauge : metric_type::counter);
    for (const auto& [s, value] : samples) {
      std::string index = std::to_string(s->index);
      out.sample(metric, {{"scheduler", index}, {"backend", s->backend}}, value);
    }
  }
}

task<void> listener_metrics(exposition& out, const sources& s) {
  if (s.listeners.empty()) {
    co_return;
  }
  std::vector<std::string> names;  // each once: a name listed twice would repeat its samples
  for (const auto& n : s.listeners) {
    if (std::find(names.begin(), names.end(), n) == names.end()) {
      names.push_back(n);
    }
  }
  out.family("otpnet_listener_up", "1 when the listener answered the scrape's info call.", metric_type::gauge);
  std::vector<std::pair<std::string, listener::listener_info>> answered;
  for (const auto& name : names) {
    auto i = co_await listener::info(server_ref(name));
    out.sample("otpnet_listener_up", {{"listener", name}}, std::uint64_t{i ? 1U : 0U});
    if (i) {
      answered.emplace_back(name, std::move(*i));
    }
  }
  // The cumulative series only where every acceptor answered: one busy
  // with a handler's start is missing from the sums, and a total that went
  // down would read as a counter reset. Missing from a scrape, it is not.
  std::vector<std::pair<std::string, listener::listener_info>> whole;
  for (const auto& a : answered) {
    if (a.second.unanswered_acceptors == 0) {
      whole.push_back(a);
    }
  }
  out.family("otpnet_listener_active_connections", "Connections the listener holds now.", metric_type::gauge);
  for (const auto& [name, i] : answered) {
    out.sample("otpnet_listener_active_connections", {{"listener", name}},
               static_cast<std::uint64_t>(i.active_connections));
  }
  out.family("otpnet_listener_max_connections", "The listener's limit (0: none).", metric_type::gauge);
  for (const auto& [name, i] : answered) {
    out.sample("otpnet_listener_max_connections", {{"listener", name}}, static_cast<std::uint64_t>(i.max_connections));
  }
  out.family("otpnet_listener_suspended", "1 while the listener is suspended or drains.", metric_type::gauge);
  for (const auto& [name, i] : answered) {
    out.sample("otpnet_listener_suspended", {{"listener", name}}, std::uint64_t{i.suspended ? 1U : 0U});
  }
  out.family("otpnet_listener_acceptors", "Acceptor processes of the listener.", metric_type::gauge);
  for (const auto& [name, i] : answered) {
    out.sample("otpnet_listener_acceptors", {{"listener", name}}, static_cast<std::uint64_t>(i.acceptors));
  }
  out.family("otpnet_listener_connections_total", "Connections accepted since the start.", metric_type::counter);
  for (const auto& [name, i] : whole) {
    out.sample("otpnet_listener_connections_total", {{"listener", name}}, i.total_connections);
  }
  out.family("otpnet_listener_accept_failures_total", "Failed accepts since the start, by reason.",
             metric_type::counter);
  for (const auto& [name, i] : whole) {
    for (const auto& [reason, n] : i.failures_by_reason) {
      out.sample("otpnet_listener_accept_failures_total", {{"listener", name}, {"reason", reason}}, n);
    }
  }
  out.family("otpnet_listener_handoff_seconds",
             "From a connection's accept to its handler's mailbox (the handler's start included), per connection "
             "handed over.",
             metric_type::histogram);
  for (const auto& [name, i] : whole) {
    out.histogram("otpnet_listener_handoff_seconds", {{"listener", name}}, i.handoff);
  }
}

void tls_metrics(exposition& out) {
  out.family("otpnet_tls_handshakes_in_progress", "TLS handshakes in progress now.", metric_type::gauge);
  out.sample("otpnet_tls_handshakes_in_progress", {}, static_cast<std::uint64_t>(tls::handshakes_in_progress()));
  out.family("otpnet_tls_handshake_limit", "TLS handshakes allowed in progress at once.", metric_type::gauge);
  out.sample("otpnet_tls_handshake_limit", {}, static_cast<std::uint64_t>(tls::handshake_limit()));
  const tls::handshake_counts c = tls::handshake_statistics();
  out.family("otpnet_tls_handshakes_total", "TLS handshakes ended since the start, by how they ended.",
             metric_type::counter);
  out.sample("otpnet_tls_handshakes_total", {{"result", "ok"}}, c.succeeded);
  out.sample("otpnet_tls_handshakes_total", {{"result", "timeout"}}, c.timed_out);
  out.sample("otpnet_tls_handshakes_total", {{"result", "refused"}}, c.refused);
  out.sample("otpnet_tls_handshakes_total", {{"result", "failed"}}, c.failed);
  out.sample("otpnet_tls_handshakes_total", {{"result", "cancelled"}}, c.cancelled);
  out.family("otpnet_tls_handshake_seconds", "How long the successful TLS handshakes took.", metric_type::histogram);
  out.histogram("otpnet_tls_handshake_seconds", {}, c.duration);
}

/// Children shown per supervisor.
constexpr std::size_t max_children = 500;

/// The children of `sup`, recursively (depth-bounded: a tree deeper than
/// this is cut with an "error").
task<nlohmann::json> children_of(server_ref sup, std::chrono::milliseconds timeout, int depth) {
  auto kids = co_await supervisor::which_children(std::move(sup), timeout);
  if (!kids) {
    co_return nlohmann::json{{"error", kids.error().to_string()}};
  }
  nlohmann::json list = nlohmann::json::array();
  std::size_t shown = 0;
  for (const supervisor::child_info& c : *kids) {
    if (shown++ == max_children) {
      // A dynamic supervisor with its thousands of connections: the first
      // ones and a count of the rest, so that one answer stays small.
      list.push_back({{"truncated", kids->size() - max_children}});
      break;
    }
    nlohmann::json node{{"id", c.id},
                        {"pid", c.child ? nlohmann::json(c.child.to_string()) : nlohmann::json(nullptr)},
                        {"type", c.type == child_type::supervisor ? "supervisor" : "worker"},
                        {"restart", std::string(to_string(c.restart))},
                        {"restarting", c.restarting}};
    if (c.type == child_type::supervisor && c.child) {
      if (depth > 0) {
        node["children"] = co_await children_of(server_ref(c.child), timeout, depth - 1);
      } else {
        node["children"] = nlohmann::json{{"error", "deeper than shown"}};
      }
    }
    list.push_back(std::move(node));
  }
  co_return list;
}

}  // namespace

task<std::string> metrics_text(sources s) {
  exposition out;
  runtime_metrics(out);
  co_await listener_metrics(out, s);
  tls_metrics(out);
  co_return out.take();
}

task<std::string> tree_json(sources s) {
  constexpr int max_depth = 16;
  nlohmann::json roots = nlohmann::json::array();
  for (const auto& name : s.supervisors) {
    pid p = server_ref(name).resolve();
    nlohmann::json root{{"name", name}, {"pid", p ? nlohmann::json(p.to_string()) : nlohmann::json(nullptr)}};
    nlohmann::json kids = co_await children_of(server_ref(name), s.call_timeout, max_depth);
    if (kids.is_object()) {
      root["error"] = kids["error"];
    } else {
      root["children"] = std::move(kids);
    }
    roots.push_back(std::move(root));
  }
  co_return roots.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

/// One socket as sockets_json lists it; nothing if it closed meanwhile.
std::optional<nlohmann::json> socket_object(const otpnet::socket::socket& s) {
  namespace so = otpnet::socket;
  auto i = so::info(s);
  if (!i) {
    return std::nullopt;
  }
  nlohmann::json states = nlohmann::json::array();
  for (std::string_view n : so::state_names(*i)) {
    states.push_back(std::string(n));
  }
  nlohmann::json one{
      {"fd", i->fd},
      {"domain", std::string(so::to_string(i->dom))},
      {"type", std::string(so::to_string(i->typ))},
      {"protocol", std::string(so::to_string(i->proto))},
      {"owner", i->owner != 0 ? nlohmann::json(pid::from_value(i->owner).to_string()) : nlohmann::json(nullptr)},
      {"states", std::move(states)},
      {"counters", nlohmann::json::object()}};
  so::each_counter(i->counters, [&](const char* name, std::uint64_t v) { one["counters"][name] = v; });
  if (auto a = so::sockname(s)) {
    one["local"] = a->to_string();
  }
  if (auto a = so::peername(s)) {
    one["peer"] = a->to_string();
  }
  return one;
}

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

std::string sockets_json(std::size_t max) {
  std::vector<otpnet::socket::socket> all = otpnet::socket::which_sockets();
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t k = 0; k < all.size() && k < max; ++k) {
    if (auto one = socket_object(all[k])) {
      list.push_back(std::move(*one));
    }
  }
  nlohmann::json out{{"count", all.size()}, {"sockets", std::move(list)}};
  if (all.size() > max) {
    out["truncated"] = all.size() - max;
  }
  return dump(out);
}

task<std::optional<std::string>> process_json(pid p) {
  constexpr std::size_t max_pids = 500;
  constexpr std::size_t max_sockets = 100;
  std::optional<process_info_t> i = co_await process_info_async(p, std::chrono::seconds(2));
  if (!i) {
    co_return std::nullopt;
  }
  auto or_null = [](const std::string& v) { return v.empty() ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json out{{"pid", i->id.to_string()},
                     {"name", or_null(i->registered_name)},
                     {"behaviour", or_null(i->behaviour)},
                     {"state", or_null(i->state_name)},
                     {"status", i->status},
                     {"message_queue_len", i->message_queue_len},
                     {"reductions", i->reductions},
                     {"memory", i->memory},
                     {"scheduler", i->scheduler},
                     {"trap_exit", i->trap_exit}};
  auto pids = [&](const char* key, const std::vector<pid>& v) {
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t k = 0; k < v.size() && k < max_pids; ++k) {
      list.push_back(v[k].to_string());
    }
    out[key] = std::move(list);
    if (v.size() > max_pids) {
      out[std::string(key) + "_truncated"] = v.size() - max_pids;
    }
  };
  pids("links", i->links);
  pids("monitors", i->monitors);
  pids("monitored_by", i->monitored_by);
  std::vector<otpnet::socket::socket> owned = otpnet::socket::which_sockets(otpnet::socket::owned_by{p.value()});
  nlohmann::json sockets = nlohmann::json::array();
  for (std::size_t k = 0; k < owned.size() && k < max_sockets; ++k) {
    if (auto one = socket_object(owned[k])) {
      sockets.push_back(std::move(*one));
    }
  }
  out["sockets"] = std::move(sockets);
  if (owned.size() > max_sockets) {
    out["sockets_truncated"] = owned.size() - max_sockets;
  }
  co_return dump(out);
}

task<std::string> processes_json(std::size_t max) {
  // One snapshot task per scheduler, one deadline for all of them.
  process_list all = co_await processes_info_async(max, std::chrono::seconds(2));
  nlohmann::json list = nlohmann::json::array();
  auto or_null = [](const std::string& v) { return v.empty() ? nlohmann::json(nullptr) : nlohmann::json(v); };
  for (std::size_t k = 0; k < all.processes.size() && k < max; ++k) {
    const process_info_t& i = all.processes[k];
    list.push_back({{"pid", i.id.to_string()},
                    {"name", or_null(i.registered_name)},
                    {"behaviour", or_null(i.behaviour)},
                    {"state", or_null(i.state_name)},
                    {"status", i.status},
                    {"message_queue_len", i.message_queue_len},
                    {"reductions", i.reductions},
                    {"memory", i.memory},
                    {"scheduler", i.scheduler},
                    {"links", i.links.size()},
                    {"monitors", i.monitors.size()}});
  }
  std::size_t count = runtime::process_count();
  nlohmann::json out{{"count", count}, {"processes", std::move(list)}};
  if (count > max) {
    out["truncated"] = count - max;
  }
  if (all.unanswered != 0) {
    out["unanswered_schedulers"] = all.unanswered;
  }
  co_return dump(out);
}

}  // namespace otpnet::observe
