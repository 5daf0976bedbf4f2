// File: examples/chat.cpp
//
// A small chat server: every line a client sends goes to every connected
// client (the sender included, so that everyone sees one order), as
// "NAME: line", where NAME is the client's address. The processes:
//   chat_room      a gen_server: the registry of members (pid -> name). It
//                  monitors each member, so that one that ends for any
//                  reason leaves the room; broadcast sends each member a
//                  `say` message.
//   chat_member    one per client (under the listener's client supervisor):
//                  joins the room when the listener hands it its socket,
//                  casts each line to the room, writes each `say` to its
//                  client.
//   the listener   listener::start_link with {packet, line}.
//
//   build/<preset>/bin/otpnet-example-chat 4000         # port 0 (default): any free port
//   listening on port 4000
//   $ nc localhost 4000                # in two terminals
//   * welcome 127.0.0.1:51234, 2 here
//   hello
//   127.0.0.1:51234: hello
//
// SIGINT or SIGTERM stops it.
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/address.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace {

using namespace otpnet;
using namespace std::chrono_literals;

// -- the room ----------------------------------------------------------------------------------

/// A member joins: the reply is how many are in the room with it.
struct join {
  using reply_type = std::size_t;
  pid member;
  std::string name;
};
/// A line to everyone.
struct broadcast {
  std::string text;
};
/// What the room sends each member.
struct say {
  std::string text;
};

struct chat_room : gen_server::behaviour<chat_room> {
  using calls = type_list<join>;
  using casts = type_list<broadcast>;

  call_return<std::size_t> handle_call(const join& j) {
    members_[j.member] = {j.name, monitor(j.member)};
    say_all("* " + j.name + " joined\n");
    return reply(members_.size());
  }
  cast_return handle_cast(broadcast&& b) {
    say_all(b.text);
    return noreply();
  }
  // A member ended (its client left, or it crashed): it leaves the room.
  cast_return handle_info(down_msg&& d) {
    if (auto it = members_.find(d.who); it != members_.end()) {
      std::string name = it->second.name;
      members_.erase(it);
      say_all("* " + name + " left\n");
    }
    return noreply();
  }

 private:
  struct member {
    std::string name;
    ref mon;
  };
  void say_all(const std::string& text) {
    for (const auto& [p, m] : members_) {
      (void)send(p, say{text});
    }
  }
  std::map<pid, member> members_;
};

// -- a member ----------------------------------------------------------------------------------

struct chat_member : gen_server::behaviour<chat_member> {
  using infos = type_list<listener::socket_ready, gen_tcp::tcp, gen_tcp::tcp_closed, gen_tcp::tcp_error,
                          listener::drain_notice, say>;

  task<cast_return> handle_info(listener::socket_ready&& r) {
    auto s = r.conn.take();
    if (!s) {
      co_return stop(exit_reason::other("hand-off: " + format_error(s.error())));
    }
    sock_ = *s;
    name_ = r.conn.peer.to_string();
    // Named first: GCC 12 mishandles an aggregate temporary with a string
    // member inside a co_await expression.
    join j{self(), name_};
    auto n = co_await gen_server::call("chat_room", std::move(j));
    if (!n) {
      co_return stop(exit_reason::other("the room is gone: " + n.error().to_string()));
    }
    (void)sock_.send("* welcome " + name_ + ", " + std::to_string(*n) + " here\n");
    (void)sock_.setopts({.active = gen_tcp::once});
    co_return noreply();
  }
  cast_return handle_info(gen_tcp::tcp&& line) {
    (void)gen_server::cast("chat_room", broadcast{name_ + ": " + line.data.str()});
    (void)sock_.setopts({.active = gen_tcp::once});
    return noreply();
  }
  cast_return handle_info(say&& s) {
    (void)sock_.send(s.text);
    return noreply();
  }
  cast_return handle_info(gen_tcp::tcp_closed&&) { return stop(); }
  cast_return handle_info(gen_tcp::tcp_error&& e) {
    return stop(exit_reason::other("socket error: " + std::string(err_name(e.reason))));
  }
  cast_return handle_info(listener::drain_notice&&) { return stop(); }

 private:
  gen_tcp::socket sock_;
  std::string name_;
};

// -- the tree ----------------------------------------------------------------------------------

task<start_result> start_tree(std::uint16_t port) {
  child_spec room;
  room.id = "chat_room";
  room.start = [] { return gen_server::start_link<chat_room>(start_options{.name = "chat_room"}); };

  child_spec member;
  member.id = "chat_member";
  member.start = [] { return gen_server::start_link<chat_member>(); };
  member.restart = restart_type::temporary;
  member.shutdown = 2000ms;

  child_spec members;
  members.id = "chat_members";
  members.type = child_type::supervisor;
  members.start = [member]() {
    return supervisor::start_link(
        {.strategy = supervisor::restart_strategy::simple_one_for_one, .intensity = 5, .period = 60s}, {member},
        start_options{.name = "chat_members"});
  };

  child_spec lst;
  lst.id = "chat_listener";
  lst.start = [port]() {
    listener::listener_options o;
    o.name = "chat";
    o.registered_name = "chat_listener";
    o.addresses = {socket::address::inet_any(port)};
    o.socket_options = {.active = gen_tcp::passive, .packet = gen_tcp::packet_type::line, .line_length = 4096};
    o.client_sup = server_ref("chat_members");
    return listener::start_link(std::move(o));
  };

  // rest_for_one: if the room dies, the members (and the listener) restart
  // with it, as nobody would be in the new room.
  supervisor::flags top{.strategy = supervisor::restart_strategy::rest_for_one, .intensity = 5, .period = 60s};
  return supervisor::start(top, {room, members, lst}, start_options{.name = "chat_sup"});
}

}  // namespace

int main(int argc, char** argv) {
  auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before any scheduler thread starts

  if (!runtime::start()) {
    std::cerr << "chat: cannot start the runtime\n";
    return 1;
  }
  start_result tree = sync_wait(start_tree(port));
  if (!tree) {
    std::cerr << "chat: " << tree.reason().to_string() << "\n";
    runtime::stop();
    return 1;
  }
  auto info = sync_wait(listener::info("chat_listener"));
  std::cout << "listening on port " << (info && !info->ports.empty() ? info->ports.front().port : 0) << std::endl;

  int sig = 0;
  sigwait(&sigs, &sig);
  runtime::stop();
  return 0;
}
