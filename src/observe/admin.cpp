// The admin endpoint: a tree like any otpnet server's (a handlers'
// supervisor, then a tcp_listener), each connection one http_handler that
// reads one request with {packet, line} in passive mode, answers it and
// closes.
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/observe/admin.hpp>
#include <otpnet/observe/prometheus.hpp>
#include <otpnet/runtime/process.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>

namespace otpnet::observe {

namespace {

using namespace std::chrono_literals;

constexpr std::string_view page = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>otpnet</title>
<style>body{font-family:sans-serif;margin:2em}ul{list-style:none;padding-left:1.2em;border-left:1px solid #ccc}
.sup{font-weight:bold}.dead{color:#a00}.pid{color:#666;font-family:monospace}</style></head>
<body><h1>Supervision trees</h1><p><a href="/metrics">metrics</a> &middot; <a href="/tree">tree (JSON)</a>
&middot; <a href="/processes">processes (JSON)</a> &middot; <a href="/sockets">sockets (JSON)</a></p>
<div id="tree">loading...</div>
<script>
function node(n){const li=document.createElement('li');
 const name=document.createElement('span');name.textContent=(n.id||n.name)+' ';
 name.className=n.type==='supervisor'||n.children?'sup':'';if(n.pid===null)name.className+=' dead';
 const pid=document.createElement(n.pid?'a':'span');pid.className='pid';pid.textContent=n.pid||'(not running)';
 if(n.pid){pid.href='/processes/'+encodeURIComponent(n.pid);}
 li.append(name,pid);if(n.error){li.append(' '+n.error);}
 if(Array.isArray(n.children)){const ul=document.createElement('ul');n.children.forEach(c=>ul.append(node(c)));li.append(ul);}
 return li;}
async function draw(){try{const r=await fetch('/tree');const t=await r.json();
 const ul=document.createElement('ul');t.forEach(n=>ul.append(node(n)));
 const d=document.getElementById('tree');d.replaceChildren(ul);}catch(e){}
 setTimeout(draw,2000);}
draw();
</script></body></html>
)HTML";

struct http_answer {
  int status = 200;
  std::string_view reason = "OK";
  std::string_view type = "text/plain; charset=utf-8";
  std::string body;
};

http_answer plain(int status, std::string_view reason, std::string body) {
  return {status, reason, "text/plain; charset=utf-8", std::move(body)};
}

/// The answer to a request line or header line that could not be read:
/// too long (431), not in time (408, `late`), or the client gone or
/// garbled (400, `bad`).
http_answer unread(errc why, std::string late, std::string bad) {
  if (why == errc::emsgsize) {
    return plain(431, "Request Header Fields Too Large", "line too long\n");
  }
  if (why == errc::timeout) {
    return plain(408, "Request Timeout", std::move(late));
  }
  return plain(400, "Bad Request", std::move(bad));
}

std::string trim_crlf(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  return std::string(line);
}

/// The report lines of refused requests: a burst of 20, then 10 a second
/// (a client that floods the endpoint with bad requests does not flood the
/// log); the next line written says how many were left out before it.
class report_budget {
 public:
  /// Whether a line may be written now, and the lines left out before it.
  std::pair<bool, std::uint64_t> take() noexcept {
    std::lock_guard lk(mu_);
    auto now = std::chrono::steady_clock::now();
    std::chrono::duration<double> since = now - last_;
    tokens_ = std::min(burst, tokens_ + since.count() * per_second);
    last_ = now;
    if (tokens_ < 1.0) {
      ++left_out_;
      return {false, 0};
    }
    tokens_ -= 1.0;
    return {true, std::exchange(left_out_, 0)};
  }

 private:
  static constexpr double burst = 20.0;
  static constexpr double per_second = 10.0;
  std::mutex mu_;
  double tokens_ = burst;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::uint64_t left_out_ = 0;
};

report_budget& refused_reports() {
  static report_budget b;
  return b;
}

struct http_handler : gen_server::behaviour<http_handler> {
  using infos = type_list<listener::socket_ready>;

  explicit http_handler(std::shared_ptr<const admin_options> o) : o_(std::move(o)) {}

  // The listener's socket_ready comes at once; a handler started for a
  // listener that gave up on it ends after the request timeout.
  gen_server::init_return init() { return ok(o_->request_timeout); }
  gen_server::cast_return handle_info(gen_server::timeout&&) { return stop(); }

  task<gen_server::cast_return> handle_info(listener::socket_ready&& r) {
    auto s = r.conn.take();
    if (!s) {
      co_return stop();
    }
    sock_ = *s;
    // A client that does not read its answer holds this process for the
    // request timeout at most (the send, and the close that flushes it).
    (void)sock_.setopts({.active = gen_tcp::passive,
                         .packet = gen_tcp::packet_type::line,
                         .line_length = o_->max_line,
                         .send_timeout = o_->request_timeout,
                         .send_timeout_close = true});
    http_answer a = co_await serve();
    if (a.status >= 400) {
      report(a);
    }
    std::string head = "HTTP/1.1 " + std::to_string(a.status) + " " + std::string(a.reason) +
                       "\r\nContent-Type: " + std::string(a.type) +
                       "\r\nContent-Length: " + std::to_string(a.body.size()) +
                       "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (a.status == 405) {
      head.insert(head.size() - 2, "Allow: GET, HEAD\r\n");  // (RFC 9110: a 405 says what is allowed)
    }
    (void)sock_.send(head);
    if (!head_only_) {
      (void)sock_.send(a.body);
    }
    co_await finish();
    co_return stop();
  }

  void terminate(const exit_reason&) {
    if (sock_) {
      (void)sock_.close();
    }
  }

 private:
  /// Reads the request (its line, then headers to the empty line) within
  /// the request timeout, and makes the answer.
  task<http_answer> serve() {
    const auto deadline = std::chrono::steady_clock::now() + o_->request_timeout;
    auto first = co_await next_line(deadline);
    if (!first) {
      co_return unread(first.error(), "no request in time\n", "no request\n");
    }
    request_line_ = std::move(*first);
    // Known from here: an answer to a HEAD, an error's too, has no body.
    head_only_ = request_line_.starts_with("HEAD ");
    for (int headers = 0;; ++headers) {
      auto h = co_await next_line(deadline);
      if (!h) {
        co_return unread(h.error(), "the request did not end in time\n", "incomplete request\n");
      }
      if (h->empty()) {
        break;
      }
      if (headers >= 100) {
        co_return plain(431, "Request Header Fields Too Large", "too many headers\n");
      }
    }
    // METHOD SP TARGET SP HTTP/1.x
    std::string_view line = request_line_;
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
      co_return plain(400, "Bad Request", "not an HTTP/1 request line\n");
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (method != "GET" && method != "HEAD") {
      co_return plain(405, "Method Not Allowed", "GET or HEAD\n");
    }
    head_only_ = method == "HEAD";
    if (target == "/metrics") {
      std::string body = co_await metrics_text(o_->what);
      co_return http_answer{200, "OK", content_type, std::move(body)};
    }
    if (target == "/tree") {
      std::string body = co_await tree_json(o_->what);
      co_return http_answer{200, "OK", "application/json", std::move(body)};
    }
    if (target == "/processes") {
      std::string body = co_await processes_json();
      co_return http_answer{200, "OK", "application/json", std::move(body)};
    }
    if (target.starts_with("/processes/")) {
      // /processes/<0.12.1> (its brackets as they are, or percent-encoded,
      // or left out).
      std::string text(target.substr(std::string_view("/processes/").size()));
      for (const char* enc : {"%3C", "%3c", "%3E", "%3e"}) {
        for (std::size_t at = text.find(enc); at != std::string::npos; at = text.find(enc)) {
          text.replace(at, 3, enc[2] == 'C' || enc[2] == 'c' ? "<" : ">");
        }
      }
      std::optional<pid> p = pid::parse(text);
      if (!p) {
        co_return plain(400, "Bad Request", "not a pid: /processes/<0.12.1>\n");
      }
      std::optional<std::string> body = co_await process_json(*p);
      if (!body && is_alive(*p)) {
        // Alive, but its scheduler did not answer within the wait (busy).
        co_return plain(503, "Service Unavailable", "no answer from the scheduler of " + p->to_string() + "\n");
      }
      if (!body) {
        co_return plain(404, "Not Found", "no such process: " + p->to_string() + "\n");
      }
      co_return http_answer{200, "OK", "application/json", std::move(*body)};
    }
    if (target == "/sockets") {
      co_return http_answer{200, "OK", "application/json", sockets_json()};
    }
    if (target == "/healthz") {
      co_return plain(200, "OK", "ok\n");
    }
    if (target == "/") {
      co_return http_answer{200, "OK", "text/html; charset=utf-8", std::string(page)};
    }
    co_return plain(404, "Not Found", "/metrics, /tree, /processes, /processes/<pid>, /sockets, /healthz, /\n");
  }

  /// Ends the exchange without a reset: the answer goes out, then the
  /// write side is shut and what the client still sends (the rest of a
  /// line too long, a body, a second request) is read and dropped until it
  /// closes, for a second and 64 KiB at most. (Closing with unread bytes
  /// would send a reset, which can discard the answer before the client
  /// reads it.)
  task<void> finish() {
    (void)sock_.shutdown(otpnet::socket::shutdown_how::write);
    // The client's end must not close the socket while the answer may
    // still be queued (exit_on_close would drop it): the close at this
    // handler's end writes it out, within the send timeout.
    (void)sock_.setopts({.packet = gen_tcp::packet_type::raw, .exit_on_close = false});
    const auto deadline = std::chrono::steady_clock::now() + 1s;
    std::size_t dropped = 0;
    while (dropped < 65536) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) {
        break;
      }
      auto b = co_await sock_.recv(0, left);
      if (!b) {
        break;  // closed (the usual end), timeout, reset
      }
      dropped += b->size();
    }
  }

  /// The report line of a refused request: the client, the answer, why,
  /// and the request line as far as it came (cut, and escaped: it is the
  /// client's text).
  void report(const http_answer& a) const noexcept {
    auto [write, left_out] = refused_reports().take();
    if (!write) {
      return;
    }
    try {
      auto peer = sock_.peername();
      std::string why = trim_crlf(a.body);
      std::string request = request_line_.substr(0, 120);
      for (char& ch : request) {
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) {
          ch = '?';
        }
      }
      std::string before =
          left_out == 0 ? std::string() : fmt::format(" ({} refused requests not logged before this one)", left_out);
      spdlog::warn("admin: client {}: {} {} ({}){}{}{}", peer ? peer->to_string() : std::string("(gone)"), a.status,
                   a.reason, why, request.empty() ? "" : ": ", request, before);
    } catch (...) {
      // Reporting must not fail the answer.
    }
  }

  /// The next line, without its CRLF; emsgsize if it was cut at max_line.
  task<result<std::string>> next_line(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      co_return fail(errc::timeout);
    }
    auto b = co_await sock_.recv(0, left);
    if (!b) {
      co_return fail(b.error());
    }
    std::string_view v = b->view();
    if (v.empty() || v.back() != '\n') {
      co_return fail(errc::emsgsize);  // cut at max_line
    }
    std::string line = trim_crlf(v);
    co_return line;
  }

  std::shared_ptr<const admin_options> o_;
  gen_tcp::socket sock_;
  std::string request_line_;
  bool head_only_ = false;
};

}  // namespace

child_spec admin_child_spec(const admin_options& o) {
  child_spec top;
  top.id = o.name + "_sup";
  top.type = child_type::supervisor;
  top.start = [o]() -> task<start_result> { return start_admin(o); };
  return top;
}

task<start_result> start_admin(admin_options o) {
  auto shared = std::make_shared<const admin_options>(o);
  child_spec handler;
  handler.id = "http_handler";
  handler.start = [shared]() -> task<start_result> { return gen_server::start_link<http_handler>(shared); };
  handler.restart = restart_type::temporary;
  handler.shutdown = 2000ms;
  const std::string handlers = o.name + "_handlers";

  listener::listener_options l;
  l.name = o.name;
  l.registered_name = o.name + "_listener";
  if (o.sockets.empty()) {
    l.addresses = {o.address};
  }
  l.sockets = o.sockets;
  // SO_REUSEPORT: an instance that drains while the next one starts (a
  // restart under systemd) does not keep the next from its admin port.
  l.socket_options = {
      .active = gen_tcp::passive, .packet = gen_tcp::packet_type::line, .nodelay = true, .reuseport = true};
  l.max_connections = o.max_connections;
  l.client_sup = server_ref(handlers);
  child_spec lst;
  lst.id = l.registered_name;
  lst.start = [l]() -> task<start_result> { return listener::start_link(l); };
  lst.shutdown = 2000ms;

  std::vector<child_spec> children;
  children.push_back(listener::client_sup_spec(
      handlers, handler,
      {.strategy = supervisor::restart_strategy::simple_one_for_one, .intensity = 100, .period = 10s}));
  children.push_back(std::move(lst));  // after its handlers' supervisor
  start_options top;
  top.name = o.name + "_sup";
  co_return co_await supervisor::start_link(
      {.strategy = supervisor::restart_strategy::one_for_one, .intensity = 5, .period = 60s}, std::move(children),
      std::move(top));
}

}  // namespace otpnet::observe
