// File: otpnet/observe/metrics.hpp
//
// What a running otpnet program can tell about itself, as Prometheus
// metrics and as JSON: the runtime (processes, each scheduler's backend
// and counters), the socket registry, the listeners named, and the
// supervision trees under the supervisors named (OTP's which_children,
// recursively). Each call is made from a process and waits only for the
// gen_server calls it makes (listener::info, which_children), never on a
// scheduler thread.
#pragma once

#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::observe {

struct sources {
  /// Registered names of tcp_listeners (listener::start_link's
  /// registered_name): each gives its connections, limits and accept
  /// failures by reason.
  std::vector<std::string> listeners;
  /// Registered names of the root supervisors of the trees to show.
  std::vector<std::string> supervisors;
  /// How long one supervisor may take to answer which_children: one that
  /// does not is an "error" in the tree. (A listener answers info within
  /// its own bound, listener::info's; one that does not is
  /// otpnet_listener_up 0.)
  std::chrono::milliseconds call_timeout{2000};
};

/// The metrics, in the text exposition format (prometheus.hpp):
///   otpnet_processes, otpnet_sockets                                      gauges
///   otpnet_scheduler_processes{scheduler,backend}                         gauge
///   otpnet_scheduler_<counter>_total{scheduler,backend}                   counters (runtime::statistics)
///   otpnet_listener_up{listener}                                          gauge, 1 when it answered
///   otpnet_listener_active_connections{listener}, _max_connections,
///   _suspended, _acceptors                                                gauges
///   otpnet_listener_connections_total{listener}                           counter
///   otpnet_listener_accept_failures_total{listener,reason}                counter
///   otpnet_listener_handoff_seconds{listener}                             histogram
///   otpnet_tls_handshakes_in_progress, otpnet_tls_handshake_limit         gauges
///   otpnet_tls_handshakes_total{result}                                   counter
///   otpnet_tls_handshake_seconds                                          histogram
/// From a process.
task<std::string> metrics_text(sources s);

/// The supervision trees as JSON: an array with one object per root,
/// {"name", "pid", "children": [{"id", "pid" (null when not running),
/// "type" ("worker" or "supervisor"), "restart", "restarting",
/// "children" (a supervisor's)}]}, or {"name", "error"} for a root that
/// did not answer. From a process.
task<std::string> tree_json(sources s);

/// The sockets in the socket registry as JSON (OTP socket's
/// which_sockets/0 and info/1): {"count": N, "sockets": [{"fd", "domain",
/// "type", "protocol", "owner" (a pid, or null), "states" (["bound",
/// "listening"...]), "local", "peer" (addresses, when there are),
/// "counters" ({"read_byte", ..., "acc_success", ...})}]}, at most `max`
/// of them, then "truncated": the rest's count. Threadsafe; a system call
/// or two a socket (its addresses).
std::string sockets_json(std::size_t max = 500);

/// The live processes as JSON (OTP's processes/0 and process_info/1, as
/// observer lists them): {"count": N, "processes": [{"pid", "name" (its
/// registered name, or null), "behaviour", "state", "status",
/// "message_queue_len", "reductions", "memory", "scheduler", "links",
/// "monitors"}]}, in pid order, at most `max`, then "truncated": the
/// rest's count. Each scheduler takes its own processes' snapshots and
/// sends them in one message (processes_info_async), against one 2 s
/// deadline for all; one that does not answer is counted in
/// "unanswered_schedulers". The calling process's scheduler is never
/// held. From a process.
task<std::string> processes_json(std::size_t max = 500);

/// One process in full, as JSON (observer's process window): what
/// processes_json lists, and "trap_exit", its "links", "monitors" and
/// "monitored_by" as lists of pids (500 each at most, then
/// "<list>_truncated"), and the "sockets" it owns, each as in sockets_json
/// (100 at most, then "sockets_truncated"). Nothing for a pid that is not
/// alive, or whose scheduler did not answer within 2 s (is_alive tells
/// which). From a process.
task<std::optional<std::string>> process_json(pid p);

}  // namespace otpnet::observe
